"""Store layout of the auth area. The keeper is the only code that touches it."""

PREFIX = b"auth/"  # owned by auth
ACCOUNT = b"acc/"  # acc/<account id 20> -> distpos.v1.AuthAccount


def account_key(account: bytes) -> bytes:
    """Key (within PREFIX) of an account's auth record."""
    return ACCOUNT + account


def full_account_key(account: bytes) -> bytes:
    """Full state key of an account's auth record (for proofs)."""
    return PREFIX + account_key(account)

PAID = b"paid/"  # paid/<account id 20><nonce u64 BE> -> recipient account 20 || amount u64 BE


def payment_key(account: bytes, nonce: int) -> bytes:
    """Key (within PREFIX) of what an account's transaction with this nonce paid within the chain."""
    return PAID + account + nonce.to_bytes(8, "big")
