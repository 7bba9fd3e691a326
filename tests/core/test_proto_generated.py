"""Generated protobuf code must match proto/ (run `make proto` after editing a .proto)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tree(path: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.py"))}


def test_generated_code_is_up_to_date(tmp_path):
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(out)], check=True)
    fresh, committed = _tree(out), _tree(ROOT / "distpos_abci" / "gen")
    assert sorted(fresh) == sorted(committed), "file list differs: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated files (run `make proto`): {stale}"
