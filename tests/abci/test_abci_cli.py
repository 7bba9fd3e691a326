"""CometBFT's own ABCI client (abci-cli v0.38.25) against ABCIServer."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ABCI_CLI = Path(__file__).resolve().parents[2] / "bin" / "abci-cli"


def abci_cli(address: str, *args: str, stdin: str | None = None) -> str:
    """Run abci-cli against address and return its stdout (it logs to stdout too)."""
    if not ABCI_CLI.is_file():
        pytest.fail(f"{ABCI_CLI} is missing: run `make cometbft` to build CometBFT v0.38.25 and abci-cli")
    # Flags in --flag=value form before the command: `batch` re-parses os.Args and
    # expects the command last. abci-cli retries a refused connection forever, hence the timeout.
    proc = subprocess.run(
        [str(ABCI_CLI), f"--address={address}", "--log_level=error", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, f"abci-cli {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_echo(threaded_server):
    out = abci_cli(threaded_server.server.bound_address, "echo", "hello")
    assert "-> code: OK" in out
    assert "-> data: hello" in out
    assert "-> data.hex: 0x68656C6C6F" in out


def test_info(threaded_server):
    out = abci_cli(threaded_server.server.bound_address, "info")
    assert "-> code: OK" in out
    assert "-> data: counter" in out


def test_check_tx_accepted(threaded_server, counter_app):
    out = abci_cli(threaded_server.server.bound_address, "check_tx", "0x00")
    assert out.splitlines()[0] == "-> code: OK"
    assert counter_app.checked == 1


def test_check_tx_rejected(threaded_server, counter_app):
    out = abci_cli(threaded_server.server.bound_address, "check_tx", "0x626164")  # b"bad"
    assert "-> code: 1" in out
    assert "-> log: bad tx" in out
    assert counter_app.checked == 0
    # a quoted argument is sent as the raw string
    out = abci_cli(threaded_server.server.bound_address, "check_tx", '"bad"')
    assert "-> code: 1" in out


def test_consensus_requests(threaded_server):
    address = threaded_server.server.bound_address
    out = abci_cli(address, "finalize_block", "0x01", "0x02")
    # one line per tx result, then one for the (empty) app hash
    assert out.count("-> code: OK") == 3
    out = abci_cli(address, "prepare_proposal", "0x61", "0x62")
    assert out.count("-> log: Succeeded. Tx: ") == 2
    out = abci_cli(address, "process_proposal", "0x61")
    assert "-> status: ACCEPT" in out
    assert "-> code: OK" in abci_cli(address, "commit")
    out = abci_cli(address, "query", "0x6b")
    assert "-> code: OK" in out and "-> height: 0" in out


def test_batch_on_one_connection(threaded_server, counter_app, caplog):
    caplog.set_level(logging.INFO, logger="distpos_abci.abci.server")
    script = "echo hi\ncheck_tx 0x00\ncheck_tx 0x626164\ncheck_tx 0x01\ninfo\n"
    out = abci_cli(threaded_server.server.bound_address, "batch", stdin=script)
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == ["-> code: OK", "-> data: hi"]
    assert blocks[1].splitlines()[0] == "-> code: OK"
    assert blocks[2].splitlines() == ["-> code: 1", "-> log: bad tx"]
    assert blocks[3].splitlines()[0] == "-> code: OK"
    assert "-> data: counter" in blocks[4]
    assert counter_app.checked == 2
    assert threaded_server.server.counters["check_tx"] == 3
    opened = [r for r in caplog.records if "connection opened" in r.getMessage()]
    assert len(opened) == 1  # the whole batch used one connection


def test_unix_socket(tmp_path, counter_app, start_threaded_server):
    address = start_threaded_server(counter_app, f"unix://{tmp_path}/app.sock").server.bound_address
    assert "-> data: over-unix" in abci_cli(address, "echo", "over-unix")
    assert "-> code: 1" in abci_cli(address, "check_tx", "0x626164")
