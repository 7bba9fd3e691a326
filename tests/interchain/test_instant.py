"""Instant cross-chain credit (issue 11 part 2) on two in-process chains: e2e4 (source, staked validators that
underwrite) and a1b2 (destination, instant-credit limit 5000 for e2e4). Attacks first, each refused with its code
and changing nothing; then the two endings: the proven packet settles the credit, or the source pays the
destination's reserve from the underwriters, exactly once."""

from __future__ import annotations

import pytest

from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.interchain import decode_packet
from distpos_abci.interchain.instant import CREDITED, DELIVERED, HELD, HOLD_PAID, HOLD_RETURNED, PAID_OUT, SEEN, SETTLED
from distpos_abci.interchain.keeper import InterchainView
from tests.interchain.helpers import ALICE, BOB, CAROL, RELAYER, VAL_KEYS, ack_msg, addr, recv_msg, update_proto
from tests.interchain.instant_helpers import (
    DST,
    LIMIT,
    SRC,
    claim_msg,
    collateral,
    credit_msg,
    guarantees,
    instant_key,
    instant_tx,
    open_pair,
    outstanding,
    release_msg,
    services,
    underwriter,
)


def snapshot(src, dst) -> tuple:
    """Everything an instant credit or claim could move."""
    return (dst.balance(BOB), dst.reserve(SRC), outstanding(dst), src.reserve(DST), collateral(src),
            src.balance(ALICE), src.supply(), dst.supply())


def credit(dst, gs, raw, update=None):
    return dst.tx(RELAYER, "instant_credit", credit_msg(gs, raw, update))


def refused(result, code: int) -> None:
    assert (result.code, result.codespace) == (code, "interchain"), result.log


def credit_record(dst, raw):
    return InterchainView(dst.app.state, DST).get_instant_credit(SRC, instant_key(raw))


def send_record(src, nonce: int):
    return InterchainView(src.app.state, SRC).get_instant_send(addr(ALICE, SRC).account, nonce)


# ---- attacks: each refused with its code, nothing changes ----------------------------------------------


def test_invalid_forged_guarantee_is_refused(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    before = snapshot(src, dst)
    outsider = KeyPair(b"\x99" * 32)  # not a validator of e2e4 as a1b2's light client knows it
    refused(credit(dst, guarantees(raw, {0: 1000}, expiry=6, signer=outsider), raw), 221)
    # A validator's name with another validator's signature.
    refused(credit(dst, guarantees(raw, {0: 1000}, expiry=6, signer=VAL_KEYS[SRC][1]), raw), 221)
    # A key that is nobody's, named as its own consensus address.
    from distpos_abci.address import Address
    from distpos_abci.staking import compute_consensus_address
    named = {0: Address(SRC, compute_consensus_address(outsider.pub_key))}
    refused(credit(dst, guarantees(raw, {0: 1000}, expiry=6, signer=outsider, named=named), raw), 221)
    assert snapshot(src, dst) == before and credit_record(dst, raw) is None


def test_invalid_expired_guarantee_is_refused(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 1000}, expiry=src.app.last_height + 1)
    src.block()
    src.block()
    before = snapshot(src, dst)
    # The light client, brought up to the source's present, trusts a height past the expiry.
    refused(credit(dst, gs, raw, update=src.light_block()), 222)
    assert snapshot(src, dst) == before and credit_record(dst, raw) is None


def test_invalid_credit_over_the_instant_limit_is_refused(tmp_path):
    src, dst = open_pair(tmp_path, limit=1500)
    first = instant_tx(src, 1000)
    assert credit(dst, guarantees(first, {0: 1000}, expiry=6), first).ok
    second = instant_tx(src, 600, nonce=src.nonce(ALICE) + 1)
    before = snapshot(src, dst)
    refused(credit(dst, guarantees(second, {1: 600}, expiry=6), second), 223)
    assert snapshot(src, dst) == before and outstanding(dst) == 1000


def test_invalid_credit_without_any_limit_is_refused(tmp_path):
    src, dst = open_pair(tmp_path, limit=0)
    raw = instant_tx(src, 10)
    before = snapshot(src, dst)
    refused(credit(dst, guarantees(raw, {0: 10}, expiry=6), raw), 223)
    assert snapshot(src, dst) == before


