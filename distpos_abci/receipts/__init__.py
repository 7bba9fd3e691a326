"""receipts: the result of every transaction included in a block, by hash, in the node's local index."""

from .keeper import Receipt, ReceiptKeeper

__all__ = ["Receipt", "ReceiptKeeper"]
