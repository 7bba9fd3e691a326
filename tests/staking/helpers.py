"""Helpers for staking and underwriting tests: a chain with staked validators."""

from __future__ import annotations

import base64
import json

from distpos_abci.app import BlockResult
from distpos_abci.crypto import KeyPair
from distpos_abci.module import BlockInfo, Misbehavior, Vote
from distpos_abci.staking import compute_consensus_address
from distpos_abci.types import Height
from tests.helpers import CHAIN, AppHarness, addr, key

PARAMS = {
    "unbonding_blocks": 10,
    "unbonding_time_ns": 10 * 1_000_000_000,  # blocks are 1 s apart in these tests
    "power_reduction": 100,
    "min_self_stake": 100,
    "slash_fraction_double_sign_ppm": 100_000,
    "slash_fraction_downtime_ppm": 10_000,
    "downtime_window": 10,
    "min_signed_per_window": 5,
    "jail_blocks": 5,
    "max_validators": 10,
}

UW_PARAMS = {"max_guarantee_blocks": 4, "claim_window_blocks": 5}


def cons_key(i: int) -> KeyPair:
    """The consensus (node) key of validator i, distinct from its operator key i."""
    return KeyPair(bytes([100 + i]) * 32)


def cons_addr(i: int) -> bytes:
    """CometBFT address of validator i."""
    return compute_consensus_address(cons_key(i).pub_key)


def staking_genesis(balances: dict[int, int], validators: dict[int, int], params: dict | None = None,
                    underwriting: dict | None = None, endpoints: dict[int, str] | None = None) -> bytes:
    """app_state funding keys and making operator i a validator with the given self-stake."""
    state: dict = {
        "accounts": [{"address": addr(i), "balance": str(b)} for i, b in balances.items()],
        "staking": {
            "params": {**PARAMS, **(params or {})},
            "validators": [
                {"operator": addr(i), "consensus_pub_key": base64.b64encode(cons_key(i).pub_key).decode(),
                 "self_stake": str(stake), "endpoint": (endpoints or {}).get(i, ""), "moniker": f"v{i}"}
                for i, stake in validators.items()
            ],
        },
    }
    state["underwriting"] = {"params": {**UW_PARAMS, **(underwriting or {})}}
    return json.dumps(state).encode()


class Chain:
    """A harness producing blocks with votes and evidence."""

    def __init__(self, harness: AppHarness) -> None:
        self.h = harness
        self.app = harness.app

    def block(self, *txs: bytes, missing: tuple[int, ...] = (), voters: tuple[int, ...] = (),
              evidence: tuple[int, ...] = ()) -> BlockResult:
        """Finalize and commit a block; voters sign except those in missing; evidence against validators."""
        height = Height(self.app.last_height + 1)
        votes = tuple(Vote(cons_addr(i), 1, i not in missing) for i in voters)
        mis = tuple(Misbehavior(1, cons_addr(i), 1, Height(height - 1), 4) for i in evidence)
        result = self.app.finalize_block(BlockInfo(height, height * 1_000_000_000, b"", votes, mis), list(txs))
        self.app.commit()
        return result


def codes(result: BlockResult) -> list[int]:
    """The result code of every transaction of a block."""
    return [r.code for r in result.tx_results]


def event_types(result: BlockResult) -> list[str]:
    """Block-level event types (begin/end block)."""
    return [e.type for e in result.events]


__all__ = ["CHAIN", "Chain", "addr", "codes", "cons_addr", "cons_key", "event_types", "key", "staking_genesis"]
