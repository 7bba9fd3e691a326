"""A ChainEndpoint over an in-process chain (tests/interchain/helpers.Chain): the relay's unit-test double."""

from __future__ import annotations

from distpos_abci.lightclient.types import LightBlock
from distpos_abci.relay.endpoint import ChainEvent, Proven, Submitted
from tests.interchain.helpers import NS, T0, VAL_KEYS, Chain
from tests.lightclient.helpers import make_light_block, make_set


class MockEndpoint:
    """Block H's header carries the app hash after H-1, as CometBFT's does; every submit makes a block."""

    def __init__(self, chain: Chain) -> None:
        self.c = chain
        self.chain_id = chain.chain_id
        self.submitted: list[Submitted] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            from distpos_abci.errors import NodeUnreachableError
            raise NodeUnreachableError(f"chain {self.chain_id} is down")

    def latest(self) -> tuple[int, int]:
        self._check()
        h = self.c.app.last_height
        return h, T0 + h * NS

    def query(self, key: bytes, height: int = 0, prove: bool = False) -> Proven:
        self._check()
        state = self.c.app.state
        h = state.resolve_height(height)
        if prove:
            value, proof = state.get_proof(key, h)
            return Proven(key, value, proof, h)
        return Proven(key, state.get_at(key, h), None, h)

    def light_block(self, height: int) -> LightBlock:
        self._check()
        ks = VAL_KEYS[self.chain_id]
        vals = make_set(ks)
        return make_light_block(self.chain_id, height, T0 + height * NS, ks, vals, vals,
                                app_hash=self.c.app.state.get_root(height - 1))

    def block_events(self, height: int) -> list[ChainEvent]:
        self._check()
        res = self.c.results.get(height)
        if res is None:
            return []
        return [ChainEvent(ev.type, dict(ev.attributes)) for r in res.tx_results if r.ok for ev in r.events]

    def submit(self, tx: bytes) -> Submitted:
        self._check()
        res = self.c.block(tx)
        r = res.tx_results[0]
        out = Submitted(r.code, r.codespace, r.log, self.c.app.last_height)
        self.submitted.append(out)
        return out
