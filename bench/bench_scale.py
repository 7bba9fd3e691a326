"""State at scale: the cost of a 1000-transfer block at 10k and at 1M accounts, and disk per account.

`python -m bench.bench_scale [accounts ...]` (default 10000 1000000). For each size: a chain whose genesis funds the
2000 signing accounts, then one block that writes balances for the other accounts directly into the state (as a
long-lived chain would have them: balance and auth record each); then BLOCKS blocks of 1000 transfers, each checked
in CheckTx first (the mempool path), FinalizeBlock+Commit timed. Run twice per size: an archive node and a node
with pruning (keep_recent=KEEP). The filled database is compacted before the blocks (build_state_s includes it), as
a long-running node's would be. Disk is the rocksdict directory after a final flush and compaction.
`BENCH_SCALE_KEEP` ("0 2" by default) chooses the runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time

from distpos_abci.app import DistposApp
from distpos_abci.auth.keys import full_account_key
from distpos_abci.bank.keys import full_balance_key
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.types import Height

from .bench_app import CHAIN, _keys
from distpos_abci.bank import build_send_tx

BLOCK = 1000
BLOCKS = 6
KEEP = 2
FILL_CHUNK = 200_000


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def run(accounts: int, keep_recent: int) -> dict[str, float]:
    keys, addrs = _keys(2 * BLOCK)
    genesis = json.dumps({"accounts": [{"address": a, "balance": "1000000000"} for a in addrs]}).encode()
    blocks = [[build_send_tx(keys[s], CHAIN, r, addrs[BLOCK + s], 1) for s in range(BLOCK)] for r in range(BLOCKS)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(tmp)
        state = StateStore(db, keep_recent=keep_recent, background=True)
        app = DistposApp(state)
        app.init_chain(CHAIN, genesis)
        app.finalize_block(1, [])
        app.commit()
        t0 = time.perf_counter()
        filler = accounts - 2 * BLOCK
        height = 1
        record = bytes.fromhex("1220") + bytes(32)  # an AuthAccount with a 32-byte key, nonce 0
        for start in range(0, filler, FILL_CHUNK):  # a few big blocks: the trie is built in sorted passes
            writes = {}
            for i in range(start, min(filler, start + FILL_CHUNK)):
                acct = hashlib.sha256(i.to_bytes(8, "big")).digest()[:20]
                writes[full_balance_key(acct)] = (1000 + i).to_bytes(8, "big")
                writes[full_account_key(acct)] = record
            height += 1
            state.commit(state.prepare_commit(Height(height), writes, CHAIN))
        # A long-running node's database is compacted in the background; a freshly bulk-filled one is not.
        db._db.compact_range(None, None)
        build_s = time.perf_counter() - t0
        app = DistposApp(state)
        block_s = []
        for txs in blocks:
            for raw in txs:
                app.check_tx(raw)
            t0 = time.perf_counter()
            height += 1
            result = app.finalize_block(height, txs)
            app.commit()
            block_s.append(time.perf_counter() - t0)
            if not all(r.ok for r in result.tx_results):
                raise RuntimeError("benchmark transactions must be valid")
        state.wait_pruned(120)
        state.close()
        db._db.flush()
        db._db.compact_range(None, None)
        disk = _dir_bytes(tmp)
        db.close()
    steady = sorted(block_s[1:])[len(block_s[1:]) // 2]  # median, the first block warms the caches
    return {"accounts": accounts, "keep_recent": keep_recent, "build_state_s": round(build_s, 1),
            "ms_per_1000_tx_block": round(1000 * steady, 1), "disk_bytes_per_account": round(disk / accounts)}


def main(sizes: list[int] | None = None) -> dict[str, object]:
    sizes = sizes or [10_000, 1_000_000]
    out: dict[str, object] = {}
    for n in sizes:
        for keep in [int(k) for k in os.environ.get("BENCH_SCALE_KEEP", f"0 {KEEP}").split()]:
            r = run(n, keep)
            out[f"{n}_keep{keep}"] = r
            print(f"  {json.dumps(r)}", flush=True)
    if len(sizes) >= 2 and f"{sizes[0]}_keep{KEEP}" in out:
        small, big = out[f"{sizes[0]}_keep{KEEP}"], out[f"{sizes[-1]}_keep{KEEP}"]
        out["ratio_block_cost_big_vs_small"] = round(big["ms_per_1000_tx_block"] / small["ms_per_1000_tx_block"], 2)
        print(f"  block cost at {sizes[-1]} vs {sizes[0]} accounts (pruned): {out['ratio_block_cost_big_vs_small']}x"
              " (target <= 1.5)")
    return out


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or None)
