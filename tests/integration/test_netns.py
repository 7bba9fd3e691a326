"""Issue 11 part 3: chains across hosts. Every node and relay runs in its own Linux network namespace with its own
address (`generate_network(..., netns=True)`, `up --netns`), so CometBFT peers, relays and clients talk over veth
pairs and a bridge instead of one loopback. Links are cut and healed with the localnet's link control:

- two chains with their relays, cut from each other while transfers keep being submitted, then healed: every
  transfer is credited exactly once, the one that timed out during the cut is refunded, supply is conserved;
- one validator of four isolated: the other three keep committing, and once healed the isolated one catches up to
  the same app hash at the same height;
- `down` and the fixtures' teardown (also after a failure) leave no namespace or link behind.

These tests need root (CI runs as root) and fail, never skip, without it (the `netns_root` fixture).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import grpc
import pytest

from distpos_abci.gen.distpos.v1 import query_pb2, query_pb2_grpc, staking_pb2, staking_pb2_grpc
from distpos_abci.lightclient.rpc_json import parse_rfc3339_ns
from distpos_abci.localnet import (
    APP_BUILTIN_KVSTORE,
    APP_DISTPOS,
    TEST_TIMEOUTS,
    FreePorts,
    check_app_hashes,
    generate_network,
    get_app_hash_at,
    leftovers,
    load_network,
    node_status,
    partitioned,
    rpc_get,
    running_network,
    wait_for_blocks,
)
from tests.integration.test_interchain import (
    balance,
    correspondent,
    demo,
    pending,
    send,
    supply,
    wait_until,
    wait_until_settled,
)
from tests.integration.test_localnet_tooling import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def ip_netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def can_connect(namespace: str, host: str, port: int) -> bool:
    """Whether a TCP connection from inside namespace to host:port succeeds within 2 s."""
    code = ("import socket,sys;s=socket.socket();s.settimeout(2);"
            f"sys.exit(0 if s.connect_ex(({host!r},{port}))==0 else 1)")
    return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", code],
                          capture_output=True, timeout=30).returncode == 0


def latest_block_time_ns(node) -> int:
    return parse_rfc3339_ns(rpc_get(node.rpc_url, "status")["sync_info"]["latest_block_time"])


def balance_at(node, address: str) -> int:
    with grpc.insecure_channel(node.grpc_address) as ch:
        return query_pb2_grpc.QueryStub(ch).Account(query_pb2.QueryAccountRequest(address=address), timeout=10).balance


def slashed_by_moniker(net) -> dict[str, int]:
    """Each validator's total ever slashed (slashing is the one thing that burns, and supply shrinks by it)."""
    with grpc.insecure_channel(net.chains[0].nodes[0].grpc_address) as ch:
        views = staking_pb2_grpc.StakingStub(ch).Validators(staking_pb2.QueryValidatorsRequest(), timeout=10).validators
    return {v.validator.moniker: v.validator.slashed for v in views}


# ---- up / down leave nothing behind (builtin kvstore: cheap) ------------------------------------------------


