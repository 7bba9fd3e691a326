"""`make bench`: run every benchmark and append the figures to bench/RESULTS.md
with the machine, the date and the commit, and print the issue's ratios at the end.

BENCH_SCALE_ACCOUNTS (default "10000 1000000") sets the state sizes of bench_scale; building the
million-account state takes a few minutes on 2 cores."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess

from . import (bench_app, bench_instant, bench_interchain, bench_kvstore, bench_localnet, bench_merkle, bench_scale,
               bench_state_growth, bench_underwriting)

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")
KVSTORE_SECTION = "4-validator localnet against CometBFT's kvstore (same generator, load and tx size, interleaved)"


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def append_results(sections: dict[str, object]) -> None:
    """Append sections of figures to RESULTS.md under the date, the commit and the machine."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"\n## {stamp} — commit {_commit()}\n", f"Machine: {_machine()}\n"]
    for name, figures in sections.items():
        lines.append(f"\n### {name}\n\n```json\n{json.dumps(figures, indent=2)}\n```\n")
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `make bench` (bench/run.py). Figures, not asserts.\n")
    with RESULTS.open("a") as fh:
        fh.write("".join(lines))
    print(f"results appended to {RESULTS}")


def main(only: list[str] | None = None) -> None:
    """Run every benchmark, or those whose section name contains one of `only` (`python -m bench.run cross`)."""
    sections: dict[str, object] = {}
    for name, fn in (("merkle trie (in-memory nodes)", bench_merkle.main),
                     ("app in-process (rocksdict on disk)", bench_app.main),
                     ("state at scale (10k vs 1M accounts, archive and pruned)",
                      lambda: bench_scale.main([int(a) for a in os.environ.get(
                          "BENCH_SCALE_ACCOUNTS", "10000 1000000").split()])),
                     ("state growth per transfer (keys, bytes, disk)", bench_state_growth.main),
                     ("underwriting service (in-process and over gRPC)", lambda: bench_underwriting.main([])),
                     ("4-validator localnet, end to end", bench_localnet.main),
                     (KVSTORE_SECTION, bench_kvstore.main),
                     ("cross-chain: 2 chains x 2 validators with relays, bursts of 200", bench_interchain.main),
                     ("instant cross-chain credit: guarantee issued -> credited on the destination",
                      bench_instant.main)):
        if only and not any(o in name for o in only):
            continue
        print(f"== {name}")
        sections[name] = fn()
    append_results(sections)
    app = sections.get("app in-process (rocksdict on disk)")
    scale = sections.get("state at scale (10k vs 1M accounts, archive and pruned)") or {}
    kv = sections.get(KVSTORE_SECTION)
    print("== ratios (issue 8 targets in brackets)")
    if kv:
        print(f"  localnet committed tx/s vs kvstore          {kv['ratio_distpos_vs_kvstore_tx_per_s']}  [>= 0.5]")
        print(f"  block interval loaded vs idle (distpos)     {kv['ratio_block_interval_loaded_vs_idle']}  [<= 1.5]")
    if not app:
        return
    for size, target in (("block_2000", 0.6), ("block_500", 0.5)):
        print(f"  FinalizeBlock+Commit {size} vs raw verify   {app[size]['ratio_finalize_commit_vs_verify']}  [>= {target}]")
    print(f"  CheckTx vs raw verify                       {app['block_2000']['ratio_checktx_vs_verify']}  [>= 0.9]")
    print(f"  RECHECK vs raw verify (no signature)        {app['block_2000']['ratio_recheck_vs_verify']}")
    if "ratio_block_cost_big_vs_small" in scale:
        print(f"  1000-tx block, big vs small state (pruned)  {scale['ratio_block_cost_big_vs_small']}  [<= 1.5]")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
