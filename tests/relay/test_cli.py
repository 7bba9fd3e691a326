"""`distpos relay start` and the interchain commands: one-line errors with the documented exit codes."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_relay_start_with_bad_config_is_one_line(tmp_path):
    cfg = tmp_path / "relay.toml"
    cfg.write_text('chain_id = "e2e4"\n')
    res = run("relay", "start", "--config", str(cfg))
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "missing required keys" in res.stderr


def test_query_correspondent_unreachable_exit_4():
    res = run("query", "interchain", "correspondent", "a1b2", "--grpc", "127.0.0.1:1")
    assert res.returncode == 4, res.stderr


def test_interchain_commands_are_registered():
    tx = run("tx", "interchain", "--help").stdout
    query = run("query", "interchain", "--help").stdout
    for name in ("transfer", "open-correspondent", "topup", "set-route"):
        assert name in tx
    for name in ("correspondent", "route", "routes", "packets"):
        assert name in query
