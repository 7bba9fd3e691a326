"""Versioned, Merkle-committed state over the database.

The latest values are read from the flat table; any committed height can be read,
with a proof, from the trie root recorded for it. A block's writes are hashed once,
at the end of FinalizeBlock (`prepare_commit`), and persisted in one atomic write at
Commit (`commit`), so a crash between the two loses nothing: CometBFT replays the
block, and the app has not applied it yet.

Pruning (`keep_recent` > 0; 0 keeps every height, an archive node): each Commit also records
which trie nodes left the tree at that height (`o`/`p` tables of db.py); a node re-created
later loses that record in the same batch that writes it again. A background thread then
deletes the roots of heights older than the last `keep_recent`, and every node that left the
tree at or before the oldest kept height. It takes the commit lock for each height it prunes,
so a Commit waits at most for one height's deletes, and a node is never deleted in between a
check and a re-creation. Flat state holds only the latest values, so it has no history to
prune. Reads and proofs at a pruned height raise HeightUnavailableError naming the oldest
height still readable. The local index (`LocalIndex`: what the node keeps for its users and
never hashes, such as receipts) is written in the same atomic batch as the block, and pruned
with the heights: what a height wrote to it goes when the height goes. Pruning never changes what is hashed: the app hash is the same on an
archive node and a pruned one. Progress is in the database (`m oldest`), so a restarted node
resumes where it stopped.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..errors import HeightUnavailableError
from ..types import AppHash, Height
from . import merkle
from .db import (
    META_APP_HASH,
    META_CHAIN_ID,
    META_HEIGHT,
    META_OLDEST,
    T_NODE,
    T_LOCAL,
    T_LOCAL_LIST,
    T_ORPHAN,
    T_ORPHAN_LIST,
    T_STATE,
    Database,
    compute_local_list_key,
    compute_orphan_list_key,
    compute_root_key,
)

log = logging.getLogger("distpos.store")

PRUNE_CHUNK = 1024  # orphan records checked and deleted per lock hold (about a millisecond)
PRUNE_PAUSE_S = 0.002  # the pruner thread sleeps this long between chunks, handing the GIL to the app


NODE_CACHE_ENTRIES = 300_000  # about 60 MB of internal nodes: the upper 18 levels of a million-account trie
LEAF_CACHE_ENTRIES = 65_536  # about 8 MB: the leaves of the last blocks' busiest keys


def _add_bounded(cache: dict[bytes, bytes], capacity: int, node_hash: bytes, record: bytes) -> None:
    if len(cache) >= capacity:  # drop the oldest eighth at once: cheap, and keeps the recent ones
        for stale in list(cache)[: capacity // 8 or 1]:
            del cache[stale]
    cache[node_hash] = record


class _NodeReader:
    """Trie nodes from the database (the trie module is pure and needs only `get`), with bounded caches.

    A node is immutable and named by its hash, so a cached record can never be stale. Internal nodes are cached
    as they are read or written (the upper levels of the trie are walked by every block). Leaves are cached
    apart, with their own bound, and only those a block just wrote (`remember`): a leaf is read again only when
    its key changes again, and the keys a block changed (busy accounts, their nonces) are the likeliest to
    change in the next blocks; leaves read for queries would only push those out."""

    __slots__ = ("db", "cache", "capacity", "leaves", "leaf_capacity")

    def __init__(self, db: Database, capacity: int = NODE_CACHE_ENTRIES,
                 leaf_capacity: int = LEAF_CACHE_ENTRIES) -> None:
        self.db = db
        self.cache: dict[bytes, bytes] = {}
        self.capacity = capacity
        self.leaves: dict[bytes, bytes] = {}
        self.leaf_capacity = leaf_capacity

    def get(self, node_hash: bytes) -> bytes | None:
        record = self.cache.get(node_hash)
        if record is None:
            record = self.leaves.get(node_hash)
            if record is None:
                record = self.db.get(T_NODE + node_hash)
                if record is not None and record[0] == 1:
                    _add_bounded(self.cache, self.capacity, node_hash, record)
        return record

    def remember(self, nodes: Mapping[bytes, bytes]) -> None:
        """Cache the nodes just committed, internal and leaves: the next block walks the same upper levels,
        and its busy keys are often this block's."""
        internal: dict[bytes, bytes] = {}
        leaves: dict[bytes, bytes] = {}
        for node_hash, record in nodes.items():
            (internal if record[0] == 1 else leaves)[node_hash] = record
        _absorb_bounded(self.cache, self.capacity, internal)
        _absorb_bounded(self.leaves, self.leaf_capacity, leaves)


