"""Store layout of the bank area. The keeper is the only code that touches it."""

PREFIX = b"bank/"  # owned by bank
BALANCE = b"bal/"  # bal/<account id 20> -> u64 big-endian; absent = 0
SUPPLY = b"supply"  # total supply -> u64 big-endian


def balance_key(account: bytes) -> bytes:
    """Key (within PREFIX) of an account's balance."""
    return BALANCE + account


def full_balance_key(account: bytes) -> bytes:
    """Full state key of an account's balance (for proofs)."""
    return PREFIX + balance_key(account)
