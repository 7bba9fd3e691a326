"""One target under atheris (libFuzzer): `python -m fuzz.atheris_main TARGET [libFuzzer flags] [corpus dirs]`.

distpos_abci and the harness are imported under atheris' bytecode instrumentation, so coverage of the Python
code guides the mutations. For protobuf targets half the mutations are protobuf-aware (fuzz/structured.py). A finding does not stop the run: the first input of each distinct finding
(signature = kind + exception type + innermost distpos_abci frame) is written to FUZZ_FINDINGS_DIR (default
fuzz/findings/TARGET/) with a line in its findings.jsonl, so one bug does not hide the next and the run's
figures cover all FUZZ_RUNS inputs. With FUZZ_STOP_ON_FINDING=1 the first finding aborts the run instead,
libFuzzer style. Hangs (-timeout) and crashes of the interpreter still end the run; libFuzzer saves those
inputs under -artifact_prefix.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import sys

import atheris

with atheris.instrument_imports(include=["distpos_abci", "fuzz"]):
    from fuzz import structured
    from fuzz.targets import TARGETS, probe


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz.atheris_main {{{','.join(TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    target = TARGETS[sys.argv[1]]
    out = pathlib.Path(os.environ.get("FUZZ_FINDINGS_DIR") or f"fuzz/findings/{target.name}")
    stop = os.environ.get("FUZZ_STOP_ON_FINDING") == "1"
    seen: set[str] = set()

    def test_one_input(data: bytes) -> None:
        finding = probe(target, data)
        if finding is None:
            return
        if stop:
            raise AssertionError(f"{finding.signature}\n{finding.detail}")
        if finding.signature in seen:
            return
        seen.add(finding.signature)
        out.mkdir(parents=True, exist_ok=True)
        name = f"{finding.kind}-{finding.input_id}"
        (out / name).write_bytes(finding.data)
        with (out / "findings.jsonl").open("a") as fh:
            fh.write(json.dumps({"target": target.name, "kind": finding.kind, "signature": finding.signature,
                                 "input": name, "detail": finding.detail[-2000:]}) + "\n")
        print(f"FINDING {finding.signature} -> {out / name}", file=sys.stderr, flush=True)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # Half protobuf-aware (fuzz/structured.py), half libFuzzer's byte-level mutations and dictionary.
        rng = random.Random(seed)
        if rng.randrange(2):
            mutated = structured.mutate(target.name, data, rng)
            if mutated is not None and len(mutated) <= max_size:
                return mutated
        return atheris.Mutate(data, max_size)

    kwargs = {"custom_mutator": custom_mutator} if target.name in structured.LAYOUTS else {}
    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input, **kwargs)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
