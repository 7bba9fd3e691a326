"""A hypothesis state machine over three in-process chains in a line, e2e4 - a1b2 - c3d4, where the end chains
have no correspondent of each other: direct and multi-hop transfers (through the routing table and with a sender
path) relayed in any order, replays of packets and acks, timeouts, time passing on any chain, and governance
suspending and resuming c3d4's correspondent of a1b2 so forwards fail downstream.

After every step:
- every chain's supply is what genesis minted;
- each escrow holds exactly what its outbox owes: a packet's amount, or for a forwarded one all it took in;
- between each pair of neighbours X, Y nothing is created or lost: X's reserve at Y plus Y's reserve at X plus
  the packets one of them sent that the other already paid (or forwarded) and the sender has not yet settled
  stay at their genesis total;
- nobody profits: all users' balances on all chains plus the forwarding fees never exceed the start, and equal
  it when no packet is in flight;
- a replayed packet or ack changes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.interchain.forwarding import is_pending_ack
from distpos_abci.interchain.records import Packet
from tests.interchain.helpers import ALICE, BOB, CAROL, NS, RELAYER, ack_msg, addr, recv_msg, send_msg
from tests.interchain.hops import NEIGHBOURS, acknowledge, catch_up, deliver, open_hop_chain, timeout

CHAINS = ("e2e4", "a1b2", "c3d4")
USERS = (ALICE, BOB, CAROL)
LINKS = [(x, y) for x in CHAINS for y in NEIGHBOURS[x]]
START = 1_000_000
SHORT = {"default_timeout_ns": 30 * NS}  # timeouts within reach of a few dozen blocks
PARAMS = {"forward_fee_fixed": 2, "forward_fee_bps": 50, "forward_timeout_margin_ns": 8 * NS, "max_hops": 3}


class ThreeChains(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.c = {ch: open_hop_chain(Path(self.tmp.name), ch, {p: SHORT for p in NEIGHBOURS[ch]}, PARAMS)
                  for ch in CHAINS}
        self.supply0 = {ch: self.c[ch].supply() for ch in CHAINS}
        self.users0 = self.users_total()
        self.pair0 = {frozenset(link): self.pair_total(*link) for link in LINKS}
        self.settled: list[tuple[str, str, bytes, bool]] = []  # (source, destination, packet, by timeout)

    def teardown(self) -> None:
        self.tmp.cleanup()

    # ---- readings

    def users_total(self) -> int:
        return sum(c.balance(k) for c in self.c.values() for k in USERS)

    def fees(self) -> int:
        return sum(c.balance(keys.FORWARD_FEES) for c in self.c.values())

    def owed(self, chain: str, p: Packet) -> int:
        fwd = self.c[chain].view.get_forward(p.destination_chain, p.sequence)
        return fwd.amount_in if fwd is not None else p.amount

    def paid_unsettled(self, x: str, y: str) -> int:
        """x's packets to y that y paid or forwarded (success or pending receipt), not yet settled on x."""
        total = 0
        for p in self.c[x].view.list_outbox(y):
            ack = self.c[y].view.get_inbox(x, p.sequence)
            if ack is not None and (ack.success or is_pending_ack(ack)):
                total += p.amount
        return total

    def pair_total(self, x: str, y: str) -> int:
        return (self.c[x].reserve(y) + self.c[y].reserve(x) + self.paid_unsettled(x, y) + self.paid_unsettled(y, x))

    def in_flight(self) -> bool:
        return any(self.c[x].view.list_outbox(y) for x, y in LINKS)

    def money(self) -> list:
        return [(c.supply(), c.balance(keys.ESCROW), c.balance(keys.FORWARD_FEES), [c.balance(k) for k in USERS],
                 [c.reserve(p) for p in NEIGHBOURS[c.chain_id]]) for c in self.c.values()]

    # ---- rules

    @rule(src=st.sampled_from(CHAINS), dst=st.sampled_from(CHAINS), u=st.sampled_from(USERS),
          to=st.sampled_from(USERS), amount=st.integers(1, 5000), given_path=st.booleans())
    def send(self, src, dst, u, to, amount, given_path):
        if src == dst:
            return
        far = dst not in NEIGHBOURS[src]
        c = self.c[src]
        if far and given_path:
            m = interchain_pb2.MsgTransfer(from_address=str(addr(u, src)), to_address=str(addr(to, dst)), amount=amount,
                                           path=["a1b2"], timeout_time_ns=c.times[c.app.last_height] + 40 * NS)
            r = c.tx(u, "transfer", m)
        else:
            r = c.tx(u, "send", send_msg(u, src, addr(to, dst), amount))
        assert r.ok, r.log

    @rule(link=st.sampled_from(LINKS), data=st.data())
    def relay_packets(self, link, data):
        x, y = link
        catch_up(self.c[y], self.c[x])
        live = [p.sequence for p in self.c[x].view.list_outbox(y) if self.c[y].view.get_inbox(x, p.sequence) is None]
        if not live:
            return
        seqs = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=3, unique=True))
        r = deliver(self.c[x], self.c[y], seqs)
        assert r.ok or r.code == 105, r.log  # all-or-nothing: one timed-out packet fails the batch

    @rule(link=st.sampled_from(LINKS))
    def relay_acks(self, link):
        x, y = link
        final = [p.sequence for p in self.c[x].view.list_outbox(y)
                 if (a := self.c[y].view.get_inbox(x, p.sequence)) is not None and not is_pending_ack(a)]
        if final:
            raws = [self.c[x].view.get_outbox(y, s) for s in final]
            for s in final:
                a = self.c[y].view.get_inbox(x, s)
                hops = "multi-hop" if decode_packet(self.c[x].view.get_outbox(y, s)).path else "direct"
                event(f"{hops} ack {'success' if a.success else a.error_code}")
            r = acknowledge(self.c[x], self.c[y], final)
            assert r.ok, r.log
            self.settled += [(x, y, raw, False) for raw in raws]

    @rule()
    def relay_round(self):
        """What running relays do: every link's unreceived packets delivered, then every final ack relayed."""
        for x, y in LINKS:
            live = [p.sequence for p in self.c[x].view.list_outbox(y) if self.c[y].view.get_inbox(x, p.sequence) is None]
            for s in live:  # one by one: a timed-out packet fails only itself
                r = deliver(self.c[x], self.c[y], [s])
                assert r.ok or r.code == 105, r.log
        for link in LINKS:
            self.relay_acks(link)

    @rule(link=st.sampled_from(LINKS), data=st.data())
    def relay_timeout(self, link, data):
        x, y = link
        unreceived = [p for p in self.c[x].view.list_outbox(y) if self.c[y].view.get_inbox(x, p.sequence) is None]
        if not unreceived:
            return
        p = data.draw(st.sampled_from(unreceived))
        raw = p.encode()
        r = timeout(self.c[x], self.c[y], p.sequence)
        assert r.ok or r.code == 106, r.log  # not timed out yet
        if r.ok:
            event(f"{'multi-hop' if p.path else 'direct'} timeout")
            self.settled.append((x, y, raw, True))

    @rule(link=st.sampled_from(LINKS), data=st.data())
    def replay_packet(self, link, data):
        x, y = link
        received = [p.sequence for p in self.c[x].view.list_outbox(y) if self.c[y].view.get_inbox(x, p.sequence)]
        if not received:
            return
        catch_up(self.c[y], self.c[x])
        before = self.money()
        r = self.c[y].tx(RELAYER, "recv_packets", recv_msg(self.c[x], [data.draw(st.sampled_from(received))], y))
        assert r.code == 102 and self.money() == before, r.log

    @rule(data=st.data())
    def replay_ack(self, data):
        if not self.settled:
            return
        x, y, raw, by_timeout = data.draw(st.sampled_from(self.settled))
        catch_up(self.c[x], self.c[y])
        before = self.money()
        if by_timeout:
            r = timeout(self.c[x], self.c[y], 0, raw)
        else:
            r = self.c[x].tx(RELAYER, "acknowledge", ack_msg(self.c[y], x, [raw]))
        assert r.code == 107 and self.money() == before, r.log

    @rule(chain=st.sampled_from(CHAINS), n=st.integers(1, 40))
    def time_passes(self, chain, n):
        for _ in range(n):
            self.c[chain].block()

    @rule(suspend=st.booleans())
    def govern_c3d4(self, suspend):
        """c3d4's governance suspends (or resumes) a1b2's correspondent: forwards to c3d4 then fail there."""
        limits = interchain_pb2.CorrespondentLimits(min_balance=10 * START if suspend else 0,
                                                    default_timeout_ns=SHORT["default_timeout_ns"])
        c = self.c["c3d4"]
        assert c.gov("set_limits", interchain_pb2.MsgSetLimits(authority=c.gov_address, chain_id="a1b2",
                                                               limits=limits)) is None

    # ---- invariants

    @invariant()
    def supply_conserved(self):
        assert {ch: self.c[ch].supply() for ch in CHAINS} == self.supply0

    @invariant()
    def escrow_is_what_the_outbox_owes(self):
        for ch in CHAINS:
            owed = sum(self.owed(ch, p) for peer in NEIGHBOURS[ch] for p in self.c[ch].view.list_outbox(peer))
            assert self.c[ch].balance(keys.ESCROW) == owed, ch

    @invariant()
    def neighbours_conserve_their_reserves(self):
        for link in LINKS:
            assert self.pair_total(*link) == self.pair0[frozenset(link)], link

    @invariant()
    def nobody_profits(self):
        total = self.users_total() + self.fees()
        assert total <= self.users0
        if not self.in_flight():
            assert total == self.users0

    @invariant()
    def packets_decode(self):
        for x, y in LINKS:
            for p in self.c[x].view.list_outbox(y):
                assert decode_packet(p.encode()) == p


ThreeChains.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestThreeChains = ThreeChains.TestCase
