"""Skipping verification with bisection across validator-set rotations (synthetic chain)."""

from __future__ import annotations

import pytest

from distpos_abci.crypto import KeyPair
from distpos_abci.errors import InsufficientVotingPowerError, ValidatorSetMismatchError
from distpos_abci.lightclient.types import ClientState
from distpos_abci.lightclient.verifier import compute_update_path

from .helpers import DAY, NS, make_light_block, make_set

KEYS = [KeyPair(bytes([200 - i]) * 32) for i in range(10)]
T0 = 1_800_000_000 * NS
# heights 1-2 signed by keys 0-3, 3-4 by 2-5, 5-6 by 4-7, 7-8 by 6-9: neighbours share half, far ones nothing
SETS = {h: make_set(KEYS[2 * ((h - 1) // 2): 2 * ((h - 1) // 2) + 4]) for h in range(1, 10)}


def block(h):
    return make_light_block("c", h, T0 + h * NS, KEYS, SETS[h], SETS[h + 1])


def test_bisection_finds_a_path_across_rotations():
    client = ClientState("c", 0, T0, DAY, SETS[1])
    fetched = []

    def fetch(h):
        fetched.append(h)
        return block(h)

    path = compute_update_path(client, block(8), fetch, T0 + 10 * NS)
    assert [lb.height for lb in path] == [4, 8]
    assert fetched == [4]


def test_direct_skip_needs_no_bisection():
    client = ClientState("c", 0, T0, DAY, SETS[1])
    path = compute_update_path(client, block(3), lambda h: pytest.fail("no fetch expected"), T0 + 10 * NS)
    assert [lb.height for lb in path] == [3]


def test_invalid_no_path_when_adjacent_headers_do_not_chain():
    strangers = make_set([KeyPair(bytes([99]) * 32), KeyPair(bytes([98]) * 32), KeyPair(bytes([97]) * 32)])
    client = ClientState("c", 0, T0, DAY, strangers)
    # bisection narrows down to height 1, whose set is not the trusted one
    with pytest.raises((InsufficientVotingPowerError, ValidatorSetMismatchError)):
        compute_update_path(client, block(8), block, T0 + 10 * NS)
