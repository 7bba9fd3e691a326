"""Replay one input against a target: `python -m fuzz.repro TARGET (FILE | HEX)`.

Prints the finding (kind, signature, traceback or property broken) and exits 1, or prints "no finding" and
exits 0. Uninstrumented and without atheris, so it also runs where atheris is not installed.
"""

from __future__ import annotations

import pathlib
import sys

from fuzz.targets import TARGETS, probe


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TARGETS:
        print(f"usage: python -m fuzz.repro {{{','.join(TARGETS)}}} (FILE | HEX)", file=sys.stderr)
        return 2
    target, arg = TARGETS[argv[0]], argv[1]
    path = pathlib.Path(arg)
    data = path.read_bytes() if path.is_file() else bytes.fromhex(arg)
    finding = probe(target, data)
    if finding is None:
        print(f"no finding: {target.name} holds its property on these {len(data)} bytes")
        return 0
    print(f"{finding.signature}\n{finding.detail}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
