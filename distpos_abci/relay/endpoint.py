"""The relay's one view of a chain: `ChainEndpoint`, with the CometBFT-RPC implementation.

Everything the relay reads or writes on a chain goes through these methods: state keys with proofs,
light blocks, block events, and submitting a transaction. Errors become the project's own, carrying
the chain-id (NodeUnreachableError: retry may help).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Protocol

from ..codec import decode_canonical
from ..errors import DistposError, InvalidPeerResponseError
from ..gen.distpos.v1 import state_pb2
from ..lightclient.rpc_json import light_block_from_json, parse_rfc3339_ns
from ..lightclient.types import LightBlock
from ..rpc_client import CometRPC
from ..store.merkle import MerkleProof


@dataclass(frozen=True)
class ChainEvent:
    type: str
    attrs: dict[str, str]


@dataclass(frozen=True)
class Proven:
    key: bytes
    value: bytes | None
    proof: MerkleProof | None
    height: int  # state height; verifies against header height + 1


@dataclass(frozen=True)
class Submitted:
    code: int
    codespace: str
    log: str
    height: int


class ChainEndpoint(Protocol):
    """A chain as the relay sees it."""

    chain_id: str

    def latest(self) -> tuple[int, int]:
        """(last committed height, its block time in ns)."""
        ...

    def query(self, key: bytes, height: int = 0, prove: bool = False) -> Proven:
        """A raw state key at a state height (0 = latest), with its trie proof when asked."""
        ...

    def light_block(self, height: int) -> LightBlock:
        """Signed header at height with its validator set and the next one."""
        ...

    def block_events(self, height: int) -> list[ChainEvent]:
        """Events of the successful transactions of the block at height."""
        ...

    def submit(self, tx: bytes) -> Submitted:
        """Broadcast tx and wait until it is in a block (CheckTx refusals come back as a non-zero code)."""
        ...


class CometEndpoint:
    """ChainEndpoint over a CometBFT node's JSON-RPC."""

    def __init__(self, chain_id: str, rpc_url: str, timeout: float = 10.0) -> None:
        self.chain_id = chain_id
        self.rpc = CometRPC(rpc_url, timeout)

    def latest(self) -> tuple[int, int]:
        info = self.rpc.status()["sync_info"]
        return int(info["latest_block_height"]), parse_rfc3339_ns(info["latest_block_time"])

    def query(self, key: bytes, height: int = 0, prove: bool = False) -> Proven:
        res = self.rpc.abci_query("/store", key, height, prove)
        if int(res.get("code") or 0):
            from ..errors import NodeUnreachableError
            raise NodeUnreachableError(f"chain {self.chain_id}: query failed: {res.get('log')}")
        value = res["value"] if res.get("info") == "exists" else None
        proof = None
        ops = (res.get("proofOps") or {}).get("ops") or []
        if ops:
            try:
                raw = base64.b64decode(ops[0]["data"], validate=True)
                proof = MerkleProof.from_proto(decode_canonical(state_pb2.MerkleProof, raw, "proof",
                                                                InvalidPeerResponseError))
            except (ValueError, DistposError) as exc:
                raise InvalidPeerResponseError(f"chain {self.chain_id}: node answered an unusable proof: {exc}",
                                               chain_id=self.chain_id) from None
        return Proven(key, value, proof, int(res.get("height") or 0))

    def _validators(self, height: int) -> dict:
        out: list = []
        page = 1
        while True:
            res = self.rpc.call("validators", height=str(height), page=str(page), per_page="100")
            out.extend(res["validators"])
            if len(out) >= int(res["total"]):
                return {"validators": out}
            page += 1

    def light_block(self, height: int) -> LightBlock:
        commit = self.rpc.call("commit", height=str(height))
        return light_block_from_json(commit, self._validators(height), self._validators(height + 1))

    def block_events(self, height: int) -> list[ChainEvent]:
        res = self.rpc.call("block_results", height=str(height))
        events = []
        for r in res.get("txs_results") or []:
            if int(r.get("code") or 0):
                continue
            for ev in r.get("events") or []:
                events.append(ChainEvent(ev["type"], {a["key"]: a["value"] for a in ev.get("attributes") or []}))
        return events

    def submit(self, tx: bytes) -> Submitted:
        from ..errors import TxRejectedError
        from ..tx import compute_tx_hash
        try:
            self.rpc.broadcast_tx_sync(tx)
        except TxRejectedError as exc:
            return Submitted(exc.remote_code, exc.remote_codespace, exc.message, 0)
        c = self.rpc.wait_for_tx(compute_tx_hash(tx), timeout=30)
        return Submitted(c.code, c.codespace, c.log, c.height)
