"""Store layout of the underwriting area. The keeper is the only code that touches it."""

PREFIX = b"underwriting/"  # owned by underwriting
PARAMS = b"params"  # canonical JSON of UnderwritingParams
# set/<payer 20><nonce u64 BE><underwriter 20> -> distpos.v1.Settlement: how that share of the payment ended (once)
SETTLEMENT = b"set/"
EVIDENCE = b"ev/"  # ev/<underwriter account 20><payer 20><nonce u64 BE> -> 0x01: guarantee already used as evidence
COLLATERAL = b"col/"  # col/<payer 20><underwriter 20> -> distpos.v1.Collateral
PREMIUM = b"premium/"  # premium/<validator operator 20> -> distpos.v1.PremiumRate: its announced price


def settlement_prefix(payer: bytes, nonce: int) -> bytes:
    """Prefix (within PREFIX) of the settlements of one guaranteed payment."""
    return SETTLEMENT + payer + nonce.to_bytes(8, "big")


def settlement_key(payer: bytes, nonce: int, underwriter: bytes) -> bytes:
    """Key (within PREFIX) of one underwriter's share of a guaranteed payment."""
    return settlement_prefix(payer, nonce) + underwriter


def evidence_key(underwriter: bytes, payer: bytes, nonce: int) -> bytes:
    """Key (within PREFIX) marking a guarantee as spent evidence."""
    return EVIDENCE + underwriter + payer + nonce.to_bytes(8, "big")


def collateral_key(payer: bytes, underwriter: bytes) -> bytes:
    """Key (within PREFIX) of a payer's collateral held for one underwriter."""
    return COLLATERAL + payer + underwriter


def premium_key(validator: bytes) -> bytes:
    """Key (within PREFIX) of a validator's announced premium."""
    return PREMIUM + validator
