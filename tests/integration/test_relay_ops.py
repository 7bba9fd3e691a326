"""The relay's operator commands against a real 2-chain localnet (one validator each), as an operator runs them:
config validate, health-check, query pending (from the chains' state), clear packets (deliver and acknowledge
now, with the relays stopped), update-client."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from distpos_abci.localnet import APP_DISTPOS, find_app_bin
from distpos_abci.localnet.procs import start_relay, stop_relay

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net(localnet_factory):
    with localnet_factory("relayops", app=APP_DISTPOS, chains=2, validators=1, min_height=3) as n:
        yield n


def run(net, *args: str, chain: int = 0) -> subprocess.CompletedProcess:
    node = net.chains[chain].nodes[0]
    env = {**os.environ, "DISTPOS_KEYRING_DIR": str(net.keyring_dir), "DISTPOS_NODE": node.rpc_url,
           "DISTPOS_GRPC": node.grpc_address, "DISTPOS_CHAIN_ID": node.chain_id}
    return subprocess.run([find_app_bin(), *args], capture_output=True, text=True, timeout=180, env=env)


def ok_json(res: subprocess.CompletedProcess) -> dict:
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def test_config_validate_and_health_check(net):
    cfg = str(net.relays[0].config_file)
    assert ok_json(run(net, "relay", "config", "validate", "--config", cfg, "-o", "json"))["valid"] is True
    health = ok_json(run(net, "relay", "health-check", "--config", cfg, "-o", "json"))
    assert health["healthy"] and {c["check"] for c in health["checks"]} >= {
        "node of e2e4", "relay gRPC service", "route to a1b2", "node of a1b2", "light client of a1b2"}
    stop_relay(net.relays[0])
    try:
        bad = run(net, "relay", "health-check", "--config", cfg)
        assert bad.returncode == 1 and "FAIL relay gRPC service" in bad.stdout
        assert bad.stderr.strip().count("\n") == 0
    finally:
        start_relay(net, net.relays[0])


def test_pending_then_cleared_by_hand(net):
    cfg = str(net.relays[0].config_file)
    for relay in net.relays:
        stop_relay(relay)
    try:
        bob = next(a.address for a in net.chains[1].demo_accounts if a.name == "bob")
        sent = ok_json(run(net, "tx", "bank", "send", "alice", bob, "777", "-o", "json"))
        assert sent["code"] == 0
        pending = ok_json(run(net, "relay", "query", "pending", "--config", cfg, "-o", "json"))
        mine = [p for p in pending["pending"] if p["source"] == "e2e4"]
        assert [(p["amount"], p["state"]) for p in mine] == [("777", "unreceived")]
        seq = mine[0]["sequence"]
        before = ok_json(run(net, "query", "bank", "balance", bob, "-o", "json", chain=1))
        cleared = ok_json(run(net, "relay", "clear", "packets", "--config", cfg, "--from", "e2e4", "--to", "a1b2",
                              "-o", "json"))
        assert cleared["delivered"] == [seq] and cleared["acknowledged"] == [seq] and cleared["left"] == []
        after = ok_json(run(net, "query", "bank", "balance", bob, "-o", "json", chain=1))
        assert int(after["balance"]) == int(before["balance"]) + 777
        assert ok_json(run(net, "relay", "query", "pending", "--config", cfg, "-o", "json"))["pending"] == []
        updated = ok_json(run(net, "relay", "update-client", "--config", cfg, "--chain", "a1b2", "-o", "json"))
        assert updated["chain"] == "a1b2"
        wrong = run(net, "relay", "clear", "packets", "--config", cfg, "--from", "a1b2", "--to", "a1b2")
        assert wrong.returncode == 2 and wrong.stderr.strip().count("\n") == 0
    finally:
        for relay in net.relays:
            start_relay(net, relay)
