"""Issue 11 part 1 on real CometBFT: three chains in a line, e2e4 - a1b2 - c3d4 (one validator each), where the
end chains have no correspondent of each other and route to each other "via a1b2". The ordinary relays carry the
packets a1b2 forwards. A transfer e2e4 -> c3d4 arrives with every reserve and a1b2's fee accounted; once c3d4's
correspondent of a1b2 is suspended (its reserve fell below its minimum) a transfer comes back refunded; and with
a1b2's relay killed -9 mid-flight a transfer still ends in exactly one outcome. Supply is conserved on all three.
"""

from __future__ import annotations

import json
import re

import pytest

from distpos_abci.errors import CorrespondentSuspendedError, ForwardPendingError
from distpos_abci.interchain import decode_ack, keys
from distpos_abci.localnet import APP_DISTPOS, TEST_TIMEOUTS, FreePorts, compute_default_chain_ids, generate_network
from distpos_abci.localnet.interchain import LOCALNET_RESERVE
from distpos_abci.localnet.procs import relay_pid, start_relay, stop_relay
from distpos_abci.localnet.procs import running_network
from distpos_abci.relay.endpoint import CometEndpoint

from .conftest import START_TIMEOUT
from .test_interchain import balance, cli, correspondent, demo, pending, send, supply, wait_until, wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

E, A, C = 0, 1, 2
FORWARD_PARAMS = {"forward_fee_fixed": 2, "forward_fee_bps": 100, "forward_timeout_margin_ns": 60 * 10**9,
                  "max_hops": 3}
# c3d4 suspends a1b2's correspondent once a1b2's reserve at c3d4 has paid out more than 1000
C_MIN_BALANCE = LOCALNET_RESERVE - 1000


def make_line(net) -> None:
    """Rewrite a generated 3-chain mesh into the line e2e4 - a1b2 - c3d4: the end chains lose their
    correspondents of each other and reach each other via a1b2; a1b2 charges a forwarding fee."""
    ends = {"e2e4": "c3d4", "c3d4": "e2e4"}
    for chain in net.chains:
        genesis = json.loads(chain.nodes[0].path("config", "genesis.json").read_text())
        section = genesis["app_state"]["interchain"]
        far = ends.get(chain.chain_id)
        if far:
            section["correspondents"] = [c for c in section["correspondents"] if c["chain_id"] != far]
            section["routes"] = [r for r in section["routes"] if r["chain_id"] != far] + [
                {"chain_id": far, "via": "a1b2"}]
        if chain.chain_id == "c3d4":
            for c in section["correspondents"]:
                c["limits"]["min_balance"] = C_MIN_BALANCE
        if chain.chain_id == "a1b2":
            section["params"] = FORWARD_PARAMS
        text = json.dumps(genesis, indent=2) + "\n"
        for node in chain.nodes:
            node.path("config", "genesis.json").write_text(text)
    for relay in net.relays:
        keep = ["a1b2"] if relay.chain_id in ends else ["c3d4", "e2e4"]
        toml = relay.config_file.read_text()
        relay.config_file.write_text(re.sub(r"^clients = .*$", f"clients = {json.dumps(keep)}", toml, flags=re.M))


@pytest.fixture(scope="module")
def line(tmp_path_factory, cometbft_bin):
    net = generate_network(tmp_path_factory.mktemp("multihop"), chain_ids=compute_default_chain_ids(3),
                           validators_per_chain=1, port_allocator=FreePorts(), cometbft_bin=cometbft_bin,
                           timeouts=TEST_TIMEOUTS, app=APP_DISTPOS)
    make_line(net)
    with running_network(net, min_height=3, timeout=START_TIMEOUT):
        yield net


def fee(amount: int) -> int:
    return FORWARD_PARAMS["forward_fee_fixed"] + amount * FORWARD_PARAMS["forward_fee_bps"] // 10_000


def forward_fees(net) -> int:
    return balance(net, A, str(_module_address("a1b2", keys.FORWARD_FEES)))


def _module_address(chain: str, account: bytes):
    from distpos_abci.address import Address
    return Address(chain, account)


def settled(net) -> bool:
    return not (pending(net, E, "a1b2").pending or pending(net, A, "c3d4").pending or pending(net, A, "e2e4").pending
                or pending(net, C, "a1b2").pending)


