"""The `distpos` command: real subprocesses, JSON output, one-line errors with exit codes."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


def run(*args: str, keyring: pathlib.Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DISTPOS, *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "DISTPOS_KEYRING_DIR": str(keyring), **env},
    )


def test_keys_add_show_list_json(tmp_path):
    kr = tmp_path / "kr"
    added = json.loads(run("keys", "add", "alice", "--chain-id", "e2e4", "-o", "json", keyring=kr).stdout)
    assert added["name"] == "alice" and added["address"].startswith("e2e4x")
    assert len(added["mnemonic"].split()) == 24
    shown = json.loads(run("keys", "show", "alice", "--chain-id", "e2e4", "-o", "json", keyring=kr).stdout)
    assert shown == {"name": "alice", "pub_key": added["pub_key"], "address": added["address"], "encrypted": False}
    listed = json.loads(run("keys", "list", "-o", "json", keyring=kr).stdout)
    assert [k["name"] for k in listed["keys"]] == ["alice"]


def test_invalid_duplicate_key_is_one_line_and_nonzero(tmp_path):
    kr = tmp_path / "kr"
    run("keys", "add", "alice", keyring=kr)
    res = run("keys", "add", "alice", keyring=kr)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "already exists" in res.stderr


def test_invalid_amount_exit_2(tmp_path):
    kr = tmp_path / "kr"
    run("keys", "add", "alice", keyring=kr)
    res = run("tx", "bank", "send", "alice", "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "1.5", "--chain-id", "e2e4",
              keyring=kr)
    assert res.returncode == 2
    assert res.stderr.startswith("Error: amount '1.5'")


def test_invalid_recipient_exit_2(tmp_path):
    kr = tmp_path / "kr"
    run("keys", "add", "alice", keyring=kr)
    res = run("tx", "bank", "send", "alice", "e2e4xnothex", "5", "--chain-id", "e2e4", keyring=kr)
    assert res.returncode == 2 and "account part" in res.stderr


def test_unreachable_node_exit_4(tmp_path):
    kr = tmp_path / "kr"
    run("keys", "add", "alice", keyring=kr)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run("tx", "bank", "send", "alice", "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "5", "--chain-id", "e2e4",
              "--node", f"http://127.0.0.1:{port}", keyring=kr)
    assert res.returncode == 4
    assert "unreachable" in res.stderr and res.stderr.strip().count("\n") == 0
    res = run("query", "account", "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "--grpc", f"127.0.0.1:{port}",
              keyring=kr)
    assert res.returncode == 4 and "unreachable" in res.stderr


def test_node_start_rejects_bad_config(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text("[abci]\nladdr = 'http://x'\n")
    res = run("node", "start", "--home", str(tmp_path), keyring=tmp_path)
    assert res.returncode == 1 and "abci.laddr must start with" in res.stderr
