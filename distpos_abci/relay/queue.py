"""The relay's durable queue (rocksdict): outbound packets until settled, inbound packets until received.

An entry is removed only after the transaction that settles it is committed, so a relay killed at any point
and restarted finds everything still pending; before resubmitting it checks the chain, so nothing is applied
twice (and the chain would refuse a duplicate anyway).

Layout: c -> u64 last scanned height; o<dest>/<seq u64> and i<source>/<seq u64> -> JSON entry;
n<source>/<instant key hex> -> JSON of an instant credit of the own chain, followed until settled or released
(relay/instant.py).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass

from ..store.db import Database

CURSOR = b"c"
OUT = b"o"
IN = b"i"
INSTANT = b"n"

NEW = "new"  # outbound: not yet handed to the destination's relay
SUBMITTED = "submitted"  # outbound: handed over, waiting for an ack or a timeout


@dataclass
class Entry:
    chain: str  # the other chain: destination (outbound) or source (inbound)
    sequence: int
    raw: str  # packet bytes, hex
    first_seen: float  # wall clock, for the delivery-latency metric only
    state: str = NEW
    attempts: int = 0  # outbound: hand-overs so far (to the destination's relay, or directly)
    next_try: float = 0.0  # outbound: wall clock before which it is not handed over again
    height: int = 0  # outbound: height of the block that committed it (provable from header height + 1)

    @property
    def packet(self) -> bytes:
        return bytes.fromhex(self.raw)


def _key(table: bytes, chain: str, seq: int) -> bytes:
    return table + chain.encode() + b"/" + seq.to_bytes(8, "big")


def _instant_key(source: str, key_hex: str) -> bytes:
    return INSTANT + source.encode() + b"/" + key_hex.encode()


class RelayQueue:
    """Thread-safe (the gRPC threads add inbound packets while the worker runs)."""

    def __init__(self, path: str) -> None:
        self.db = Database(path)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def get_cursor(self) -> int:
        raw = self.db.get(CURSOR)
        return int.from_bytes(raw, "big") if raw else 0

    def record_scan(self, height: int, entries: list[Entry], instants: tuple[dict, ...] | list[dict] = ()) -> None:
        """Add the outbound packets and the instant credits (JSON objects with `source` and `key`) found in block
        height and advance the cursor, atomically."""
        with self.lock:
            puts: dict[bytes, bytes | None] = {CURSOR: height.to_bytes(8, "big")}
            for d in instants:
                puts[_instant_key(d["source"], d["key"])] = json.dumps(d, sort_keys=True).encode()
            for e in entries:
                k = _key(OUT, e.chain, e.sequence)
                if self.db.get(k) is None:
                    puts[k] = json.dumps(asdict(e)).encode()
            self.db.write(puts)

    def put(self, table: bytes, e: Entry, only_new: bool = False) -> bool:
        with self.lock:
            k = _key(table, e.chain, e.sequence)
            if only_new and self.db.get(k) is not None:
                return False
            self.db.write({k: json.dumps(asdict(e)).encode()})
            return True

    def get(self, table: bytes, chain: str, seq: int) -> Entry | None:
        """The entry of (chain, seq) in table, or None."""
        with self.lock:
            raw = self.db.get(_key(table, chain, seq))
        return Entry(**json.loads(raw)) if raw is not None else None

    def delete(self, table: bytes, chain: str, seq: int) -> None:
        with self.lock:
            self.db.write({_key(table, chain, seq): None})

    def entries(self, table: bytes, chain: str | None = None) -> list[Entry]:
        """Every entry of a table (of one other chain when given), ordered by chain then sequence."""
        prefix = table if chain is None else table + chain.encode() + b"/"
        with self.lock:
            out = []
            for k, v in self.db.iter_from(prefix):
                if not k.startswith(prefix):
                    break
                out.append(Entry(**json.loads(v)))
            return out

    def chains(self, table: bytes) -> list[str]:
        """The other chains with entries in table, sorted."""
        return sorted({e.chain for e in self.entries(table)})

    def count(self, table: bytes) -> int:
        """Entries in table (keys only: nothing is decoded)."""
        with self.lock:
            n = 0
            for k, _ in self.db.iter_from(table):
                if not k.startswith(table):
                    break
                n += 1
            return n

    # ---- instant credits of the own chain (relay/instant.py)

    def instant_records(self, source: str | None = None) -> list[dict]:
        """The followed instant credits (of one source when given), ordered by source then key."""
        prefix = INSTANT if source is None else INSTANT + source.encode() + b"/"
        with self.lock:
            out = []
            for k, v in self.db.iter_from(prefix):
                if not k.startswith(prefix):
                    break
                out.append(json.loads(v))
            return out

    def instant_sources(self) -> list[str]:
        """The source chains of the followed instant credits, sorted (keys only: nothing is decoded)."""
        with self.lock:
            out: set[str] = set()
            for k, _ in self.db.iter_from(INSTANT):
                if not k.startswith(INSTANT):
                    break
                out.add(k[len(INSTANT):].split(b"/", 1)[0].decode())
            return sorted(out)

    def delete_instant(self, source: str, key_hex: str) -> None:
        with self.lock:
            self.db.write({_instant_key(source, key_hex): None})
