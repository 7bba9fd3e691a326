"""The --netns plan (names, addresses, subnets, cuts) as pure functions, and the clear refusal without root."""

from __future__ import annotations

import ipaddress
import json
import pathlib
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.errors import (
    LinkControlError,
    NetnsPermissionError,
    NetnsPlanError,
    NetnsToolMissingError,
)
from distpos_abci.localnet import Chain, Network, Node, load_network
from distpos_abci.localnet import netns as netns_module
from distpos_abci.localnet.cli import main
from distpos_abci.localnet.generate import compute_app_toml
from distpos_abci.localnet.interchain import compute_relay_toml
from distpos_abci.localnet.plan import Relay
from distpos_abci.localnet.netns import (
    ROOT_MESSAGE,
    compute_forward_rule,
    cut_links,
    is_bridge_filtered,
    isolate,
    require_netns_support,
)
from distpos_abci.localnet.netplan import (
    IFNAMSIZ,
    MAX_MEMBERS,
    SUBNET_POOL,
    NetnsPlan,
    choose_subnet,
    compute_cut_routes,
    compute_exec_prefix,
    compute_member_labels,
    compute_netns_plan,
    compute_netns_prefix,
    compute_subnet_candidates,
)

RUN_DIR = "/srv/localnet/run"


def two_chain_plan(validators: int = 2) -> NetnsPlan:
    prefix = compute_netns_prefix(RUN_DIR)
    return compute_netns_plan(prefix, "10.200.7.0/24", compute_member_labels(["e2e4", "a1b2"], validators, True))


# ---- names and addresses ---------------------------------------------------------------------------------


def test_prefix_is_dp_and_six_hex_digits_of_the_run_dir():
    prefix = compute_netns_prefix(RUN_DIR)
    assert prefix == compute_netns_prefix(RUN_DIR)  # the same localnet finds its namespaces again
    assert len(prefix) == 8 and prefix.startswith("dp") and int(prefix[2:], 16) >= 0
    assert compute_netns_prefix("/srv/localnet/other") != prefix  # another localnet, other names


def test_members_are_every_node_chain_by_chain_then_every_relay():
    assert compute_member_labels(["e2e4", "a1b2"], 2, True) == [
        ("e2e4", "node0"), ("e2e4", "node1"), ("a1b2", "node0"), ("a1b2", "node1"), ("e2e4", "relay"),
        ("a1b2", "relay")]
    assert compute_member_labels(["e2e4"], 1, False) == [("e2e4", "node0")]


def test_plan_names_addresses_and_bridge():
    plan = two_chain_plan()
    p = plan.prefix
    assert plan.bridge == f"{p}br" and plan.gateway == "10.200.7.1"
    assert [m.label for m in plan.members] == ["e2e4/node0", "e2e4/node1", "a1b2/node0", "a1b2/node1",
                                               "e2e4/relay", "a1b2/relay"]
    assert [m.address for m in plan.members] == [f"10.200.7.{k}" for k in range(2, 8)]
    assert [m.veth for m in plan.members] == [f"{p}v{k}" for k in range(6)]
    assert plan.member("a1b2/relay").namespace == f"{p}-a1b2-relay"
    # every name the tooling creates carries the prefix, and interface names fit Linux's limit
    for m in plan.members:
        assert m.namespace.startswith(p + "-") and m.veth.startswith(p) and len(m.veth) <= IFNAMSIZ
    assert len(plan.bridge) <= IFNAMSIZ


def test_plan_fills_a_subnet_and_no_more():
    labels = [("c", f"node{j}") for j in range(MAX_MEMBERS)]
    plan = compute_netns_plan("dp000000", "10.130.0.0/24", labels)
    assert plan.members[-1].address == "10.130.0.254" and max(len(m.veth) for m in plan.members) <= IFNAMSIZ
    with pytest.raises(NetnsPlanError, match="do not fit") as info:
        compute_netns_plan("dp000000", "10.130.0.0/24", labels + [("c", "one-more")])
    assert info.value.code == 233
    with pytest.raises(NetnsPlanError, match="/24"):
        compute_netns_plan("dp000000", "10.130.0.0/16", labels[:2])
    with pytest.raises(NetnsPlanError, match="once"):
        compute_netns_plan("dp000000", "10.130.0.0/24", [("c", "node0"), ("c", "node0")])


