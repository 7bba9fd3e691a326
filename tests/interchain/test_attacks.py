"""Attacks on cross-chain trust, each a vector: pre-state, the attacker's message, what stops it.

Issue 7: trust backed by slashable stake (trusting period < the remote unbonding period), misbehaviour
freezes the light client, validators (the governance authority) govern instead of an admin key, the
failure breaker recovers, and state holds only the project's own text.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from distpos_abci.app import DistposApp
from distpos_abci.errors import GenesisError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import decode_ack, decode_packet, keys
from distpos_abci.interchain.records import Ack
from distpos_abci.lightclient import compute_header_hash
from distpos_abci.lightclient.types import validator_set_to_proto
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.errors import InvalidPacketError, NonCanonicalEncodingError

from tests.lightclient.helpers import make_set

from .helpers import (
    ALICE, BOB, CAROL, DAY, NS, RELAYER, T0, UNBONDING, VAL_KEYS, ack_msg, addr, genesis, open_chain, recv_msg,
    send_msg, update_proto,
)


@pytest.fixture
def chains(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"per_packet_max": 50_000}})
    return e, a


def send(e, amount=1000, to="a1b2"):
    r = e.tx(ALICE, "send", send_msg(ALICE, e.chain_id, addr(BOB, to), amount))
    assert r.ok, r.log
    return e.view.get_outbox(to, e.view.get_next_sequence(to) - 1)


def misbehaviour(chain_id, lb1, lb2=None) -> interchain_pb2.MsgSubmitMisbehaviour:
    m = interchain_pb2.MsgSubmitMisbehaviour(chain_id=chain_id)
    update_proto(lb1, m.header_1)
    if lb2 is not None:
        update_proto(lb2, m.header_2)
    return m


def trust_root(chain: str, time_ns: int = T0, height: int = 0) -> interchain_pb2.TrustRoot:
    root = interchain_pb2.TrustRoot(chain_id=chain, height=height, time_ns=time_ns)
    validator_set_to_proto(make_set(VAL_KEYS[chain]), root.next_validator_set)
    return root


def open_msg(authority: str, chain: str, trusting: int, unbonding: int) -> interchain_pb2.MsgOpenCorrespondent:
    m = interchain_pb2.MsgOpenCorrespondent(authority=authority, chain_id=chain, trusting_period_ns=trusting,
                                            unbonding_period_ns=unbonding)
    m.limits.default_timeout_ns = 60 * NS
    m.trust_root.CopyFrom(trust_root(chain))
    return m


def types(result) -> list[str]:
    return [ev.type for ev in result.events]


# ---- 1. trust backed by slashable stake ---------------------------------------------------------------------

@pytest.mark.parametrize("trusting", [UNBONDING, UNBONDING + 1])
def test_invalid_genesis_trusting_period_not_shorter_than_unbonding(tmp_path, trusting):
    app = DistposApp(StateStore(Database(tmp_path / "x")))
    with pytest.raises(GenesisError, match="strictly shorter"):
        app.init_chain("e2e4", genesis("e2e4", {"a1b2": {}}, trusting_period=trusting, unbonding_period=UNBONDING))


def test_invalid_genesis_without_unbonding_period(tmp_path):
    state = json.loads(genesis("e2e4", {"a1b2": {}}))
    del state["interchain"]["correspondents"][0]["unbonding_period_ns"]
    with pytest.raises(GenesisError, match="unbonding period"):
        DistposApp(StateStore(Database(tmp_path / "x"))).init_chain("e2e4", json.dumps(state).encode())


def test_invalid_open_correspondent_trusting_period_not_shorter_than_unbonding(chains):
    e, _ = chains
    err = e.gov("open_correspondent", open_msg(e.gov_address, "c3d4", 21 * DAY, 21 * DAY))
    assert (err.code, err.codespace) == (126, "interchain")
    assert e.view.get_correspondent("c3d4") is None
    assert e.gov("open_correspondent", open_msg(e.gov_address, "c3d4", 14 * DAY, 21 * DAY)) is None
    client = e.view.get_client("c3d4")
    assert (client.trusting_period_ns, client.unbonding_period_ns) == (14 * DAY, 21 * DAY)


# ---- 2. misbehaviour freezes the client -------------------------------------------------------------------

def test_conflicting_headers_freeze_client_then_packets_refused_and_refunded_by_timeout(chains):
    e, a = chains
    msg = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                     amount=700, timeout_height=a.app.last_height + 4)
    assert e.tx(ALICE, "transfer", msg).ok
    raw = e.view.get_outbox("a1b2", 1)
    real, forged = e.light_block(), e.light_block(app_hash=b"\x66" * 32)  # e2e4's validators sign twice
    r = a.tx(CAROL, "submit_misbehaviour", misbehaviour("e2e4", forged, real))  # anyone may submit
    assert r.ok, r.log
    assert "client_frozen" in types(r)
    client = a.view.get_client("e2e4")
    evidence = hashlib.sha256(b"".join(sorted(compute_header_hash(lb.signed_header.header)
                                              for lb in (real, forged)))).digest()
    assert (client.frozen_height, client.frozen_evidence_hash) == (real.height, evidence)
    # while frozen: e2e4's packets are refused with their own code, before any header they carry
    r = a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2"))
    assert (r.code, r.codespace) == (115, "interchain")
    assert a.view.get_inbox("e2e4", 1) is None and a.balance(BOB) == 1_000_000
    # and the client takes no header, nor further evidence
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(e.light_block(), m.update)
    assert a.tx(RELAYER, "update_client", m).code == 114
    assert a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", forged, real)).code == 114
    # nothing goes out to the frozen chain either: its ack or timeout could never be proven
    r = a.tx(BOB, "send", send_msg(BOB, "a1b2", addr(ALICE, "e2e4"), 5))
    assert r.code == 116
    # e2e4's sender is refunded by the normal timeout path (e2e4's client of a1b2 is not frozen)
    for _ in range(4):
        a.block()
    value, proof = a.prove(keys.full_inbox_key("e2e4", 1))
    assert value is None
    lb = a.light_block()
    t = interchain_pb2.MsgTimeout(destination_chain="a1b2", proof_height=lb.height, packet=raw, proof=proof.to_proto())
    update_proto(lb, t.update)
    r = e.tx(RELAYER, "timeout", t)
    assert r.ok, r.log
    assert e.balance(ALICE) == 1_000_000 and e.balance(keys.ESCROW) == 0


def test_header_conflicting_with_a_stored_consensus_state_freezes(chains):
    e, a = chains
    real = e.light_block()
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(real, m.update)
    assert a.tx(RELAYER, "update_client", m).ok
    forged = e.light_block(app_hash=b"\x66" * 32)
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", forged))
    assert r.ok, r.log
    assert a.view.get_client("e2e4").frozen_height == real.height


def test_frozen_client_refuses_acks(chains):
    e, a = chains
    raw = send(e, 1000)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    # e2e4 freezes its client of a1b2 on a1b2's double signing, then an ack arrives through that client
    assert e.tx(RELAYER, "submit_misbehaviour",
                misbehaviour("a1b2", a.light_block(), a.light_block(app_hash=b"\x77" * 32))).ok
    m = ack_msg(a, "e2e4", [raw])
    m.ClearField("update")
    assert e.tx(RELAYER, "acknowledge", m).code == 114
    assert e.balance(keys.ESCROW) == 1000  # held until governance lifts the freeze


def test_invalid_misbehaviour_same_header_twice(chains):
    e, a = chains
    lb = e.light_block()
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", lb, lb))
    assert (r.code, r.codespace) == (117, "interchain") and not a.view.get_client("e2e4").is_frozen


def test_invalid_misbehaviour_single_header_without_conflict(chains):
    e, a = chains
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", e.light_block()))
    assert r.code == 117 and not a.view.get_client("e2e4").is_frozen


def test_invalid_misbehaviour_headers_at_different_heights(chains):
    e, a = chains
    lb1 = e.light_block()
    e.block()
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", lb1, e.light_block()))
    assert (r.code, r.codespace) == (127, "interchain")


def test_invalid_misbehaviour_forged_by_untrusted_validators(chains):
    e, a = chains
    # strangers sign a conflicting header with their own (self-consistent) set: no trusted power behind it
    strangers = e.light_block(vals_chain="c3d4", app_hash=b"\x66" * 32)
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", e.light_block(), strangers))
    assert (r.code, r.codespace) == (133, "lightclient") and not a.view.get_client("e2e4").is_frozen


def test_invalid_misbehaviour_after_trusting_period(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}}, trusting_period=5 * NS)
    for _ in range(6):
        a.block()
    # old keys are no longer at stake past the trusting period: their signatures prove nothing
    r = a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", e.light_block(), e.light_block(app_hash=b"\x66" * 32)))
    assert (r.code, r.codespace) == (134, "lightclient")


def test_unfreeze_by_governance_restarts_client_from_fresh_root(chains):
    e, a = chains
    real = e.light_block()
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(real, m.update)
    assert a.tx(RELAYER, "update_client", m).ok
    assert a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", e.light_block(app_hash=b"\x66" * 32))).ok
    e.block(), e.block()  # the fresh root is above the equivocation
    unfreeze = interchain_pb2.MsgUnfreezeClient(authority=a.gov_address, chain_id="e2e4",
                                                trust_root=trust_root("e2e4", time_ns=T0 + e.app.last_height * NS,
                                                                      height=e.app.last_height))
    # a key holder cannot lift it, even claiming to be the authority
    forged_auth = interchain_pb2.MsgUnfreezeClient()
    forged_auth.CopyFrom(unfreeze)
    forged_auth.authority = str(addr(ALICE, "a1b2"))
    assert a.tx(ALICE, "unfreeze_client", forged_auth).code == 108
    assert a.tx(ALICE, "unfreeze_client", unfreeze).code == 10  # authority is not the signer
    assert a.gov("unfreeze_client", unfreeze) is None
    client = a.view.get_client("e2e4")
    assert not client.is_frozen and client.latest_height == e.app.last_height
    assert client.unbonding_period_ns == UNBONDING
    assert a.view.get_consensus("e2e4", real.height) is None  # possibly forged: dropped
    assert a.gov("unfreeze_client", unfreeze).code == 118
    # packets flow again through the fresh root
    send(e, 1000)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    assert a.balance(BOB) == 1_001_000


def test_attack_replayed_evidence_cannot_refreeze_after_governance_unfroze(chains):
    """Found on a real localnet: the evidence that froze the client, resubmitted right after the unfreeze,
    froze it again, undoing governance's decision for the price of one transaction."""
    e, a = chains
    real = e.light_block()
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(real, m.update)
    assert a.tx(RELAYER, "update_client", m).ok
    evidence = misbehaviour("e2e4", e.light_block(app_hash=b"\x66" * 32))
    assert a.tx(RELAYER, "submit_misbehaviour", evidence).ok
    frozen_at = a.view.get_client("e2e4").frozen_height
    # a root at or below the frozen height is refused: the old evidence would be above it
    low = interchain_pb2.MsgUnfreezeClient(authority=a.gov_address, chain_id="e2e4",
                                           trust_root=trust_root("e2e4", time_ns=T0 + frozen_at * NS, height=frozen_at))
    assert a.gov("unfreeze_client", low).code == 128
    e.block(), e.block()
    unfreeze = interchain_pb2.MsgUnfreezeClient(authority=a.gov_address, chain_id="e2e4",
                                                trust_root=trust_root("e2e4", time_ns=T0 + e.app.last_height * NS,
                                                                      height=e.app.last_height))
    assert a.gov("unfreeze_client", unfreeze) is None
    r = a.tx(RELAYER, "submit_misbehaviour", evidence)
    assert r.code == 117 and not a.view.get_client("e2e4").is_frozen


