"""The on-disk database: one rocksdict directory, raw bytes, one atomic write per block.

Key layout (first byte is the table):
  s<key>          latest value of every state key (flat, for fast reads)
  n<hash32>       Merkle trie node records (immutable; old roots stay readable until pruned)
  r<height u64>   trie root after the block at that height (deleted once the height is pruned)
  o<hash32>       pruning only: height u64 at which the node left the tree (deleted when it is re-created)
  p<height u64>   pruning only: the hashes (32 bytes each) of the nodes that left the tree at that height
  m<name>         metadata: last committed height and app hash, chain-id, oldest height still readable
  x<key>          the node's local index (not hashed, not consensus): receipts by transaction hash
  l<height u64>   pruning only: the local index keys written at that height (u16 length + key each), deleted
                  with the height
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence

from rocksdict import BlockBasedOptions, Cache, DBCompressionType, Options, Rdict, WriteBatch, WriteOptions

BLOCK_CACHE_BYTES = 128 << 20  # trie nodes and flat state read back every block stay in memory
WRITE_BUFFER_BYTES = 64 << 20  # a 2000-tx block writes about 3 MB: fewer, larger flushes
BLOOM_BITS_PER_KEY = 10  # about 1 % false positives: most receipt lookups are misses, answered without a disk read

T_STATE = b"s"
T_NODE = b"n"
T_ROOT = b"r"
T_META = b"m"
T_ORPHAN = b"o"
T_ORPHAN_LIST = b"p"
T_LOCAL = b"x"
T_LOCAL_LIST = b"l"

META_HEIGHT = T_META + b"height"
META_APP_HASH = T_META + b"app_hash"
META_CHAIN_ID = T_META + b"chain_id"
META_OLDEST = T_META + b"oldest"


def compute_root_key(height: int) -> bytes:
    """The database key of the trie root committed at height."""
    return T_ROOT + height.to_bytes(8, "big")


def compute_orphan_list_key(height: int) -> bytes:
    """The database key of the nodes that left the tree at height."""
    return T_ORPHAN_LIST + height.to_bytes(8, "big")


def compute_local_list_key(height: int) -> bytes:
    """The database key of the local index keys written at height."""
    return T_LOCAL_LIST + height.to_bytes(8, "big")


class Database:
    """A rocksdict store in raw mode with synced batch writes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        os.makedirs(path, exist_ok=True)
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(BLOCK_CACHE_BYTES))
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        opts.set_block_based_table_factory(table)
        opts.set_write_buffer_size(WRITE_BUFFER_BYTES)
        # Most bytes are sha256 hashes, which do not compress: compressing only costs every read its CPU.
        opts.set_compression_type(DBCompressionType.none())
        opts.increase_parallelism(2)  # compactions in the background, off the Commit path
        self._db = Rdict(str(path), opts)
        wo = WriteOptions()
        # One fsync per block: a committed block must survive a machine crash too.
        wo.sync = True
        self._db.set_write_options(wo)
        # Housekeeping (pruning) needs no fsync of its own: the log is replayed in order, so a crash keeps a
        # prefix of those writes, and the next block's synced write makes all of them durable.
        self._unsynced = WriteOptions()
        self._unsynced.sync = False

    def get(self, key: bytes) -> bytes | None:
        """The stored value or None."""
        return self._db.get(key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """The stored values of keys (None where absent), in one multi-get."""
        return self._db.get(keys) if keys else []

    def write(self, puts: Mapping[bytes, bytes | None] | Iterable[tuple[bytes, bytes | None]],
              sync: bool = True) -> None:
        """Apply puts (None = delete) atomically; each key at most once (a batch needs no order).
        sync=False for writes a crash may lose (pruning): they reach the disk with the next synced one."""
        wb = WriteBatch(raw_mode=True)
        put, delete = wb.put, wb.delete
        for key, value in (puts.items() if isinstance(puts, Mapping) else puts):
            if value is None:
                delete(key)
            else:
                put(key, value)
        if sync:
            self._db.write(wb)
        else:
            self._db.write(wb, self._unsynced)

    def write_tables(self, tables: Sequence[tuple[bytes, Mapping[bytes, bytes | None]]], sync: bool = True) -> None:
        """Apply, atomically, each (table, items): every key of items prefixed with table, None = delete; each
        full key at most once. A block's tens of thousands of puts go into the batch without a Python loop per
        put where a table has no deletes (trie nodes, the local index)."""
        wb = WriteBatch(raw_mode=True)
        put, delete = wb.put, wb.delete
        for table, items in tables:
            keys = map(table.__add__, items) if table else iter(items)
            if None in items.values():
                for key, value in zip(keys, items.values()):
                    if value is None:
                        delete(key)
                    else:
                        put(key, value)
            else:
                deque(map(put, keys, items.values()), maxlen=0)  # runs the puts, keeps nothing
        self._db.write(wb) if sync else self._db.write(wb, self._unsynced)

    def iter_from(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items with key >= start in key order."""
        it = self._db.iter()
        it.seek(start)
        while it.valid():
            yield it.key(), it.value()
            it.next()

    def close(self) -> None:
        """Flush and close."""
        self._db.close()