def test_invalid_credit_beyond_the_underwriters_stake_is_refused(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1500)  # one validator's stake is 10 power x 100 = 1000
    before = snapshot(src, dst)
    refused(credit(dst, guarantees(raw, {0: 1500}, expiry=6), raw), 224)
    assert snapshot(src, dst) == before
    # Co-underwritten by two, their stake covers it.
    assert credit(dst, guarantees(raw, {0: 800, 2: 700}, expiry=6), raw).ok
    assert dst.balance(BOB) == before[0] + 1500


def test_invalid_replayed_credit_is_refused(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 1000}, expiry=6)
    assert credit(dst, gs, raw).ok
    before = snapshot(src, dst)
    refused(credit(dst, gs, raw), 225)
    # Other shares of the same payment, signed by other validators: the same transfer, refused too.
    refused(credit(dst, guarantees(raw, {1: 500, 2: 500}, expiry=6), raw), 225)
    assert snapshot(src, dst) == before


def test_invalid_mismatched_guarantee_and_transfer_are_refused(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    other = instant_tx(src, 900)  # the same nonce, another amount
    before = snapshot(src, dst)
    refused(credit(dst, guarantees(other, {0: 900}, expiry=6), raw), 226)
    refused(credit(dst, guarantees(raw, {0: 600, 1: 300}, expiry=6), raw), 226)  # shares short of the total
    assert snapshot(src, dst) == before


def test_invalid_packet_first_then_credit_pays_once(tmp_path):
    """The source's packet arrives before anyone asked for the instant credit: it pays as an ordinary transfer,
    and the late credit is a replay (it would pay the recipient twice)."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 1000}, expiry=src.app.last_height + 4)
    bob0 = dst.balance(BOB)
    assert src.block(raw).tx_results[0].ok
    assert dst.tx(RELAYER, "recv_packets", recv_msg(src, [1], DST)).ok
    assert dst.balance(BOB) == bob0 + 1000 and credit_record(dst, raw).status == SEEN
    before = snapshot(src, dst)
    refused(credit(dst, gs, raw), 225)
    assert snapshot(src, dst) == before


# ---- the two endings ------------------------------------------------------------------------------------


def test_instant_credit_then_proven_packet_settles_without_double_credit(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 600, 1: 400}, expiry=src.app.last_height + 4)
    bob0, reserve0, corr0 = dst.balance(BOB), dst.reserve(SRC), src.reserve(DST)
    supplies = (src.supply(), dst.supply())
    result = credit(dst, gs, raw)
    assert result.ok, result.log
    assert dst.balance(BOB) == bob0 + 1000 and dst.reserve(SRC) == reserve0 - 1000 and outstanding(dst) == 1000
    # The source block, then the proven packet: it settles the credit instead of paying Bob again.
    assert src.block(raw).tx_results[0].ok
    assert send_record(src, 4).status == 1
    assert dst.tx(RELAYER, "recv_packets", recv_msg(src, [1], DST)).ok
    assert dst.balance(BOB) == bob0 + 1000 and outstanding(dst) == 0 and credit_record(dst, raw).status == SETTLED
    # The ack goes back as usual: the escrow pays a1b2's reserve at e2e4.
    packet = InterchainView(src.app.state, SRC).get_outbox(DST, 1)
    assert src.tx(RELAYER, "acknowledge", ack_msg(dst, SRC, [packet])).ok
    assert src.reserve(DST) == corr0 + 1000 and send_record(src, 4).status == DELIVERED
    assert (src.supply(), dst.supply()) == supplies
    # Nothing is owed: a claim is refused and pays nothing.
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)), 227)
    assert snapshot(src, dst) == before


def test_instant_credit_then_failed_source_send_pays_the_destination_reserve_once(tmp_path):
    """Alice spends the guaranteed nonce on something else: the credit on a1b2 is paid back to a1b2's reserve at
    e2e4 from Alice's collateral, once; a1b2 learns it by a proof and releases the outstanding credit."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 600, 1: 400}, expiry=src.app.last_height + 4)
    assert credit(dst, gs, raw).ok
    supplies = (src.supply(), dst.supply())
    corr0, col0 = src.reserve(DST), collateral(src)
    spend = src.block(__import__("distpos_abci.tx", fromlist=["build_tx"]).build_tx(
        ALICE, SRC, src.nonce(ALICE), "send", tx_pb2.MsgSend(from_address=str(addr(ALICE, SRC)),
                                                            to_address=str(addr(CAROL, SRC)), amount=5)))
    assert spend.tx_results[0].ok
    assert src.block(raw).tx_results[0].code != 0  # the instant transfer's nonce is gone
    dst.block()
    result = src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw))
    assert result.ok, result.log
    assert src.reserve(DST) == corr0 + 1000 and collateral(src) == col0 - 1000
    assert (src.supply(), dst.supply()) == supplies
    # Exactly once: the same claim again, or with other bytes of the proof, pays nothing.
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)), 225)
    assert snapshot(src, dst) == before
    # a1b2 releases the outstanding credit on the source's proof, once.
    assert outstanding(dst) == 1000
    assert dst.tx(RELAYER, "instant_release", release_msg(src, raw)).ok
    assert outstanding(dst) == 0 and credit_record(dst, raw).status == PAID_OUT
    refused(dst.tx(RELAYER, "instant_release", release_msg(src, raw)), 225)


