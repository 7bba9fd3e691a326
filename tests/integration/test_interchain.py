"""Issue 4 end to end: two real CometBFT chains (2 validators each) with their relays, generated and started
by the localnet tooling. Funds move both ways, supply and reserves add up, hand-made relay transactions with
forged headers, mismatched validator sets, tampered proofs and replays are refused with their own codes, an
over-reserve packet and a timed-out packet are refunded, and a relay killed -9 mid-flight delivers exactly once.
Issue 7: a header of e2e4 forged with e2e4's real validator keys freezes a1b2's light client of e2e4; e2e4's
packets are then refused and a transfer e2e4 -> a1b2 times out and is refunded on e2e4. Then a1b2's validators
vote a governance proposal (`distpos tx gov propose|vote`) that restarts the client from e2e4's current validator
set, and a new transfer e2e4 -> a1b2 is delivered by the running relays.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import grpc
import pytest

from distpos_abci.address import Address
from distpos_abci.gen.distpos.v1 import (
    interchain_pb2, interchain_pb2_grpc, query_pb2, query_pb2_grpc, relay_pb2, relay_pb2_grpc,
)
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.keyring import Keyring
from distpos_abci.lightclient.types import light_block_to_proto
from distpos_abci.localnet import APP_DISTPOS, load_network
from distpos_abci.localnet.interchain import RELAY_BALANCE, compute_relay_toml
from distpos_abci.localnet.plan import Relay
from distpos_abci.localnet.procs import relay_pid, start_relay, stop_relay
from distpos_abci.rpc_client import CometRPC
from distpos_abci.relay.endpoint import CometEndpoint
from distpos_abci.tx import build_tx
from tests.helpers import paid
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
           "DISTPOS_GRPC": node.grpc_address, "DISTPOS_CHAIN_ID": node.chain_id}
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
        cli(net, i, "tx", "bank", "send", key, to, str(amount), "-o", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_network_json_describes_relays_and_routes(two_chains):
    net = load_network(two_chains.run_dir)
    assert [r.chain_id for r in net.relays] == ["e2e4", "a1b2"]
    q = cli(two_chains, 0, "query", "interchain", "route", "a1b2", "-o", "json")
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


def _submit_a1b2(net, m, signer: KeyPair, field: str = "recv_packets"):
    dest = CometEndpoint("a1b2", net.chains[1].nodes[0].rpc_url)
    from distpos_abci.auth.keeper import AuthRecord
    from distpos_abci.auth.keys import full_account_key
    from distpos_abci.address import compute_account_id
    nonce = AuthRecord.decode(dest.query(full_account_key(compute_account_id(signer.pub_key))).value).nonce
    return dest.submit(paid(signer, build_tx(signer, "a1b2", nonce, field, m)))


def funded_signer(net, i: int) -> KeyPair:
    """A fresh key with a balance on chain i (a key without one cannot pay a fee, so cannot write state)."""
    signer = KeyPair.generate()
    send(net, i, "alice", str(Address.from_pub_key(net.chains[i].chain_id, signer.pub_key)), 10_000_000)
    return signer


def test_invalid_hand_made_relay_messages_each_refused_with_its_code(two_chains):
    net = two_chains
    a_bob = demo(net, 1, "bob")
    signers = [funded_signer(net, 1) for _ in range(4)]  # before the packet: funding takes blocks
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
    for (tamper, code, space), signer in zip(cases, signers):
        # a fresh signer each time: a refusal in CheckTx still advances the mempool's nonce until the next commit
        r = _submit_a1b2(net, _recv_msg(net, seq, tamper), signer)
        assert (r.code, r.codespace) == (code, space), (tamper, r)
    assert (balance(net, 1, a_bob), correspondent(net, 1, "e2e4").reserve) == before


def test_packet_larger_than_reserve_is_refunded(two_chains):
    net = two_chains
    e_bob, a_bob = demo(net, 0, "bob"), demo(net, 1, "bob")
    bal0, abob0 = balance(net, 0, e_bob), balance(net, 1, a_bob)
    fee = send(net, 0, "bob", a_bob, 200_000_000)["fee"]  # the reserve is about 100,000,000
    assert balance(net, 0, e_bob) == bal0 - 200_000_000 - fee
    wait_until(lambda: balance(net, 0, e_bob) == bal0 - fee, what="refund after the error ack (the fee stays paid)")
    assert balance(net, 1, a_bob) == abob0


def test_timed_out_packet_is_refunded_with_a_proof(two_chains):
    net = two_chains
    relay_a = net.relays[1]
    e_carol, a_alice = demo(net, 0, "carol"), demo(net, 1, "alice")
    stop_relay(relay_a)  # a1b2's relay is down: nobody delivers into a1b2, nobody answers for it
    try:
        bal0, aal0 = balance(net, 0, e_carol), balance(net, 1, a_alice)
        out = send(net, 0, "carol", a_alice, 777, "interchain", "transfer", "--timeout-seconds", "2")
        assert out["code"] == 0 and out["fee"] > 0
        assert balance(net, 0, e_carol) == bal0 - 777 - out["fee"]
        # e2e4's relay proves the timeout by reading a1b2 through the CometBFT RPC of its routing entry
        wait_until(lambda: balance(net, 0, e_carol) == bal0 - out["fee"], timeout=120, what="timeout refund")
    finally:
        start_relay(net, relay_a)
    # a1b2's relay, back, must not deliver the refunded packet. Shown by a later packet on the same path: once it
    # is credited and every queue is empty, the refunded one would have been delivered before it, if at all.
    send(net, 0, "carol", a_alice, 5)
    wait_until(lambda: balance(net, 1, a_alice) >= aal0 + 5, timeout=120, what="a later packet delivered")
    wait_until_settled(net, 1)
    assert balance(net, 1, a_alice) == aal0 + 5


def _relay_signer(net, i: int) -> str:
    """The address on chain i of the account its relay signs with (relay.key)."""
    seed = bytes.fromhex(net.relays[i].path("relay.key").read_text().strip())
    return str(Address.from_pub_key(net.chains[i].chain_id, KeyPair(seed).pub_key))


def fees_paid_by(net, i: int, address: str) -> int:
    """Every transaction fee `address` paid on chain i, from the `fee` events CometBFT indexed."""
    rpc, total, page = CometRPC(net.chains[i].nodes[0].rpc_url), 0, 1
    while True:
        res = rpc.call("tx_search", query=f"fee.payer='{address}'", page=str(page), per_page="100")
        for t in res.get("txs") or []:
            for e in t["tx_result"].get("events") or []:
                attrs = {a["key"]: a["value"] for a in e.get("attributes") or []}
                if e["type"] == "fee" and attrs.get("payer") == address:
                    total += int(attrs["amount"])
        if page * 100 >= int(res.get("total_count", 0)):
            return total
        page += 1


def relay_fees_earned(net, i: int, relay: str) -> int:
    """The relay's balance on chain i minus its funding, plus the transaction fees it paid: relay fees earned."""
    return balance(net, i, relay) - RELAY_BALANCE + fees_paid_by(net, i, relay)