def test_plan_round_trips_through_network_json(tmp_path):
    plan = two_chain_plan(1)
    nodes = tuple(Node(c, "node0", str(tmp_path / c), "ab" * 20, 1, 2, 3, 4, 5, plan.member(f"{c}/node0").address)
                  for c in ("e2e4", "a1b2"))
    relays = tuple(Relay(c, str(tmp_path / c / "relay"), 6, 7, nodes[i].rpc_url, plan.member(f"{c}/relay").address)
                   for i, c in enumerate(("e2e4", "a1b2")))
    net = Network(str(tmp_path), str(tmp_path / "keyring"), tuple(Chain(n.chain_id, (n,)) for n in nodes),
                  relays=relays, netns=plan)
    net.save()
    again = load_network(tmp_path)
    assert again == net and again.netns == plan
    doc = json.loads(net.network_file.read_text())
    assert doc["netns"]["bridge"] == plan.bridge and doc["chains"][0]["nodes"][0]["rpc_url"] == "http://10.200.7.2:2"
    assert doc["relays"][1]["grpc_address"] == "10.200.7.5:6"
    assert again.host_of("a1b2/relay") == "10.200.7.5"


def test_network_json_without_hosts_or_netns_still_loads(tmp_path):
    """A network.json written before --netns existed: every process on 127.0.0.1."""
    node = Node("e2e4", "node0", str(tmp_path), "ab" * 20, 1, 2, 3, 4, 5)
    doc = Network(str(tmp_path), str(tmp_path / "keyring"), (Chain("e2e4", (node,)),)).to_json()
    del doc["netns"]
    del doc["chains"][0]["nodes"][0]["host"]
    pathlib.Path(tmp_path, "network.json").write_text(json.dumps(doc))
    net = load_network(tmp_path)
    assert net.netns is None and net.nodes[0].host == "127.0.0.1" and net.host_of("e2e4/node0") == "127.0.0.1"
    assert net.nodes[0].rpc_url == "http://127.0.0.1:2"


def test_node_listens_on_its_address_but_keeps_abci_on_its_loopback():
    node = Node("e2e4", "node0", "/h", "ab" * 20, 26656, 26657, 26658, 9090, 26660, "10.200.7.2")
    assert node.p2p_address == "ab" * 20 + "@10.200.7.2:26656"
    assert node.abci_address == "tcp://127.0.0.1:26658"
    app_toml = compute_app_toml(node)
    assert 'laddr = "10.200.7.2:9090"' in app_toml and 'laddr = "10.200.7.2:26661"' in app_toml
    relay = Relay("e2e4", "/r", 9180, 26750, node.rpc_url, "10.200.7.6")
    text = compute_relay_toml(relay, ["a1b2"])
    assert 'listen = "10.200.7.6:9180"' in text and 'comet_rpc = "http://10.200.7.2:26657"' in text


def test_exec_prefix_runs_a_member_inside_its_namespace():
    plan = two_chain_plan()
    assert compute_exec_prefix(plan, "e2e4/node1") == ["ip", "netns", "exec", f"{plan.prefix}-e2e4-node1"]
    assert compute_exec_prefix(None, "e2e4/node1") == []


def test_bridge_forwarding_rule_only_where_iptables_sees_bridged_frames():
    plan = two_chain_plan()
    assert compute_forward_rule(plan.bridge) == ["FORWARD", "-i", plan.bridge, "-o", plan.bridge, "-j", "ACCEPT"]
    assert is_bridge_filtered("1\n") and not is_bridge_filtered("0\n") and not is_bridge_filtered(None)


# ---- subnets ---------------------------------------------------------------------------------------------


def test_subnet_skips_what_the_host_uses():
    first, second = list(zip(range(2), compute_subnet_candidates("dp123456")))
    assert choose_subnet("dp123456", []) == str(first[1])
    assert choose_subnet("dp123456", [first[1]]) == str(second[1])
    # a wider network covering the first candidate counts as used too
    assert choose_subnet("dp123456", [first[1].supernet(new_prefix=20)]) not in \
        {str(s) for s in first[1].supernet(new_prefix=20).subnets(new_prefix=24)}
    with pytest.raises(NetnsPlanError, match="no free"):
        choose_subnet("dp123456", ["10.0.0.0/8"])


@given(st.lists(st.tuples(st.integers(128, 255), st.integers(0, 255), st.integers(16, 24)), max_size=8),
       st.text("0123456789abcdef", min_size=6, max_size=6))
def test_chosen_subnet_is_in_the_pool_and_overlaps_nothing_used(used, digits):
    networks = [ipaddress.IPv4Network(f"10.{a}.{b}.0/{length}", strict=False) for a, b, length in used]
    chosen = ipaddress.IPv4Network(choose_subnet("dp" + digits, networks))
    assert chosen.subnet_of(SUBNET_POOL) and chosen.prefixlen == 24
    assert not any(chosen.overlaps(n) for n in networks)


