"""End-to-end benchmark on a real 4-validator localnet (CometBFT v0.38.25 + the DistPOS app).

Throughput: transfers from the three demo accounts through broadcast_tx_sync as fast
as CheckTx accepts them; committed tx/s is the count over the wall time from the first
submission until /tx shows every one committed (polled every 50 ms).
Latency: then 30 transfers one at a time, each timed from submission until /tx finds
it (the client's view), p50/p95. Uses the integration suite's timeouts (commit 100 ms).
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from distpos_abci.bank import build_send_tx
from distpos_abci.fees import build_paid_tx
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.crypto import KeyPair
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import (
    TEST_TIMEOUTS,
    FreePorts,
    generate_network,
    running_network,
)
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash

TXS_PER_SENDER = 200
LATENCY_PROBES = 30


def main(cometbft_bin: str = "bin/cometbft") -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        net = generate_network(tmp, chain_ids=["e2e4"], validators_per_chain=4, port_allocator=FreePorts(),
                               cometbft_bin=cometbft_bin, timeouts=TEST_TIMEOUTS)
        with running_network(net, min_height=2, timeout=120):
            chain = net.chains[0]
            keys: list[KeyPair] = [Keyring(net.keyring_dir).get(a.name).keypair for a in chain.demo_accounts]
            sink = chain.demo_accounts[0].address
            rpcs = [CometRPC(n.rpc_url) for n in chain.nodes]
            submitted: dict[bytes, float] = {}

            def send_all(i: int) -> None:
                rpc = rpcs[i % len(rpcs)]
                for nonce in range(TXS_PER_SENDER):
                    raw = build_paid_tx(keys[i], build_send_tx(keys[i], chain.chain_id, nonce, sink, 1),
                                        gas_price=LOCALNET_MIN_GAS_PRICE)
                    submitted[compute_tx_hash(raw)] = time.time()
                    rpc.broadcast_tx_sync(raw)

            t0 = time.time()
            with ThreadPoolExecutor(len(keys)) as pool:
                list(pool.map(send_all, range(len(keys))))
            submit_s = time.time() - t0
            pending = set(submitted)
            while pending and time.time() - t0 < 300:
                for h in list(pending):
                    try:
                        rpcs[0].call("tx", hash=base64.b64encode(h).decode())
                    except Exception:
                        continue
                    pending.discard(h)
                time.sleep(0.05)
            window_s = time.time() - t0
            committed = len(submitted) - len(pending)
            latencies = []
            for nonce in range(TXS_PER_SENDER, TXS_PER_SENDER + LATENCY_PROBES):
                raw = build_paid_tx(keys[0], build_send_tx(keys[0], chain.chain_id, nonce, sink, 1),
                                    gas_price=LOCALNET_MIN_GAS_PRICE)
                start_t = time.perf_counter()
                rpcs[0].broadcast_tx_sync(raw)
                rpcs[0].wait_for_tx(compute_tx_hash(raw), timeout=60)
                latencies.append(time.perf_counter() - start_t)
            latencies.sort()
    figures = {
        "validators": 4,
        "txs": len(submitted),
        "committed": committed,
        "submit_tx_per_s": round(len(submitted) / submit_s, 1),
        "committed_tx_per_s": round(committed / window_s, 1),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "timeouts": "propose 200ms, prevote/precommit 50ms, commit 100ms",
    }
    for k, v in figures.items():
        print(f"  {k:28} {v}")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