def test_relay_fee_paid_to_the_acknowledging_relay_and_refunded_on_timeout(two_chains):
    """Issue 12: a transfer with --relay-fee escrows amount and fee; the relay of e2e4, which proves the receipt
    with its MsgAcknowledge, is paid the fee there. A transfer that times out (a1b2's relay down) refunds the
    amount and the fee to the sender; the relay gets nothing for it."""
    net = two_chains
    e_carol, a_bob = demo(net, 0, "carol"), demo(net, 1, "bob")
    relay = _relay_signer(net, 0)
    supplies = supply(net, 0), supply(net, 1)
    fee0, carol0, bob0 = relay_fees_earned(net, 0, relay), balance(net, 0, e_carol), balance(net, 1, a_bob)
    out = send(net, 0, "carol", a_bob, 400, "interchain", "transfer", "--relay-fee", "25")
    assert out["code"] == 0 and balance(net, 0, e_carol) == carol0 - 425 - out["fee"]
    wait_until(lambda: relay_fees_earned(net, 0, relay) == fee0 + 25, timeout=120, what="relay fee paid on the ack")
    assert balance(net, 1, a_bob) == bob0 + 400 and not pending(net, 0, "a1b2").pending
    relay_a = net.relays[1]
    stop_relay(relay_a)
    try:
        carol1 = balance(net, 0, e_carol)
        out = send(net, 0, "carol", a_bob, 300, "interchain", "transfer", "--relay-fee", "30", "--timeout-seconds", "2")
        assert out["code"] == 0 and balance(net, 0, e_carol) in (carol1 - 330 - out["fee"], carol1 - out["fee"])
        wait_until(lambda: balance(net, 0, e_carol) == carol1 - out["fee"], timeout=120,
                   what="amount and relay fee refunded (the transaction fee stays paid)")
    finally:
        start_relay(net, relay_a)
    assert relay_fees_earned(net, 0, relay) == fee0 + 25 and balance(net, 1, a_bob) == bob0 + 400
    assert (supply(net, 0), supply(net, 1)) == supplies


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def relay_metric_total(relay, name: str, contains: str) -> float:
    """Sum of the series of a relay's metric whose labels contain `contains`."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{relay.metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and contains in line)


def test_two_relays_per_chain_credit_every_packet_exactly_once(two_chains, tmp_path):
    """Issue 9: a second relay process on each chain (own key, own queue), all four running their pair workers
    at once. The second ones hand every packet over too and then deliver it themselves into the other chain
    at once (direct_after_attempts = 1, resend_after_ms = 1), racing the destination's relay; both settle the
    same acks. The chains refuse what another relay was faster with (interchain:102 for a packet received
    already), so each transfer is credited exactly once, supplies hold and every escrow settles."""
    net = two_chains
    extra = []
    for relay in net.relays:
        home = tmp_path / f"second-{relay.chain_id}"
        home.mkdir()
        second = Relay(relay.chain_id, str(home), _free_port(), _free_port(), relay.comet_rpc)
        key = KeyPair.generate()
        second.path("relay.key").write_text(key.seed.hex() + "\n")
        # It pays fees on its own chain and, delivering directly, on the other one too.
        for i, chain in enumerate(("e2e4", "a1b2")):
            send(net, i, "alice", str(Address.from_pub_key(chain, key.pub_key)), 10_000_000)
        second.config_file.write_text(compute_relay_toml(second, []) + "direct_after_attempts = 1\nresend_after_ms = 1\n")
        assert start_relay(net, second) is not None
        extra.append(second)
    relays = (*net.relays, *extra)
    try:
        wait_until(lambda: all(relay_queue(r) != (-1, -1) for r in relays), what="second relays serving")
        a_bob, e_carol = demo(net, 1, "bob"), demo(net, 0, "carol")
        bob0, carol0 = balance(net, 1, a_bob), balance(net, 0, e_carol)
        supplies = (supply(net, 0), supply(net, 1))
        for n in range(1, 13):
            send(net, 0, "alice", a_bob, n)
        for n in range(1, 5):
            send(net, 1, "carol", e_carol, 100 * n)
        wait_until(lambda: balance(net, 1, a_bob) >= bob0 + sum(range(1, 13)), timeout=120, what="e2e4 -> a1b2")
        wait_until(lambda: balance(net, 0, e_carol) >= carol0 + 1000, timeout=120, what="a1b2 -> e2e4")
        wait_until(lambda: not pending(net, 0, "a1b2").pending and not pending(net, 1, "e2e4").pending,
                   timeout=120, what="acks settled")
        # every relay's queue empty, then two more blocks on each chain: a late duplicate would have landed
        wait_until(lambda: all(relay_queue(r) == (0, 0) for r in relays), timeout=120, what="relay queues drained")
        for i in (0, 1):
            target = height(net, i) + 2
            wait_until(lambda: height(net, i) >= target, what="two more blocks")
        assert balance(net, 1, a_bob) == bob0 + sum(range(1, 13)) and balance(net, 0, e_carol) == carol0 + 1000
        assert (supply(net, 0), supply(net, 1)) == supplies
        assert pending(net, 0, "a1b2").escrow == 0 and pending(net, 1, "e2e4").escrow == 0
        # the race happened: deliveries refused as duplicates (at CheckTx or in their block), changing nothing
        duplicates = sum(relay_metric_total(r, "distpos_relay_txs_total", 'result="interchain:102"') for r in relays)
        assert duplicates >= 1
        for relay in relays:
            assert "Traceback" not in relay.log_file.read_text(), relay.log_file
    finally:
        for second in extra:
            stop_relay(second)


def test_relay_refuses_forged_packets_and_overlong_requests(two_chains):
    """Issue 7: a real relay queues only what the source chain committed (checked against headers verified by
    the light client) and bounds its requests; refusals carry their status and relay code."""
    from distpos_abci.errors import PeerRefusedError
    from distpos_abci.relay.service import GrpcPeer
    net = two_chains
    relay_a = GrpcPeer("a1b2", net.relays[1].grpc_address)
    e_alice, a_bob = demo(net, 0, "alice"), demo(net, 1, "bob")
    forged = interchain_pb2.Packet(sequence=10_000, source_chain="e2e4", destination_chain="a1b2", sender=e_alice,
                                   recipient=a_bob, amount=5_000_000, timeout_height=1_000_000).SerializeToString()
    bob0 = balance(net, 1, a_bob)
    res = relay_a.submit_packets("e2e4", [forged])
    assert res.accepted == 0 and res.held == () and [(r.sequence, r.code) for r in res.refused] == [(10_000, 144)]
    with pytest.raises(PeerRefusedError) as info:
        relay_a.get_proofs([keys.full_inbox_key("e2e4", 1)] * 65, 0)
    assert (info.value.status, info.value.remote_code) == ("INVALID_ARGUMENT", 146)
    time.sleep(2)
    assert balance(net, 1, a_bob) == bob0


def test_relay_metrics_exposed(two_chains):
    import urllib.request
    relay = two_chains.relays[0]
    text = urllib.request.urlopen(f"http://127.0.0.1:{relay.metrics_port}/metrics", timeout=5).read().decode()
    assert "distpos_relay_pending_packets" in text and "distpos_relay_delivery_latency_seconds_count" in text


def _validator_keys(net, chain_index: int) -> dict[bytes, KeyPair]:
    """The chain's real consensus keys (config/priv_validator_key.json of each node), by validator address."""
    import base64
    from distpos_abci.lightclient.types import Validator
    out = {}
    for node in net.chains[chain_index].nodes:
        data = json.loads(node.path("config", "priv_validator_key.json").read_text())
        k = KeyPair(base64.b64decode(data["priv_key"]["value"])[:32])
        out[Validator(k.pub_key, 1).address] = k
    return out