def test_lapsed_nonce_pays_out_after_expiry_and_is_retired(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 700)
    expiry = src.app.last_height + 2
    gs = guarantees(raw, {2: 700}, expiry=expiry)
    assert credit(dst, gs, raw).ok
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)), 227)  # may still pay
    assert snapshot(src, dst) == before
    while src.app.last_height <= expiry:
        src.block()
    corr0, nonce0 = src.reserve(DST), src.nonce(ALICE)
    assert src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)).ok
    assert src.reserve(DST) == corr0 + 700 and src.nonce(ALICE) == nonce0 + 1
    # The retired nonce can no longer send the packet that would settle the credit a second time.
    assert src.block(raw).tx_results[0].code != 0
    assert InterchainView(src.app.state, SRC).list_outbox(DST) == []


def timeout_msg(src, dst, seq: int = 1):
    from distpos_abci.gen.distpos.v1 import interchain_pb2
    from distpos_abci.interchain import keys

    packet = InterchainView(src.app.state, SRC).get_outbox(DST, seq)
    value, proof = dst.prove(keys.full_inbox_key(SRC, decode_packet(packet).sequence))
    lb = dst.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain=DST, proof_height=lb.height, packet=packet, proof=proof.to_proto())
    update_proto(lb, m.update)
    return m


