"""`make soak`: a 1x4 localnet under steady load for SOAK_MINUTES (default 30), not part of CI.

First a short saturating run (the kvstore bench's load generator, as fast as CheckTx answers) finds the
network's capacity on this machine; then the soak sends at SOAK_RATE (default: half that capacity) on a fixed
schedule, one minute of signed transfers at a time, and after every minute samples what drifts when a node
leaks: the block interval over the minute, each app's resident memory, and the bytes of app state on disk
(the rocksdict directory, pruning on at the default keep_recent) per committed transfer. The issue's bounds are
printed beside the figures: interval within 10 % of the first minutes, RSS flat, app state <= 500 B/transfer.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

from distpos_abci.address import Address
from distpos_abci.bank import build_send_tx
from distpos_abci.cli.client import get_next_nonce
from distpos_abci.crypto import KeyPair
from distpos_abci.fees import build_paid_tx
from distpos_abci.keyring import Keyring
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.localnet import TEST_TIMEOUTS, FreePorts, generate_network, running_network
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash

from .bench_kvstore import CLIENTS, BlockWatcher, build_loadgen
from .run import append_results

PROBE_SECONDS = 15
FIRST_MINUTES = 3  # the reference the later minutes' block interval is compared with


def _rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _dir_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Senders:
    """CLIENTS funded accounts and their next nonces; signs one chunk of transfers at a time."""

    def __init__(self, net, chain) -> None:
        alice = Keyring(net.keyring_dir).get(chain.demo_accounts[0].name).keypair
        self.chain_id = chain.chain_id
        self.keys = [KeyPair(hashlib.sha256(b"soak-client-%d" % i).digest()) for i in range(CLIENTS)]
        self.nonces = [0] * CLIENTS
        self.sink = chain.demo_accounts[1].address
        rpc = CometRPC(chain.nodes[0].rpc_url)
        funding = [build_paid_tx(alice, build_send_tx(alice, chain.chain_id, i,
                                                      str(Address.from_pub_key(chain.chain_id, k.pub_key)), 50_000_000),
                                 gas_price=LOCALNET_MIN_GAS_PRICE) for i, k in enumerate(self.keys)]
        for raw in funding:
            rpc.broadcast_tx_sync(raw)
        for raw in funding:
            rpc.wait_for_tx(compute_tx_hash(raw), timeout=60)

    def write_chunk(self, path: str, count: int) -> list[bytes]:
        """Sign count transfers spread over the clients, write them for the load generator, return their hashes."""
        hashes = []
        with open(path, "w") as fh:
            for i in range(count):
                c = i % CLIENTS
                raw = build_paid_tx(self.keys[c], build_send_tx(self.keys[c], self.chain_id, self.nonces[c], self.sink, 1),
                                    gas_price=LOCALNET_MIN_GAS_PRICE)
                self.nonces[c] += 1
                fh.write(f"{c} {raw.hex()}\n")
                hashes.append(compute_tx_hash(raw))
        return hashes


def _run_chunk(loadgen: str, urls: str, path: str, seconds: float, rate: float | None) -> list[dict]:
    out = path + ".json"
    args = [loadgen, "-rpc", urls, "-txs", path, "-duration", f"{seconds}s", "-out", out]
    if rate:
        args += ["-rate", str(rate)]
    subprocess.run(args, check=True)
    return json.loads(pathlib.Path(out).read_text())["results"]


def main() -> dict[str, object]:
    minutes = int(os.environ.get("SOAK_MINUTES", "30"))
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(tmp)
        net = generate_network(tmp + "/net", chain_ids=["e2e4"], validators_per_chain=4, port_allocator=FreePorts(),
                               cometbft_bin="bin/cometbft", timeouts=TEST_TIMEOUTS)
        chain = net.chains[0]
        urls = ",".join(n.rpc_url for n in chain.nodes)
        with running_network(net, min_height=2, timeout=120), BlockWatcher(chain.nodes[0].rpc_url) as watch:
            senders = Senders(net, chain)
            chunk = os.path.join(tmp, "chunk.txt")
            if os.environ.get("SOAK_RATE"):
                rate = float(os.environ["SOAK_RATE"])
                capacity = None
            else:
                hashes = senders.write_chunk(chunk, 40 * CLIENTS * PROBE_SECONDS)
                start = time.time_ns()
                _run_chunk(loadgen, urls, chunk, PROBE_SECONDS, None)
                watch.wait_blocks(3)
                committed = {h for _, at, hs in watch.blocks if at >= start for h in hs}
                capacity = len(committed & set(hashes)) / PROBE_SECONDS
                rate = round(capacity / 2, 1)
                # Transfers not sent in the window keep their nonces free: wait for the mempool to drain, then
                # take every sender's next nonce from the chain.
                rpc = CometRPC(chain.nodes[0].rpc_url)
                deadline = time.time() + 120
                while int(rpc.call("num_unconfirmed_txs")["n_txs"]) and time.time() < deadline:
                    time.sleep(0.2)
                senders.nonces = [get_next_nonce(rpc, str(Address.from_pub_key(chain.chain_id, k.pub_key)))
                                  for k in senders.keys]
            print(f"  capacity {capacity} tx/s; soaking at {rate} tx/s for {minutes} min")
            app_pids = [n.pids()["app"] for n in chain.nodes]
            db_dir = chain.nodes[0].path("data", "distpos.db")
            samples = []
            submitted: set[bytes] = set()
            db_start = _dir_bytes(db_dir)
            for minute in range(minutes):
                submitted.update(senders.write_chunk(chunk, int(rate * 60)))
                start = time.time_ns()
                _run_chunk(loadgen, urls, chunk, 62, rate)
                blocks = [(h, at) for h, at, _ in watch.blocks if at >= start]
                committed_total = sum(1 for _, _, hs in watch.blocks for h in hs if h in submitted)
                gaps = [(b[1] - a[1]) / 1e9 for a, b in zip(blocks, blocks[1:])]
                sample = {
                    "minute": minute + 1,
                    "block_interval_s": round(statistics.mean(gaps), 3) if gaps else None,
                    "app_rss_mb": [round(_rss_mb(p), 1) for p in app_pids],
                    "app_state_mb": round(_dir_bytes(db_dir) / 2**20, 1),
                    "committed_total": committed_total,
                    "backlog": len(submitted) - committed_total,
                }
                samples.append(sample)
                print(f"  {json.dumps(sample)}", flush=True)
            db_end = _dir_bytes(db_dir)
    first = statistics.mean(s["block_interval_s"] for s in samples[:FIRST_MINUTES])
    last = statistics.mean(s["block_interval_s"] for s in samples[-FIRST_MINUTES:])
    rss_first = statistics.mean(samples[0]["app_rss_mb"])
    rss_last = statistics.mean(samples[-1]["app_rss_mb"])
    figures = {
        "minutes": minutes,
        "capacity_tx_per_s": capacity,
        "rate_tx_per_s": rate,
        "block_interval_first_s": round(first, 3),
        "block_interval_last_s": round(last, 3),
        "interval_drift": round(last / first - 1, 3),
        "app_rss_first_mb": round(rss_first, 1),
        "app_rss_last_mb": round(rss_last, 1),
        "app_state_bytes_per_transfer": round((db_end - db_start) / max(1, committed_total)),
        "samples": samples,
    }
    print(f"  interval drift {figures['interval_drift']} [within 0.10]; RSS {rss_first:.0f} -> {rss_last:.0f} MB "
          f"[flat]; app state {figures['app_state_bytes_per_transfer']} B/transfer [<= 500]")
    return figures


if __name__ == "__main__":
    append_results({"soak: 1x4 localnet at half capacity, steady load": main()})
