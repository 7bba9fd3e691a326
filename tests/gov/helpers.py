"""Helpers for gov tests: a chain of five validators with known powers, and signed gov transactions."""

from __future__ import annotations

import json

from distpos_abci.address import Address
from distpos_abci.authority import gov_authority_address
from distpos_abci.gen.distpos.v1 import gov_pb2, interchain_pb2
from distpos_abci.gov import GovKeeper, build_submit_proposal_tx, build_update_params_message, build_vote_tx
from distpos_abci.gov.msgs import VOTE_OPTIONS
from distpos_abci.tx import build_tx
from tests.staking.helpers import CHAIN, Chain, addr, codes, key, staking_genesis

# power_reduction 100: validators 1 and 2 and 5 have power 2, validators 3 and 4 power 1 (total 8).
STAKES = {1: 200, 2: 200, 3: 100, 4: 100, 5: 200}
BALANCES = {1: 10_000, 2: 10_000, 3: 10_000, 4: 10_000, 5: 10_000, 6: 10_000, 7: 10_000}
GOV_PARAMS = {"voting_period_blocks": 5, "min_deposit": 100, "max_active_proposals": 2}


def gov_genesis(stakes: dict[int, int] | None = None, gov: dict | None = None) -> bytes:
    """Staking genesis with the validators of STAKES plus a gov section."""
    state = json.loads(staking_genesis(BALANCES, stakes or STAKES))
    state["gov"] = {"params": {**GOV_PARAMS, **(gov or {})}}
    return json.dumps(state).encode()


class GovChain(Chain):
    """A staking chain that signs gov transactions with the next nonce of each key."""

    def __init__(self, harness) -> None:
        super().__init__(harness)
        self.pending: dict[int, int] = {}

    def nonce(self, i: int) -> int:
        """The committed nonce of key i plus the transactions built for the next block."""
        n = self.app.query_account(addr(i)).nonce + self.pending.get(i, 0)
        self.pending[i] = self.pending.get(i, 0) + 1
        return n

    def block(self, *txs: bytes, **kwargs):
        self.pending = {}
        return super().block(*txs, **kwargs)

    def propose(self, i: int, messages: list[gov_pb2.ProposalMessage], deposit: int = 100,
                title: str = "change", summary: str = "why") -> bytes:
        return build_submit_proposal_tx(key(i), CHAIN, self.nonce(i), title, summary, messages, deposit)

    def vote(self, i: int, proposal_id: int, option: str = "yes") -> bytes:
        return build_vote_tx(key(i), CHAIN, self.nonce(i), proposal_id, VOTE_OPTIONS[option])

    def tx(self, i: int, field: str, msg) -> bytes:
        return build_tx(key(i), CHAIN, self.nonce(i), field, msg)

    def keeper(self) -> GovKeeper:
        return GovKeeper(self.app.state, CHAIN)

    def proposal(self, proposal_id: int) -> gov_pb2.Proposal:
        return self.keeper().require_proposal(proposal_id)


def params_change(module: str, **changes) -> gov_pb2.ProposalMessage:
    """A proposal message changing module's params."""
    return build_update_params_message(CHAIN, module, changes)


def gov_address() -> str:
    return str(gov_authority_address(CHAIN))


def set_route_msg(authority: str, chain: str = "b7c1") -> interchain_pb2.MsgSetRoute:
    return interchain_pb2.MsgSetRoute(authority=authority, route=interchain_pb2.Route(
        chain_id=chain, relay_grpc="127.0.0.1:9091", comet_rpc="http://127.0.0.1:26667"))


def operator(i: int) -> Address:
    return Address.from_pub_key(CHAIN, key(i).pub_key)


__all__ = ["CHAIN", "GovChain", "addr", "codes", "gov_address", "gov_genesis", "key", "operator", "params_change",
           "set_route_msg"]