def test_timed_out_instant_packet_pays_the_destination_from_its_held_amount(tmp_path):
    """The relays stay down: the instant transfer ran on the source, but its packet times out long after the
    guarantee's claim window closed. Its refund is held, not given back to Alice, and the destination's proven
    credit takes it: a1b2 is paid with Alice's own money, her collateral untouched."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 800, timeout_height=dst.app.last_height + 3)
    expiry = src.app.last_height + 4
    gs = guarantees(raw, {0: 800}, expiry=expiry)
    assert credit(dst, gs, raw).ok
    assert src.block(raw).tx_results[0].ok
    refused(src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)), 227)  # in flight
    while src.app.last_height <= expiry + 5 + 2:  # past the claim window (UW_PARAMS claim_window_blocks 5)
        src.block()
        dst.block()
    alice0, col0 = src.balance(ALICE), collateral(src)
    assert src.tx(RELAYER, "timeout", timeout_msg(src, dst)).ok
    assert src.balance(ALICE) == alice0 and send_record(src, 4).status == HELD
    corr0, supplies = src.reserve(DST), (src.supply(), dst.supply())
    assert src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)).ok
    assert src.reserve(DST) == corr0 + 800 and collateral(src) == col0 and send_record(src, 4).status == HOLD_PAID
    assert (src.supply(), dst.supply()) == supplies
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", claim_msg(src, dst, gs, raw)), 225)
    assert snapshot(src, dst) == before


def return_msg(src, dst, gs, raw):
    """The payer's side of a held transfer: non-membership of the destination's credit record."""
    m = claim_msg(src, dst, gs, raw)
    m.credit = b""
    return m


def test_held_transfer_the_destination_never_credited_goes_back_to_the_payer(tmp_path):
    src, dst = open_pair(tmp_path, limit=0)  # no instant credit at a1b2: the credit is refused
    raw = instant_tx(src, 500, timeout_height=dst.app.last_height + 4)
    gs = guarantees(raw, {0: 500}, expiry=src.app.last_height + 4)
    refused(credit(dst, gs, raw), 223)
    assert src.block(raw).tx_results[0].ok
    alice0 = src.balance(ALICE)
    while dst.app.last_height + 1 < decode_packet(InterchainView(src.app.state, SRC).get_outbox(DST, 1)).timeout_height:
        dst.block()
    assert src.tx(RELAYER, "timeout", timeout_msg(src, dst)).ok
    assert send_record(src, 4).status == HELD and src.balance(ALICE) == alice0
    assert src.tx(RELAYER, "instant_claim", return_msg(src, dst, gs, raw)).ok
    assert src.balance(ALICE) == alice0 + 500 and send_record(src, 4).status == HOLD_RETURNED
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", return_msg(src, dst, gs, raw)), 227)  # once
    assert snapshot(src, dst) == before


def test_invalid_return_of_a_held_transfer_the_destination_credited(tmp_path):
    """The payer cannot take back the held amount of a transfer a1b2 credited: the credit record exists, so no
    non-membership proof of it verifies (nor one of another key)."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 500, timeout_height=dst.app.last_height + 4)
    gs = guarantees(raw, {0: 500}, expiry=src.app.last_height + 4)
    assert credit(dst, gs, raw).ok
    assert src.block(raw).tx_results[0].ok
    while dst.app.last_height + 1 < decode_packet(InterchainView(src.app.state, SRC).get_outbox(DST, 1)).timeout_height:
        dst.block()
    assert src.tx(RELAYER, "timeout", timeout_msg(src, dst)).ok
    before = snapshot(src, dst)
    refused(src.tx(RELAYER, "instant_claim", return_msg(src, dst, gs, raw)), 104)  # its membership proof
    m = return_msg(src, dst, gs, raw)
    m.proof.CopyFrom(dst.prove(b"interchain/icredit/e2e4/" + b"\x00" * 32)[1].to_proto())  # a proof of another key
    refused(src.tx(RELAYER, "instant_claim", m), 104)
    assert snapshot(src, dst) == before


def test_invalid_credit_after_the_packet_timed_out_is_refused(tmp_path):
    """Past its timeout an instant transfer can only be refunded: the destination never credits it any more."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 500, timeout_height=dst.app.last_height + 2)
    gs = guarantees(raw, {0: 500}, expiry=src.app.last_height + 4)
    dst.block()
    before = snapshot(src, dst)
    refused(credit(dst, gs, raw), 222)
    assert snapshot(src, dst) == before


def test_credit_is_recorded_for_the_source_to_verify(tmp_path):
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 100)
    gs = guarantees(raw, {3: 100}, expiry=6)
    assert credit(dst, gs, raw).ok
    rec = credit_record(dst, raw)
    assert (rec.status, rec.payer, rec.nonce, rec.recipient, rec.amount) == (
        CREDITED, str(addr(ALICE, SRC)), 4, str(addr(BOB, DST)), 100)
    assert gs[0].underwriter == underwriter(3) and LIMIT == 5000


def test_the_guarantee_service_issues_cross_chain_guarantees_the_destination_accepts(tmp_path):
    """The same service and co-underwriting as local guarantees: alone within the payer's collateral with one
    validator, co-underwritten above it; shares name the validators' consensus addresses."""
    import asyncio

    from distpos_abci.underwriting import build_collateral_tx
    from tests.interchain.instant_helpers import OPERATORS

    src, dst = open_pair(tmp_path)
    svc = services(src)
    raw = instant_tx(src, 900)
    gs = asyncio.run(svc[0].underwrite(raw, carry=False))
    assert [g.underwriter for g in gs] == [underwriter(0)] and gs[0].beneficiary == addr(BOB, DST)
    assert credit(dst, gs, raw).ok
    # Carol has 800 of collateral with each of two validators: 1500 needs both.
    for op in OPERATORS[:2]:
        assert src.block(build_collateral_tx(CAROL, SRC, src.nonce(CAROL), "deposit", str(addr(op, SRC)),
                                             800)).tx_results[0].ok
    raw2 = instant_tx(src, 1500, payer=CAROL)
    shares = asyncio.run(svc[0].underwrite(raw2, carry=False))
    assert {(str(g.underwriter), g.amount) for g in shares} == {(str(underwriter(0)), 800), (str(underwriter(1)), 700)}
    bob0 = dst.balance(BOB)
    assert credit(dst, shares, raw2).ok
    assert dst.balance(BOB) == bob0 + 1500 and outstanding(dst) == 2400
    # A local payment is still guaranteed by the operator, as before.
    from distpos_abci.gen.distpos.v1 import tx_pb2 as tp
    from distpos_abci.tx import build_tx
    local = build_tx(ALICE, SRC, src.nonce(ALICE) + 1, "send", tp.MsgSend(
        from_address=str(addr(ALICE, SRC)), to_address=str(addr(CAROL, SRC)), amount=5))
    assert src.block(raw).tx_results[0].ok
    (g_local,) = asyncio.run(svc[0].underwrite(local, carry=False))
    assert g_local.underwriter == addr(OPERATORS[0], SRC)


