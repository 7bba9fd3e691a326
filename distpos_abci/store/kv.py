"""Key-value views over the state: the committed store, cached write sets, prefix stores.

A keeper sees only a `KVStore` scoped to its own prefix. Each transaction runs in a
`CacheKV` over the block's write set, which is written through only if nothing raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

_DELETED = None


class KVReader(Protocol):
    """Read access to state keys."""

    def get(self, key: bytes) -> bytes | None: ...

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


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
        if key in self.writes:
            return self.writes[key]
        return self.parent.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = _DELETED

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Merged, key-ordered view of the parent and the buffered writes."""
        mine = sorted((k, v) for k, v in self.writes.items() if k.startswith(prefix))
        theirs = self.parent.iter_prefix(prefix)
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

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        n = len(self.prefix)
        for key, value in self.parent.iter_prefix(self.prefix + prefix):
            yield key[n:], value