def test_invalid_unfreeze_with_a_root_from_the_future(chains):
    e, a = chains
    m = interchain_pb2.MsgUpdateClient(chain_id="e2e4")
    update_proto(e.light_block(), m.update)
    assert a.tx(RELAYER, "update_client", m).ok
    assert a.tx(RELAYER, "submit_misbehaviour", misbehaviour("e2e4", e.light_block(app_hash=b"\x66" * 32))).ok
    future = interchain_pb2.MsgUnfreezeClient(authority=a.gov_address, chain_id="e2e4",
                                              trust_root=trust_root("e2e4", time_ns=T0 + 10**6 * NS, height=50))
    assert a.gov("unfreeze_client", future).code == 128 and a.view.get_client("e2e4").is_frozen


# ---- 3. validators govern, not a key -----------------------------------------------------------------------

@pytest.mark.parametrize("field,build", [
    ("open_correspondent", lambda auth: open_msg(auth, "c3d4", DAY, UNBONDING)),
    ("set_route", lambda auth: interchain_pb2.MsgSetRoute(authority=auth, route=interchain_pb2.Route(
        chain_id="a1b2", relay_grpc="10.0.0.1:1", comet_rpc="http://10.0.0.1:2"))),
    ("set_limits", lambda auth: interchain_pb2.MsgSetLimits(authority=auth, chain_id="a1b2", limits=interchain_pb2.CorrespondentLimits(
        default_timeout_ns=NS, per_packet_max=1))),
    ("close_correspondent", lambda auth: interchain_pb2.MsgCloseCorrespondent(authority=auth, chain_id="a1b2")),
    ("unfreeze_client", lambda auth: interchain_pb2.MsgUnfreezeClient(authority=auth, chain_id="a1b2",
                                                                     trust_root=trust_root("a1b2"))),
])
def test_invalid_governance_message_from_a_key(chains, field, build):
    e, _ = chains
    before = (e.view.get_correspondent("a1b2"), e.view.get_route("a1b2"), e.view.get_client("a1b2"))
    r = e.tx(ALICE, field, build(str(addr(ALICE, "e2e4"))))  # a key holder signing as itself
    assert (r.code, r.codespace) == (108, "interchain"), r.log
    r = e.tx(ALICE, field, build(e.gov_address))  # a key holder naming the authority
    assert (r.code, r.codespace) == (10, "tx"), r.log
    assert (e.view.get_correspondent("a1b2"), e.view.get_route("a1b2"), e.view.get_client("a1b2")) == before


