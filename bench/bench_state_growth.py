"""How much app state a transfer costs, and whether it stays: keys and bytes written per transfer, live state keys
left behind per transfer, disk per transfer (issue 8: receipts out of the Merkle state, expiring payment records).

`python -m bench.bench_state_growth [blocks] [block_size]` (default 160 blocks of 500 transfers: past the default
payment-record window of 72 blocks, so the steady state includes the expiry deletes). Senders 0..B-1 pay
recipients B..2B-1 (all funded at genesis: no account is created), so every key a block leaves behind is a record
about the transfer itself. A node with pruning (keep_recent = KEEP, env BENCH_STATE_KEEP, default 10) on rocksdict on disk; FinalizeBlock verifies
every signature (cold path: the bench measures state, not the mempool). Figures over the second half of the run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.store.db import T_STATE, Database
from distpos_abci.store.state import StateStore

from .bench_app import CHAIN, _keys

KEEP = int(os.environ.get("BENCH_STATE_KEEP", "10"))


class CountingDatabase(Database):
    """A Database that counts what it is asked to write: puts (key + value bytes) and deletes."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.bytes_written = 0
        self.puts = 0
        self.deletes = 0

    def write(self, puts, sync: bool = True) -> None:
        items = list(puts.items() if isinstance(puts, dict) else puts)
        for key, value in items:
            if value is None:
                self.deletes += 1
                self.bytes_written += len(key)
            else:
                self.puts += 1
                self.bytes_written += len(key) + len(value)
        super().write(items, sync)


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _live_state_keys(db: Database) -> int:
    n = 0
    for key, _ in db.iter_from(T_STATE):
        if not key.startswith(T_STATE):
            break
        n += 1
    return n


def run(blocks: int = 160, block: int = 500) -> dict[str, object]:
    keys, addrs = _keys(2 * block)
    genesis = json.dumps({"accounts": [{"address": a, "balance": "1000000000"} for a in addrs]}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        db = CountingDatabase(tmp)
        state = StateStore(db, keep_recent=KEEP, background=False)
        app = DistposApp(state)
        app.init_chain(CHAIN, genesis)
        app.finalize_block(1, [])
        app.commit()
        half = blocks // 2
        state_writes = 0
        busy = 0.0
        mark: dict[str, float] = {}
        for r in range(blocks):
            if r == half:
                db._db.flush()
                db._db.compact_range(None, None)
                mark = {"bytes": db.bytes_written, "puts": db.puts, "deletes": db.deletes,
                        "live": _live_state_keys(db), "disk": _dir_bytes(tmp)}
                state_writes = 0
                busy = 0.0
            txs = [build_send_tx(keys[s], CHAIN, r, addrs[block + s], 1) for s in range(block)]
            t0 = time.perf_counter()
            result = app.finalize_block(app.last_height + 1, txs)
            state_writes += len(app._pending.writes)  # the keys this block hashes into the trie (sets and deletes)
            app.commit()
            busy += time.perf_counter() - t0
            if not all(x.ok for x in result.tx_results):
                raise RuntimeError("benchmark transactions must be valid")
        db._db.flush()
        db._db.compact_range(None, None)
        n = (blocks - half) * block
        out = {
            "blocks": blocks, "block_size": block, "keep_recent": KEEP, "measured_transfers": n,
            "state_keys_written_per_transfer": round(state_writes / n, 2),
            "db_bytes_written_per_transfer": round((db.bytes_written - mark["bytes"]) / n),
            "db_puts_per_transfer": round((db.puts - mark["puts"]) / n, 2),
            "db_deletes_per_transfer": round((db.deletes - mark["deletes"]) / n, 2),
            "live_state_keys_left_per_transfer": round((_live_state_keys(db) - mark["live"]) / n, 3),
            "disk_growth_bytes_per_transfer": round((_dir_bytes(tmp) - mark["disk"]) / n),
            "finalize_commit_tx_per_s_cold": round(n / busy),
        }
        db.close()
    return out


def main(blocks: int = 160, block: int = 500) -> dict[str, object]:
    out = run(blocks, block)
    print(f"  {json.dumps(out)}", flush=True)
    return out


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:3]])
