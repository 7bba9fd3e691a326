"""Store layout of the staking area. The keeper is the only code that touches it."""

import hashlib

from ..types import AccountId

PREFIX = b"staking/"  # owned by staking
PARAMS = b"params"  # canonical JSON of StakingParams
VALIDATOR = b"val/"  # val/<operator account 20> -> distpos.v1.Validator
CONSENSUS = b"cons/"  # cons/<consensus address 20> -> operator account 20 (CometBFT address -> validator)
POWER = b"pow/"  # pow/<operator account 20> -> u64 power last reported to CometBFT; absent = 0
UNBONDING = b"unb/"  # unb/<operator 20><complete height u64><seq u64> -> distpos.v1.UnbondingEntry
UNBONDING_SEQ = b"unbseq"  # u64 counter making unbonding keys unique within a height
SIGNING = b"sig/"  # sig/<operator account 20> -> distpos.v1.SigningInfo

# The module account holding every bonded and unbonding coin: staking moves funds here with
# bank transfers, so total supply only changes through explicit burns (slashing).
BONDED_POOL = AccountId(hashlib.sha256(b"staking/bonded").digest()[:20])


def validator_key(operator: bytes) -> bytes:
    """Key (within PREFIX) of a validator record."""
    return VALIDATOR + operator


def consensus_key(cons_address: bytes) -> bytes:
    """Key (within PREFIX) of the consensus-address index."""
    return CONSENSUS + cons_address


def power_key(operator: bytes) -> bytes:
    """Key (within PREFIX) of the power last sent to CometBFT."""
    return POWER + operator


def unbonding_prefix(operator: bytes) -> bytes:
    """Prefix (within PREFIX) of one validator's unbonding entries, ordered by completion height."""
    return UNBONDING + operator


def unbonding_key(operator: bytes, complete_height: int, seq: int) -> bytes:
    """Key (within PREFIX) of one unbonding entry."""
    return UNBONDING + operator + complete_height.to_bytes(8, "big") + seq.to_bytes(8, "big")


def signing_key(operator: bytes) -> bytes:
    """Key (within PREFIX) of a validator's downtime accounting."""
    return SIGNING + operator
