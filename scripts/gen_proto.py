"""Generate Python code from proto/ into distpos_abci/gen/ (run by `make proto`).

protoc writes absolute imports such as `from tendermint.abci import types_pb2`;
they are rewritten to live under the `distpos_abci.gen` package so the generated
code needs no sys.path changes.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sys
import tempfile

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
PACKAGE = "distpos_abci.gen"
IMPORT_RE = re.compile(r"^(from|import) (distpos|tendermint)\.", re.MULTILINE)


def generate(out: pathlib.Path) -> None:
    """Compile every .proto under proto/ into `out`, with package-relative imports."""
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for py in out.rglob("*.py"):
        text = IMPORT_RE.sub(lambda m: f"{m.group(1)} {PACKAGE}.{m.group(2)}.", py.read_text())
        py.write_text(text)
    for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    # grpc stubs are only wanted for services; drop empty ones so the tree stays small.
    for grpc_file in out.rglob("*_pb2_grpc.py"):
        if "Stub" not in grpc_file.read_text():
            grpc_file.unlink()


def main() -> None:
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "distpos_abci" / "gen"
    with tempfile.TemporaryDirectory() as tmp:
        generate(pathlib.Path(tmp))
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(tmp, target)


if __name__ == "__main__":
    main()
