"""`make fuzz`: every target under atheris for FUZZ_RUNS inputs, one after the other, then a row per target
appended to bench/RESULTS.md (date, commit, machine, inputs, seconds, findings).

    python -m fuzz.run [--runs N] [--targets tx,packet] [--seed S] [--no-record]

Each target runs in its own process (libFuzzer ends the process when it is done). Its seed corpus is written
fresh from valid objects (fuzz/fixtures.py) into fuzz/corpus/TARGET; inputs that found new coverage go to
fuzz/work/TARGET and are reused by the next run; findings of this run go to fuzz/findings/TARGET (cleared
first). Seconds are wall-clock for the whole process, interpreter start and instrumentation included.
Exit status 1 when any target has a finding.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
RESULTS = ROOT / "bench" / "RESULTS.md"
ALL_TARGETS = ("tx", "txbody", "msgs", "packet", "ack", "guarantee", "merkle", "lightclient", "framing")
HANG_SECONDS = 10  # libFuzzer -timeout: one input running longer is a hang finding
MAX_LEN = 8192  # the chain's default max_tx_bytes; larger inputs only test the size check


def write_seeds(target: str) -> pathlib.Path:
    """(Re)write the seed corpus of target from valid objects; return its directory."""
    from fuzz.fixtures import seeds

    corpus = FUZZ / "corpus" / target
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    for data in seeds(target):
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return corpus


def run_target(target: str, runs: int, seed: int) -> dict:
    """Fuzz one target in a child process; its figures and findings."""
    corpus = write_seeds(target)
    work = FUZZ / "work" / target
    work.mkdir(parents=True, exist_ok=True)
    findings_dir = FUZZ / "findings" / target
    shutil.rmtree(findings_dir, ignore_errors=True)
    findings_dir.mkdir(parents=True)
    from fuzz.dictionary import write_libfuzzer_dict

    dictionary = FUZZ / "work" / "protobuf.dict"
    write_libfuzzer_dict(dictionary)
    cmd = [sys.executable, "-m", "fuzz.atheris_main", target, f"-runs={runs}", f"-seed={seed}", f"-dict={dictionary}",
           f"-timeout={HANG_SECONDS}", "-rss_limit_mb=2048", f"-max_len={MAX_LEN}",
           f"-artifact_prefix={findings_dir}/", "-print_final_stats=1", str(work), str(corpus)]
    env = {**os.environ, "FUZZ_FINDINGS_DIR": str(findings_dir), "PYTHONPATH": str(ROOT)}
    log = findings_dir / "libfuzzer.log"
    start = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace")
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    inputs = int(executed.group(1)) if executed else 0
    signatures = []
    jsonl = findings_dir / "findings.jsonl"
    if jsonl.exists():
        signatures = [json.loads(line)["signature"] for line in jsonl.read_text().splitlines() if line.strip()]
    artifacts = sorted(p.name for p in findings_dir.iterdir() if p.name.split("-")[0] in ("crash", "timeout", "oom", "leak"))
    signatures += [f"libfuzzer:{name.split('-')[0]}" for name in artifacts]
    if proc.returncode != 0 and not artifacts:
        signatures.append(f"process exited with status {proc.returncode} (see {log.relative_to(ROOT)})")
    return {"target": target, "inputs": inputs, "seconds": round(seconds, 1),
            "inputs_per_s": round(inputs / seconds) if seconds else 0, "findings": signatures}


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
        # The results file this run appends to does not make the measured code dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!bench/RESULTS.md"], capture_output=True, text=True, cwd=ROOT).stdout
        return sha.strip() + ("-dirty" if dirty.strip() else "")
    except OSError:
        return "unknown"


def start_record(runs: int) -> tuple[str, str, str]:
    """Append this run's heading and table header to bench/RESULTS.md; the (date, commit, machine) of its rows."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    context = (stamp, _commit(), _machine())
    with RESULTS.open("a") as fh:
        fh.write(f"\n## {stamp} — commit {context[1]}: make fuzz (FUZZ_RUNS={runs})\n\n"
                 "Seconds are wall-clock per target process (interpreter start and instrumentation included).\n\n"
                 "| date | commit | machine | target | inputs | seconds | inputs/s | findings |\n"
                 "|---|---|---|---|---:|---:|---:|---|\n")
    return context


def record(context: tuple[str, str, str], r: dict) -> None:
    """Append one target's row to bench/RESULTS.md."""
    stamp, commit, machine = context
    found = f"{len(r['findings'])}: " + "; ".join(f"`{s}`" for s in r["findings"]) if r["findings"] else "0"
    with RESULTS.open("a") as fh:
        fh.write(f"| {stamp} | {commit} | {machine} | {r['target']} | {r['inputs']} | {r['seconds']} "
                 f"| {r['inputs_per_s']} | {found} |\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("FUZZ_RUNS") or 1_000_000))
    parser.add_argument("--targets", default=os.environ.get("FUZZ_TARGETS") or ",".join(ALL_TARGETS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    unknown = sorted(set(targets) - set(ALL_TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(ALL_TARGETS)}")
    rows = []
    context = None if args.no_record else start_record(args.runs)
    for target in targets:
        print(f"== {target}: {args.runs} inputs", flush=True)
        row = run_target(target, args.runs, args.seed)
        rows.append(row)
        print(f"   {row['inputs']} inputs in {row['seconds']} s = {row['inputs_per_s']} inputs/s, "
              f"{len(row['findings'])} findings", flush=True)
        for signature in row["findings"]:
            print(f"   finding {signature} (inputs in fuzz/findings/{target}/)", flush=True)
        if context is not None:
            record(context, row)  # row by row, so an interrupted run keeps what it measured
    return 1 if any(r["findings"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
