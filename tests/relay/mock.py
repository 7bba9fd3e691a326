"""A ChainEndpoint over an in-process chain (tests/interchain/helpers.Chain): the relay's unit-test double."""

from __future__ import annotations

from distpos_abci.errors import NodeUnreachableError
from distpos_abci.lightclient.types import LightBlock
from distpos_abci.relay.endpoint import Block, ChainEvent, Proven, Submitted, TxOutcome
from distpos_abci.tx import compute_tx_hash
from tests.interchain.helpers import NS, T0, VAL_KEYS, Chain
from tests.lightclient.helpers import make_light_block, make_set


class MockEndpoint:
    """Block H's header carries the app hash after H-1, as CometBFT's does.

    broadcast() runs the app's real CheckTx (mempool nonces included); a passing tx goes into a block at
    once, or with `hold` waits in `mempool` until `commit()` puts everything there in one block."""

    def __init__(self, chain: Chain, hold: bool = False) -> None:
        self.c = chain
        self.chain_id = chain.chain_id
        self.submitted: list[Submitted] = []  # committed outcomes of what was broadcast here
        self.broadcasts: list[bytes] = []  # every tx that passed CheckTx
        self.down = False
        self.hold = hold
        self.mempool: list[bytes] = []
        self.hashes: dict[int, list[bytes]] = {}  # height -> hashes of the txs broadcast here, in block order
        self.raws: dict[int, list[bytes]] = {}  # height -> the txs broadcast here, in block order

    def _check(self) -> None:
        if self.down:
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

    def query_many(self, keys: list[bytes], height: int = 0, prove: bool = False) -> list[Proven]:
        return [self.query(k, height, prove) for k in keys]

    def light_block(self, height: int) -> LightBlock:
        self._check()
        ks = VAL_KEYS[self.chain_id]
        vals = make_set(ks)
        return make_light_block(self.chain_id, height, T0 + height * NS, ks, vals, vals,
                                app_hash=self.c.app.state.get_root(height - 1))

    def committed_height(self) -> int:
        self._check()
        return self.c.app.last_height

    def wait_block(self, above: int, timeout: float) -> bool:
        return self.committed_height() > above

    def block(self, height: int) -> Block:
        self._check()
        res = self.c.results.get(height)
        if res is None:
            return Block(height, T0 + height * NS, ())
        hashes, raws = self.hashes.get(height, []), self.raws.get(height, [])
        txs = tuple(TxOutcome(hashes[i] if i < len(hashes) else b"", r.code, r.codespace, r.log,
                              tuple(ChainEvent(ev.type, dict(ev.attributes)) for ev in r.events),
                              raws[i] if i < len(raws) else b"")
                    for i, r in enumerate(res.tx_results))
        return Block(height, T0 + height * NS, txs)

    def block_events(self, height: int) -> list[ChainEvent]:
        return self.block(height).events()

    def broadcast(self, tx: bytes) -> Submitted:
        self._check()
        r = self.c.app.check_tx(tx)
        if not r.ok:
            return Submitted(r.code, r.codespace, r.log, 0)
        self.broadcasts.append(tx)
        self.mempool.append(tx)
        if not self.hold:
            self.commit()
        return Submitted(0, "", "", 0)

    def commit(self) -> None:
        """Put the mempool into the next block."""
        txs, self.mempool = self.mempool, []
        res = self.c.block(*txs)
        h = self.c.app.last_height
        self.hashes[h] = [compute_tx_hash(t) for t in txs]
        self.raws[h] = list(txs)
        for r in res.tx_results:
            self.submitted.append(Submitted(r.code, r.codespace, r.log, h))

    def wait_committed(self, tx_hash: bytes, timeout: float) -> Submitted:
        if self.hold:
            self.commit()
        for h, hashes in sorted(self.hashes.items(), reverse=True):
            if tx_hash in hashes:
                r = self.c.results[h].tx_results[hashes.index(tx_hash)]
                return Submitted(r.code, r.codespace, r.log, h)
        raise NodeUnreachableError(f"tx {tx_hash.hex()} not committed")

    def submit(self, tx: bytes) -> Submitted:
        """Broadcast and commit (tests building transactions by hand)."""
        res = self.broadcast(tx)
        return self.submitted[-1] if res.code == 0 and not self.hold else res
