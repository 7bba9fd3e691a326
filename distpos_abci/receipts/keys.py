"""Layout of the receipts area in the node's local index (db table `x`, outside the Merkle state). The keeper is
the only code that touches it."""

PREFIX = b"rcpt/"  # owned by receipts; rcpt/<tx hash 32> -> distpos.v1.TxReceipt


def full_receipt_key(tx_hash: bytes) -> bytes:
    """Full local-index key of a transaction's receipt."""
    return PREFIX + tx_hash
