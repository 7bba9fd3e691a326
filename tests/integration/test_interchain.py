"""Issue 4 end to end: two real CometBFT chains (2 validators each) with their relays, generated and started
by the localnet tooling. Funds move both ways, supply and reserves add up, hand-made relay transactions with
forged headers, mismatched validator sets, tampered proofs and replays are refused with their own codes, an
over-reserve packet and a timed-out packet are refunded, and a relay killed -9 mid-flight delivers exactly once.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import replace

import grpc
import pytest

from distpos_abci.gen.distpos.v1 import (
    interchain_pb2, interchain_pb2_grpc, query_pb2, query_pb2_grpc, relay_pb2, relay_pb2_grpc,
)
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.keyring import Keyring
from distpos_abci.lightclient.types import light_block_to_proto
from distpos_abci.localnet import APP_DISTPOS, load_network
from distpos_abci.localnet.interchain import relay_pid, start_relay, stop_relay
from distpos_abci.relay.endpoint import CometEndpoint
from distpos_abci.tx import build_tx
from tests.lightclient.helpers import make_set, with_signature
from distpos_abci.crypto import KeyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


@pytest.fixture(scope="module")
def two_chains(localnet_factory):
    with localnet_factory("interchain", app=APP_DISTPOS, chains=2, validators=2, min_height=3) as net:
        yield net


def cli(net, chain_index: int, *args: str) -> subprocess.CompletedProcess:
    node = net.chains[chain_index].nodes[0]
    env = {**os.environ, "DISTPOS_KEYRING_DIR": str(net.keyring_dir), "DISTPOS_NODE": node.rpc_url,
           "DISTPOS_GRPC": node.grpc_address}
    return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=120, env=env)


def demo(net, i: int, name: str) -> str:
    return next(a.address for a in net.chains[i].demo_accounts if a.name == name)


def balance(net, i: int, address: str) -> int:
    with grpc.insecure_channel(net.chains[i].nodes[0].grpc_address) as ch:
        return query_pb2_grpc.QueryStub(ch).Account(query_pb2.QueryAccountRequest(address=address), timeout=10).balance


def supply(net, i: int) -> int:
    with grpc.insecure_channel(net.chains[i].nodes[0].grpc_address) as ch:
        return query_pb2_grpc.QueryStub(ch).Status(query_pb2.QueryStatusRequest(), timeout=10).total_supply


def correspondent(net, i: int, peer: str):
    with grpc.insecure_channel(net.chains[i].nodes[0].grpc_address) as ch:
        return interchain_pb2_grpc.InterchainStub(ch).GetCorrespondent(
            interchain_pb2.QueryCorrespondentRequest(chain_id=peer), timeout=10)


def pending(net, i: int, dest: str):
    with grpc.insecure_channel(net.chains[i].nodes[0].grpc_address) as ch:
        return interchain_pb2_grpc.InterchainStub(ch).ListPackets(
            interchain_pb2.QueryPacketsRequest(destination_chain=dest), timeout=10)


def height(net, i: int) -> int:
    return CometEndpoint(net.chains[i].chain_id, net.chains[i].nodes[0].rpc_url).latest()[0]


def relay_queue(relay) -> tuple[int, int]:
    """(outbound, inbound) packets in a relay's durable queue; (-1, -1) while its gRPC is not up yet."""
    try:
        with grpc.insecure_channel(relay.grpc_address) as ch:
            s = relay_pb2_grpc.RelayStub(ch).Status(relay_pb2.RelayStatusRequest(), timeout=5)
    except grpc.RpcError:
        return -1, -1
    return s.pending_outbound, s.pending_inbound


def wait_until_settled(net, dest: int) -> None:
    """Every relay's queue is empty, then chain dest commits two more blocks: whatever a relay was going to
    deliver has been delivered, so the state seen next is final (no sleep standing in for "nothing more")."""
    wait_until(lambda: all(relay_queue(r) == (0, 0) for r in net.relays), timeout=120, what="relay queues drained")
    target = height(net, dest) + 2
    wait_until(lambda: height(net, dest) >= target, what=f"two more blocks on {net.chains[dest].chain_id}")


