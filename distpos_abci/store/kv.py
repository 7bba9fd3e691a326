"""Key-value views over the state: the committed store, cached write sets, prefix stores.

A keeper sees only a `KVStore` scoped to its own prefix. Each transaction runs in a
`CacheKV` over the block's write set, which is written through only if nothing raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

_DELETED = None
_ABSENT = object()  # not in a write set (distinct from a buffered delete)


class KVReader(Protocol):
    """Read access to state keys."""

    def get(self, key: bytes) -> bytes | None: ...

    def iter_prefix(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Items whose key begins with prefix and is >= prefix + start, in key order."""
        ...


class KVStore(KVReader, Protocol):
    """Read and write access to state keys."""

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class CacheKV:
    """Writes buffered over a parent reader; `write()` pushes them to the parent store."""

    __slots__ = ("parent", "writes")

    def __init__(self, parent: KVReader) -> None:
        self.parent = parent
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self.writes.get(key, _ABSENT)
        if value is _ABSENT:
            return self.parent.get(key)
        return value  # type: ignore[return-value]

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = _DELETED

    def iter_prefix(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Merged, key-ordered view of the parent and the buffered writes."""
        low = prefix + start
        writes = self.writes
        # keys alone first (a block's write set holds thousands of keys, few under any one prefix)
        mine = [(k, writes[k]) for k in sorted([k for k in writes if k.startswith(prefix)]) if k >= low]
        theirs = self.parent.iter_prefix(prefix, start) if start else self.parent.iter_prefix(prefix)
        i = 0
        nxt = next(theirs, None)
        while i < len(mine) or nxt is not None:
            if nxt is None or (i < len(mine) and mine[i][0] <= nxt[0]):
                key, value = mine[i]
                i += 1
                if nxt is not None and nxt[0] == key:
                    nxt = next(theirs, None)
                if value is not None:
                    yield key, value
            else:
                yield nxt
                nxt = next(theirs, None)

    def write(self) -> None:
        """Push the buffered writes to the parent (which must be a KVStore)."""
        parent = self.parent
        for key, value in self.writes.items():
            if value is None:
                parent.delete(key)  # type: ignore[attr-defined]
            else:
                parent.set(key, value)  # type: ignore[attr-defined]
        self.writes = {}


class PrefixStore:
    """A store that sees only keys under prefix, with the prefix stripped."""

    __slots__ = ("parent", "prefix")

    def __init__(self, parent: KVStore, prefix: bytes) -> None:
        self.parent = parent
        self.prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        return self.parent.get(self.prefix + key)

    def set(self, key: bytes, value: bytes) -> None:
        self.parent.set(self.prefix + key, value)

    def delete(self, key: bytes) -> None:
        self.parent.delete(self.prefix + key)

    def iter_prefix(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        n = len(self.prefix)
        full = self.prefix + prefix
        for key, value in self.parent.iter_prefix(full, start) if start else self.parent.iter_prefix(full):
            yield key[n:], value


def iter_prefix_after(store: KVReader, prefix: bytes, after: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """Items under prefix in key order, only those whose key is strictly greater than prefix + after (if given).

    `after + 0x00` is the least key above `after`, so the store seeks to it instead of reading past the earlier
    items: a cursor for pagination (distpos_abci/pagination.py)."""
    return store.iter_prefix(prefix, after + b"\x00") if after is not None else store.iter_prefix(prefix)
