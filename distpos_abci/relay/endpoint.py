"""The relay's one view of a chain: `ChainEndpoint`, with the CometBFT-RPC implementation.

Everything the relay reads or writes on a chain goes through these methods: state keys with proofs (one RPC
round trip for many keys), light blocks, committed blocks (from the websocket event feed, `events.py`), and
broadcasting a transaction. Errors become the project's own, carrying the chain-id (NodeUnreachableError:
retry may help).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Protocol

from ..codec import decode_canonical
from ..errors import DistposError, InvalidPeerResponseError, NodeUnreachableError, QueryRefusedError, TxRejectedError
from ..gen.distpos.v1 import state_pb2
from ..lightclient.rpc_json import light_block_from_json, parse_rfc3339_ns
from ..lightclient.types import LightBlock
from ..params import PARAMS_KEY, Params
from ..rpc_client import CometRPC
from ..store.merkle import MerkleProof
from ..tx import compute_tx_hash
from .events import BlockFeed, compute_block
from .types import Block, ChainEvent, Proven, Submitted, TxOutcome

__all__ = ["Block", "ChainEndpoint", "ChainEvent", "CometEndpoint", "Proven", "Submitted", "TxOutcome",
           "get_max_tx_bytes", "get_min_gas_price"]


# CometBFT's default [rpc] max_request_batch_size: a JSON-RPC batch of more requests is refused whole.
RPC_BATCH_MAX = 10


def get_max_tx_bytes(endpoint: "ChainEndpoint") -> int:
    """The chain's max_tx_bytes parameter, read from its state (the default before genesis wrote one)."""
    raw = endpoint.query(PARAMS_KEY).value
    return Params.from_json(json.loads(raw)).max_tx_bytes if raw else Params().max_tx_bytes


def get_min_gas_price(endpoint: "ChainEndpoint") -> int:
    """The chain's min_gas_price parameter (milli-units per gas), read from its state (0 before genesis wrote one)."""
    raw = endpoint.query(PARAMS_KEY).value
    return Params.from_json(json.loads(raw)).min_gas_price if raw else 0


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

    def query_many(self, keys: list[bytes], height: int = 0, prove: bool = False) -> list[Proven]:
        """query() of every key at one state height, in one round trip."""
        ...

    def committed_height(self) -> int:
        """The highest height whose block and results are committed (never one still being saved)."""
        ...

    def block(self, height: int) -> Block:
        """The committed block at height (at most committed_height()) with its txs' results."""
        ...

    def wait_block(self, above: int, timeout: float) -> bool:
        """Wait until a height above `above` is committed, at most timeout seconds; True if one is."""
        ...

    def broadcast(self, tx: bytes) -> Submitted:
        """Hand tx to the mempool: CheckTx's answer (height 0); its outcome comes with a committed block."""
        ...

    def wait_committed(self, tx_hash: bytes, timeout: float) -> Submitted:
        """The result of a broadcast tx once it is in a block (NodeUnreachableError after timeout)."""
        ...


class CometEndpoint:
    """ChainEndpoint over a CometBFT node's JSON-RPC; with `events`, committed blocks come from its websocket."""

    def __init__(self, chain_id: str, rpc_url: str, timeout: float = 10.0, *, events: bool = False) -> None:
        self.chain_id = chain_id
        self.rpc = CometRPC(rpc_url, timeout)
        ws_url = "ws" + self.rpc.url.removeprefix("http") + "/websocket"
        self.feed = BlockFeed(ws_url, self._fetch_block, lambda: self.latest()[0])
        if events:
            self.feed.start()

    def close(self) -> None:
        self.feed.stop()

    def latest(self) -> tuple[int, int]:
        info = self.rpc.status()["sync_info"]
        return int(info["latest_block_height"]), parse_rfc3339_ns(info["latest_block_time"])

    def _proven(self, key: bytes, res: dict) -> Proven:
        if int(res.get("code") or 0):
            raise QueryRefusedError(f"chain {self.chain_id}: the node refused the query: {res.get('log')}",
                                    chain_id=self.chain_id)
        value = base64.b64decode(res.get("value") or "") if res.get("info") == "exists" else None
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

    def query(self, key: bytes, height: int = 0, prove: bool = False) -> Proven:
        return self.query_many([key], height, prove)[0]

    def query_many(self, keys: list[bytes], height: int = 0, prove: bool = False) -> list[Proven]:
        out: list[Proven] = []
        for i in range(0, len(keys), RPC_BATCH_MAX):
            out += self._query_batch(keys[i:i + RPC_BATCH_MAX], height, prove)
        return out

    def _query_batch(self, keys: list[bytes], height: int, prove: bool) -> list[Proven]:
        # One JSON-RPC batch (CometBFT answers an array of requests in one HTTP exchange).
        body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "abci_query",
                            "params": {"path": "/store", "data": k.hex(), "height": str(height), "prove": prove}}
                           for i, k in enumerate(keys)]).encode()
        req = urllib.request.Request(self.rpc.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.rpc.timeout) as resp:
                answers = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise NodeUnreachableError(f"chain {self.chain_id}: CometBFT RPC {self.rpc.url} unreachable: {exc}") from None
        if isinstance(answers, dict) and "error" in answers:
            raise NodeUnreachableError(f"chain {self.chain_id}: batch query refused: {answers['error']}")
        if isinstance(answers, dict):
            answers = [answers]  # CometBFT answers a batch of one with a plain response
        if not isinstance(answers, list) or len(answers) != len(keys):
            raise NodeUnreachableError(f"chain {self.chain_id}: batch query answered {type(answers).__name__}")
        by_id = {a.get("id"): a for a in answers}
        out = []
        for i, k in enumerate(keys):
            a = by_id.get(i) or {}
            if "error" in a:
                raise QueryRefusedError(f"chain {self.chain_id}: abci_query refused: {a.get('error')}",
                                        chain_id=self.chain_id)
            if "result" not in a:
                raise InvalidPeerResponseError(f"chain {self.chain_id}: abci_query answered without a result",
                                               chain_id=self.chain_id)
            out.append(self._proven(k, a["result"]["response"]))
        return out

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

    def _fetch_block(self, height: int) -> Block:
        block = self.rpc.call("block", height=str(height))["block"]
        return compute_block(block, self.rpc.call("block_results", height=str(height)))

    def committed_height(self) -> int:
        return self.feed.poll()

    def block(self, height: int) -> Block:
        return self.feed.get(height)

    def wait_block(self, above: int, timeout: float) -> bool:
        if not self.feed.connected:
            self.feed.poll()
        return self.feed.wait(above, timeout)

    def broadcast(self, tx: bytes) -> Submitted:
        try:
            self.rpc.broadcast_tx_sync(tx)
        except TxRejectedError as exc:
            return Submitted(exc.remote_code, exc.remote_codespace, exc.message, 0)
        return Submitted(0, "", "", 0)

    def wait_committed(self, tx_hash: bytes, timeout: float) -> Submitted:
        c = self.rpc.wait_for_tx(tx_hash, timeout=timeout)
        return Submitted(c.code, c.codespace, c.log, c.height)

    def submit(self, tx: bytes) -> Submitted:
        """broadcast() and wait for the block (tools and tests submitting one transaction by hand)."""
        res = self.broadcast(tx)
        return res if res.code else self.wait_committed(compute_tx_hash(tx), timeout=30)