def _forge(lb, signers: dict[bytes, KeyPair], app_hash: bytes):
    """lb with another app hash, so another block, re-signed by every validator that signed lb."""
    from distpos_abci.lightclient.encoding import compute_header_hash, compute_vote_sign_bytes
    from distpos_abci.lightclient.types import FLAG_COMMIT, BlockID, SignedHeader
    header = replace(lb.signed_header.header, app_hash=app_hash)
    commit = lb.signed_header.commit
    block_id = BlockID(compute_header_hash(header), commit.block_id.parts)
    sigs = tuple(
        replace(s, signature=signers[s.validator_address].sign(
            compute_vote_sign_bytes(header.chain_id, commit.height, commit.round, block_id, s.time_ns)))
        if s.flag == FLAG_COMMIT else s
        for s in commit.signatures
    )
    return replace(lb, signed_header=SignedHeader(header, replace(commit, block_id=block_id, signatures=sigs)))


def test_misbehaviour_with_real_keys_freezes_client_and_transfer_times_out(two_chains):
    """Leaves a1b2's light client of e2e4 frozen: the next test lifts the freeze by governance."""
    from distpos_abci.interchain.records import decode_client_state
    net = two_chains
    e_carol, a_alice = demo(net, 0, "carol"), demo(net, 1, "alice")
    send(net, 0, "alice", a_alice, 5)  # a packet already delivered, to replay after the freeze
    seq = pending(net, 0, "a1b2").next_sequence - 1
    wait_until(lambda: not pending(net, 0, "a1b2").pending, what="delivery before the freeze")
    src = CometEndpoint("e2e4", net.chains[0].nodes[0].rpc_url)
    height, _ = src.latest()
    real = src.light_block(height)
    forged = _forge(real, _validator_keys(net, 0), b"\x66" * 32)
    m = interchain_pb2.MsgSubmitMisbehaviour(chain_id="e2e4")
    light_block_to_proto(forged, m.header_1)
    light_block_to_proto(real, m.header_2)
    r = _submit_a1b2(net, m, funded_signer(net, 1), "submit_misbehaviour")  # anyone may submit
    assert r.code == 0, r
    dest = CometEndpoint("a1b2", net.chains[1].nodes[0].rpc_url)
    client = decode_client_state(dest.query(keys.PREFIX + keys.client_key("e2e4")).value)
    assert client.frozen_height == height and len(client.frozen_evidence_hash) == 32
    assert correspondent(net, 1, "e2e4").client_frozen_height == height
    # e2e4's packets are refused with their own code, whoever carries them
    r = _submit_a1b2(net, _recv_msg(net, seq), funded_signer(net, 1))
    assert (r.code, r.codespace) == (115, "interchain"), r
    # a new transfer e2e4 -> a1b2 cannot be delivered: it times out and is refunded on e2e4
    bal0, aal0 = balance(net, 0, e_carol), balance(net, 1, a_alice)
    out = send(net, 0, "carol", a_alice, 555, "interchain", "transfer", "--timeout-seconds", "3")
    assert out["code"] == 0 and balance(net, 0, e_carol) == bal0 - 555 - out["fee"]
    wait_until(lambda: balance(net, 0, e_carol) == bal0 - out["fee"], timeout=150, what="timeout refund after the freeze")
    assert balance(net, 1, a_alice) == aal0


