"""Transactions this node has already decoded and verified, carried from CheckTx to FinalizeBlock and RECHECK.

A signature is checked once per node: CheckTx decodes the bytes and runs every stateless check (canonical
encoding, size, chain-id, ed25519 signature, message rules) and, when the transaction is accepted into the
mempool, keeps the typed `SignedTx` here under its canonical hash. FinalizeBlock and RECHECK take it back
instead of decoding and verifying again; they still run every stateful check. Bytes this node never
accepted in CheckTx (it never saw them, they failed, or the entry was evicted) miss and are verified in full.

The cache only ever skips work whose outcome it already knows, so every node computes the same results and
app hash with it, without it, or with a different capacity (tests/app/test_verified_cache.py compares them).
It is bounded: the oldest entries go first. The app is driven from one asyncio thread, so no lock.
"""

from __future__ import annotations

from .tx import SignedTx
from .types import TxHash

DEFAULT_CAPACITY = 20_000  # above CometBFT's default mempool size (5,000 txs), so accepted txs stay cached


class VerifiedTxCache:
    """A bounded map from canonical transaction hash to the SignedTx CheckTx verified, oldest evicted first."""

    __slots__ = ("capacity", "_entries", "hits", "misses")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._entries: dict[TxHash, SignedTx] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tx_hash: TxHash, raw: bytes) -> SignedTx | None:
        """The verified transaction with these exact bytes, if CheckTx accepted it; None otherwise."""
        tx = self._entries.get(tx_hash)
        if tx is None or tx.raw != raw:  # compare the bytes too: a hit never rests on the hash alone
            self.misses += 1
            return None
        self.hits += 1
        return tx

    def pop(self, tx_hash: TxHash, raw: bytes) -> SignedTx | None:
        """Like get, and forget the entry (a transaction in a block leaves the mempool)."""
        tx = self.get(tx_hash, raw)
        if tx is not None:
            del self._entries[tx_hash]
        return tx

    def put(self, tx: SignedTx) -> None:
        """Remember a transaction that passed every stateless check; evict the oldest beyond capacity."""
        if self.capacity == 0:
            return
        self._entries.pop(tx.hash, None)  # re-inserted at the young end
        self._entries[tx.hash] = tx
        while len(self._entries) > self.capacity:
            del self._entries[next(iter(self._entries))]

    def discard(self, tx_hash: TxHash) -> None:
        """Forget tx_hash (CheckTx or RECHECK refused it: it left the mempool)."""
        self._entries.pop(tx_hash, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
