"""Relay fees (issue 12): a MsgTransfer's relay fee is escrowed with its packet on the source, paid there to the
signer of the MsgAcknowledge that settles it (success or error ack), refunded to the sender on a timeout, exactly
once. The destination pays only the amount.

The `test_attack_*` tests are the attacks of the brief; on the code before relay fees the fee was not escrowed,
not paid and not refunded at all.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.errors import InvalidPacketError, InvalidRelayFeeError, UnknownPacketError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import Packet, decode_packet, keys
from distpos_abci.types import MAX_AMOUNT, Amount, ChainId, Height

from .helpers import ALICE, BOB, CAROL, RELAYER, ack_msg, addr, key, open_chain, recv_msg, update_proto

OTHER_RELAY = key(5)


@pytest.fixture
def chains(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {"per_packet_max": 50_000}})
    return e, a


def transfer(e, a, amount, fee, timeout_blocks=0):
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=amount, relay_fee=fee,
                                   timeout_height=a.app.last_height + timeout_blocks if timeout_blocks else 0)
    r = e.tx(ALICE, "transfer", m)
    assert r.ok, r.log
    return e.view.list_outbox("a1b2")[-1]


def raw_of(e, seq):
    return e.view.get_outbox("a1b2", seq)


def timeout_msg(e, a, raw):
    _, proof = a.prove(keys.full_inbox_key("e2e4", decode_packet(raw).sequence))
    lb = a.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain="a1b2", proof_height=lb.height, packet=raw, proof=proof.to_proto())
    update_proto(lb, m.update)
    return m


def test_fee_is_escrowed_and_paid_to_the_acknowledging_relay(chains):
    e, a = chains
    supply = e.supply(), a.supply()
    p = transfer(e, a, 1000, 25)
    assert p.relay_fee == 25 and e.balance(keys.ESCROW) == 1025 and e.balance(ALICE) == 1_000_000 - 1025
    raw = raw_of(e, p.sequence)
    assert a.tx(CAROL, "recv_packets", recv_msg(e, [p.sequence], "a1b2")).ok
    assert a.balance(BOB) == 1_000_000 + 1000  # the destination pays the amount only
    r = e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw]))
    assert r.ok, r.log
    assert "relay_fee_paid" in [ev.type for ev in r.events]
    assert e.balance(RELAYER) == 25 and e.balance(keys.ESCROW) == 0 and e.reserve("a1b2") == 1_000_000 + 1000
    assert (e.supply(), a.supply()) == supply


def test_error_ack_refunds_the_amount_and_still_pays_the_relay(chains):
    e, a = chains
    p = transfer(e, a, 60_000, 9)  # above the destination's per_packet_max: an error ack
    raw = raw_of(e, p.sequence)
    assert a.tx(CAROL, "recv_packets", recv_msg(e, [p.sequence], "a1b2")).ok
    assert not a.view.get_inbox("e2e4", p.sequence).success
    assert e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw])).ok
    assert e.balance(ALICE) == 1_000_000 - 9 and e.balance(RELAYER) == 9 and e.balance(keys.ESCROW) == 0


def test_timeout_refunds_the_fee_to_the_sender(chains):
    e, a = chains
    p = transfer(e, a, 700, 30, timeout_blocks=2)
    raw = raw_of(e, p.sequence)
    for _ in range(3):
        a.block()
    r = e.tx(RELAYER, "timeout", timeout_msg(e, a, raw))
    assert r.ok, r.log
    assert "relay_fee_refunded" in [ev.type for ev in r.events]
    assert e.balance(ALICE) == 1_000_000 and e.balance(RELAYER) == 0 and e.balance(keys.ESCROW) == 0


def test_attack_fee_paid_on_both_ack_and_timeout(chains):
    """Ack first, then a timeout of the same packet (and the other order): the outbox entry is gone after the
    first settlement, so the fee moves once."""
    e, a = chains
    p = transfer(e, a, 500, 40, timeout_blocks=3)
    raw = raw_of(e, p.sequence)
    assert a.tx(CAROL, "recv_packets", recv_msg(e, [p.sequence], "a1b2")).ok
    assert e.tx(RELAYER, "acknowledge", ack_msg(a, "e2e4", [raw])).ok
    for _ in range(3):
        a.block()
    r = e.tx(OTHER_RELAY, "timeout", timeout_msg(e, a, raw))
    assert r.code == UnknownPacketError.code
    assert (e.balance(RELAYER), e.balance(OTHER_RELAY), e.balance(ALICE)) == (40, 0, 1_000_000 - 540)
    # The other order: timed out and refunded, then an ack is refused.
    p2 = transfer(e, a, 500, 40, timeout_blocks=1)
    raw2 = raw_of(e, p2.sequence)
    for _ in range(2):
        a.block()
    assert e.tx(OTHER_RELAY, "timeout", timeout_msg(e, a, raw2)).ok
    assert a.tx(CAROL, "recv_packets", recv_msg(e, [p2.sequence], "a1b2")).code != 0  # late: refused
    assert e.balance(ALICE) == 1_000_000 - 540 and e.balance(OTHER_RELAY) == 0 and e.balance(keys.ESCROW) == 0


def test_attack_fee_claimed_by_a_non_delivering_account(chains):
    """A second relay re-submits the same proof after the first settled the packet: refused, nothing paid; the
    destination's deliverer (a different chain's account) is never paid on the source by receiving."""
    e, a = chains
    p = transfer(e, a, 300, 11)
    raw = raw_of(e, p.sequence)
    assert a.tx(OTHER_RELAY, "recv_packets", recv_msg(e, [p.sequence], "a1b2")).ok
    ack = ack_msg(a, "e2e4", [raw])
    assert e.tx(RELAYER, "acknowledge", ack).ok
    r = e.tx(OTHER_RELAY, "acknowledge", ack)
    assert r.code == UnknownPacketError.code
    assert (e.balance(RELAYER), e.balance(OTHER_RELAY)) == (11, 0)
    # A packet whose ack is not proven yet cannot be settled by anyone claiming it: a forged ack fails the proof.
    p2 = transfer(e, a, 300, 11)
    forged = interchain_pb2.MsgAcknowledge(destination_chain="a1b2", proof_height=ack.proof_height)
    forged.acks.add(packet=raw_of(e, p2.sequence), ack=ack.acks[0].ack, proof=ack.acks[0].proof)
    assert e.tx(OTHER_RELAY, "acknowledge", forged).code != 0
    assert e.balance(OTHER_RELAY) == 0 and e.balance(keys.ESCROW) == 311


def test_invalid_relay_fee_overflowing_the_amount(chains):
    e, a = chains
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=MAX_AMOUNT, relay_fee=1)
    r = e.tx(ALICE, "transfer", m)
    assert (r.code, r.codespace) == (InvalidRelayFeeError.code, "interchain")
    assert e.balance(ALICE) == 1_000_000


def test_fee_beyond_the_balance_is_refused_whole(chains):
    e, a = chains
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=999_990, relay_fee=11)
    assert e.tx(ALICE, "transfer", m).code == 20 and e.view.list_outbox("a1b2") == []



@given(st.integers(1, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_packet_with_relay_fee_round_trips_or_is_refused(amount, fee):
    """The fee is part of the committed bytes; a packet whose amount plus fee overflows never decodes."""
    p = Packet(1, ChainId("e2e4"), ChainId("a1b2"), addr(ALICE, "e2e4"), addr(BOB, "a1b2"), Amount(amount),
               Height(0), 5, relay_fee=Amount(fee))
    if amount + fee <= MAX_AMOUNT:
        assert decode_packet(p.encode()) == p
    else:
        with pytest.raises(InvalidPacketError):
            decode_packet(p.encode())