def test_no_admin_in_genesis(tmp_path):
    state = json.loads(genesis("e2e4", {"a1b2": {}}))
    state["interchain"]["admin"] = str(addr(ALICE, "e2e4"))
    with pytest.raises(GenesisError):
        DistposApp(StateStore(Database(tmp_path / "x"))).init_chain("e2e4", json.dumps(state).encode())


def test_set_limits_by_governance(chains):
    e, a = chains
    send(e, 60_000)  # above the per-packet maximum of 50,000
    limits = interchain_pb2.CorrespondentLimits(default_timeout_ns=600 * NS, per_packet_max=100_000, min_balance=0)
    assert a.gov("set_limits", interchain_pb2.MsgSetLimits(authority=a.gov_address, chain_id="e2e4",
                                                           limits=limits)) is None
    assert a.view.get_correspondent("e2e4").limits.per_packet_max == 100_000
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 1).success
    bad = interchain_pb2.CorrespondentLimits(default_timeout_ns=NS, max_failure_pct=10)  # breaker without a window
    assert a.gov("set_limits", interchain_pb2.MsgSetLimits(authority=a.gov_address, chain_id="e2e4",
                                                           limits=bad)).code == 112


def test_close_correspondent_by_governance(chains):
    e, a = chains
    raw = send(e, 1000)
    close = interchain_pb2.MsgCloseCorrespondent(authority=a.gov_address, chain_id="e2e4")
    assert a.gov("close_correspondent", close) is None
    assert a.view.get_correspondent("e2e4").closed
    assert a.gov("close_correspondent", close).code == 119
    # nothing is sent to a closed correspondent
    assert a.tx(BOB, "send", send_msg(BOB, "a1b2", addr(ALICE, "e2e4"), 5)).code == 119
    # its packets get an error ack, and the sender is refunded at home
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [1], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 1).error_code == 119 and a.balance(BOB) == 1_000_000
    assert e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw])).ok
    assert e.balance(ALICE) == 1_000_000