def test_line_has_no_direct_correspondent(line):
    net = line
    assert [c.chain_id for c in net.chains] == ["e2e4", "a1b2", "c3d4"]
    q = cli(net, E, "query", "interchain", "correspondent", "c3d4")
    assert q.returncode != 0 and "no correspondent" in q.stderr, q.stderr
    r = cli(net, E, "query", "interchain", "route", "c3d4", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["via"] == "a1b2", r.stdout + r.stderr


def test_transfer_through_a1b2_arrives_with_every_reserve_accounted(line):
    net = line
    supplies = [supply(net, i) for i in range(3)]
    e_alice, c_bob = demo(net, E, "alice"), demo(net, C, "bob")
    alice0, bob0 = balance(net, E, e_alice), balance(net, C, c_bob)
    reserves0 = (correspondent(net, E, "a1b2").reserve, correspondent(net, A, "e2e4").reserve,
                 correspondent(net, A, "c3d4").reserve, correspondent(net, C, "a1b2").reserve)
    amount = 500
    out = cli(net, E, "tx", "interchain", "transfer", "alice", c_bob, str(amount), "--path", "a1b2", "-o", "json")
    assert out.returncode == 0, out.stderr
    tx_fee = json.loads(out.stdout)["fee"]
    wait_until(lambda: balance(net, C, c_bob) == bob0 + amount - fee(amount), timeout=150, what="e2e4 -> a1b2 -> c3d4")
    wait_until(lambda: settled(net), timeout=150, what="both acks")
    assert balance(net, E, e_alice) == alice0 - amount - tx_fee
    assert (correspondent(net, E, "a1b2").reserve, correspondent(net, A, "e2e4").reserve,
            correspondent(net, A, "c3d4").reserve, correspondent(net, C, "a1b2").reserve) == (
        reserves0[0] + amount, reserves0[1] - amount, reserves0[2] + amount - fee(amount),
        reserves0[3] - (amount - fee(amount)))
    assert forward_fees(net) == fee(amount)
    assert [pending(net, i, d).escrow for i, d in ((E, "a1b2"), (A, "c3d4"))] == [0, 0]
    assert [supply(net, i) for i in range(3)] == supplies


def test_suspended_downstream_correspondent_comes_back_refunded(line):
    net = line
    supplies = [supply(net, i) for i in range(3)]
    e_carol, c_carol = demo(net, E, "carol"), demo(net, C, "carol")
    # a plain send: e2e4's routing table finds the way; this one takes a1b2's reserve at c3d4 below its minimum
    carol0 = balance(net, C, c_carol)
    send(net, E, "carol", c_carol, 1000)
    wait_until(lambda: balance(net, C, c_carol) == carol0 + 1000 - fee(1000), timeout=150, what="the draining transfer")
    wait_until(lambda: settled(net), timeout=150, what="its acks")
    assert correspondent(net, C, "a1b2").correspondent.suspended
    fees0, e_carol0 = forward_fees(net), balance(net, E, e_carol)
    reserve_a = correspondent(net, A, "e2e4").reserve
    tx_fee = send(net, E, "carol", c_carol, 300)["fee"]
    assert balance(net, E, e_carol) == e_carol0 - 300 - tx_fee
    wait_until(lambda: settled(net), timeout=150, what="the refused transfer's way back")
    assert balance(net, E, e_carol) == e_carol0 - tx_fee  # refunded, once (the transaction fee stays paid)
    assert balance(net, C, c_carol) == carol0 + 1000 - fee(1000)
    assert forward_fees(net) == fees0 and correspondent(net, A, "e2e4").reserve == reserve_a
    # the final ack on a1b2 carries c3d4's reason
    acks = CometEndpoint("a1b2", net.chains[A].nodes[0].rpc_url)
    seq = int(pending(net, E, "a1b2").next_sequence) - 1
    ack = decode_ack(acks.query(keys.PREFIX + keys.inbox_key("e2e4", seq)).value)
    assert (ack.success, ack.error_code) == (False, CorrespondentSuspendedError.code) and ack.error.startswith("c3d4:")
    assert [supply(net, i) for i in range(3)] == supplies


def test_middle_relay_killed_mid_flight_still_one_outcome(line):
    """a1b2's relay dies (kill -9) while the packet is pending at a1b2: e2e4's relay delivers into a1b2 by
    itself, the forwarded packet waits in a1b2's outbox, and the restarted relay carries it on; the pending
    ack is never taken for an outcome. The sender's transfer ends once: refunded (c3d4 is still suspended)."""
    net = line
    relay_a = net.relays[A]
    supplies = [supply(net, i) for i in range(3)]
    e_bob = demo(net, E, "bob")
    stop_relay(relay_a, force=True)
    assert relay_pid(relay_a) is None
    bob0 = balance(net, E, e_bob)
    tx_fee = send(net, E, "bob", demo(net, C, "bob"), 200)["fee"]
    seq = int(pending(net, E, "a1b2").next_sequence) - 1
    mid = CometEndpoint("a1b2", net.chains[A].nodes[0].rpc_url)

    def held_pending() -> bool:
        raw = mid.query(keys.PREFIX + keys.inbox_key("e2e4", seq)).value
        return raw is not None and decode_ack(raw).error_code == ForwardPendingError.code

    wait_until(held_pending, timeout=150, what="e2e4's relay delivering into a1b2 directly")
    assert pending(net, E, "a1b2").pending and pending(net, A, "c3d4").pending  # pending ack not taken as final
    start_relay(net, relay_a)
    wait_until(lambda: settled(net), timeout=180, what="settlement after the middle relay's restart")
    wait_until_settled(net, E)
    assert balance(net, E, e_bob) == bob0 - tx_fee  # refunded exactly once
    assert [supply(net, i) for i in range(3)] == supplies