def test_up_netns_gives_every_node_its_own_address_and_down_removes_everything(tmp_path, cometbft_bin, netns_root):
    run_dir = str(tmp_path / "run")
    up = run_cli("up", "--netns", "--chains", "2", "--validators", "2", "--cometbft", cometbft_bin, "--dir", run_dir,
                 "--app", "builtin-kvstore", "--ports", "free", "--timeouts", "test", "--timeout", "90",
                 "--dashboard-port", "0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        net = load_network(run_dir)
        plan = net.netns
        assert plan is not None and f"network namespaces {plan.prefix}-*" in up.stdout
        namespaces, links = leftovers(plan.prefix)
        assert sorted(namespaces) == sorted(m.namespace for m in plan.members) and len(namespaces) == 4
        assert sorted(links) == sorted([plan.bridge, *(m.veth for m in plan.members)])
        hosts = [n.host for n in net.nodes]
        assert len(set(hosts)) == 4 and all(ipaddress.ip_address(h) in plan.network for h in hosts)
        assert all(n.rpc_url.startswith(f"http://{n.host}:") for n in net.nodes)
        # CometBFT peers meet over the veth addresses, each peer from its own address
        for chain in net.chains:
            for node in chain.nodes:
                peers = rpc_get(node.rpc_url, "net_info")["peers"]
                assert sorted(p["remote_ip"] for p in peers) == sorted(n.host for n in chain.nodes if n != node)
        status = run_cli("status", "--dir", run_dir)
        assert status.returncode == 0 and "app hashes agree" in status.stdout, status.stdout + status.stderr
        # `up` again leaves the running network and its namespaces alone
        again = run_cli("up", "--dir", run_dir, "--timeout", "60", "--dashboard-port", "0")
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr
        assert [sorted(names) for names in leftovers(plan.prefix)] == [sorted(namespaces), sorted(links)]

        # the CLI's link control: cut the chains apart, look from inside, heal
        e0, a0 = net.chains[0].nodes[0], net.chains[1].nodes[0]
        e_ns = plan.member(e0.label).namespace
        assert can_connect(e_ns, a0.host, a0.p2p_port)
        res = run_cli("cut", "e2e4", "a1b2", "--dir", run_dir)
        assert res.returncode == 0 and "8 blackhole routes" in res.stdout, res.stdout + res.stderr
        assert not can_connect(e_ns, a0.host, a0.p2p_port)
        assert can_connect(e_ns, net.chains[0].nodes[1].host, net.chains[0].nodes[1].p2p_port)
        routes = subprocess.run(["ip", "-n", e_ns, "route", "show", "type", "blackhole"], capture_output=True,
                                text=True, check=True).stdout
        assert sorted(line.split()[1] for line in routes.splitlines()) == sorted(n.host for n in net.chains[1].nodes)
        res = run_cli("heal", "e2e4", "a1b2", "--dir", run_dir)
        assert res.returncode == 0, res.stdout + res.stderr
        assert can_connect(e_ns, a0.host, a0.p2p_port)
        # one node cut from all the others, healed with --all
        assert run_cli("cut", "e2e4/node1", "--dir", run_dir).returncode == 0
        assert not can_connect(e_ns, net.chains[0].nodes[1].host, net.chains[0].nodes[1].p2p_port)
        assert run_cli("heal", "--all", "--dir", run_dir).returncode == 0
        assert can_connect(e_ns, net.chains[0].nodes[1].host, net.chains[0].nodes[1].p2p_port)
        bad = run_cli("cut", "e2e4", "c3d4", "--dir", run_dir)
        assert bad.returncode == 1 and bad.stderr.startswith("Error: localnet:234: 'c3d4' names no chain")
        assert "Traceback" not in bad.stderr
    finally:
        down = run_cli("down", "--dir", run_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "removed the network namespaces" in down.stdout
    assert leftovers(plan.prefix) == ([], [])
    assert plan.prefix not in ip_netns_list()
    again = run_cli("down", "--dir", run_dir)  # idempotent
    assert again.returncode == 0 and "nothing was running" in again.stdout, again.stdout + again.stderr
    assert plan.prefix not in ip_netns_list()


def test_namespaces_are_removed_when_the_test_body_fails(tmp_path, cometbft_bin, netns_root):
    net = generate_network(tmp_path / "run", chain_ids=["e2e4"], validators_per_chain=1, port_allocator=FreePorts(),
                           cometbft_bin=cometbft_bin, timeouts=TEST_TIMEOUTS, app=APP_BUILTIN_KVSTORE, netns=True)
    with pytest.raises(RuntimeError, match="the test failed here"):
        with running_network(net, min_height=2, timeout=60):
            assert leftovers(net.netns.prefix)[0] == [net.netns.members[0].namespace]
            raise RuntimeError("the test failed here")
    assert leftovers(net.netns.prefix) == ([], [])
    assert net.netns.prefix not in ip_netns_list()


# ---- two chains cut from each other ---------------------------------------------------------------------------


def test_cut_between_two_chains_loses_nothing_and_refunds_timeouts(localnet_factory, netns_root):
    with localnet_factory("netns2", app=APP_DISTPOS, chains=2, validators=1, min_height=3, netns=True) as net:
        plan = net.netns
        relay_e, relay_a = net.relays
        e_alice, e_carol = demo(net, 0, "alice"), demo(net, 0, "carol")
        a_alice, a_bob, a_carol = demo(net, 1, "alice"), demo(net, 1, "bob"), demo(net, 1, "carol")
        # the relays reach the other chain over the bridge: a first transfer, before any cut
        bob0 = balance(net, 1, a_bob)
        send(net, 0, "alice", a_bob, 100)
        wait_until(lambda: balance(net, 1, a_bob) == bob0 + 100, what="delivery across namespaces")
        wait_until(lambda: not pending(net, 0, "a1b2").pending, what="its ack")

        supplies = (supply(net, 0), supply(net, 1))
        ealice0, ecarol0 = balance(net, 0, e_alice), balance(net, 0, e_carol)
        aalice0, abob0, acarol0 = balance(net, 1, a_alice), balance(net, 1, a_bob), balance(net, 1, a_carol)
        reserve_at_a, reserve_at_e = correspondent(net, 1, "e2e4").reserve, correspondent(net, 0, "a1b2").reserve

        with partitioned(plan, ["e2e4"], ["a1b2"]):
            e_ns = plan.member(relay_e.label).namespace
            assert not can_connect(e_ns, relay_a.host, relay_a.grpc_port)  # e2e4's relay cannot reach a1b2's
            assert not can_connect(e_ns, net.chains[1].nodes[0].host, net.chains[1].nodes[0].rpc_port)
            assert can_connect(e_ns, net.chains[0].nodes[0].host, net.chains[0].nodes[0].rpc_port)  # its own chain
            # transfers keep being submitted both ways, on both sides of the cut
            alice_fees = send(net, 0, "alice", a_bob, 11)["fee"] + send(net, 0, "alice", a_bob, 22)["fee"]
            acarol_fee = send(net, 1, "carol", e_carol, 40)["fee"]
            out = send(net, 0, "carol", a_alice, 777, "interchain", "transfer", "--timeout-seconds", "3")
            ecarol_fee = out["fee"]  # transaction fees stay paid; amounts are what moves between the chains
            assert out["code"] == 0 and balance(net, 0, e_carol) == ecarol0 - 777 - ecarol_fee
            doomed = max(pending(net, 0, "a1b2").pending, key=lambda p: p.sequence)
            assert doomed.amount == 777 and doomed.timeout_time_ns > 0
            # a1b2 goes past the packet's timeout while nothing can cross
            wait_until(lambda: latest_block_time_ns(net.chains[1].nodes[0]) > doomed.timeout_time_ns,
                       timeout=60, what="a1b2's time past the timeout")
            assert (balance(net, 1, a_bob), balance(net, 1, a_alice), balance(net, 0, e_carol)) == \
                (abob0, aalice0, ecarol0 - 777 - ecarol_fee)
            assert len(pending(net, 0, "a1b2").pending) == 3 and len(pending(net, 1, "e2e4").pending) == 1

        assert can_connect(e_ns, relay_a.host, relay_a.grpc_port)
        wait_until(lambda: balance(net, 1, a_bob) == abob0 + 33, timeout=120, what="e2e4 -> a1b2 after the heal")
        wait_until(lambda: balance(net, 0, e_carol) == ecarol0 + 40 - ecarol_fee, timeout=120,
                   what="credit and timeout refund")
        wait_until(lambda: not pending(net, 0, "a1b2").pending and not pending(net, 1, "e2e4").pending,
                   timeout=120, what="every packet settled")
        wait_until_settled(net, 1)
        wait_until_settled(net, 0)
        # exactly once each; the timed-out transfer was refunded, never credited
        assert balance(net, 1, a_bob) == abob0 + 33
        assert balance(net, 1, a_alice) == aalice0
        assert balance(net, 1, a_carol) == acarol0 - 40 - acarol_fee
        assert balance(net, 0, e_alice) == ealice0 - 33 - alice_fees
        assert balance(net, 0, e_carol) == ecarol0 + 40 - ecarol_fee
        assert (supply(net, 0), supply(net, 1)) == supplies
        assert correspondent(net, 1, "e2e4").reserve == reserve_at_a - 33 + 40
        assert correspondent(net, 0, "a1b2").reserve == reserve_at_e + 33 - 40
        assert pending(net, 0, "a1b2").escrow == 0 and pending(net, 1, "e2e4").escrow == 0
        for relay in net.relays:
            assert "Traceback" not in relay.log_file.read_text(), relay.log_file


# ---- one validator of four isolated ----------------------------------------------------------------------------


def test_isolated_validator_catches_up_to_the_same_app_hash(localnet_factory, netns_root):
    with localnet_factory("netns4", app=APP_DISTPOS, chains=1, validators=4, min_height=2, netns=True) as net:
        plan = net.netns
        *others, victim = net.chains[0].nodes  # node3 is isolated; node0 takes the transactions
        e_bob = demo(net, 0, "bob")
        supply0, bob0, slashed0 = supply(net, 0), balance(net, 0, e_bob), slashed_by_moniker(net)
        victim_ns = plan.member(victim.label).namespace
        with partitioned(plan, [victim.label], [n.label for n in others]):
            assert not can_connect(victim_ns, others[0].host, others[0].p2p_port)
            assert can_connect(plan.member(others[0].label).namespace, others[1].host, others[1].p2p_port)
            stuck = node_status(net, [victim])[0].height
            top = max(s.height for s in node_status(net, others))
            for amount in (1, 2, 3):
                send(net, 0, "alice", e_bob, amount)
            # 3 of 4 equal validators hold more than 2/3 of the power: the chain goes on without node3
            wait_for_blocks(net, top + 5, timeout=60, nodes=others)
            assert node_status(net, [victim])[0].height <= stuck + 1  # node3 alone cannot commit
            assert balance_at(victim, e_bob) == bob0
        target = max(s.height for s in node_status(net, others))
        wait_for_blocks(net, target, timeout=90, nodes=[victim])
        assert get_app_hash_at(victim, target) == get_app_hash_at(others[0], target)
        [check] = check_app_hashes(net)
        assert check.agree and check.height >= target, check
        assert balance_at(victim, e_bob) == balance(net, 0, e_bob) == bob0 + 6
        # Cut off for more than half the downtime window, node3 may be slashed for downtime (1 %): that burn, and
        # nothing else, is what the supply lost; no other validator was slashed.
        slashed = slashed_by_moniker(net)
        burnt = {m: slashed[m] - slashed0[m] for m in slashed if slashed[m] != slashed0[m]}
        assert set(burnt) <= {f"e2e4-{victim.name}"}, burnt
        assert supply(net, 0) == supply0 - sum(burnt.values())
        print(f"\nFIGURE node3 cut off at height {stuck}, caught up at {target} with the same app hash; "
              f"slashed {sum(burnt.values())} for downtime")