# ---- 4. the breaker recovers ----------------------------------------------------------------------------------

def test_failure_breaker_opens_for_its_window_then_recovers(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"per_packet_max": 100, "max_failure_pct": 50,
                                              "failure_window_blocks": 30}})
    for _ in range(10):
        send(e, 101)  # over the per-packet maximum: refused for limits, counted
        a.block()  # keep consensus times together: a header from the future is refused
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, list(range(1, 11)), "a1b2")).ok
    send(e, 10)  # a good packet while the window's failure rate is 100 %
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [11], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 11).error_code == 124
    for _ in range(30):  # the window ends; breaker refusals did not count, so the next window starts clean
        e.block()
        a.block()
    send(e, 10)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [12], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 12).success
    corr = a.view.get_correspondent("e2e4")
    assert (corr.window_ok, corr.window_failed, corr.received_failed) == (1, 0, 10)


def test_breaker_needs_enough_samples_in_the_window(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"per_packet_max": 100, "max_failure_pct": 50,
                                              "failure_window_blocks": 3}})
    for i in range(12):  # one failure per window, never 10 samples in one window
        send(e, 101)
        assert a.tx(RELAYER, "recv_packets", recv_msg(e, [i + 1], "a1b2")).ok
        a.block()
        a.block()
    send(e, 10)
    assert a.tx(RELAYER, "recv_packets", recv_msg(e, [13], "a1b2")).ok
    assert a.view.get_inbox("e2e4", 13).success