def _add_validator_keys(net, chain_index: int) -> list[str]:
    """The chain's validators operate with their consensus keys: put those keys in the keyring; their names."""
    import base64
    keyring, chain = Keyring(net.keyring_dir), net.chains[chain_index]
    names = []
    for j, node in enumerate(chain.nodes):
        key = json.loads(node.path("config", "priv_validator_key.json").read_text())
        seed = base64.b64decode(key["priv_key"]["value"])
        keyring.add(f"{chain.chain_id}-val{j}", KeyPair(seed[:32]))
        names.append(f"{chain.chain_id}-val{j}")
    return names


def test_misbehaviour_freeze_lifted_by_governance_then_transfer_delivered(two_chains, tmp_path):
    """Runs after test_misbehaviour_with_real_keys_freezes_client_and_transfer_times_out, on its frozen client."""
    import base64
    from distpos_abci.errors import NotAValidatorError
    from distpos_abci.interchain.records import decode_client_state
    NOT_A_VALIDATOR = f"gov:{NotAValidatorError.code}"
    net = two_chains
    frozen_at = correspondent(net, 1, "e2e4").client_frozen_height
    assert frozen_at > 0, "the freeze test must run first on this network"
    supplies = (supply(net, 0), supply(net, 1))
    a_alice, a_bob, e_carol = demo(net, 1, "alice"), demo(net, 1, "bob"), demo(net, 0, "carol")

    # the fresh trust root: e2e4's latest signed header, its time and app hash, and the set trusted after it
    src = CometEndpoint("e2e4", net.chains[0].nodes[0].rpc_url)
    height, _ = src.latest()
    lb = src.light_block(height)
    assert lb.next_validator_set == lb.validator_set  # e2e4's current set (it has not changed)
    root = tmp_path / "root.json"
    root.write_text(json.dumps({
        "height": height, "time_ns": lb.signed_header.header.time_ns,
        "app_hash": lb.signed_header.header.app_hash.hex(),
        "validators": [{"pub_key": base64.b64encode(v.pub_key).decode(), "power": v.power}
                       for v in lb.next_validator_set.validators]}))
    gen = cli(net, 1, "tx", "interchain", "unfreeze-client", "e2e4", "--trust-root", str(root), "-o", "json")
    assert gen.returncode == 0, gen.stderr
    generated = json.loads(gen.stdout)
    assert generated["field"] == "unfreeze_client" and generated["message"]["authority"].startswith("a1b2x")
    proposal = tmp_path / "unfreeze.json"
    proposal.write_text(json.dumps({
        "title": "Unfreeze e2e4", "summary": "Restart the light client of e2e4 from its current validators.",
        "deposit": "1000", "messages": [{"type": generated["field"], **generated["message"]}]}))

    alice0 = balance(net, 1, a_alice)
    sub = cli(net, 1, "tx", "gov", "propose", "alice", str(proposal), "-o", "json")
    assert sub.returncode == 0, sub.stderr
    pid, fee = str(json.loads(sub.stdout)["proposal_id"]), json.loads(sub.stdout)["fee"]
    assert balance(net, 1, a_alice) == alice0 - 1000 - fee  # the deposit is locked while voting
    # bob operates no validator: CheckTx refuses the vote, the CLI exits 3
    assert (r := cli(net, 1, "tx", "gov", "vote", "bob", pid, "yes")).returncode == 3 and NOT_A_VALIDATOR in r.stderr
    for name in _add_validator_keys(net, 1):  # 2 validators of equal power: both are needed for > 2/3
        v = cli(net, 1, "tx", "gov", "vote", name, pid, "yes", "-o", "json")
        assert v.returncode == 0 and json.loads(v.stdout)["code"] == 0, v.stdout + v.stderr

    def shown() -> dict:
        q = cli(net, 1, "query", "gov", "proposal", pid, "-o", "json")
        assert q.returncode == 0, q.stderr
        return json.loads(q.stdout)

    wait_until(lambda: shown()["status"] != "voting", timeout=60, what="the end of the unfreeze proposal")
    p = shown()
    assert p["status"] == "passed", p
    assert p["final_tally"]["yes"] == p["final_tally"]["total"] > 0 and len(p["votes"]) == 2, p
    assert balance(net, 1, a_alice) == alice0 - fee  # deposit refunded in full

    q = cli(net, 1, "query", "interchain", "correspondent", "e2e4", "-o", "json")
    assert q.returncode == 0, q.stderr
    shown_corr = json.loads(q.stdout)
    assert int(shown_corr["client_frozen_height"]) == 0 and int(shown_corr["client_height"]) >= height, shown_corr
    dest = CometEndpoint("a1b2", net.chains[1].nodes[0].rpc_url)
    client = decode_client_state(dest.query(keys.PREFIX + keys.client_key("e2e4")).value)
    assert not client.is_frozen and client.latest_height >= height
    assert client.next_validator_set == lb.next_validator_set

    # the running relays carry a new transfer e2e4 -> a1b2 through the restarted client, and its ack back
    bob0, carol0 = balance(net, 1, a_bob), balance(net, 0, e_carol)
    reserve0 = correspondent(net, 1, "e2e4").reserve
    fee = send(net, 0, "carol", a_bob, 444)["fee"]
    wait_until(lambda: balance(net, 1, a_bob) == bob0 + 444, timeout=150, what="delivery after the unfreeze")
    wait_until(lambda: not pending(net, 0, "a1b2").pending, timeout=60, what="ack after the unfreeze")
    assert balance(net, 0, e_carol) == carol0 - 444 - fee and correspondent(net, 1, "e2e4").reserve == reserve0 - 444
    assert pending(net, 0, "a1b2").escrow == 0
    assert decode_client_state(dest.query(keys.PREFIX + keys.client_key("e2e4")).value).latest_height > height
    assert (supply(net, 0), supply(net, 1)) == supplies


