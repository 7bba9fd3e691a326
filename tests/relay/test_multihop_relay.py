"""The ordinary relays carry multi-hop transfers: three in-process chains e2e4 - a1b2 - c3d4 with a relay each
(mock endpoints). a1b2's relay carries the packets a1b2 forwards, e2e4's relay waits while a1b2's ack is
pending and never submits it (it would be refused, 213), and both outcomes reach the sender."""

from __future__ import annotations

from distpos_abci.errors import ForwardPendingError
from distpos_abci.interchain import keys
from distpos_abci.relay import LocalPeer
from distpos_abci.relay.queue import OUT
from tests.interchain.helpers import ALICE, BOB, addr, send_msg
from tests.interchain.hops import three_chains

from .test_relay import Clock, make_relayer, run

START = 1_000_000
PARAMS = {"forward_fee_fixed": 1, "forward_fee_bps": 0, "forward_timeout_margin_ns": 60 * 10**9, "max_hops": 3}


def wire_three(tmp_path, chains, clock):
    """A relay per chain; each endpoint also records the codes of the transactions CheckTx refused."""
    peers: dict = {}
    relays = [make_relayer(tmp_path, c, c.chain_id, peers, clock) for c in chains]
    for r in relays:
        peers[r.ep.chain_id] = LocalPeer(r.core)
        r.ep.refused = []
        r.ep.broadcast = _recording(r.ep)
    return relays


def _recording(ep):
    broadcast = ep.broadcast

    def record(tx):
        res = broadcast(tx)
        if res.code:
            ep.refused.append(res.code)
        return res

    return record


def _pending_ack_submissions(relays) -> int:
    """Transactions carrying a pending ack (refused 213, in CheckTx or in a block)."""
    return sum(1 for r in relays for code in [*r.ep.refused, *(s.code for s in r.ep.submitted)]
               if code == ForwardPendingError.code)


def test_relays_carry_a_transfer_through_the_middle_chain(tmp_path):
    chains = three_chains(tmp_path, params=PARAMS)
    e, a, c = chains
    clock = Clock()
    relays = wire_three(tmp_path, chains, clock)
    supplies = [x.supply() for x in chains]
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "c3d4"), 700)).ok
    run(*relays, rounds=12, clock=clock)
    assert c.balance(BOB) == START + 699 and e.balance(ALICE) == START - 700
    assert e.view.list_outbox("a1b2") == [] and a.view.list_outbox("c3d4") == []
    assert (e.reserve("a1b2"), a.reserve("e2e4"), a.reserve("c3d4"), c.reserve("a1b2")) == (
        START + 700, START - 700, START + 699, START - 699)
    assert a.balance(keys.FORWARD_FEES) == 1 and [x.supply() for x in chains] == supplies
    assert all(r.queue.count(OUT) == 0 for r in relays)
    assert _pending_ack_submissions(relays) == 0


def test_relays_bring_a_downstream_refusal_back_as_a_refund(tmp_path):
    chains = three_chains(tmp_path, {"c3d4": {"a1b2": {"min_balance": 2 * START}}}, PARAMS)  # suspended
    e, a, c = chains
    clock = Clock()
    relays = wire_three(tmp_path, chains, clock)
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "c3d4"), 700)).ok
    run(*relays, rounds=12, clock=clock)
    assert e.balance(ALICE) == START and c.balance(BOB) == START
    assert e.view.list_outbox("a1b2") == [] and a.view.list_outbox("c3d4") == []
    assert (e.reserve("a1b2"), a.reserve("e2e4"), a.balance(keys.ESCROW), a.balance(keys.FORWARD_FEES)) == (
        START, START, 0, 0)
    assert _pending_ack_submissions(relays) == 0