# ---- cuts ------------------------------------------------------------------------------------------------


def test_cut_between_chains_drops_every_path_both_ways():
    plan = two_chain_plan()
    routes = compute_cut_routes(plan, ["e2e4"], ["a1b2"])
    e = [m for m in plan.members if m.chain_id == "e2e4"]
    a = [m for m in plan.members if m.chain_id == "a1b2"]
    assert len(e) == len(a) == 3  # two nodes and the relay
    assert set(routes) == {(x.namespace, y.address) for x in e for y in a} | {(y.namespace, x.address)
                                                                               for x in e for y in a}
    assert len(routes) == 18
    # nothing inside a chain is cut
    assert not any((x.namespace, y.address) in routes for x in e for y in e)


def test_isolating_one_validator_cuts_it_from_every_other_member():
    plan = compute_netns_plan("dp000001", "10.140.0.0/24", compute_member_labels(["e2e4"], 4, False))
    victim = plan.member("e2e4/node3")
    others = [m.label for m in plan.others(["e2e4/node3"])]
    assert others == ["e2e4/node0", "e2e4/node1", "e2e4/node2"]
    routes = compute_cut_routes(plan, ["e2e4/node3"], others)
    assert sorted(routes) == sorted([(victim.namespace, plan.member(o).address) for o in others]
                                    + [(plan.member(o).namespace, victim.address) for o in others])


def test_cut_refuses_unknown_or_overlapping_sides():
    plan = two_chain_plan()
    with pytest.raises(LinkControlError, match="c3d4") as info:
        compute_cut_routes(plan, ["e2e4"], ["c3d4"])
    assert info.value.code == 234 and info.value.codespace == "localnet"
    with pytest.raises(LinkControlError, match="no namespace"):
        compute_cut_routes(plan, ["e2e4/node7"], ["a1b2"])
    with pytest.raises(LinkControlError, match="both sides"):
        compute_cut_routes(plan, ["e2e4"], ["e2e4/node0"])
    with pytest.raises(LinkControlError, match="each side"):
        compute_cut_routes(plan, [], ["a1b2"])
    # a localnet on 127.0.0.1 has nothing to cut: refused before any command runs
    with pytest.raises(LinkControlError, match="without --netns"):
        cut_links(None, ["e2e4"], ["a1b2"])
    with pytest.raises(LinkControlError, match="without --netns"):
        isolate(None, "e2e4/node3")


# ---- root and iproute2 -----------------------------------------------------------------------------------


def test_not_root_is_refused_with_its_code():
    with pytest.raises(NetnsPermissionError) as info:
        require_netns_support(geteuid=lambda: 1000, which=lambda name: "/usr/sbin/ip")
    assert info.value.code == 230 and ROOT_MESSAGE in info.value.message
    assert info.value.log.startswith("localnet:230: network namespaces need root (CAP_NET_ADMIN)")


def test_missing_ip_command_is_refused_with_its_code():
    with pytest.raises(NetnsToolMissingError, match="iproute2") as info:
        require_netns_support(geteuid=lambda: 0, which=lambda name: None)
    assert info.value.code == 231
    require_netns_support(geteuid=lambda: 0, which=lambda name: "/usr/sbin/ip")  # root with ip: fine


def test_up_netns_without_root_prints_one_clear_line_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(netns_module.os, "geteuid", lambda: 1000)
    run_dir = tmp_path / "run"
    # any executable will do as the cometbft binary: the refusal comes before anything runs
    result = CliRunner().invoke(main, ["up", "--netns", "--dir", str(run_dir), "--cometbft", sys.executable,
                                       "--dashboard-port", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: localnet:230: network namespaces need root (CAP_NET_ADMIN): run as root (as CI does), "
        "or without --netns")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not run_dir.exists()


def test_down_of_a_netns_localnet_without_root_says_so_and_stops_nothing(tmp_path, monkeypatch):
    plan = two_chain_plan(1)
    node = Node("e2e4", "node0", str(tmp_path / "e2e4" / "node0"), "ab" * 20, 1, 2, 3, 4, 5,
                plan.member("e2e4/node0").address)
    pathlib.Path(node.home).mkdir(parents=True)
    node.cometbft_pid_file.write_text("1\n")  # pid 1 never names this home: it would not be signalled anyway
    Network(str(tmp_path), str(tmp_path / "keyring"), (Chain("e2e4", (node,)),), netns=plan).save()
    monkeypatch.setattr(netns_module.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(main, ["down", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: localnet:230: network namespaces need root (CAP_NET_ADMIN)")
    assert result.output.count("\n") == 1
    assert node.cometbft_pid_file.exists()  # nothing was stopped or cleaned