# ---- a third chain -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def three_chains(localnet_factory):
    with localnet_factory("interchain3", app=APP_DISTPOS, chains=3, validators=1, min_height=3) as net:
        yield net


def test_third_chain_reached_through_its_own_route(three_chains):
    net = three_chains
    assert [c.chain_id for c in net.chains] == ["e2e4", "a1b2", "c3d4"]
    relay_c = net.relays[2]
    # no key may set a route: the CLI prints the governance message for a proposal; genesis set the routes
    res = cli(net, 0, "tx", "interchain", "set-route", "c3d4", relay_c.grpc_address, relay_c.comet_rpc, "-o", "json")
    assert res.returncode == 0, res.stderr
    generated = json.loads(res.stdout)
    assert generated["field"] == "set_route" and generated["message"]["authority"].startswith("e2e4x")
    routes = json.loads(cli(net, 0, "query", "interchain", "routes", "-o", "json").stdout)["routes"]
    assert {r["chain_id"]: r["relay_grpc"] for r in routes}["c3d4"] == relay_c.grpc_address
    c_bob, a_carol = demo(net, 2, "bob"), demo(net, 1, "carol")
    bob0, carol0 = balance(net, 2, c_bob), balance(net, 1, a_carol)
    supplies = [supply(net, i) for i in range(3)]
    send(net, 0, "alice", c_bob, 321)  # e2e4 -> c3d4
    fee = send(net, 2, "bob", a_carol, 123)["fee"]  # c3d4 -> a1b2
    wait_until(lambda: balance(net, 2, c_bob) == bob0 + 321 - 123 - fee, what="e2e4 -> c3d4")
    wait_until(lambda: balance(net, 1, a_carol) == carol0 + 123, what="c3d4 -> a1b2")
    wait_until(lambda: not pending(net, 0, "c3d4").pending and not pending(net, 2, "a1b2").pending, what="acks")
    assert [supply(net, i) for i in range(3)] == supplies
    assert correspondent(net, 2, "e2e4").reserve == 100_000_000 - 321
    assert correspondent(net, 1, "c3d4").reserve == 100_000_000 - 123
