"""Versioned, Merkle-committed state over the database.

The latest values are read from the flat table; any committed height can be read,
with a proof, from the trie root recorded for it. A block's writes are hashed once,
at the end of FinalizeBlock (`prepare_commit`), and persisted in one atomic write at
Commit (`commit`), so a crash between the two loses nothing: CometBFT replays the
block, and the app has not applied it yet.
"""

from __future__ import annotations

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


class _NodeReader:
    """Trie nodes from the database (the trie module is pure and needs only `get`)."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, node_hash: bytes) -> bytes | None:
        return self.db.get(T_NODE + node_hash)


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
        batch: dict[bytes, bytes | None] = {T_STATE + k: v for k, v in pending.writes.items()}
        batch.update((T_NODE + h, rec) for h, rec in pending.nodes.items())
        batch[compute_root_key(pending.height)] = pending.root
        batch[META_HEIGHT] = pending.height.to_bytes(8, "big")
        batch[META_APP_HASH] = pending.root
        batch[META_CHAIN_ID] = pending.chain_id.encode()
        self.db.write(batch)
        self.last_height = pending.height
        self.last_app_hash = AppHash(pending.root)
        self.chain_id = pending.chain_id
