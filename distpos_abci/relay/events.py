"""Committed blocks of one chain, as they happen: CometBFT's websocket `NewBlock` events, with a polling
fallback that only catches up what a dropped subscription missed.

CometBFT v0.38 publishes `NewBlock` after the block is executed, its results saved and the app committed; the
event carries the block (its txs) and `result_finalize_block` (every tx's code, log and events). So one event
gives the relay everything it reads per block: the own packets committed (`send_packet`) and the outcome of
its own transactions (by tx hash), without `/block_results`.

Heights are known committed only from an event, or from `/status` minus one when the subscription is down
(`/status` reports a height as soon as the block is stored, before its results are saved: asking
`/block_results` for it then fails, which is why the relay used to warn `could not find results`). A height
the subscription skipped (a reconnect, or CometBFT dropping a slow client) is fetched over RPC once.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from ..codec import encode_canonical
from ..gen.distpos.v1 import interchain_pb2
from ..lightclient.rpc_json import parse_rfc3339_ns
from .backoff import exponential_backoff
from .types import Block, ChainEvent, TxOutcome

log = logging.getLogger("distpos.relay")

NEW_BLOCK_QUERY = "tm.event='NewBlock'"
MAX_CACHED_BLOCKS = 256  # recent blocks kept for the scan and the submitter; older ones are re-read over RPC


def compute_block(block: dict, results: dict) -> Block:
    """A Block from CometBFT's JSON of a block and of its finalize-block results (pure)."""
    raws = [base64.b64decode(t) for t in (block.get("data") or {}).get("txs") or []]
    results_list = results.get("tx_results") or results.get("txs_results") or []
    txs = []
    for raw, r in zip(raws, results_list):
        events = tuple(ChainEvent(ev["type"], {a["key"]: a["value"] for a in ev.get("attributes") or []})
                       for ev in r.get("events") or [])
        txs.append(TxOutcome(hashlib.sha256(raw).digest(), int(r.get("code") or 0), r.get("codespace") or "",
                             r.get("log") or "", events, raw))
    header = block["header"]
    return Block(int(header["height"]), parse_rfc3339_ns(header["time"]), tuple(txs))


def compute_sent_packet(attrs: dict[str, str]) -> bytes | None:
    """The bytes the app committed in its outbox for a one-hop `send_packet` event: the packet rebuilt from the
    event's attributes and encoded canonically (pure). None for a multi-hop packet (the event has its `path`,
    not its other hop fields) or when a field is missing or malformed: the caller then reads the outbox. Saves the scan one state query per packet; the destination relay still proves these bytes."""
    if "path" in attrs:  # a multi-hop packet: its hop fields are not all in the event
        return None
    try:
        return encode_canonical(interchain_pb2.Packet(
            sequence=int(attrs["sequence"]), source_chain=attrs["source"], destination_chain=attrs["destination"],
            sender=attrs["sender"], recipient=attrs["recipient"], amount=int(attrs["amount"]),
            timeout_height=int(attrs["timeout_height"]), timeout_time_ns=int(attrs["timeout_time_ns"]),
            relay_fee=int(attrs["relay_fee"])))
    except (KeyError, ValueError):
        return None


def compute_new_block_event(message: dict) -> Block | None:
    """The Block a websocket message carries when it is a NewBlock event, else None (pure)."""
    data = (message.get("result") or {}).get("data") or {}
    if data.get("type") != "tendermint/event/NewBlock":
        return None
    value = data["value"]
    return compute_block(value["block"], value.get("result_finalize_block") or {})


