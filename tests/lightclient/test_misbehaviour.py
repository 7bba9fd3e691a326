"""validate_conflicting_block: evidence at any height, verified from the trusted state, pure."""

from __future__ import annotations

import pytest

from distpos_abci.crypto import KeyPair
from distpos_abci.errors import InsufficientVotingPowerError, TrustingPeriodExpiredError
from distpos_abci.lightclient import compute_evidence_hash, validate_conflicting_block
from distpos_abci.lightclient.types import ClientState

from .helpers import DAY, NS, make_light_block, make_set

T0 = 1_800_000_000 * NS
KEYS = [KeyPair(bytes([80 + i]) * 32) for i in range(4)]
VALS = make_set(KEYS)


def block(height: int, app_hash: bytes = b"\x11" * 32, keys=KEYS, signers=None):
    vals = make_set(keys)
    return make_light_block("c", height, T0 + height * NS, keys, vals, vals,
                            signers={v.address for v in vals.validators[:signers]} if signers else None,
                            app_hash=app_hash)


def client(latest: int = 10) -> ClientState:
    return ClientState("c", latest, T0 + latest * NS, DAY, VALS, 2 * DAY)


def test_conflicting_block_below_the_trusted_height_is_evidence():
    validate_conflicting_block(client(10), block(5, b"\x66" * 32), T0 + 20 * NS)  # an update would refuse it


def test_invalid_conflicting_block_by_strangers():
    strangers = [KeyPair(bytes([90 + i]) * 32) for i in range(4)]
    with pytest.raises(InsufficientVotingPowerError):
        validate_conflicting_block(client(), block(5, keys=strangers), T0 + 20 * NS)


def test_invalid_conflicting_block_signed_by_a_third_of_the_trusted_power():
    with pytest.raises(InsufficientVotingPowerError):  # 1 of 4 equal validators: not more than 1/3
        validate_conflicting_block(client(), block(5, signers=1), T0 + 20 * NS)


def test_invalid_conflicting_block_past_the_trusting_period():
    with pytest.raises(TrustingPeriodExpiredError):
        validate_conflicting_block(client(), block(5), T0 + 10 * NS + DAY)


def test_evidence_hash_ignores_order():
    a, b = block(5), block(5, b"\x66" * 32)
    assert compute_evidence_hash(a, b) == compute_evidence_hash(b, a) != compute_evidence_hash(a)
