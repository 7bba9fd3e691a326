"""Interchain transitions between two in-process chains, driven by hand as a relay would.

Each test reads as a vector: pre-state, the relayed message, post-state. Negative tests (`test_invalid_*`)
check the error code and that nothing changed.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.address import Address
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import Packet, decode_ack, decode_packet, keys
from distpos_abci.interchain.records import Route
from distpos_abci.types import AccountId, Amount, ChainId, Height

from tests.lightclient.helpers import with_signature

from .helpers import (
    CAROL, ALICE, BOB, NS, RELAYER, T0, ack_msg, addr, open_chain, recv_msg, send_msg, update_proto,
)


@pytest.fixture
def chains(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"per_packet_max": 50_000, "min_balance": 100_000,
                                              "settle_threshold": 500_000}})
    return e, a


def snapshot(c, peer):
    return (c.balance(ALICE), c.balance(BOB), c.reserve(peer), c.balance(keys.ESCROW), c.supply(),
            [p.sequence for p in c.view.list_outbox(peer)])


def send(e, a, amount=1000):
    r = e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), amount))
    assert r.ok, r.log
    return e.view.get_outbox("a1b2", e.view.get_next_sequence("a1b2") - 1)


def test_transfer_both_legs_conserve_supply(chains):
    e, a = chains
    e_supply, a_supply = e.supply(), a.supply()
    raw = send(e, a, 1000)
    packet = decode_packet(raw)
    assert (packet.sequence, packet.amount, str(packet.sender)) == (1, 1000, str(addr(ALICE, "e2e4")))
    assert packet.timeout_time_ns > 0  # MsgSend gets the correspondent's default timeout
    assert e.balance(ALICE) == 1_000_000 - 1000 and e.balance(keys.ESCROW) == 1000

    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2"))
    assert r.ok, r.log
    assert a.balance(BOB) == 1_000_000 + 1000 and a.reserve("e2e4") == 1_000_000 - 1000
    assert a.view.get_inbox("e2e4", 1).success

    r = e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw]))
    assert r.ok, r.log
    assert e.balance(keys.ESCROW) == 0 and e.reserve("a1b2") == 1_000_000 + 1000
    assert e.view.list_outbox("a1b2") == []
    assert (e.supply(), a.supply()) == (e_supply, a_supply)


def test_several_packets_in_one_tx(chains):
    e, a = chains
    for amount in (10, 20, 30):
        send(e, a, amount)
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1, 2, 3], "a1b2"))
    assert r.ok, r.log
    assert a.balance(BOB) == 1_000_000 + 60


def test_invalid_replayed_packet(chains):
    e, a = chains
    send(e, a)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    before = snapshot(a, "e2e4")
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2"))
    assert (r.code, r.codespace) == (102, "interchain")
    assert snapshot(a, "e2e4") == before


def test_invalid_tampered_proof(chains):
    e, a = chains
    send(e, a)
    before = snapshot(a, "e2e4")

    def more_money(value, proof):
        m = interchain_pb2.Packet.FromString(value)
        m.amount = 999_999
        return m.SerializeToString(), proof

    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2", tamper=more_money))
    assert r.code == 104
    assert snapshot(a, "e2e4") == before


def test_invalid_forged_header_signature(chains):
    e, a = chains
    send(e, a)
    lb = e.light_block()
    sig = lb.signed_header.commit.signatures[0].signature
    forged = with_signature(lb, 0, bytes([sig[0] ^ 0xFF]) + sig[1:])
    before = snapshot(a, "e2e4")
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2", lb=forged))
    assert (r.code, r.codespace) == (131, "lightclient")
    assert snapshot(a, "e2e4") == before and a.view.get_client("e2e4").latest_height == 0


def test_invalid_mismatched_validator_set(chains):
    e, a = chains
    send(e, a)
    lb = e.light_block(vals_chain="c3d4")  # a header signed by strangers
    before = snapshot(a, "e2e4")
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2", lb=lb))
    assert (r.code, r.codespace) == (133, "lightclient")  # skipping: no trusted power signed
    assert snapshot(a, "e2e4") == before


def test_invalid_no_correspondent(tmp_path, chains):
    e, a = chains
    c = open_chain(tmp_path, "c3d4", {"a1b2": {}})
    r = c.tx(ALICE, "send", send_msg(ALICE, "c3d4", addr(BOB, "a1b2"), 5))
    assert r.ok, r.log
    before = snapshot(a, "e2e4")
    r = a.tx(RELAYER, "recv_packets", recv_msg(c, [1], "a1b2"))
    assert (r.code, r.codespace) == (101, "interchain")
    assert snapshot(a, "e2e4") == before
    # and sending to a chain without a correspondent fails on the source
    r = e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "c3d4"), 5))
    assert r.code == 101


def test_packet_over_limit_gets_error_ack_and_refund(chains):
    e, a = chains
    raw = send(e, a, 60_000)  # above a1b2's per-packet maximum for e2e4
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2"))
    assert r.ok, r.log
    ack = a.view.get_inbox("e2e4", 1)
    assert not ack.success and ack.error_code == 122
    assert a.balance(BOB) == 1_000_000 and a.reserve("e2e4") == 1_000_000
    assert e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw])).ok
    assert e.balance(ALICE) == 1_000_000 and e.balance(keys.ESCROW) == 0


def test_packet_larger_than_reserves_gets_error_ack_and_refund(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}}, reserve=500)
    raw = send(e, a, 501)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 1).error_code == 121 and a.reserve("e2e4") == 500
    assert e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw])).ok
    assert e.balance(ALICE) == 1_000_000
    # the ack cannot be used twice
    before = snapshot(e, "a1b2")
    r = e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw]))
    assert r.code == 107 and snapshot(e, "a1b2") == before


def test_below_minimum_suspends_until_top_up(chains):
    e, a = chains
    # reserve 1,000,000, min 100,000, per-packet max 50,000: 19 packets bring it to 50,000
    for _ in range(19):
        send(e, a, 50_000)
        a.block()  # keep consensus times together: a header from the future is refused
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, list(range(1, 9)), "a1b2"))
    assert r.ok, r.log
    assert "top_up_request" not in [ev.type for ev in r.events]  # reserve 600,000
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, list(range(9, 17)), "a1b2"))
    assert "top_up_request" in [ev.type for ev in r.events]  # reserve 200,000: below the settle threshold
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [17, 18, 19], "a1b2"))
    assert "correspondent_suspended" in [ev.type for ev in r.events]
    assert a.view.get_correspondent("e2e4").suspended and a.reserve("e2e4") == 50_000
    send(e, a, 10)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [20], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 20).error_code == 120  # suspended: error ack
    top = interchain_pb2.MsgTopUp(from_address=str(addr(CAROL, "a1b2")), chain_id="e2e4", amount=60_000)
    r = a.tx(CAROL, "top_up", top)
    assert r.ok and "correspondent_resumed" in [ev.type for ev in r.events]
    send(e, a, 10)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [21], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 21).success


def test_rate_limit_per_window(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"rate_limit": 100, "rate_window_blocks": 1000}})
    send(e, a, 60)
    send(e, a, 60)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1, 2], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 1).success and a.view.get_inbox("e2e4", 2).error_code == 123


def test_timeout_refund_with_non_membership_proof(chains):
    e, a = chains
    msg = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                     amount=700, timeout_height=a.app.last_height + 3)
    assert e.tx(ALICE, "transfer", msg).ok
    raw = e.view.get_outbox("a1b2", 1)
    # not yet timed out: the claim is refused
    value, proof = a.prove(keys.full_inbox_key("e2e4", 1))
    assert value is None
    lb = a.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain="a1b2", proof_height=lb.height, packet=raw, proof=proof.to_proto())
    update_proto(lb, m.update)
    before = snapshot(e, "a1b2")
    r = e.tx(RELAYER, "timeout", m)
    assert r.code == 106 and snapshot(e, "a1b2")[:5] == before[:5]
    for _ in range(3):
        a.block()
    # the destination refuses the late packet
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2"))
    assert r.code == 105
    value, proof = a.prove(keys.full_inbox_key("e2e4", 1))
    lb = a.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain="a1b2", proof_height=lb.height, packet=raw, proof=proof.to_proto())
    update_proto(lb, m.update)
    r = e.tx(RELAYER, "timeout", m)
    assert r.ok, r.log
    assert e.balance(ALICE) == 1_000_000 and e.balance(keys.ESCROW) == 0 and e.view.list_outbox("a1b2") == []


def test_timeout_refused_when_packet_was_received(chains):
    e, a = chains
    msg = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                     amount=700, timeout_height=a.app.last_height + 3)
    assert e.tx(ALICE, "transfer", msg).ok
    raw = e.view.get_outbox("a1b2", 1)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    for _ in range(3):
        a.block()
    value, proof = a.prove(keys.full_inbox_key("e2e4", 1))
    assert value is not None
    lb = a.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain="a1b2", proof_height=lb.height, packet=raw, proof=proof.to_proto())
    update_proto(lb, m.update)
    r = e.tx(RELAYER, "timeout", m)
    assert r.code == 104 and e.balance(keys.ESCROW) == 700


def test_set_route_by_governance_only(chains):
    e, _ = chains
    route = interchain_pb2.Route(chain_id="c3d4", relay_grpc="127.0.0.1:7000", comet_rpc="http://127.0.0.1:7001")
    r = e.tx(ALICE, "set_route", interchain_pb2.MsgSetRoute(authority=str(addr(ALICE, "e2e4")), route=route))
    assert (r.code, r.codespace) == (108, "interchain")
    assert e.gov("set_route", interchain_pb2.MsgSetRoute(authority=e.gov_address, route=route)) is None
    assert e.view.get_route("c3d4") == Route(ChainId("c3d4"), "127.0.0.1:7000", "http://127.0.0.1:7001")


def test_open_correspondent_by_governance(chains):
    e, _ = chains
    from tests.interchain.helpers import UNBONDING, VAL_KEYS
    from distpos_abci.lightclient.types import validator_set_to_proto
    from tests.lightclient.helpers import make_set
    m = interchain_pb2.MsgOpenCorrespondent(authority=e.gov_address, chain_id="c3d4",
                                            trusting_period_ns=3600 * NS, unbonding_period_ns=UNBONDING)
    m.limits.default_timeout_ns = 60 * NS
    m.trust_root.time_ns = T0
    validator_set_to_proto(make_set(VAL_KEYS["c3d4"]), m.trust_root.next_validator_set)
    assert e.gov("open_correspondent", m) is None
    assert e.gov("open_correspondent", m).code == 109
    assert e.view.get_client("c3d4").latest_height == 0
    assert e.view.get_client("c3d4").unbonding_period_ns == UNBONDING


def test_known_header_update_is_a_no_op_and_conflicting_one_refused(chains):
    e, a = chains
    lb = e.light_block()
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(lb, m.update)
    assert a.tx(RELAYER, "update_client", m).ok
    assert a.tx(RELAYER, "update_client", m).ok  # a second relay sending the same header
    assert a.view.get_client("e2e4").latest_height == lb.height
    other = e.light_block(app_hash=b"\x66" * 32)
    m2 = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(other, m2.update)
    r = a.tx(RELAYER, "update_client", m2)
    assert (r.code, r.codespace) == (113, "interchain") and "MsgSubmitMisbehaviour" in r.log


@given(st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**63))
def test_packet_encoding_round_trips(seq, amount, th, tt):
    p = Packet(seq, ChainId("e2e4"), ChainId("a1b2"), addr(ALICE, "e2e4"), addr(BOB, "a1b2"), Amount(amount),
               Height(th), tt)
    assert decode_packet(p.encode()) == p
