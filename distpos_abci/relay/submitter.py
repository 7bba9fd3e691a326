"""Pipelined submission: the relay signs with a nonce it keeps itself and does not wait for a transaction to
commit before sending the next; outcomes arrive with the committed blocks (`on_block`).

Nonce rules. The app checks nonces in CheckTx against its mempool state, where a transaction that passes
consumes its nonce and one refused consumes nothing. So after a CheckTx pass the next nonce is one more; after
any refusal it is unchanged. A refusal `auth:11` (bad nonce: another process signed with this key, a tx was
evicted from the mempool, or the relay restarted) makes the submitter forget its nonce; it re-reads the
committed nonce from the chain once no transaction of its own is in flight (while some are, that committed
value would be stale), and sends nothing until then. A refused transaction was not sent: its packets are taken
up again by the next round, once; a passed one is in flight until its block, or until `INFLIGHT_BLOCKS`
blocks passed without it (then it was dropped: its packets are taken up again, the chain refuses duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..address import compute_account_id
from ..auth.keeper import AuthRecord
from ..auth.keys import full_account_key
from ..crypto import KeyPair
from ..errors import BadNonceError
from ..fees import build_paid_tx
from ..tx import build_tx, compute_tx_hash
from .endpoint import get_min_gas_price
from .types import Block, Submitted, TxOutcome

log = logging.getLogger("distpos.relay")

INFLIGHT_BLOCKS = 8  # a tx not in any of the next 8 blocks was dropped from the mempool
NONCE_PENDING = Submitted(BadNonceError.code, BadNonceError.codespace,
                          "nonce being re-synced: waiting for the transactions in flight", 0)

Done = Callable[[TxOutcome | None], None]  # the outcome, or None when the tx was never committed


def is_bad_nonce(res: Submitted) -> bool:
    """True when res is the app's bad-nonce refusal (auth:11)."""
    return (res.codespace, res.code) == (BadNonceError.codespace, BadNonceError.code)


@dataclass
class InFlight:
    nonce: int
    label: str
    sent_height: int
    done: Done


class Submitter:
    """Sends the relay's transactions to one chain without waiting for them to commit.

    Shared by the relay's workers: one key has one nonce sequence, so signing and broadcasting are one step
    under a lock (a tx with nonce n+1 must reach the mempool after the one with n), and so is applying a block.
    `count(field, code, codespace)` is told every result: a CheckTx refusal, or a committed outcome.
    Every transaction pays its fee from the relay's account at `gas_price` (milli-units per gas; 0 = the chain's
    min_gas_price, read from its state once and again after a fee refusal: governance may raise it)."""

    def __init__(self, endpoint, key: KeyPair, count: Callable[[str, int, str], None] = lambda *_: None,
                 gas_price: int = 0) -> None:
        self.ep, self.key, self.count = endpoint, key, count
        self.gas_price = gas_price
        self._chain_price: int | None = None
        self.nonce: int | None = None  # None: re-read from the chain before the next send
        self.inflight: dict[bytes, InFlight] = {}
        self.seen_height = 0  # the last block whose outcomes were applied
        self.sent = 0
        self.lock = threading.RLock()

    def read_chain_nonce(self) -> int:
        """The committed nonce of the relay's account."""
        raw = self.ep.query(full_account_key(compute_account_id(self.key.pub_key))).value
        return AuthRecord.decode(raw).nonce if raw else 0

    def price(self) -> int:
        """The gas price the relay pays on this chain."""
        if self.gas_price:
            return self.gas_price
        if self._chain_price is None:
            self._chain_price = get_min_gas_price(self.ep)
        return self._chain_price

    def send(self, field: str, msg, done: Done = lambda _: None) -> Submitted:
        """Sign msg with the next nonce and broadcast it; CheckTx's answer. On a pass, `done` is called later
        with the committed outcome (or None if it never commits)."""
        return self._send(field, msg, done)[0]

    def _send(self, field: str, msg, done: Done) -> tuple[Submitted, bytes]:
        with self.lock:
            return self._send_locked(field, msg, done)

    def _send_locked(self, field: str, msg, done: Done) -> tuple[Submitted, bytes]:
        if self.nonce is None:
            if self.inflight:
                return NONCE_PENDING, b""
            self.nonce = self.read_chain_nonce()
            log.info("chain=%s relay nonce synced from the chain: %d", self.ep.chain_id, self.nonce)
        if self.seen_height == 0:
            self.seen_height = self.ep.committed_height()
        tx = build_paid_tx(self.key, build_tx(self.key, self.ep.chain_id, self.nonce, field, msg), gas_price=self.price())
        res = self.ep.broadcast(tx)
        tx_hash = compute_tx_hash(tx)
        if res.code == 0:
            self.inflight[tx_hash] = InFlight(self.nonce, field, self.seen_height, done)
            self.nonce += 1
            self.sent += 1
            return res, tx_hash
        self.count(field, res.code, res.codespace)
        if res.codespace == "fees":
            self._chain_price = None  # the chain's minimum may have risen: read it again before the next send
        if is_bad_nonce(res):
            log.warning("chain=%s nonce %d refused (%s); re-syncing once nothing is in flight", self.ep.chain_id,
                        self.nonce, res.log)
            self.nonce = None
        return res, tx_hash

    def send_and_wait(self, field: str, msg, timeout: float = 30.0) -> Submitted:
        """send() (once more after a bad-nonce re-sync), then wait for the block that holds it: for the rare
        steps that need the outcome before going on."""
        res, tx_hash = self._send(field, msg, lambda _: None)
        if is_bad_nonce(res) and not self.inflight:
            res, tx_hash = self._send(field, msg, lambda _: None)
        if res.code != 0:
            return res
        try:
            out = self.ep.wait_committed(tx_hash, timeout)
        except Exception:
            with self.lock:
                self.inflight.pop(tx_hash, None)
                self.nonce = None  # it may never commit: re-read before the next send
            raise
        with self.lock:
            counted = self.inflight.pop(tx_hash, None) is None  # its block was applied meanwhile (and counted)
        if not counted:
            self.count(field, out.code, out.codespace)
        return out

    def absorb(self, top: int, block: Callable[[int], Block]) -> None:
        """Apply the blocks committed up to height top (read with block(h)), from the last one applied."""
        with self.lock:
            if not self.inflight or self.seen_height == 0:
                self.seen_height = max(self.seen_height, top)  # nothing to learn from the blocks between
                return
            for h in range(self.seen_height + 1, top + 1):
                self.on_block(block(h))

    def on_block(self, block: Block) -> None:
        """Apply the outcomes of own transactions in a committed block; expire those left behind."""
        with self.lock:
            self._on_block(block)

    def _on_block(self, block: Block) -> None:
        self.seen_height = max(self.seen_height, block.height)
        for tx in block.txs:
            f = self.inflight.pop(tx.hash, None)
            if f is not None:
                self.count(f.label, tx.code, tx.codespace)
                f.done(tx)
        lost = [h for h, f in self.inflight.items() if block.height - f.sent_height > INFLIGHT_BLOCKS]
        for h in lost:
            f = self.inflight.pop(h)
            log.warning("chain=%s %s tx with nonce %d not committed within %d blocks: taken up again",
                        self.ep.chain_id, f.label, f.nonce, INFLIGHT_BLOCKS)
            self.nonce = None
            f.done(None)
