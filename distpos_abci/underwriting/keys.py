"""Store layout of the underwriting area. The keeper is the only code that touches it."""

PREFIX = b"underwriting/"  # owned by underwriting
PARAMS = b"params"  # canonical JSON of UnderwritingParams
SETTLEMENT = b"set/"  # set/<tx hash 32> -> distpos.v1.Settlement: the guarantees of tx released or paid (once)
EVIDENCE = b"ev/"  # ev/<underwriter account 20><tx hash 32> -> 0x01: guarantee already used as capacity evidence


def settlement_key(tx_hash: bytes) -> bytes:
    """Key (within PREFIX) of a transaction's settlement."""
    return SETTLEMENT + tx_hash


def evidence_key(underwriter: bytes, tx_hash: bytes) -> bytes:
    """Key (within PREFIX) marking a guarantee as spent evidence."""
    return EVIDENCE + underwriter + tx_hash
