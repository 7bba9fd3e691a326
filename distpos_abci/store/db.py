"""The on-disk database: one rocksdict directory, raw bytes, one atomic write per block.

Key layout (first byte is the table):
  s<key>          latest value of every state key (flat, for fast reads)
  n<hash32>       Merkle trie node records (immutable; old roots stay readable)
  r<height u64>   trie root after the block at that height
  m<name>         metadata: last committed height and app hash, chain-id
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

T_STATE = b"s"
T_NODE = b"n"
T_ROOT = b"r"
T_META = b"m"

META_HEIGHT = T_META + b"height"
META_APP_HASH = T_META + b"app_hash"
META_CHAIN_ID = T_META + b"chain_id"


def compute_root_key(height: int) -> bytes:
    """The database key of the trie root committed at height."""
    return T_ROOT + height.to_bytes(8, "big")


class Database:
    """A rocksdict store in raw mode with synced batch writes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        os.makedirs(path, exist_ok=True)
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        self._db = Rdict(str(path), opts)
        wo = WriteOptions()
        # One fsync per block: a committed block must survive a machine crash too.
        wo.sync = True
        self._db.set_write_options(wo)

    def get(self, key: bytes) -> bytes | None:
        """The stored value or None."""
        return self._db.get(key)

    def write(self, puts: Mapping[bytes, bytes | None]) -> None:
        """Apply puts (None = delete) atomically, in key order."""
        wb = WriteBatch(raw_mode=True)
        for key in sorted(puts):
            value = puts[key]
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        self._db.write(wb)

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
