"""Cross-chain benchmark on a real 2-chain x 2-validator localnet with its two relays (issue 9).

For each burst, BURST transfers are submitted at once (broadcast_tx_sync, three senders in parallel):
first a local burst on e2e4 (to an e2e4 account), then a cross-chain burst e2e4 -> a1b2. A scanner per
chain reads every committed block (header time and block_results) and records, per packet sequence, the
e2e4 block that committed the send, the a1b2 block that credited it, and the e2e4 block that settled
its ack.

Latency: a1b2 credit block time - e2e4 commit block time, also in a1b2 block intervals (the mean interval
of a1b2's blocks over the run), and as a count of the a1b2 blocks made between the two (`_counted`: the
start placed between a1b2's blocks by time; it does not stretch when both chains slow down under load, which
the mean interval over the whole run does); ack: e2e4 ack block time - a1b2 credit block time.
Throughput: transfers / (wall time at which the block completing them, local commit or cross-chain credit, was
seen committed - first submission), local and cross-chain (block times are BFT times, roughly the previous
block's commit, so they are only used for latencies, where both ends are block times),
and their ratio: per burst of 200 (where the cross-chain figure pays its latency of a few blocks once per
200), and sustained over STEADY transfers submitted as fast as the node takes them.

Steady load: PACED_S seconds of cross-chain transfers submitted at half the local burst rate, evenly paced;
its latencies are reported apart (the target holds for bursts and for this load).

Where the time goes (`stages`): per packet, wall times from the bench's scanners (a height is "stored" when
`/status` first reports it) and from the relays' logs (each line is stamped when the relay did the step):
commit of H -> the source relay's scan of H (its NewBlock event) / -> header H+1 stored (the earliest the
packet is provable) -> the destination relay verified and queued it (hand-over: header, proof, check) ->
its MsgRecvPackets submitted -> the credit block stored. Each is the p50/p95 of that step, in seconds.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from distpos_abci.bank import build_send_tx
from distpos_abci.fees import build_paid_tx
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.keyring import Keyring
from distpos_abci.lightclient.rpc_json import parse_rfc3339_ns
from distpos_abci.localnet import APP_DISTPOS, TEST_TIMEOUTS, FreePorts, generate_network, running_network
from distpos_abci.rpc_client import CometRPC

BURST = 200
STEADY = 1000
BURSTS = int(os.environ.get("BENCH_BURSTS", "3"))
KEEP_LOGS = os.environ.get("BENCH_KEEP_LOGS", "")  # a directory to copy the relay logs into
BURST_TIMEOUT_S = 240.0
PACED_S = 6.0  # seconds of steady cross-chain load at half the local rate

LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
LOG_STAGES = {  # stage -> (which relay's log, pattern; group 1 lists the sequences)
    "scanned": (0, re.compile(r"packets committed at height \d+: (\S+)")),
    "queued": (1, re.compile(r"inbound packet verified and queued source=\S+ seq=(\d+)")),
    "submitted": (1, re.compile(r"submitted packets from \S+ seq=([\d,]+)")),
}


def read_stage_times(log_files: list[str]) -> dict[str, dict[int, float]]:
    """stage -> sequence -> wall time of the first log line reporting that step for that sequence."""
    out: dict[str, dict[int, float]] = {name: {} for name in LOG_STAGES}
    texts = [open(f, errors="replace").read().splitlines() for f in log_files]
    for name, (which, pattern) in LOG_STAGES.items():
        for line in texts[which]:
            m, stamp = pattern.search(line), LOG_STAMP.match(line)
            if not m or not stamp:
                continue
            t = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for item in m.group(1).split(","):
                out[name].setdefault(int(item.rsplit("/", 1)[-1]), t)
    return out


def compute_stages(seqs, sent: dict, recv: dict, src_seen: dict, dst_seen: dict,
                   logged: dict[str, dict[int, float]]) -> dict[str, object]:
    """p50/p95 (s) of each step of the packets in seqs (see the module text)."""
    steps: dict[str, list[float]] = {k: [] for k in ("commit_to_scanned", "commit_to_header", "header_to_queued",
                                                     "queued_to_submitted", "submitted_to_credit_stored")}
    for s in seqs:
        if s not in sent or s not in recv:
            continue
        h, d = sent[s][0], recv[s][0]
        commit, header, credit = src_seen.get(h), src_seen.get(h + 1), dst_seen.get(d)
        scanned, queued, submitted = (logged[k].get(s) for k in ("scanned", "queued", "submitted"))
        for name, a, b in (("commit_to_scanned", commit, scanned), ("commit_to_header", commit, header),
                           ("header_to_queued", header, queued), ("queued_to_submitted", queued, submitted),
                           ("submitted_to_credit_stored", submitted, credit)):
            if a is not None and b is not None:
                steps[name].append(b - a)
    return {k: [round(_pct(v, 0.5), 3), round(_pct(v, 0.95), 3)] if v else None for k, v in steps.items()}


def compute_counted_blocks(pairs: list[tuple[float, int]], dest_times: dict[int, float]) -> list[float]:
    """For (source commit block time, destination credit height) pairs: how many destination blocks the
    destination made between the two, the start placed between its blocks by time (pure). Unlike latency /
    mean interval, this counts the blocks actually made meanwhile, so it does not stretch when both chains
    slow down under load."""
    heights = sorted(dest_times)
    out = []
    for t, credit in pairs:
        around = [h for h in heights if h + 1 in dest_times and dest_times[h] <= t < dest_times[h + 1]]
        if not around:
            continue
        h = around[-1]
        span = dest_times[h + 1] - dest_times[h]
        out.append(credit - (h + ((t - dest_times[h]) / span if span > 0 else 0.0)))
    return out


def read_cpu_seconds(run_dir: str) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the network's processes, by role (relay, cometbft, app)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"relays": 0.0, "cometbft": 0.0, "apps": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            if run_dir not in cmd:
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        role = "relays" if " relay " in cmd else "cometbft" if "cometbft" in cmd else "apps"
        out[role] += cpu
    return out


class Scanner(threading.Thread):
    """Reads every committed block of one chain: time (s) and the events of its successful txs."""

    def __init__(self, rpc_url: str) -> None:
        super().__init__(daemon=True)
        self.rpc = CometRPC(rpc_url)
        self.blocks: dict[int, tuple[float, list[tuple[str, dict], ], int]] = {}
        self.stop = threading.Event()
        self.next = 1
        self.seen: dict[int, float] = {}  # height -> wall time this scanner first saw it committed

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                latest = int(self.rpc.status()["sync_info"]["latest_block_height"])
                now = time.time()
                for h in range(self.next, latest + 1):
                    self.seen.setdefault(h, now)
                while self.next <= latest and not self.stop.is_set():
                    h = self.next
                    res = self.rpc.call("block_results", height=str(h))
                    header = self.rpc.call("header", height=str(h))["header"]
                    events, ok = [], 0
                    for r in res.get("txs_results") or []:
                        if int(r.get("code") or 0):
                            continue
                        ok += 1
                        for ev in r.get("events") or []:
                            events.append((ev["type"], {a["key"]: a["value"] for a in ev.get("attributes") or []}))
                    self.blocks[h] = (parse_rfc3339_ns(header["time"]) / 1e9, events, ok)
                    self.next += 1
            except Exception:  # results of the newest height may not be saved yet: next round
                pass
            time.sleep(0.05)

    def find(self, etype: str, **attrs: str) -> dict[int, tuple[int, float]]:
        """sequence -> (height, block time) of the events of etype whose attributes match attrs."""
        out = {}
        for h, (t, events, _) in sorted(self.blocks.items()):
            for typ, a in events:
                if typ == etype and all(a.get(k) == v for k, v in attrs.items()):
                    out.setdefault(int(a["sequence"]), (h, t))
        return out

    def seen_at(self, heights: list[int]) -> list[float]:
        """Wall times at which these heights were seen committed (for rates against a wall-clock start)."""
        return [self.seen[h] for h in heights]

    def interval_s(self) -> float:
        times = [t for _, (t, _, _) in sorted(self.blocks.items())]
        gaps = [b - a for a, b in zip(times[10:], times[11:])]  # after start-up
        return statistics.mean(gaps) if gaps else 0.0


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def main(cometbft_bin: str = "bin/cometbft") -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        net = generate_network(tmp, chain_ids=["e2e4", "a1b2"], validators_per_chain=2, port_allocator=FreePorts(),
                               cometbft_bin=cometbft_bin, timeouts=TEST_TIMEOUTS, app=APP_DISTPOS)
        with running_network(net, min_height=3, timeout=180):
            src_chain, dst_chain = net.chains
            keyring = Keyring(net.keyring_dir)
            keys = [keyring.get(a.name).keypair for a in src_chain.demo_accounts]
            local_sink = src_chain.demo_accounts[0].address
            recipient = dst_chain.demo_accounts[0].address
            rpcs = [CometRPC(n.rpc_url) for n in src_chain.nodes]
            src, dst = Scanner(src_chain.nodes[0].rpc_url), Scanner(dst_chain.nodes[0].rpc_url)
            src.start()
            dst.start()
            nonces = [0] * len(keys)

            def burst(to: str, n: int = BURST) -> float:
                """Submit n transfers to `to` from all senders at once; the wall time of the first submission."""
                t0 = time.time()

                def send(i: int) -> None:
                    rpc = rpcs[i % len(rpcs)]
                    for _ in range(n // len(keys) + (1 if i < n % len(keys) else 0)):
                        raw = build_send_tx(keys[i], src_chain.chain_id, nonces[i], to, 1)
                        rpc.broadcast_tx_sync(build_paid_tx(keys[i], raw, gas_price=LOCALNET_MIN_GAS_PRICE))
                        nonces[i] += 1

                with ThreadPoolExecutor(len(keys)) as pool:
                    list(pool.map(send, range(len(keys))))
                return t0

            local_tps, cross_tps, lat_s, ack_s, missing = [], [], [], [], 0
            counted_pairs: list[tuple[float, int]] = []
            seq_done = 0

            def local_rate(n: int) -> float | None:
                """n local transfers at once: n / (the block time that completes them - first submission)."""
                t0 = burst(local_sink, n)

                def local_done() -> list[float]:
                    return [src.seen[h] for h, (_, events, _) in sorted(src.blocks.items()) if src.seen[h] >= t0
                            for typ, a in events if typ == "transfer" and a.get("recipient") == local_sink]

                if _wait(lambda: len(local_done()) >= n, BURST_TIMEOUT_S):
                    return n / max(1e-3, local_done()[n - 1] - t0)
                return None

            for _ in range(BURSTS):
                rate = local_rate(BURST)
                if rate:
                    local_tps.append(rate)
                time.sleep(1.0)
                # cross-chain burst: sequences seq_done+1 .. seq_done+BURST
                wanted = range(seq_done + 1, seq_done + BURST + 1)
                t0 = burst(recipient)
                _wait(lambda: all(s in dst.find("recv_packet", source="e2e4") for s in wanted), BURST_TIMEOUT_S)
                _wait(lambda: all(s in src.find("acknowledge_packet", destination="a1b2") for s in wanted), 60)
                sent = src.find("send_packet", destination="a1b2")
                recv = dst.find("recv_packet", source="e2e4")
                acked = src.find("acknowledge_packet", destination="a1b2")
                credited = dst.seen_at([recv[s][0] for s in wanted if s in recv])
                missing += BURST - len(credited)
                lat_s += [recv[s][1] - sent[s][1] for s in wanted if s in recv and s in sent]
                counted_pairs += [(sent[s][1], recv[s][0]) for s in wanted if s in recv and s in sent]
                ack_s += [acked[s][1] - recv[s][1] for s in wanted if s in recv and s in acked]
                if credited:
                    cross_tps.append(len(credited) / max(1e-3, max(credited) - t0))
                seq_done += BURST
                time.sleep(1.0)
            burst_seqs = range(1, seq_done + 1)
            # steady load: half the local burst rate, evenly paced, for PACED_S seconds
            paced_rate = statistics.median(local_tps) / 2 if local_tps else 100.0
            paced_n = int(paced_rate * PACED_S)
            paced_seqs = range(seq_done + 1, seq_done + paced_n + 1)
            t0 = time.time()

            def paced(i: int) -> None:
                rpc = rpcs[i % len(rpcs)]
                for k in range(i, paced_n, len(keys)):
                    pause = t0 + k / paced_rate - time.time()
                    if pause > 0:
                        time.sleep(pause)
                    rpc.broadcast_tx_sync(build_send_tx(keys[i], src_chain.chain_id, nonces[i], recipient, 1))
                    nonces[i] += 1

            with ThreadPoolExecutor(len(keys)) as pool:
                list(pool.map(paced, range(len(keys))))
            _wait(lambda: all(s in dst.find("recv_packet", source="e2e4") for s in paced_seqs), BURST_TIMEOUT_S)
            sent = src.find("send_packet", destination="a1b2")
            recv = dst.find("recv_packet", source="e2e4")
            paced_lat = [recv[s][1] - sent[s][1] for s in paced_seqs if s in recv and s in sent]
            paced_pairs = [(sent[s][1], recv[s][0]) for s in paced_seqs if s in recv and s in sent]
            credited = dst.seen_at([recv[s][0] for s in paced_seqs if s in recv])
            paced_tps = len(credited) / max(1e-3, max(credited) - t0) if credited else None
            missing += paced_n - len(credited)
            seq_done += paced_n
            time.sleep(2.0)
            # sustained: STEADY transfers submitted as fast as the node takes them, local then cross-chain
            cpu0 = read_cpu_seconds(tmp)
            steady_local = local_rate(STEADY)
            cpu1 = read_cpu_seconds(tmp)
            time.sleep(1.0)
            wanted = range(seq_done + 1, seq_done + STEADY + 1)
            cpu2 = read_cpu_seconds(tmp)
            t0 = burst(recipient, STEADY)
            _wait(lambda: all(s in dst.find("recv_packet", source="e2e4") for s in wanted), BURST_TIMEOUT_S)
            recv = dst.find("recv_packet", source="e2e4")
            credited = dst.seen_at([recv[s][0] for s in wanted if s in recv])
            steady_cross = len(credited) / max(1e-3, max(credited) - t0) if credited else None
            missing += STEADY - len(credited)
            _wait(lambda: all(s in src.find("acknowledge_packet", destination="a1b2") for s in wanted), 60)
            cpu3 = read_cpu_seconds(tmp)
            interval = dst.interval_s()
            dest_times = {h: t for h, (t, _, _) in dst.blocks.items()}
            counted = compute_counted_blocks(counted_pairs, dest_times)
            paced_counted = compute_counted_blocks(paced_pairs, dest_times)
            sent = src.find("send_packet", destination="a1b2")
            logged = read_stage_times([str(r.log_file) for r in net.relays])
            stages = {"bursts": compute_stages(burst_seqs, sent, recv, src.seen, dst.seen, logged),
                      "steady": compute_stages(paced_seqs, sent, recv, src.seen, dst.seen, logged),
                      "sustained": compute_stages(wanted, sent, recv, src.seen, dst.seen, logged)}
            cpu_per_transfer_ms = {
                "local": {k: round(1000 * (cpu1[k] - cpu0[k]) / STEADY, 2) for k in cpu0},
                "cross_with_acks": {k: round(1000 * (cpu3[k] - cpu2[k]) / STEADY, 2) for k in cpu0}}
            if KEEP_LOGS:
                for relay in net.relays:
                    shutil.copy(relay.log_file, os.path.join(KEEP_LOGS, f"{relay.chain_id}-relay.log"))
            src.stop.set()
            dst.stop.set()
    blocks = [x / interval for x in lat_s] if interval else []
    paced_blocks = [x / interval for x in paced_lat] if interval else []
    figures = {
        "chains": "2 x 2 validators, one relay per chain",
        "bursts": f"{BURSTS} x {BURST}",
        "dest_block_interval_s": round(interval, 3),
        "credit_p50_s": round(_pct(lat_s, 0.5), 2) if lat_s else None,
        "credit_p95_s": round(_pct(lat_s, 0.95), 2) if lat_s else None,
        "credit_p50_dest_blocks": round(_pct(blocks, 0.5), 2) if blocks else None,
        "credit_p95_dest_blocks": round(_pct(blocks, 0.95), 2) if blocks else None,
        "credit_p50_p95_dest_blocks_counted": [round(_pct(counted, 0.5), 2), round(_pct(counted, 0.95), 2)]
        if counted else None,
        "ack_after_credit_p50_dest_blocks": round(_pct(ack_s, 0.5) / interval, 2) if ack_s and interval else None,
        "ack_after_credit_p95_dest_blocks": round(_pct(ack_s, 0.95) / interval, 2) if ack_s and interval else None,
        "not_credited": missing,
        "local_tx_per_s": round(statistics.median(local_tps), 1) if local_tps else None,
        "cross_tx_per_s": round(statistics.median(cross_tps), 1) if cross_tps else None,
        "cross_over_local": round(statistics.median(cross_tps) / statistics.median(local_tps), 3)
        if local_tps and cross_tps else None,
        "sustained": f"{STEADY} transfers submitted at once, local then cross-chain",
        "sustained_local_tx_per_s": round(steady_local, 1) if steady_local else None,
        "sustained_cross_tx_per_s": round(steady_cross, 1) if steady_cross else None,
        "sustained_cross_over_local": round(steady_cross / steady_local, 3) if steady_local and steady_cross else None,
        "steady": f"{paced_n} cross-chain transfers paced at {paced_rate:.0f}/s (half the local burst rate)",
        "steady_credit_p50_dest_blocks": round(_pct(paced_blocks, 0.5), 2) if paced_blocks else None,
        "steady_credit_p95_dest_blocks": round(_pct(paced_blocks, 0.95), 2) if paced_blocks else None,
        "steady_credit_p50_p95_dest_blocks_counted": [round(_pct(paced_counted, 0.5), 2),
                                                      round(_pct(paced_counted, 0.95), 2)] if paced_counted else None,
        "steady_cross_tx_per_s": round(paced_tps, 1) if paced_tps else None,
        "stages_p50_p95_s": stages,
        "cpu_ms_per_transfer": cpu_per_transfer_ms,
        "timeouts": "propose 200ms, prevote/precommit 50ms, commit 100ms",
    }
    for k, v in figures.items():
        if isinstance(v, dict):
            print(f"  {k}")
            for k2, v2 in v.items():
                print(f"    {k2:32} {v2}")
        else:
            print(f"  {k:34} {v}")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