class BlockFeed:
    """The committed blocks of one chain, each height delivered once and in order (see the module text).

    `fetch(h)` reads a block over RPC (used for heights the subscription missed, or older than the cache),
    `status_height()` is the node's latest stored height (`/status`), `connect(url)` opens a websocket
    (websockets.sync.client.connect; tests pass a fake)."""

    def __init__(self, ws_url: str, fetch: Callable[[int], Block], status_height: Callable[[], int],
                 connect: Callable | None = None, max_cached: int = MAX_CACHED_BLOCKS) -> None:
        self.ws_url, self.fetch, self.status_height = ws_url, fetch, status_height
        self._connect = connect
        self.max_cached = max_cached
        self._blocks: dict[int, Block] = {}
        self._committed = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.connected = False
        self.fetched: collections.deque[int] = collections.deque(maxlen=64)  # heights read over RPC, newest last
        self.reconnects = 0
        self._thread: threading.Thread | None = None

    # ---- reading ------------------------------------------------------------------------------------

    @property
    def committed(self) -> int:
        """The highest height known committed with its results saved."""
        with self._cond:
            return self._committed

    def get(self, height: int) -> Block:
        """The committed block at height (cached, or fetched once); never asks for an uncommitted height."""
        with self._cond:
            block = self._blocks.get(height)
            if block is not None:
                return block
            if height > self._committed:
                raise ValueError(f"height {height} is not committed yet (committed {self._committed})")
        block = self.fetch(height)
        self.fetched.append(height)
        self._put(block)
        return block

    def poll(self) -> int:
        """Without a subscription: learn the committed height from /status (minus one: its results may not be
        saved yet). Returns the committed height."""
        if not self.connected:
            h = self.status_height() - 1
            with self._cond:
                if h > self._committed:
                    self._committed = h
                    self._cond.notify_all()
        return self.committed

    def wait(self, above: int, timeout: float) -> bool:
        """Block until a height above `above` is committed, or timeout; True when one is."""
        with self._cond:
            return self._cond.wait_for(lambda: self._committed > above or self._stop.is_set(), timeout)

    # ---- the subscription ------------------------------------------------------------------------------

    def start(self) -> "BlockFeed":
        self._thread = threading.Thread(target=self.run, name="relay-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        """Subscribe, and on any failure reconnect after exponential_backoff; until stop()."""
        attempt = 0
        while not self._stop.is_set():
            try:
                with self._open() as ws:
                    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                        "params": {"query": NEW_BLOCK_QUERY}}))
                    self.connected, attempt = True, 0
                    log.info("subscribed to NewBlock at %s", self.ws_url)
                    while not self._stop.is_set():
                        try:
                            raw = ws.recv(timeout=1.0)
                        except TimeoutError:
                            continue
                        block = compute_new_block_event(json.loads(raw))
                        if block is not None:
                            self.on_block(block)
            except Exception as exc:  # any transport failure: fall back to polling until reconnected
                if not self._stop.is_set():
                    log.warning("event subscription %s lost (%r); polling until it is back", self.ws_url, exc)
            self.connected = False
            attempt += 1
            self.reconnects += 1
            self._stop.wait(exponential_backoff(attempt))

    def _open(self):
        if self._connect is not None:
            return self._connect(self.ws_url)
        from websockets.sync.client import connect
        return connect(self.ws_url, open_timeout=5, close_timeout=1, max_size=1 << 24)

    def on_block(self, block: Block) -> None:
        """A block from the subscription: the heights it skipped since the last known one are fetched once."""
        with self._cond:
            last = self._committed
        for h in range(last + 1, block.height) if last else ():
            if h not in self._blocks:
                try:
                    self.get_missed(h)
                except Exception as exc:  # the consumer's own get() will try again
                    log.warning("could not catch up height %d: %r", h, exc)
        self._put(block)

    def get_missed(self, height: int) -> None:
        block = self.fetch(height)
        self.fetched.append(height)
        self._put(block)

    def _put(self, block: Block) -> None:
        with self._cond:
            self._blocks[block.height] = block
            while len(self._blocks) > self.max_cached:
                del self._blocks[min(self._blocks)]
            if block.height > self._committed:
                self._committed = block.height
            self._cond.notify_all()
