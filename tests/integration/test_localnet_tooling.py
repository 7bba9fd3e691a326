"""The localnet tooling against real CometBFT nodes (builtin kvstore, so the DistPOS app is not involved).

The CLI test comes first on purpose: it runs its own small network before the module-scoped kvstore_net
starts, so a 2-core machine never carries both at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from distpos_abci.localnet import (
    FixedPorts,
    LocalnetError,
    check_app_hashes,
    load_network,
    node_status,
    running_pids,
    start_node,
    stop_node,
    wait_for_blocks,
)
from distpos_abci.localnet.tomledit import set_toml_values

CLI = [sys.executable, "-m", "distpos_abci.localnet"]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


# ---- CLI ------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_cli_up_is_idempotent_status_reports_and_down_stops(tmp_path, cometbft_bin):
    run_dir = str(tmp_path / "run")
    up = run_cli("up", "--chains", "2", "--validators", "2", "--cometbft", cometbft_bin, "--dir", run_dir,
                 "--app", "builtin-kvstore", "--ports", "free", "--timeouts", "test", "--timeout", "90")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        net = load_network(run_dir)
        assert [c.chain_id for c in net.chains] == ["e2e4", "a1b2"]
        # The summary names every endpoint, the keyring and every funded demo key.
        for node in net.nodes:
            assert node.rpc_url in up.stdout
        assert net.keyring_dir in up.stdout
        assert str(net.network_file) in up.stdout
        for chain in net.chains:
            assert [a.name for a in chain.demo_accounts] == ["alice", "bob", "carol"]
            for account in chain.demo_accounts:
                assert account.address.startswith(f"{chain.chain_id}x")
                assert account.address in up.stdout
        pids = {n.label: running_pids(n)["cometbft"] for n in net.nodes}
        assert None not in pids.values()

        again = run_cli("up", "--dir", run_dir, "--timeout", "60")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running" in again.stdout
        assert {n.label: running_pids(n)["cometbft"] for n in net.nodes} == pids

        status = run_cli("status", "--dir", run_dir, "--output", "json")
        assert status.returncode == 0, status.stdout + status.stderr
        doc = json.loads(status.stdout)
        assert doc["healthy"] is True
        assert {n["label"] for n in doc["nodes"]} == set(pids)
        assert all(n["reachable"] and n["height"] >= 2 for n in doc["nodes"])
        assert [c["chain_id"] for c in doc["app_hashes"]] == ["e2e4", "a1b2"]
        assert all(c["agree"] for c in doc["app_hashes"])

        text = run_cli("status", "--dir", run_dir)
        assert text.returncode == 0, text.stdout + text.stderr
        assert "app hashes agree" in text.stdout
    finally:
        down = run_cli("down", "--dir", run_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    for node in net.nodes:
        assert running_pids(node) == {"app": None, "cometbft": None}
        assert not node.cometbft_pid_file.exists()
    after = run_cli("status", "--dir", run_dir)
    assert after.returncode == 1
    assert "unreachable" in after.stdout


# ---- the Python API on a 4-validator kvstore network -----------------------------------------------------


@pytest.mark.integration
def test_four_validators_reach_height_3(kvstore_net):
    statuses = wait_for_blocks(kvstore_net, min_height=3, timeout=60)
    assert len(statuses) == 4
    assert all(s.height >= 3 for s in statuses)


@pytest.mark.integration
def test_node_status_reports_height_and_app_hash(kvstore_net):
    statuses = node_status(kvstore_net)
    assert [s.label for s in statuses] == [f"e2e4/node{j}" for j in range(4)]
    for status in statuses:
        assert status.reachable and status.error is None
        assert status.height >= 2
        assert status.app_hash and all(c in "0123456789ABCDEF" for c in status.app_hash)


@pytest.mark.integration
def test_app_hashes_agree_at_a_common_height(kvstore_net):
    [check] = check_app_hashes(kvstore_net)
    assert check.chain_id == "e2e4"
    assert check.height >= 2
    assert len(check.hashes) == 4 and None not in check.hashes.values()
    assert check.agree


@pytest.mark.integration
def test_killed_node_restarts_and_catches_up(kvstore_net):
    net = kvstore_net
    victim, *others = net.chains[0].nodes
    old_pid = running_pids(victim)["cometbft"]
    assert old_pid is not None

    stopped = stop_node(net, victim, force=True)  # kill -9: a crash, no clean shutdown
    assert (victim.label, "cometbft", old_pid) in stopped
    assert running_pids(victim)["cometbft"] is None
    assert not victim.cometbft_pid_file.exists()
    down = {s.label: s for s in node_status(net)}
    assert not down[victim.label].reachable and down[victim.label].error

    # Three of four validators hold more than 2/3 of the power: the chain goes on without the victim.
    height = max(s.height for s in node_status(net, others))
    wait_for_blocks(net, height + 2, timeout=60, nodes=others)

    started = start_node(net, victim)
    assert [which for _, which, _ in started] == ["cometbft"]
    target = max(s.height for s in node_status(net, others))
    wait_for_blocks(net, target, timeout=90, nodes=[victim])
    assert running_pids(victim)["cometbft"] not in (None, old_pid)
    [check] = check_app_hashes(net)
    assert check.agree, check


@pytest.mark.integration
def test_wait_for_blocks_names_the_lagging_node(kvstore_net):
    with pytest.raises(LocalnetError, match=r"e2e4/node\d at \d+"):
        wait_for_blocks(kvstore_net, min_height=10**9, timeout=1)


# ---- pure helpers (no processes) --------------------------------------------------------------------------


def test_toml_edit_only_touches_the_named_section():
    text = '# top\nproxy_app = "a"\n\n[rpc]\n# rpc address\nladdr = "tcp://0.0.0.0:1"\n\n[p2p]\nladdr = "tcp://0.0.0.0:2"\n'
    edited = set_toml_values(text, {"": {"proxy_app": "kvstore"}, "p2p": {"laddr": "tcp://127.0.0.1:9"}})
    assert tomllib.loads(edited) == {"proxy_app": "kvstore", "rpc": {"laddr": "tcp://0.0.0.0:1"},
                                     "p2p": {"laddr": "tcp://127.0.0.1:9"}}
    assert "# rpc address" in edited
    with pytest.raises(LocalnetError, match=r"\[p2p\] missing"):
        set_toml_values(text, {"p2p": {"missing": 1}})


def test_fixed_ports_never_overlap():
    ports = FixedPorts()
    seen: set[int] = set()
    for i in range(5):
        for j in range(10):
            p = ports.ports_for(i, j)
            values = {p.p2p, p.rpc, p.abci, p.grpc, p.prometheus}
            assert len(values) == 5 and not values & seen
            seen |= values
    assert ports.ports_for(0, 0).rpc == 26657 and ports.ports_for(1, 2).p2p == 26656 + 100 + 20
    with pytest.raises(LocalnetError):
        ports.ports_for(0, 10)
