"""receipts: the result of every transaction included in a block, provable by hash."""

from .keeper import Receipt, ReceiptKeeper

__all__ = ["Receipt", "ReceiptKeeper"]
