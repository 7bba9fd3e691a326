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
# pexp/<height u64 BE> -> the paid records written at that height, each <account 20><nonce u64 BE>, in key order:
# the expiry queue, one key per block with payments.
PAID_EXPIRY = b"pexp/"
# pfloor/<account 20> -> nonce u64 BE: the records of this account's nonces below it may have expired.
PAID_FLOOR = b"pfloor/"
PAID_ENTRY_LEN = 28  # account 20 + nonce 8


def payment_key(account: bytes, nonce: int) -> bytes:
    """Key (within PREFIX) of what an account's transaction with this nonce paid within the chain."""
    return PAID + account + nonce.to_bytes(8, "big")


def full_payment_prefix() -> bytes:
    """Full state prefix of every payment record (to find those a block wrote)."""
    return PREFIX + PAID


def payment_expiry_key(height: int) -> bytes:
    """Key (within PREFIX) of the expiry queue entry of a height."""
    return PAID_EXPIRY + height.to_bytes(8, "big")


def payment_floor_key(account: bytes) -> bytes:
    """Key (within PREFIX) of an account's payment-record floor."""
    return PAID_FLOOR + account