def wait_until(pred, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def send(net, i: int, key: str, to: str, amount: int, *extra: str) -> dict:
    res = cli(net, i, "tx", *extra, key, to, str(amount), "-o", "json") if extra else \
        cli(net, i, "tx", "send", key, to, str(amount), "-o", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_network_json_describes_relays_and_routes(two_chains):
    net = load_network(two_chains.run_dir)
    assert [r.chain_id for r in net.relays] == ["e2e4", "a1b2"]
    q = cli(two_chains, 0, "query", "route", "a1b2", "-o", "json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["relay_grpc"] == net.relays[1].grpc_address
    c = correspondent(two_chains, 0, "a1b2")
    assert c.reserve == 100_000_000 and not c.correspondent.suspended


def test_transfers_both_ways_add_up(two_chains):
    net = two_chains
    e_alice, a_bob = demo(net, 0, "alice"), demo(net, 1, "bob")
    a_carol, e_carol = demo(net, 1, "carol"), demo(net, 0, "carol")
    supplies = (supply(net, 0), supply(net, 1))
    bob0, ecarol0 = balance(net, 1, a_bob), balance(net, 0, e_carol)
    res_a = correspondent(net, 1, "e2e4").reserve, correspondent(net, 0, "a1b2").reserve
    started = time.monotonic()
    send(net, 0, "alice", a_bob, 1500)
    send(net, 1, "carol", e_carol, 400)
    wait_until(lambda: balance(net, 1, a_bob) == bob0 + 1500, what="e2e4 -> a1b2 credit")
    credited = time.monotonic() - started
    wait_until(lambda: balance(net, 0, e_carol) == ecarol0 + 400, what="a1b2 -> e2e4 credit")
    wait_until(lambda: not pending(net, 0, "a1b2").pending and not pending(net, 1, "e2e4").pending, what="acks")
    settled = time.monotonic() - started
    print(f"\nFIGURE cross-chain transfer: credited after {credited:.2f}s, both acks settled after {settled:.2f}s")
    assert (supply(net, 0), supply(net, 1)) == supplies
    # e2e4's reserve at a1b2 paid 1500 and got 400 back through a1b2's packet; mirror image on e2e4
    assert correspondent(net, 1, "e2e4").reserve == res_a[0] - 1500 + 400
    assert correspondent(net, 0, "a1b2").reserve == res_a[1] + 1500 - 400
    assert pending(net, 0, "a1b2").escrow == 0 and pending(net, 1, "e2e4").escrow == 0


def _recv_msg(net, seq: int, tamper=None):
    """A MsgRecvPackets for e2e4's packet seq, built by hand from e2e4's RPC (as a relay would)."""
    src = CometEndpoint("e2e4", net.chains[0].nodes[0].rpc_url)
    height, _ = src.latest()
    lb = src.light_block(height)
    proven = src.query(keys.full_outbox_key("a1b2", seq), height - 1, prove=True)
    value, proof = proven.value, proven.proof
    if tamper:
        lb, value, proof = tamper(lb, value, proof)
    m = interchain_pb2.MsgRecvPackets(source_chain="e2e4", proof_height=height)
    light_block_to_proto(lb, m.update)
    m.packets.add(packet=value, proof=proof.to_proto())
    return m


def _submit_a1b2(net, m, signer: KeyPair):
    dest = CometEndpoint("a1b2", net.chains[1].nodes[0].rpc_url)
    from distpos_abci.auth.keeper import AuthRecord
    from distpos_abci.auth.keys import full_account_key
    from distpos_abci.address import compute_account_id
    nonce = AuthRecord.decode(dest.query(full_account_key(compute_account_id(signer.pub_key))).value).nonce
    return dest.submit(build_tx(signer, "a1b2", nonce, "recv_packets", m))


def test_invalid_hand_made_relay_messages_each_refused_with_its_code(two_chains):
    net = two_chains
    a_bob = demo(net, 1, "bob")
    send(net, 0, "alice", a_bob, 10)
    seq = pending(net, 0, "a1b2").next_sequence - 1
    wait_until(lambda: not pending(net, 0, "a1b2").pending, what="delivery")
    before = (balance(net, 1, a_bob), correspondent(net, 1, "e2e4").reserve)

    def forged(lb, v, p):
        sig = lb.signed_header.commit.signatures[0].signature
        return with_signature(lb, 0, bytes([sig[0] ^ 1]) + sig[1:]), v, p

    def other_set(lb, v, p):
        return replace(lb, validator_set=make_set([KeyPair(bytes([i]) * 32) for i in range(2)])), v, p

    def tampered(lb, v, p):
        m = interchain_pb2.Packet.FromString(v)
        m.amount += 1
        return lb, m.SerializeToString(), p

    cases = [(None, 102, "interchain"), (forged, 131, "lightclient"), (other_set, 132, "lightclient"),
             (tampered, 104, "interchain")]
    for tamper, code, space in cases:
        # a fresh signer each time: a refusal in CheckTx still advances the mempool's nonce until the next commit
        r = _submit_a1b2(net, _recv_msg(net, seq, tamper), KeyPair.generate())
        assert (r.code, r.codespace) == (code, space), (tamper, r)
    assert (balance(net, 1, a_bob), correspondent(net, 1, "e2e4").reserve) == before


def test_packet_larger_than_reserve_is_refunded(two_chains):
    net = two_chains
    e_bob, a_bob = demo(net, 0, "bob"), demo(net, 1, "bob")
    bal0, abob0 = balance(net, 0, e_bob), balance(net, 1, a_bob)
    send(net, 0, "bob", a_bob, 200_000_000)  # the reserve is about 100,000,000
    assert balance(net, 0, e_bob) == bal0 - 200_000_000
    wait_until(lambda: balance(net, 0, e_bob) == bal0, what="refund after the error ack")
    assert balance(net, 1, a_bob) == abob0


def test_timed_out_packet_is_refunded_with_a_proof(two_chains):
    net = two_chains
    relay_a = net.relays[1]
    e_carol, a_alice = demo(net, 0, "carol"), demo(net, 1, "alice")
    stop_relay(relay_a)  # a1b2's relay is down: nobody delivers into a1b2, nobody answers for it
    try:
        bal0, aal0 = balance(net, 0, e_carol), balance(net, 1, a_alice)
        out = send(net, 0, "carol", a_alice, 777, "transfer", "--timeout-seconds", "2")
        assert out["code"] == 0
        assert balance(net, 0, e_carol) == bal0 - 777
        # e2e4's relay proves the timeout by reading a1b2 through the CometBFT RPC of its routing entry
        wait_until(lambda: balance(net, 0, e_carol) == bal0, timeout=120, what="timeout refund")
    finally:
        start_relay(net, relay_a)
    # a1b2's relay, back, must not deliver the refunded packet. Shown by a later packet on the same path: once it
    # is credited and every queue is empty, the refunded one would have been delivered before it, if at all.
    send(net, 0, "carol", a_alice, 5)
    wait_until(lambda: balance(net, 1, a_alice) >= aal0 + 5, timeout=120, what="a later packet delivered")
    wait_until_settled(net, 1)
    assert balance(net, 1, a_alice) == aal0 + 5


def test_relay_killed_mid_flight_delivers_exactly_once(two_chains):
    net = two_chains
    relay_a = net.relays[1]
    a_carol = demo(net, 1, "carol")
    carol0 = balance(net, 1, a_carol)
    amounts = [11, 22, 33]
    for amount in amounts:
        send(net, 0, "alice", a_carol, amount)
    stop_relay(relay_a, force=True)  # kill -9, whatever it was doing
    assert relay_pid(relay_a) is None  # stop_relay returns once the process is gone
    start_relay(net, relay_a)
    wait_until(lambda: not pending(net, 0, "a1b2").pending, timeout=120, what="settlement after the restart")
    wait_until_settled(net, 1)  # a second delivery, if the restarted relay made one, has landed by now
    assert balance(net, 1, a_carol) == carol0 + sum(amounts)


def test_relay_metrics_exposed(two_chains):
    import urllib.request
    relay = two_chains.relays[0]
    text = urllib.request.urlopen(f"http://127.0.0.1:{relay.metrics_port}/metrics", timeout=5).read().decode()
    assert "distpos_relay_pending_packets" in text and "distpos_relay_delivery_latency_seconds_count" in text


# ---- a third chain -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_chains(localnet_factory):
    with localnet_factory("interchain3", app=APP_DISTPOS, chains=3, validators=1, min_height=3) as net:
        yield net


def test_third_chain_reached_through_its_own_route(three_chains):
    net = three_chains
    assert [c.chain_id for c in net.chains] == ["e2e4", "a1b2", "c3d4"]
    relay_c = net.relays[2]
    # the admin (alice) re-sets e2e4's route to c3d4 by transaction; the relay reads it from the chain
    res = cli(net, 0, "tx", "set-route", "alice", "c3d4", relay_c.grpc_address, relay_c.comet_rpc, "-o", "json")
    assert res.returncode == 0, res.stderr
    routes = json.loads(cli(net, 0, "query", "routes", "-o", "json").stdout)["routes"]
    assert {r["chain_id"]: r["relay_grpc"] for r in routes}["c3d4"] == relay_c.grpc_address
    c_bob, a_carol = demo(net, 2, "bob"), demo(net, 1, "carol")
    bob0, carol0 = balance(net, 2, c_bob), balance(net, 1, a_carol)
    supplies = [supply(net, i) for i in range(3)]
    send(net, 0, "alice", c_bob, 321)  # e2e4 -> c3d4
    send(net, 2, "bob", a_carol, 123)  # c3d4 -> a1b2
    wait_until(lambda: balance(net, 2, c_bob) == bob0 + 321 - 123, what="e2e4 -> c3d4")
    wait_until(lambda: balance(net, 1, a_carol) == carol0 + 123, what="c3d4 -> a1b2")
    wait_until(lambda: not pending(net, 0, "c3d4").pending and not pending(net, 2, "a1b2").pending, what="acks")
    assert [supply(net, i) for i in range(3)] == supplies
    assert correspondent(net, 2, "e2e4").reserve == 100_000_000 - 321
    assert correspondent(net, 1, "c3d4").reserve == 100_000_000 - 123