# ---- 5. deterministic text in state ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"\xff\xff", b"\x0a\x05ab", b"\x1a\x02\xff\xfe"])
def test_invalid_undecodable_packet_and_ack_carry_project_text(raw):
    for decode, what in ((decode_packet, "packet"), (decode_ack, "ack")):
        with pytest.raises(InvalidPacketError) as info:
            decode(raw)
        assert info.value.message == f"{what}: not a valid protobuf encoding"


def test_invalid_non_canonical_ack_refused():
    canonical = Ack(False, 121, "x").encode()
    padded = canonical + b"\x08\x00"  # a repeated default field: same meaning, other bytes
    with pytest.raises(NonCanonicalEncodingError):
        decode_ack(padded)
    with pytest.raises(NonCanonicalEncodingError):  # a varint above 2^64 that Python wraps and Go refuses
        decode_packet(b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02")
    assert decode_ack(canonical) == Ack(False, 121, "x")


def test_genesis_validator_error_is_project_text(tmp_path):
    state = json.loads(genesis("e2e4", {"a1b2": {}}))
    state["interchain"]["correspondents"][0]["trust_root"]["validators"] = [{"pub_key": "!!", "power": 1}]
    with pytest.raises(GenesisError) as info:
        DistposApp(StateStore(Database(tmp_path / "x"))).init_chain("e2e4", json.dumps(state).encode())
    assert "Error" not in info.value.message and "base64" in info.value.message
