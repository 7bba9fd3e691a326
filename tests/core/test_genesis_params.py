"""Genesis parsing and chain parameters."""

from __future__ import annotations

import json

import pytest

from distpos_abci.errors import GenesisError
from distpos_abci.genesis import parse_genesis
from tests.helpers import CHAIN, addr, genesis_bytes


def test_parse_accounts_and_params():
    g = parse_genesis(genesis_bytes({1: 10, 2: 2**64 - 11}, max_tx_bytes=4096), CHAIN)
    assert [a.balance for a in g.accounts] == [10, 2**64 - 11]
    assert g.params.max_tx_bytes == 4096


def test_empty_app_state_is_empty_chain():
    assert parse_genesis(b"", CHAIN).accounts == ()


@pytest.mark.parametrize(
    "state, fragment",
    [
        ("[]", "must be a JSON object"),
        ("{bad json", "not JSON"),
        ({"accounts": [{"address": "nope", "balance": "1"}]}, "accounts[0]"),
        ({"accounts": [{"address": addr(1, "a1b2"), "balance": "1"}]}, "is not on chain e2e4"),
        ({"accounts": [{"address": addr(1), "balance": "-1"}]}, "not a non-negative decimal"),
        ({"accounts": [{"address": addr(1), "balance": 1.5}]}, "decimal string"),
        ({"accounts": [{"address": addr(1), "balance": "1"}, {"address": addr(1), "balance": "1"}]}, "duplicate"),
        ({"accounts": [{"address": addr(1), "balance": str(2**64 - 1)}, {"address": addr(2), "balance": "1"}]},
         "exceeds"),
        ({"params": {"max_tx_bytes": 10}}, "max_tx_bytes"),
        ({"params": {"nope": 1}}, "unknown params"),
        ({"extra": 1}, "unknown app_state keys"),
    ],
)
def test_invalid_genesis(state, fragment):
    raw = state.encode() if isinstance(state, str) else json.dumps(state).encode()
    with pytest.raises(GenesisError) as info:
        parse_genesis(raw, CHAIN)
    assert fragment in info.value.message
