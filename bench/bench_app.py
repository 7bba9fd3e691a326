"""Benchmark of the state machine in-process, on a real rocksdict store on disk.

Measures CheckTx/s (decode, signature, nonce and balance against the mempool state),
FinalizeBlock+Commit throughput in tx/s for blocks of 500 transfers, and the resident
memory after the run. No CometBFT: this is the app's own ceiling.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time

from distpos_abci.address import Address
from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.crypto import KeyPair
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore

CHAIN = "e2e4"
SENDERS = 100
TXS_PER_SENDER = 20
BLOCK = 500


def main() -> dict[str, float]:
    keys = [KeyPair(i.to_bytes(2, "big") * 16) for i in range(SENDERS)]
    addrs = [str(Address.from_pub_key(CHAIN, k.pub_key)) for k in keys]
    genesis = json.dumps({"accounts": [{"address": a, "balance": "1000000000"} for a in addrs]}).encode()
    txs = [build_send_tx(keys[s], CHAIN, n, addrs[(s + 1) % SENDERS], 1 + n)
           for n in range(TXS_PER_SENDER) for s in range(SENDERS)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(tmp)
        app = DistposApp(StateStore(db))
        app.init_chain(CHAIN, genesis)
        app.finalize_block(1, [])
        app.commit()

        t0 = time.perf_counter()
        codes = [app.check_tx(tx).code for tx in txs]
        check_s = time.perf_counter() - t0
        assert not any(codes), "benchmark transactions must be valid"

        t0 = time.perf_counter()
        height = 1
        for i in range(0, len(txs), BLOCK):
            height += 1
            result = app.finalize_block(height, txs[i:i + BLOCK])
            assert all(r.code == 0 for r in result.tx_results)
            app.commit()
        block_s = time.perf_counter() - t0
        db.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "txs": len(txs),
        "checktx_per_s": round(len(txs) / check_s),
        "finalize_commit_tx_per_s": round(len(txs) / block_s),
        "block_size": BLOCK,
        "ms_per_block": round(1000 * block_s / ((len(txs) + BLOCK - 1) // BLOCK), 1),
        "max_rss_mb": round(rss_mb, 1),
    }
    for k, v in figures.items():
        print(f"  {k:28} {v}")
    return figures


if __name__ == "__main__":
    main()