def test_governance_sets_the_instant_limit_and_bad_limits_are_refused(tmp_path):
    """The interchain params hook a passed MsgUpdateParams runs: the whole instant_credit map is replaced."""
    from distpos_abci.errors import InvalidParamsError, NoCorrespondentError

    src, dst = open_pair(tmp_path, limit=0)
    for bad, err in (('{"instant_credit": {"e2e4": {"limit": -1}}}', InvalidParamsError),
                     ('{"instant_credit": {"e2e4": {"stake_per_power": 0}}}', InvalidParamsError),
                     ('{"instant_credit": {"e2e4": {"limit": 1, "fee": 2}}}', InvalidParamsError),
                     ('{"instant_credit": [1]}', InvalidParamsError),
                     ('{"other": 1}', InvalidParamsError),
                     ('{"instant_credit": {"c3d4": {"limit": 1}}}', NoCorrespondentError)):
        assert isinstance(dst.gov("params", bad), err), bad
    assert InterchainView(dst.app.state, DST).get_instant_limit(SRC).limit == 0
    assert dst.gov("params", '{"instant_credit": {"e2e4": {"limit": 1200, "stake_per_power": 100, '
                             '"max_guarantee_blocks": 4}}}') is None
    assert InterchainView(dst.app.state, DST).get_instant_limit(SRC).limit == 1200
    raw = instant_tx(src, 1000)
    assert credit(dst, guarantees(raw, {0: 1000}, expiry=src.app.last_height + 3), raw).ok
    assert outstanding(dst) == 1000


def test_invalid_claim_with_a_forged_share_is_refused(tmp_path):
    """The source checks every share against its own staking: a share naming validator 0 but signed by validator 1
    cannot take validator 0's collateral or stake, even for a credit the destination really gave."""
    src, dst = open_pair(tmp_path)
    raw = instant_tx(src, 600)
    expiry = src.app.last_height + 2
    assert credit(dst, guarantees(raw, {0: 600}, expiry=expiry), raw).ok
    while src.app.last_height <= expiry:
        src.block()
    forged = guarantees(raw, {0: 600}, expiry=expiry, signer=VAL_KEYS[SRC][1])
    before = snapshot(src, dst)
    result = src.tx(RELAYER, "instant_claim", claim_msg(src, dst, forged, raw))
    assert (result.code, result.codespace) == (81, "underwriting"), result.log
    assert snapshot(src, dst) == before


def test_equal_transfers_get_distinct_keys_through_the_client_timeout():
    from distpos_abci.interchain.instant import compute_instant_timeout_ns

    now = 1_800_000_000_123_456_789
    a, b = compute_instant_timeout_ns(now, 600, 7), compute_instant_timeout_ns(now, 600, 8)
    assert a != b and a // 10**9 == b // 10**9 == now // 10**9 + 600
