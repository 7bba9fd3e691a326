"""Versioned, Merkle-committed state over the database.

The latest values are read from the flat table; any committed height can be read,
with a proof, from the trie root recorded for it. A block's writes are hashed once,
at the end of FinalizeBlock (`prepare_commit`), and persisted in one atomic write at
Commit (`commit`), so a crash between the two loses nothing: CometBFT replays the
block, and the app has not applied it yet.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import HeightUnavailableError
from ..types import AppHash, Height
from . import merkle
from .db import (
    META_APP_HASH,
    META_CHAIN_ID,
    META_HEIGHT,
    T_NODE,
    T_STATE,
    Database,
    compute_root_key,
)


NODE_CACHE_ENTRIES = 200_000  # about 40 MB: the top of a million-account trie and the recently written nodes


class _NodeReader:
    """Trie nodes from the database (the trie module is pure and needs only `get`), with a bounded cache.

    A node is immutable and named by its hash, so a cached record can never be stale; the upper levels of the
    trie are read by every block and stay cached, as do the nodes the last blocks wrote (`remember`)."""

    __slots__ = ("db", "cache", "capacity")

    def __init__(self, db: Database, capacity: int = NODE_CACHE_ENTRIES) -> None:
        self.db = db
        self.cache: dict[bytes, bytes] = {}
        self.capacity = capacity

    def get(self, node_hash: bytes) -> bytes | None:
        record = self.cache.get(node_hash)
        if record is None:
            record = self.db.get(T_NODE + node_hash)
            if record is not None:
                self._add(node_hash, record)
        return record

    def remember(self, nodes: Mapping[bytes, bytes]) -> None:
        """Cache nodes just committed: the next block walks the same upper levels."""
        for node_hash, record in nodes.items():
            self._add(node_hash, record)

    def _add(self, node_hash: bytes, record: bytes) -> None:
        cache = self.cache
        if len(cache) >= self.capacity:  # drop the oldest eighth at once: cheap, and keeps the recent ones
            for stale in list(cache)[: self.capacity // 8 or 1]:
                del cache[stale]
        cache[node_hash] = record


@dataclass(frozen=True)
class PendingCommit:
    """A finalized block's writes and its new root, waiting for Commit."""

    height: Height
    writes: Mapping[bytes, bytes | None]
    root: bytes
    nodes: Mapping[bytes, bytes]
    chain_id: str


class StateStore:
    """Committed state: a KVReader over the latest height, plus history and proofs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.nodes = _NodeReader(db)
        raw_height = db.get(META_HEIGHT)
        self.last_height = Height(int.from_bytes(raw_height, "big") if raw_height else 0)
        self.last_app_hash = AppHash(db.get(META_APP_HASH) or b"")
        self.chain_id = (db.get(META_CHAIN_ID) or b"").decode()

    @property
    def last_root(self) -> bytes:
        """Trie root of the last committed height (EMPTY_HASH before genesis is committed)."""
        return self.last_app_hash or merkle.EMPTY_HASH

    # ---- KVReader over the latest committed state ----

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(T_STATE + key)

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        start = T_STATE + prefix
        for key, value in self.db.iter_from(start):
            if not key.startswith(start):
                return
            yield key[1:], value

    # ---- history ----

    def get_root(self, height: int) -> bytes:
        """The root committed at height; HeightUnavailableError if there is none."""
        if height <= 0 or height > self.last_height:
            raise HeightUnavailableError(f"height {height} not available: last committed height is {self.last_height}")
        root = self.db.get(compute_root_key(height))
        if root is None:
            raise HeightUnavailableError(f"no state recorded for height {height}")
        return root

    def resolve_height(self, height: int) -> Height:
        """0 means the last committed height; others must be committed and recorded."""
        if height == 0:
            if self.last_height == 0:
                raise HeightUnavailableError("no block committed yet")
            return self.last_height
        self.get_root(height)
        return Height(height)

    def get_at(self, key: bytes, height: int) -> bytes | None:
        """The value of key after block height."""
        if height == self.last_height:
            return self.get(key)
        return merkle.get_value(self.nodes, self.get_root(height), key)

    def get_proof(self, key: bytes, height: int) -> tuple[bytes | None, merkle.MerkleProof]:
        """Value and (non-)membership proof of key against the app hash of height."""
        return merkle.get_proof(self.nodes, self.get_root(height), key)

    # ---- block commit ----

    def prepare_commit(self, height: Height, writes: Mapping[bytes, bytes | None], chain_id: str) -> PendingCommit:
        """Hash a block's writes into a new root without writing anything."""
        root, nodes = merkle.compute_updated_root(self.nodes, self.last_root, writes.items())
        return PendingCommit(height, dict(writes), root, nodes, chain_id)

    def commit(self, pending: PendingCommit) -> None:
        """Persist a prepared block in one atomic, synced write."""
        meta = ((compute_root_key(pending.height), pending.root), (META_HEIGHT, pending.height.to_bytes(8, "big")),
                (META_APP_HASH, pending.root), (META_CHAIN_ID, pending.chain_id.encode()))
        self.db.write(itertools.chain(
            ((T_STATE + k, v) for k, v in pending.writes.items()),
            ((T_NODE + h, rec) for h, rec in pending.nodes.items()),
            meta,
        ))
        self.nodes.remember(pending.nodes)
        self.last_height = pending.height
        self.last_app_hash = AppHash(pending.root)
        self.chain_id = pending.chain_id