def _absorb_bounded(cache: dict[bytes, bytes], capacity: int, new: dict[bytes, bytes]) -> None:
    """Add new to cache, first dropping the oldest entries (at least an eighth) if it would pass capacity."""
    excess = len(cache) + len(new) - capacity
    if excess > 0:
        drop = min(len(cache), max(excess, capacity // 8 or 1))
        for stale in list(itertools.islice(cache, drop)):
            del cache[stale]
        if len(new) > capacity:
            new = dict(itertools.islice(new.items(), len(new) - capacity, None))
    cache.update(new)


class LocalIndex:
    """A KVReader over the node's local index: data the node keeps for queries that is not state (never hashed
    into the app hash, may differ between nodes, e.g. switched off). Written only through PendingCommit.local."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(T_LOCAL + key)

    def iter_prefix(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        lead = T_LOCAL + prefix
        for key, value in self.db.iter_from(lead + start):
            if not key.startswith(lead):
                return
            yield key[1:], value


def encode_key_list(keys: list[bytes]) -> bytes:
    """Keys as u16 length + key each (the local keys of one height)."""
    return b"".join(len(k).to_bytes(2, "big") + k for k in keys)


def decode_key_list(raw: bytes) -> list[bytes]:
    """The keys encode_key_list joined."""
    out, i = [], 0
    while i < len(raw):
        n = int.from_bytes(raw[i:i + 2], "big")
        out.append(raw[i + 2:i + 2 + n])
        i += 2 + n
    return out


@dataclass(frozen=True)
class PendingCommit:
    """A finalized block's writes and its new root, waiting for Commit."""

    height: Height
    writes: Mapping[bytes, bytes | None]
    root: bytes
    nodes: Mapping[bytes, bytes]
    chain_id: str
    orphans: frozenset[bytes] = field(default_factory=frozenset)  # recorded only when pruning
    # The local index's new entries (not hashed). Each local key is written once: pruning a height deletes the
    # local keys it wrote.
    local: Mapping[bytes, bytes] = field(default_factory=dict)


class StateStore:
    """Committed state: a KVReader over the latest height, plus history and proofs."""

    def __init__(self, db: Database, keep_recent: int = 0, background: bool = True) -> None:
        """keep_recent: heights kept readable (0 = all, an archive node); background: prune in a thread
        (False: at the end of each Commit, for tests and tools)."""
        if keep_recent < 0:
            raise ValueError("keep_recent must be >= 0")
        self.db = db
        self.nodes = _NodeReader(db)
        self.local = LocalIndex(db)
        raw_height = db.get(META_HEIGHT)
        self.last_height = Height(int.from_bytes(raw_height, "big") if raw_height else 0)
        self.last_app_hash = AppHash(db.get(META_APP_HASH) or b"")
        self.chain_id = (db.get(META_CHAIN_ID) or b"").decode()
        raw_oldest = db.get(META_OLDEST)
        self.oldest_height = Height(int.from_bytes(raw_oldest, "big") if raw_oldest else 1)
        self.keep_recent = keep_recent
        self._lock = threading.Lock()  # Commit's write and each pruned height's deletes never interleave
        self._wake = threading.Condition()
        self._closed = False
        self._pruning = False  # the thread is inside prune()
        self._resumed = False
        self._pruner: threading.Thread | None = None
        if keep_recent and background:
            self._pruner = threading.Thread(target=self._prune_loop, name="distpos-pruner", daemon=True)
            self._pruner.start()
            self._signal()  # resume what a previous run left

    @property
    def last_root(self) -> bytes:
        """Trie root of the last committed height (EMPTY_HASH before genesis is committed)."""
        return self.last_app_hash or merkle.EMPTY_HASH

    # ---- KVReader over the latest committed state ----

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(T_STATE + key)

    def iter_prefix(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        lead = T_STATE + prefix
        for key, value in self.db.iter_from(lead + start):
            if not key.startswith(lead):
                return
            yield key[1:], value

    # ---- history ----

    def get_root(self, height: int) -> bytes:
        """The root committed at height; HeightUnavailableError if there is none."""
        if height <= 0 or height > self.last_height:
            raise HeightUnavailableError(f"height {height} not available: last committed height is {self.last_height}")
        if height < self.oldest_height:
            raise self._pruned(height)
        root = self.db.get(compute_root_key(height))
        if root is None:
            if height < self.oldest_height:  # pruned while we looked
                raise self._pruned(height)
            raise HeightUnavailableError(f"no state recorded for height {height}")
        return root

    def _pruned(self, height: int) -> HeightUnavailableError:
        return HeightUnavailableError(
            f"height {height} is pruned: the oldest available height is {self.oldest_height} "
            f"(this node keeps the last {self.keep_recent} heights; query an archive node for older state)"
        )

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
        root = self.get_root(height)
        try:
            return merkle.get_value(self.nodes, root, key)
        except merkle.TrieCorruptError:
            if height < self.oldest_height:  # the pruner overtook a walk that started in time
                raise self._pruned(height) from None
            raise

    def get_proof(self, key: bytes, height: int) -> tuple[bytes | None, merkle.MerkleProof]:
        """Value and (non-)membership proof of key against the app hash of height."""
        root = self.get_root(height)
        try:
            return merkle.get_proof(self.nodes, root, key)
        except merkle.TrieCorruptError:
            if height < self.oldest_height:  # the pruner overtook a walk that started in time
                raise self._pruned(height) from None
            raise

    # ---- block commit ----

    def prepare_commit(self, height: Height, writes: Mapping[bytes, bytes | None], chain_id: str,
                       local: Mapping[bytes, bytes] | None = None) -> PendingCommit:
        """Hash a block's writes into a new root without writing anything. local: entries for the local index,
        persisted with the block but never hashed."""
        orphans: set[bytes] | None = set() if self.keep_recent else None
        root, nodes = merkle.compute_updated_root(self.nodes, self.last_root, writes.items(), orphans)
        return PendingCommit(height, dict(writes), root, nodes, chain_id, frozenset(orphans or ()), dict(local or {}))

    def commit(self, pending: PendingCommit) -> None:
        """Persist a prepared block in one atomic, synced write."""
        meta: dict[bytes, bytes | None] = {
            compute_root_key(pending.height): pending.root, META_HEIGHT: pending.height.to_bytes(8, "big"),
            META_APP_HASH: pending.root, META_CHAIN_ID: pending.chain_id.encode()}
        tables: list[tuple[bytes, Mapping[bytes, bytes | None]]] = [
            (T_STATE, pending.writes), (T_NODE, pending.nodes), (b"", meta), (T_LOCAL, pending.local)]
        if self.keep_recent:
            if pending.local:
                meta[compute_local_list_key(pending.height)] = encode_key_list(sorted(pending.local))
            height = pending.height.to_bytes(8, "big")
            # The walk never orphans a node it (re-)creates, so the two sets are disjoint.
            tables += [(T_ORPHAN, dict.fromkeys(pending.nodes)),  # re-created: no longer an orphan
                       (T_ORPHAN, dict.fromkeys(pending.orphans, height))]
            if pending.orphans:
                meta[compute_orphan_list_key(pending.height)] = b"".join(sorted(pending.orphans))
        with self._lock:
            self.db.write_tables(tables)
        self.nodes.remember(pending.nodes)
        self.last_height = pending.height
        self.last_app_hash = AppHash(pending.root)
        self.chain_id = pending.chain_id
        if self.keep_recent:
            if self._pruner is None:
                self.prune()
            else:
                self._signal()

    # ---- pruning ----

    def compute_prune_target(self) -> Height:
        """The oldest height pruning keeps now: the last keep_recent heights (everything when archive)."""
        if not self.keep_recent:
            return Height(1)
        return Height(max(1, self.last_height - self.keep_recent + 1))

    def prune(self) -> int:
        """Delete the heights below the prune target and the nodes only they held; the heights pruned."""
        if not self._resumed:  # a stopped run may have left lists at or below the bar: finish them first
            self._resumed = True
            bar = compute_orphan_list_key(self.oldest_height)
            for list_key, _ in list(self.db.iter_from(T_ORPHAN_LIST)):
                if not list_key.startswith(T_ORPHAN_LIST) or list_key > bar:
                    break
                self._drain_orphans(Height(int.from_bytes(list_key[1:], "big")))
            bar = compute_local_list_key(self.oldest_height)
            for list_key, _ in list(self.db.iter_from(T_LOCAL_LIST)):
                if not list_key.startswith(T_LOCAL_LIST) or list_key >= bar:
                    break
                self._drain_local(Height(int.from_bytes(list_key[1:], "big")))
        done = 0
        target = self.compute_prune_target()
        while self.oldest_height < target and not self._closed:
            self._prune_height(self.oldest_height)
            done += 1
        return done

    def _prune_height(self, height: Height) -> None:
        """Forget height: its root, then the nodes that left the tree at height + 1 (no kept root holds them)."""
        nxt = Height(height + 1)
        with self._lock:
            # Raise the bar before anything goes: a reader is refused before it could miss a node.
            self.oldest_height = nxt
            self.db.write(((compute_root_key(height), None), (META_OLDEST, nxt.to_bytes(8, "big"))), sync=False)
        self._drain_local(height)
        self._drain_orphans(nxt)

    def _drain_local(self, height: Height) -> None:
        """Delete what height wrote to the local index, then its list."""
        list_key = compute_local_list_key(height)
        listed = self.db.get(list_key)
        if listed is None:
            return
        keys = decode_key_list(listed)
        for start in range(0, len(keys), PRUNE_CHUNK):
            with self._lock:
                self.db.write([(T_LOCAL + k, None) for k in keys[start:start + PRUNE_CHUNK]], sync=False)
            if threading.current_thread() is self._pruner:
                time.sleep(PRUNE_PAUSE_S)
        with self._lock:
            self.db.write(((list_key, None),), sync=False)

    def _drain_orphans(self, height: Height) -> None:
        """Delete the nodes that left the tree at height and were not re-created since, then their list."""
        list_key = compute_orphan_list_key(height)
        listed = self.db.get(list_key)
        if listed is None:
            return
        stamp = height.to_bytes(8, "big")
        hashes = [listed[i:i + 32] for i in range(0, len(listed), 32)]
        for start in range(0, len(hashes), PRUNE_CHUNK):
            chunk = hashes[start:start + PRUNE_CHUNK]
            with self._lock:
                stamps = self.db.get_many([T_ORPHAN + h for h in chunk])
                batch: list[tuple[bytes, bytes | None]] = []
                for h, found in zip(chunk, stamps):
                    if found == stamp:  # else re-created since, or orphaned again later
                        batch += ((T_NODE + h, None), (T_ORPHAN + h, None))
                self.db.write(batch, sync=False)
            if threading.current_thread() is self._pruner:
                time.sleep(PRUNE_PAUSE_S)  # the app's requests come first
        with self._lock:
            self.db.write(((list_key, None),), sync=False)

    def _signal(self) -> None:
        with self._wake:
            self._wake.notify()

    def _prune_loop(self) -> None:
        while not self._closed:
            with self._wake:
                if self.oldest_height >= self.compute_prune_target():
                    self._wake.wait(timeout=5)
            if self._closed:
                return
            self._pruning = True
            try:
                self.prune()
            except Exception:  # keep the node running; the next Commit retries
                log.exception("pruning failed at height %d", self.oldest_height)
            finally:
                self._pruning = False

    def wait_pruned(self, timeout: float = 30.0) -> bool:
        """Block until the pruner has caught up with the last Commit (tests, tools); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.oldest_height < self.compute_prune_target() or self._pruning:
            if time.monotonic() > deadline:
                return False
            self._signal()
            time.sleep(0.01)
        return True

    def close(self) -> None:
        """Stop the pruner (the database stays open: its owner closes it)."""
        self._closed = True
        if self._pruner is not None:
            self._signal()
            self._pruner.join(timeout=30)
            self._pruner = None
