"""DistPOS against CometBFT's own Go kvstore on the same 4-validator localnet, in one run.

Both networks come from the same generator (same layout, ports on loopback, the integration suite's
timeouts: propose 200 ms, prevote/precommit 50 ms, commit 100 ms); the kvstore runs inside CometBFT
(`proxy_app = "kvstore"`). The load is the compiled Go generator in bench/loadgen: CLIENTS clients, one
keep-alive connection each, spread over the four nodes, each sending its own transactions in order through
`broadcast_tx_sync` as fast as CheckTx answers (a full mempool is retried with the same transaction). Sixteen
clients keep every node's RPC busy with several requests in flight, which is what saturates the kvstore here;
more only add mempool-full retries. Every transaction has the same size on both sides: a DistPOS transfer from
the client's own funded account, and a kvstore `key=value` padded to that length.

Measured per run, from a websocket subscription to NewBlock on one node (its arrival time is the commit time):
committed tx/s over the send window, latency from send to commit (p50/p95), the block interval idle and under
load, and the CPU the four nodes spent per committed transaction (utime+stime of every node process). Runs are
interleaved kv, distpos, kv, distpos, and the ratios use the medians of each side.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import threading
import time

from websockets.sync.client import connect

from distpos_abci.address import Address
from distpos_abci.bank import build_send_tx
from distpos_abci.crypto import KeyPair
from distpos_abci.fees import build_paid_tx
from distpos_abci.keyring import Keyring
from distpos_abci.localnet.plan import APP_BUILTIN_KVSTORE
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.localnet import TEST_TIMEOUTS, FreePorts, generate_network, running_network
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash

CLIENTS = 16
SEND_SECONDS = 20.0
# More than a client can send in SEND_SECONDS, so the window, not the supply, ends the load.
TXS_PER_CLIENT = {APP_BUILTIN_KVSTORE: 6000, "distpos": 2000}
IDLE_BLOCKS = 8
LOADGEN_DIR = pathlib.Path(__file__).with_name("loadgen")
SOURCE_NODE = 0  # the node whose NewBlock events time the commits


def build_loadgen(out_dir: str) -> str:
    """Compile bench/loadgen into out_dir and return the binary's path."""
    binary = os.path.join(out_dir, "distpos-loadgen")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=LOADGEN_DIR, check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    return binary


class BlockWatcher:
    """Records (height, arrival ns, tx hashes) of every NewBlock event of one node, in a thread."""

    def __init__(self, rpc_url: str) -> None:
        self.url = rpc_url.replace("http://", "ws://").rstrip("/") + "/websocket"
        self.blocks: list[tuple[int, int, list[bytes]]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "BlockWatcher":
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"no websocket subscription at {self.url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with connect(self.url, max_size=None, open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                                "params": {"query": "tm.event='NewBlock'"}}))
            ws.recv(10)  # the subscription's empty reply
            self._ready.set()
            while not self._stop.is_set():
                try:
                    msg = json.loads(ws.recv(0.5))
                except TimeoutError:
                    continue
                arrived = time.time_ns()
                block = msg.get("result", {}).get("data", {}).get("value", {}).get("block")
                if not block:
                    continue
                txs = [hashlib.sha256(base64.b64decode(t)).digest() for t in block["data"]["txs"] or []]
                self.blocks.append((int(block["header"]["height"]), arrived, txs))

    def wait_blocks(self, count: int, timeout: float = 60.0) -> None:
        start = len(self.blocks)
        deadline = time.time() + timeout
        while len(self.blocks) < start + count and time.time() < deadline:
            time.sleep(0.05)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))] if ordered else 0.0


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _paid(key: KeyPair, raw: bytes) -> bytes:
    """raw with the fee the localnet's minimum gas price asks (every transaction pays one)."""
    return build_paid_tx(key, raw, gas_price=LOCALNET_MIN_GAS_PRICE)


def _distpos_txs(net, chain, tx_size_out: list[int]) -> list[tuple[int, bytes]]:
    """Fund one fresh account per client from alice (one block) and sign each client's transfers."""
    alice = Keyring(net.keyring_dir).get(chain.demo_accounts[0].name).keypair
    rpc = CometRPC(chain.nodes[0].rpc_url)
    senders = [KeyPair(hashlib.sha256(b"bench-kv-client-%d" % i).digest()) for i in range(CLIENTS)]
    funding = [_paid(alice, build_send_tx(alice, chain.chain_id, i, str(Address.from_pub_key(chain.chain_id, k.pub_key)),
                                          10_000 * TXS_PER_CLIENT["distpos"])) for i, k in enumerate(senders)]
    for raw in funding:
        rpc.broadcast_tx_sync(raw)
    for raw in funding:
        rpc.wait_for_tx(compute_tx_hash(raw), timeout=60)
    sink = chain.demo_accounts[1].address
    txs = [(c, _paid(senders[c], build_send_tx(senders[c], chain.chain_id, n, sink, 1)))
           for n in range(TXS_PER_CLIENT["distpos"]) for c in range(CLIENTS)]
    tx_size_out.append(len(txs[0][1]))
    return txs


