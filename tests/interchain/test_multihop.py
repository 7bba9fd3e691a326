"""Multi-hop transfers e2e4 -> a1b2 -> c3d4 on three in-process chains, driven by hand as relays would.

The end chains have no correspondent of each other; e2e4 reaches c3d4 through its routing entry "c3d4 via
a1b2". Attacks are `test_invalid_*`: each checks its code and that no money moved.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.address import Address
from distpos_abci.errors import (
    CorrespondentSuspendedError,
    ForwardFeeError,
    ForwardPendingError,
    ForwardTimeoutError,
    HopLimitExceededError,
    InvalidPathError,
    NoCorrespondentError,
    PacketTimedOutError,
    RoutingLoopError,
)
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.interchain.forwarding import is_final_ack_bytes

from .helpers import ALICE, BOB, NS, RELAYER, T0, ack_msg, addr, send_msg
from .hops import acknowledge, deliver, outbox, three_chains, timeout, total_reserves_and_fees

FEES = {"forward_fee_fixed": 3, "forward_fee_bps": 100, "forward_timeout_margin_ns": 60 * NS, "max_hops": 3}
START = 1_000_000


@pytest.fixture
def chains(tmp_path):
    return three_chains(tmp_path, params=FEES)


def send_far(e, amount=1000):
    """Alice on e2e4 pays Bob on c3d4 with a plain MsgSend: the routing table picks the path."""
    r = e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "c3d4"), amount))
    assert r.ok, r.log
    return e.view.get_outbox("a1b2", e.view.get_next_sequence("a1b2") - 1)


def transfer(e, amount=1000, path=(), timeout_time_ns=0, timeout_height=0, min_amount_out=0, to="c3d4"):
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, to)),
                                   amount=amount, path=list(path), timeout_time_ns=timeout_time_ns,
                                   timeout_height=timeout_height, min_amount_out=min_amount_out)
    return e.tx(ALICE, "transfer", m)


def money(*chains):
    """Every balance that matters on each chain (users, escrow, fees, reserves) and its supply."""
    return [(c.balance(ALICE), c.balance(BOB), total_reserves_and_fees(c), c.balance(keys.ESCROW), c.supply())
            for c in chains]


def test_two_hop_transfer_arrives_with_every_reserve_accounted(chains):
    e, a, c = chains
    supplies = [x.supply() for x in chains]
    raw = send_far(e, 1000)
    p1 = decode_packet(raw)
    assert (p1.destination_chain, p1.path, p1.hop, p1.origin) == ("a1b2", ("e2e4", "a1b2", "c3d4"), 0,
                                                                  addr(ALICE, "e2e4"))
    assert p1.recipient == addr(BOB, "c3d4")
    # the default timeout leaves room for one forwarding margin
    assert p1.timeout_time_ns == e.times[e.app.last_height] + 600 * NS + 60 * NS

    assert deliver(e, a).ok
    fee = 3 + 1000 * 100 // 10_000
    assert (a.reserve("e2e4"), a.balance(keys.ESCROW)) == (START - 1000, 1000)
    p2 = decode_packet(a.view.get_outbox("c3d4", 1))
    assert (p2.source_chain, p2.hop, p2.amount, p2.origin, p2.sender.account) == ("a1b2", 1, 1000 - fee,
                                                                                   addr(ALICE, "e2e4"), keys.FORWARDER)
    assert p2.timeout_time_ns == p1.timeout_time_ns - 60 * NS
    pending = a.view.get_inbox("e2e4", 1)
    assert (pending.success, pending.error_code) == (False, ForwardPendingError.code)

    assert deliver(a, c).ok
    assert c.balance(BOB) == START + 1000 - fee and c.reserve("a1b2") == START - (1000 - fee)
    assert acknowledge(a, c, [1]).ok
    assert a.balance(keys.ESCROW) == 0 and a.reserve("c3d4") == START + 1000 - fee
    assert a.balance(keys.FORWARD_FEES) == fee and a.view.get_inbox("e2e4", 1).success
    assert acknowledge(e, a, [1]).ok
    assert e.balance(keys.ESCROW) == 0 and e.reserve("a1b2") == START + 1000 and e.balance(ALICE) == START - 1000
    assert [x.supply() for x in chains] == supplies
    assert outbox(e, "a1b2") == [] and outbox(a, "c3d4") == [] and a.view.get_forward("c3d4", 1) is None


def test_invalid_pending_ack_cannot_settle_the_upstream_packet(chains):
    e, a, c = chains
    send_far(e)
    assert deliver(e, a).ok
    assert not is_final_ack_bytes(a.prove(keys.full_inbox_key("e2e4", 1))[0])
    before = money(e)
    r = acknowledge(e, a, [1])
    assert r.code == ForwardPendingError.code, r.log
    assert money(e) == before and outbox(e, "a1b2") == [1]


def test_invalid_upstream_timeout_of_a_forwarded_packet(chains):
    """The pending ack is the receipt: once a1b2 forwarded, e2e4 can never prove a timeout (and refund Alice
    while Bob is paid)."""
    e, a, c = chains
    now = max(x.times[x.app.last_height] for x in chains)
    assert transfer(e, 1000, timeout_time_ns=now + 80 * NS).ok
    assert deliver(e, a).ok
    while a.times[a.app.last_height] <= now + 80 * NS:  # a1b2's clock passes the first packet's timeout
        a.block()
    before = money(e)
    r = timeout(e, a, 1)
    assert r.code == 104, r.log
    assert money(e) == before


def test_invalid_replays_make_the_middle_hop_pay_once(chains):
    e, a, c = chains
    raw1 = send_far(e)
    assert deliver(e, a).ok
    middle = money(a)
    r = deliver(e, a, [1])  # the incoming packet again
    assert r.code == 102 and money(a) == middle and outbox(a, "c3d4") == [1]
    assert deliver(a, c).ok
    end = money(c)
    r = deliver(a, c, [1])  # the forwarded packet again
    assert r.code == 102 and money(c) == end
    raw2 = a.view.get_outbox("c3d4", 1)
    assert acknowledge(a, c, [1]).ok
    settled = money(a)
    r = a.tx(RELAYER, "acknowledge", ack_msg(c, "a1b2", [raw2]))  # the downstream ack again
    assert r.code == 107 and money(a) == settled
    assert acknowledge(e, a, [1]).ok
    r = e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw1]))  # the final ack again
    assert r.code == 107
    assert e.balance(ALICE) == START - 1000 and c.balance(BOB) == START + 1000 - 13


def test_downstream_error_refunds_the_sender_exactly_once(tmp_path):
    # c3d4 holds a1b2's correspondent suspended (reserve below its minimum)
    e, a, c = three_chains(tmp_path, {"c3d4": {"a1b2": {"min_balance": 2 * START}}}, FEES)
    supplies = [x.supply() for x in (e, a, c)]
    raw1 = send_far(e, 1000)
    assert deliver(e, a).ok
    assert deliver(a, c).ok
    assert not c.view.get_inbox("a1b2", 1).success and c.balance(BOB) == START
    assert acknowledge(a, c, [1]).ok
    final = a.view.get_inbox("e2e4", 1)
    assert (final.success, final.error_code) == (False, CorrespondentSuspendedError.code)
    assert final.error.startswith("c3d4: ")
    assert (a.reserve("e2e4"), a.balance(keys.ESCROW), a.balance(keys.FORWARD_FEES)) == (START, 0, 0)
    assert acknowledge(e, a, [1]).ok
    assert e.balance(ALICE) == START and e.balance(keys.ESCROW) == 0 and e.reserve("a1b2") == START
    r = e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw1]))
    assert r.code == 107 and e.balance(ALICE) == START
    assert [x.supply() for x in (e, a, c)] == supplies


def test_downstream_timeout_refunds_the_sender(chains):
    e, a, c = chains
    now = max(x.times[x.app.last_height] for x in chains)
    assert transfer(e, 500, timeout_time_ns=now + 80 * NS).ok
    assert deliver(e, a).ok
    p2 = decode_packet(a.view.get_outbox("c3d4", 1))
    assert p2.timeout_time_ns == now + 20 * NS
    while c.times[c.app.last_height] < p2.timeout_time_ns:
        c.block()
    r = deliver(a, c)
    assert r.code == PacketTimedOutError.code
    assert timeout(a, c, 1).ok
    final = a.view.get_inbox("e2e4", 1)
    assert (final.success, final.error_code) == (False, PacketTimedOutError.code)
    assert (a.reserve("e2e4"), a.balance(keys.ESCROW)) == (START, 0)
    assert acknowledge(e, a, [1]).ok
    assert e.balance(ALICE) == START and c.balance(BOB) == START


def test_sender_given_path(chains):
    e, a, c = chains
    assert transfer(e, 1000, path=["a1b2"]).ok
    assert decode_packet(e.view.get_outbox("a1b2", 1)).path == ("e2e4", "a1b2", "c3d4")


@pytest.mark.parametrize("path", [["a1b2", "e2e4"], ["a1b2", "a1b2"], ["c3d4"]])
def test_invalid_loop_in_the_given_path(chains, path):
    e, a, c = chains
    r = transfer(e, 1000, path=path)
    assert r.code == RoutingLoopError.code, r.log
    assert e.balance(ALICE) == START and outbox(e, "a1b2") == []


def test_invalid_loop_in_the_routing_table(chains):
    e, a, c = chains
    for dest, via in (("x9", "y8"), ("y8", "x9")):
        assert e.gov("set_route", interchain_pb2.MsgSetRoute(authority=e.gov_address, route=interchain_pb2.Route(
            chain_id=dest, via=via))) is None
    r = e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "x9"), 10))
    assert r.code == RoutingLoopError.code, r.log
    assert e.balance(ALICE) == START


def test_invalid_hop_limit_exceeded(chains):
    e, a, c = chains
    r = transfer(e, 1000, path=["a1b2", "b1", "b2", "b3"], to="c3d4")  # 5 hops, max_hops 3
    assert r.code == HopLimitExceededError.code, r.log
    # a route's own limit: x9 via c3d4 (via a1b2) is 3 hops, its entry allows 2
    assert e.gov("set_route", interchain_pb2.MsgSetRoute(authority=e.gov_address, route=interchain_pb2.Route(
        chain_id="x9", via="c3d4", max_hops=2))) is None
    r = e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "x9"), 10))
    assert r.code == HopLimitExceededError.code, r.log
    assert e.balance(ALICE) == START and outbox(e, "a1b2") == []


def test_invalid_path_without_a_first_correspondent(chains):
    e, a, c = chains
    r = transfer(e, 1000, path=["zz99"])
    assert r.code == NoCorrespondentError.code, r.log
    r = transfer(e, 1000, path=["A1B2"])
    assert r.code == InvalidPathError.code, r.log
    assert e.balance(ALICE) == START


def test_invalid_height_only_timeout_for_a_multi_hop_transfer(chains):
    e, a, c = chains
    r = transfer(e, 1000, timeout_height=100)
    assert r.code == ForwardTimeoutError.code, r.log
    now = e.times[e.app.last_height]
    r = transfer(e, 1000, timeout_time_ns=now + 30 * NS)  # cannot survive one forwarding margin
    assert r.code == ForwardTimeoutError.code, r.log
    assert e.balance(ALICE) == START


def test_fee_above_min_amount_out_is_an_error_ack_and_a_refund(chains):
    e, a, c = chains
    assert transfer(e, 1000, min_amount_out=990).ok  # the fee (13) leaves 987
    assert deliver(e, a).ok
    ack = a.view.get_inbox("e2e4", 1)
    assert (ack.success, ack.error_code) == (False, ForwardFeeError.code)
    assert a.reserve("e2e4") == START and outbox(a, "c3d4") == []
    assert acknowledge(e, a, [1]).ok and e.balance(ALICE) == START


def test_late_arrival_at_the_middle_hop_is_refused_for_lack_of_time(chains):
    e, a, c = chains
    now = max(x.times[x.app.last_height] for x in chains)
    assert transfer(e, 1000, timeout_time_ns=now + 70 * NS).ok
    while a.times[a.app.last_height] < now + 12 * NS:  # less than the 60 s margin is left at a1b2
        a.block()
    assert deliver(e, a).ok
    ack = a.view.get_inbox("e2e4", 1)
    assert (ack.success, ack.error_code) == (False, ForwardTimeoutError.code)
    assert acknowledge(e, a, [1]).ok and e.balance(ALICE) == START


def test_direct_packets_keep_their_bytes(chains):
    """A one-hop packet encodes exactly as before multi-hop existed (fields 9-12 absent)."""
    e, a, c = chains
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 10)).ok
    raw = e.view.get_outbox("a1b2", 1)
    m = interchain_pb2.Packet.FromString(raw)
    assert list(m.path) == [] and m.hop == 0 and m.origin_sender == "" and m.min_amount_out == 0
    assert decode_packet(raw).is_final


def test_invalid_packet_with_an_inconsistent_path(chains):
    e, a, c = chains
    send_far(e)
    good = interchain_pb2.Packet.FromString(e.view.get_outbox("a1b2", 1))
    for change in ({"hop": 1}, {"path": ["e2e4", "a1b2", "e2e4"]}, {"path": ["e2e4", "c3d4"]},
                   {"origin_sender": str(addr(BOB, "e2e4"))}, {"min_amount_out": 2000}):
        m = interchain_pb2.Packet()
        m.CopyFrom(good)
        for k, v in change.items():
            if k == "path":
                del m.path[:]
                m.path.extend(v)
            else:
                setattr(m, k, v)
        with pytest.raises(Exception) as exc:
            decode_packet(m.SerializeToString())
        assert getattr(exc.value, "code", None) == 103, change


def test_forward_params_by_governance(chains):
    from distpos_abci.interchain.module import InterchainModule
    from distpos_abci.module import TxContext
    from distpos_abci.store.kv import CacheKV
    from distpos_abci.authority import GOV_AUTHORITY
    from distpos_abci.errors import InvalidParamsError
    from distpos_abci.interchain.keeper import InterchainKeeper

    e, a, c = chains
    store = CacheKV(a.app.state)
    ctx = TxContext("a1b2", 5, T0, GOV_AUTHORITY, b"", b"", False)
    InterchainModule().process_params_json(store, ctx, '{"forward_fee_fixed": 7}')
    params = InterchainKeeper(store, "a1b2").get_forward_params()
    assert (params.forward_fee_fixed, params.forward_fee_bps) == (7, 100)
    with pytest.raises(InvalidParamsError):
        InterchainModule().process_params_json(store, ctx, '{"forward_fee_bps": 10001}')
    with pytest.raises(InvalidParamsError):
        InterchainModule().process_params_json(store, ctx, '{"max_hops": 1}')


def test_invalid_routes(chains):
    e, a, c = chains
    for route, code in ((interchain_pb2.Route(chain_id="x9", via="x9"), RoutingLoopError.code),
                        (interchain_pb2.Route(chain_id="x9", relay_grpc="h:1", comet_rpc="http://h:2", max_hops=3), 112),
                        (interchain_pb2.Route(chain_id="x9", via="a1b2", max_hops=1), 112)):
        out = e.gov("set_route", interchain_pb2.MsgSetRoute(authority=e.gov_address, route=route))
        assert out is not None and out.code == code, (route, out)



CHAIN_IDS = st.sampled_from(["e2e4", "a1b2", "c3d4", "x9", "zz01", "q"])


@given(path=st.lists(CHAIN_IDS, min_size=3, max_size=6, unique=True), data=st.data())
def test_multihop_packets_round_trip_canonically(path, data):
    """Every valid multi-hop packet decodes to itself from its one canonical encoding."""
    from distpos_abci.crypto import KeyPair
    from distpos_abci.interchain.records import Packet
    from distpos_abci.types import Amount, ChainId, Height

    hop = data.draw(st.integers(0, len(path) - 2))
    amount = data.draw(st.integers(1, 10**12))
    origin = Address.from_pub_key(path[0], KeyPair(bytes([7]) * 32).pub_key)
    sender = origin if hop == 0 else Address(ChainId(path[hop]), keys.FORWARDER)
    p = Packet(data.draw(st.integers(1, 2**63)), ChainId(path[hop]), ChainId(path[hop + 1]), sender,
               Address.from_pub_key(path[-1], KeyPair(bytes([8]) * 32).pub_key), Amount(amount),
               Height(0), data.draw(st.integers(1, 2**63)), tuple(ChainId(c) for c in path), hop, origin,
               Amount(data.draw(st.integers(0, amount))))
    raw = p.encode()
    assert decode_packet(raw) == p and decode_packet(raw).encode() == raw
    assert p.is_final == (hop == len(path) - 2)
