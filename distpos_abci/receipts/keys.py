"""Store layout of the receipts area. The keeper is the only code that touches it."""

PREFIX = b"rcpt/"  # owned by receipts; rcpt/<tx hash 32> -> distpos.v1.TxReceipt


def full_receipt_key(tx_hash: bytes) -> bytes:
    """Full state key of a transaction's receipt (for proofs)."""
    return PREFIX + tx_hash