def _kv_txs(size: int, run: int) -> list[tuple[int, bytes]]:
    """Unique key=value transactions of exactly size bytes."""
    out = []
    for n in range(TXS_PER_CLIENT[APP_BUILTIN_KVSTORE]):
        for c in range(CLIENTS):
            head = b"r%dc%02dn%07d=" % (run, c, n)
            out.append((c, head + b"v" * (size - len(head))))
    return out


def _one_run(loadgen: str, app: str, run: int, tx_size: list[int]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        net = generate_network(tmp, chain_ids=["e2e4"], validators_per_chain=4, port_allocator=FreePorts(),
                               cometbft_bin="bin/cometbft", timeouts=TEST_TIMEOUTS, app=app)
        with running_network(net, min_height=2, timeout=120):
            chain = net.chains[0]
            txs = _distpos_txs(net, chain, tx_size) if app == "distpos" else _kv_txs(tx_size[0], run)
            tx_file = os.path.join(tmp, "txs.txt")
            with open(tx_file, "w") as fh:
                for client, raw in txs:
                    fh.write(f"{client} {raw.hex()}\n")
            pids = [p for node in chain.nodes for p in node.pids().values() if p]
            with BlockWatcher(chain.nodes[SOURCE_NODE].rpc_url) as watch:
                watch.wait_blocks(IDLE_BLOCKS)
                idle = [b[1] for b in watch.blocks]
                cpu0 = _cpu_seconds(pids)
                out = os.path.join(tmp, "load.json")
                subprocess.run([loadgen, "-rpc", ",".join(n.rpc_url for n in chain.nodes), "-txs", tx_file,
                                "-duration", f"{SEND_SECONDS}s", "-out", out], check=True)
                cpu1 = _cpu_seconds(pids)
                watch.wait_blocks(3)
            sent = json.loads(pathlib.Path(out).read_text())["results"]
    send_ns = {compute_tx_hash(raw): r["send_ns"] for (_, raw), r in zip(txs, sent) if r["sent"] and r["code"] == 0}
    t0 = min(send_ns.values())
    t_end = t0 + int(SEND_SECONDS * 1e9)
    committed_at = {h: arrived for _, arrived, hashes in watch.blocks for h in hashes}
    in_window = [h for h, at in committed_at.items() if h in send_ns and at <= t_end]
    latencies = [(committed_at[h] - send_ns[h]) / 1e9 for h in send_ns if h in committed_at]
    loaded = [at for _, at, hashes in watch.blocks if t0 + 1e9 <= at <= t_end]
    gaps = lambda ts: [(b - a) / 1e9 for a, b in zip(ts, ts[1:])]  # noqa: E731
    committed_total = sum(1 for h in send_ns if h in committed_at)
    return {
        "app": app,
        "accepted_by_checktx": len(send_ns),
        "refused_by_checktx": sum(1 for r in sent if r["sent"] and r["code"] != 0),
        "committed_in_window": len(in_window),
        "committed_tx_per_s": round(len(in_window) / SEND_SECONDS, 1),
        "latency_p50_s": round(_pct(latencies, 0.5), 3),
        "latency_p95_s": round(_pct(latencies, 0.95), 3),
        "block_interval_idle_s": round(statistics.mean(gaps(idle)), 3) if len(idle) > 1 else None,
        "block_interval_loaded_s": round(statistics.mean(gaps(loaded)), 3) if len(loaded) > 1 else None,
        "cpu_ms_per_committed_tx": round((cpu1 - cpu0) * 1000 / max(1, committed_total), 3),
    }


def main(runs: int = 2) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as bin_dir:
        loadgen = build_loadgen(bin_dir)
        tx_size: list[int] = []
        results: list[dict[str, object]] = []
        # The kvstore's transaction size is the DistPOS transfer's, known once one has been signed.
        probe_keys = KeyPair(b"\x01" * 32)
        tx_size.append(len(_paid(probe_keys, build_send_tx(probe_keys, "e2e4", 0,
                                                          str(Address.from_pub_key("e2e4", probe_keys.pub_key)), 1))))
        for run in range(runs):
            for app in (APP_BUILTIN_KVSTORE, "distpos"):
                figures = _one_run(loadgen, app, run, tx_size)
                print(f"  run {run} {app:8} {figures}")
                results.append(figures)
    side = {app: [r for r in results if r["app"] == app] for app in (APP_BUILTIN_KVSTORE, "distpos")}
    med = {app: statistics.median(r["committed_tx_per_s"] for r in rs) for app, rs in side.items()}
    dist_idle = statistics.median(r["block_interval_idle_s"] for r in side["distpos"])
    dist_loaded = statistics.median(r["block_interval_loaded_s"] or 0 for r in side["distpos"])
    return {
        "clients": CLIENTS,
        "send_seconds": SEND_SECONDS,
        "tx_bytes": tx_size[0],
        "timeouts": "propose 200ms, prevote/precommit 50ms, commit 100ms",
        "runs": results,
        "ratio_distpos_vs_kvstore_tx_per_s": round(med["distpos"] / med[APP_BUILTIN_KVSTORE], 3),
        "ratio_block_interval_loaded_vs_idle": round(dist_loaded / dist_idle, 3) if dist_idle else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
