"""A hypothesis state machine over two in-process chains, e2e4 and a1b2, each with bank, staking, underwriting,
gov and interchain at once: local and guaranteed payments (through the real guarantee service) with double spends
and withholding, collateral, transfers both ways relayed in any order (receipts, acks, timeouts, retries of the
same packet), top-ups, governance proposals changing a correspondent's limits that validators vote on, and
instant credit: a guaranteed instant transfer credited on the peer at once (through the real guarantee service,
its shares checked against the peer's light client), then sent, double-spent or withheld on its source, its
packet relayed like any other, claims of the peer's reserve and releases of the outstanding credit in any order.

After every step, on every chain:
- total supply is what genesis minted plus what inflation minted since, the escrow holds exactly the amounts of
  the packets in the outbox, and the instant hold exactly the instant transfers refused or timed out and not yet
  paid to the peer or returned;
- every transaction pays its fee (relay messages included, from the relay's own account); the reward pool holds
  exactly the validators' rewards plus the remainder (rewards never exceed fees + inflation);
- between the two banks nothing is created or lost: the two correspondent reserves moved by exactly the top-ups,
  minus what the destination already credited for packets still waiting for their ack;
- a packet is credited at most once (the inbox has one record per sequence, and credits equal successful records);
- an instant credit is compensated at most once: by its packet's ack or by one payout, never both; the
  outstanding instant credit is what is credited and neither settled by the packet nor released;
- limits change only by a passed proposal;
- the attacker's accounts never end richer than they started, and no validator loses stake;
- relay fees (issue 12): the escrow also holds the relay fees of the packets in flight; each settled packet's fee
  went exactly once to the relay that signed its ack, or back to its sender on a timeout; the relays (two, taking
  turns) hold exactly the fees of the packets they acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from distpos_abci.address import Address
from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.distribution import REWARDS_POOL, DistributionKeeper
from distpos_abci.authority import gov_authority_address
from distpos_abci.errors import DistposError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.gov import build_submit_proposal_tx, build_vote_tx
from distpos_abci.gov.msgs import VOTE_OPTIONS, build_proposal_message
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.interchain.keeper import InterchainView
from distpos_abci.module import Vote
from distpos_abci.staking import StakingKeeper, compute_consensus_address
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.tx import build_tx
from distpos_abci.underwriting import (
    COLLATERAL_POOL,
    UnderwritingKeeper,
    build_claim_tx,
    build_collateral_tx,
    build_underwritten_tx,
)
from distpos_abci.underwriting.service import UnderwritingService
from tests.helpers import paid
from tests.interchain.helpers import Chain, addr, genesis, key, recv_msg, ack_msg, update_proto
from distpos_abci.interchain.instant import CREDITED, DELIVERED, HELD, PAID_OUT, SETTLED, compute_instant_key
from distpos_abci.interchain.msgs import build_instant_transfer_tx
from tests.interchain.helpers import VAL_KEYS
from tests.staking.helpers import PARAMS, UW_PARAMS

CHAINS = ("e2e4", "a1b2")
PEER = {"e2e4": "a1b2", "a1b2": "e2e4"}
USERS = (1, 2, 3)  # funded with 1,000,000 on both chains by the interchain genesis; one attacker owns them all
VALIDATORS = (10, 11, 12)  # staked 300 each (power 3): gov voters and underwriters
RELAYER = 4
RELAYERS = (4, 5)  # accounts that sign acks and timeouts (funded to pay their fees); they earn relay fees
RELAYER_FUNDS = 100_000
T_FAR = 10**18  # instant transfers' timeout times start at 2 * T_FAR: far beyond any block time of the test
GOV = {"voting_period_blocks": 4, "min_deposit": 100, "max_active_proposals": 3}
PRICE = 1  # chain min_gas_price, milli-units per gas
INFLATION = 2  # base units minted per block into the reward pool


def cons_key(chain: str, v: int):
    """Validator v's consensus key on chain: one of the keys the peer's light client trusts (VAL_KEYS), so its
    cross-chain guarantees verify there."""
    return VAL_KEYS[chain][VALIDATORS.index(v)]


def chain_genesis(chain: str) -> bytes:
    """The interchain test genesis plus validators, underwriting, gov and an instant-credit limit for the peer."""
    state = json.loads(genesis(chain, {PEER[chain]: {"per_packet_max": 0}}))
    state["interchain"]["instant_credit"] = {PEER[chain]: {
        "limit": 6000, "stake_per_power": PARAMS["power_reduction"],
        "max_guarantee_blocks": UW_PARAMS["max_guarantee_blocks"]}}
    state["accounts"] += [{"address": str(addr(key(v), chain)), "balance": "1000"} for v in VALIDATORS]
    state["accounts"] += [{"address": str(addr(key(r), chain)), "balance": str(RELAYER_FUNDS)} for r in RELAYERS]
    state["params"] = {"min_gas_price": PRICE}
    state["distribution"] = {"params": {"inflation_per_block": INFLATION}}
    state["staking"] = {"params": PARAMS, "validators": [
        {"operator": str(addr(key(v), chain)), "consensus_pub_key": base64.b64encode(cons_key(chain, v).pub_key).decode(),
         "self_stake": "300", "endpoint": f"{chain}-v{v}:1", "moniker": f"v{v}"} for v in VALIDATORS]}
    state["underwriting"] = {"params": UW_PARAMS}
    state["gov"] = {"params": GOV}
    return json.dumps(state).encode()


class Peers:
    """In-process co-underwriting between the services of one chain."""

    def __init__(self) -> None:
        self.services: dict[str, UnderwritingService] = {}

    async def reserve(self, endpoint, tx, amount, expiry, auth, timeout):
        return self.services[endpoint].reserve(tx, amount, expiry, auth)

    async def confirm(self, endpoint, tx_hash, auth, timeout):
        return self.services[endpoint].confirm(tx_hash, auth)

    async def release(self, endpoint, tx_hash, auth, timeout):
        self.services[endpoint].release(tx_hash, auth)


class TwoChains(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.dbs, self.c, self.services = [], {}, {}
        for chain in CHAINS:
            db = Database(f"{self.tmp.name}/{chain}")
            self.dbs.append(db)
            app = DistposApp(StateStore(db))
            app.init_chain(chain, chain_genesis(chain))
            self.c[chain] = Chain(chain, app)
            self.c[chain].block()
            peers = Peers()
            for v in VALIDATORS:
                peers.services[f"{chain}-v{v}:1"] = UnderwritingService(app, cons_key(chain, v), peers=peers,
                                                                              guarantee_blocks=3)
            self.services[chain] = peers.services
        self.supply0 = {ch: self.c[ch].supply() for ch in CHAINS}
        self.minted0 = {ch: DistributionKeeper(self.c[ch].app.state, ch).get_minted() for ch in CHAINS}
        self.reserve0 = {ch: self.c[ch].reserve(PEER[ch]) for ch in CHAINS}
        self.topups = {ch: 0 for ch in CHAINS}
        self.wealth0 = {ch: self.attacker_wealth(ch) for ch in CHAINS}
        self.limits = {ch: self.corr_limits(ch) for ch in CHAINS}  # what the last passed proposal set
        self.proposals: dict[tuple[str, int], int] = {}  # (chain, id) -> per_packet_max it sets
        self.guaranteed: list[tuple[str, bytes, list]] = []
        self.fees_earned = {(ch, r): 0 for ch in CHAINS for r in RELAYERS}  # from packets their acks settled
        self.fee_settled: dict[tuple[str, int], int] = {}  # (source chain, sequence) -> times its fee moved
        self.fees_paid: dict[tuple[str, str], int] = {}  # (chain, payer address) -> transaction fees paid
        self.instant: list[tuple[str, bytes, list, bytes]] = []  # (source, raw, guarantees, instant key)

    def teardown(self) -> None:
        for db in self.dbs:
            db.close()
        self.tmp.cleanup()

    # ---- helpers

    def view(self, chain: str) -> InterchainView:
        return InterchainView(self.c[chain].app.state, chain)

    def corr_limits(self, chain: str):
        return self.view(chain).require_correspondent(PEER[chain]).limits

    def attacker_wealth(self, chain: str) -> int:
        c = self.c[chain]
        ledger = UnderwritingKeeper(c.app.state, chain)
        held = sum(ledger.get_collateral(addr(key(u), chain).account, addr(key(v), chain).account).seizable
                   for u in USERS for v in VALIDATORS)
        return sum(c.balance(key(u)) for u in USERS) + held

    def outbox(self, chain: str) -> list:
        return self.view(chain).list_outbox(PEER[chain])

    def step(self, chain: str, *txs: bytes):
        """A block of txs on chain and an empty one on its peer: both chains keep one clock (block time is
        T0 + height seconds), as real chains do, so neither sees the other's headers from the future."""
        def votes(ch: str) -> tuple:
            return tuple(Vote(compute_consensus_address(cons_key(ch, v).pub_key), 3, True) for v in VALIDATORS)

        result = self.c[chain].block(*txs, votes=votes(chain))
        self.c[PEER[chain]].block(votes=votes(PEER[chain]))
        for r in result.tx_results:
            for e in r.events:
                if e.type == "fee":
                    a = dict(e.attributes)
                    self.fees_paid[(chain, a["payer"])] = self.fees_paid.get((chain, a["payer"]), 0) + int(a["amount"])
        return result

    def sign(self, chain: str, k, field, msg) -> bytes:
        c = self.c[chain]
        return paid(k, build_tx(k, chain, c.nonce(k), field, msg), PRICE)

    # ---- bank and interchain

    @rule(chain=st.sampled_from(CHAINS), u=st.sampled_from(USERS), to=st.sampled_from(USERS),
          amount=st.integers(1, 400_000), explicit=st.booleans(), ttl=st.integers(2, 12),
          relay_fee=st.sampled_from([0, 1, 7, 50]))
    def transfer(self, chain, u, to, amount, explicit, ttl, relay_fee):
        c, dst = self.c[chain], self.c[PEER[chain]]
        recipient = str(addr(key(to), PEER[chain]))
        if explicit:  # a height timeout on the destination, so timeouts happen within a few blocks
            msg = interchain_pb2.MsgTransfer(from_address=str(addr(key(u), chain)), to_address=recipient,
                                             amount=amount, timeout_height=dst.app.last_height + ttl,
                                             relay_fee=relay_fee)
            self.step(chain, self.sign(chain, key(u), "transfer", msg))
        else:
            from distpos_abci.gen.distpos.v1 import tx_pb2
            self.step(chain, self.sign(chain, key(u), "send", tx_pb2.MsgSend(
                from_address=str(addr(key(u), chain)), to_address=recipient, amount=amount)))

    @rule(chain=st.sampled_from(CHAINS), u=st.sampled_from(USERS), amount=st.integers(1, 50_000))
    def top_up(self, chain, u, amount):
        msg = interchain_pb2.MsgTopUp(from_address=str(addr(key(u), chain)), chain_id=PEER[chain], amount=amount)
        if self.step(chain, self.sign(chain, key(u), "top_up", msg)).tx_results[0].ok:
            self.topups[chain] += amount

    @precondition(lambda self: any(self.outbox(ch) for ch in CHAINS))
    @rule(chain=st.sampled_from(CHAINS), pick=st.integers(0, 100), many=st.booleans(), again=st.booleans())
    def relay_receive(self, chain, pick, many, again):
        """Deliver pending packets of chain to its peer, one per transaction, in any order; `again` delivers the
        first one twice (the second is refused as a replay)."""
        pending = self.outbox(chain)
        if not pending:
            return
        start = pick % len(pending)
        chosen = (pending[start:] + pending[:start]) if many else [pending[start]]
        src, dst = self.c[chain], self.c[PEER[chain]]
        for p in chosen[:6] + (chosen[:1] if again else []):
            self.step(dst.chain_id, self.sign(dst.chain_id, key(RELAYER), "recv_packets",
                                              recv_msg(src, [p.sequence], dst.chain_id)))

    @precondition(lambda self: any(self.outbox(ch) for ch in CHAINS))
    @rule(chain=st.sampled_from(CHAINS), relayer=st.sampled_from(RELAYERS))
    def relay_round(self, chain, relayer):
        """What a relay does in one round: deliver chain's pending packets to its peer, then settle them."""
        self.relay_receive(chain, 0, True, False)
        self.relay_ack_or_timeout(chain, relayer, False)

    @precondition(lambda self: any(self.outbox(ch) for ch in CHAINS))
    @rule(chain=st.sampled_from(CHAINS), relayer=st.sampled_from(RELAYERS), again=st.booleans())
    def relay_ack_or_timeout(self, chain, relayer, again):
        """Settle every pending packet of chain that its peer received (ack) or can no longer receive (timeout);
        `again` has the other relay submit the same ack once more (refused: the fee moves once)."""
        src, dst = self.c[chain], self.c[PEER[chain]]
        for p in self.outbox(chain):
            raw = self.view(chain).get_outbox(dst.chain_id, p.sequence)
            if self.view(dst.chain_id).get_inbox(chain, p.sequence) is not None:
                ack = ack_msg(dst, chain, [raw])
                self.note_fees(chain, relayer, self.step(chain, self.sign(chain, key(relayer), "acknowledge", ack)))
                if again:
                    other = RELAYERS[1 - RELAYERS.index(relayer)]
                    self.note_fees(chain, other, self.step(chain, self.sign(chain, key(other), "acknowledge", ack)))
            elif p.timeout_height and dst.app.last_height >= p.timeout_height:
                value, proof = dst.prove(keys.full_inbox_key(chain, p.sequence))
                lb = dst.light_block()
                m = interchain_pb2.MsgTimeout(destination_chain=dst.chain_id, proof_height=lb.height, packet=raw,
                                              proof=proof.to_proto())
                update_proto(lb, m.update)
                self.note_fees(chain, relayer, self.step(chain, self.sign(chain, key(relayer), "timeout", m)))

    def note_fees(self, chain: str, relayer: int, result) -> None:
        for r in result.tx_results:
            for e in r.events:
                if e.type in ("relay_fee_paid", "relay_fee_refunded"):
                    a = dict(e.attributes)
                    packet = (chain, int(a["sequence"]))
                    self.fee_settled[packet] = self.fee_settled.get(packet, 0) + 1
                    if e.type == "relay_fee_paid":
                        assert a["to"] == str(addr(key(relayer), chain))
                        self.fees_earned[(chain, relayer)] += int(a["amount"])

    @rule(chain=st.sampled_from(CHAINS), n=st.integers(1, 3))
    def blocks(self, chain, n):
        for _ in range(n):
            self.step(chain)

    # ---- governance

    @rule(chain=st.sampled_from(CHAINS), per_packet_max=st.sampled_from([0, 1000, 100_000]),
          votes=st.lists(st.sampled_from(["yes", "no", "abstain", None]), min_size=3, max_size=3),
          proposer=st.sampled_from(USERS))
    def govern_limits(self, chain, per_packet_max, votes, proposer):
        c = self.c[chain]
        limits = interchain_pb2.CorrespondentLimits()
        self.corr_limits(chain).to_proto(limits)
        limits.per_packet_max = per_packet_max
        msg = interchain_pb2.MsgSetLimits(authority=str(gov_authority_address(chain)), chain_id=PEER[chain],
                                          limits=limits)
        raw = paid(key(proposer), build_submit_proposal_tx(key(proposer), chain, c.nonce(key(proposer)), "limits",
                                                           "why", [build_proposal_message("set_limits", msg)], 100),
                   PRICE)
        res = self.step(chain, raw)
        if not res.tx_results[0].ok:
            return
        pid = self._last_proposal_id(chain)
        self.proposals[(chain, pid)] = per_packet_max
        txs = [paid(key(v), build_vote_tx(key(v), chain, c.nonce(key(v)), pid, VOTE_OPTIONS[o]), PRICE)
               for v, o in zip(VALIDATORS, votes) if o is not None]
        self.step(chain, *txs)
        if sum(o == "yes" for o in votes) * 3 > len(VALIDATORS) * 2:  # all three yes: > 2/3 of the power
            self.limits[chain] = ("set", per_packet_max)

    def _last_proposal_id(self, chain: str) -> int:
        from distpos_abci.gov import GovKeeper
        return GovKeeper(self.c[chain].app.state, chain).get_next_proposal_id() - 1

    # ---- underwriting

    @rule(chain=st.sampled_from(CHAINS), u=st.sampled_from(USERS), v=st.sampled_from(VALIDATORS),
          amount=st.integers(1, 3000))
    def deposit(self, chain, u, v, amount):
        self.step(chain, paid(key(u), build_collateral_tx(key(u), chain, self.c[chain].nonce(key(u)), "deposit",
                                                          str(addr(key(v), chain)), amount), PRICE))

    @rule(chain=st.sampled_from(CHAINS), u=st.sampled_from(USERS), to=st.sampled_from(USERS),
          v=st.sampled_from(VALIDATORS), amount=st.integers(1, 3000),
          strategy=st.sampled_from(["carry", "double_spend", "withhold"]))
    def guaranteed_payment(self, chain, u, to, v, amount, strategy):
        c = self.c[chain]
        if to == u:
            return
        n = c.nonce(key(u))
        raw = paid(key(u), build_send_tx(key(u), chain, n, str(addr(key(to), chain)), amount), PRICE)
        try:
            gs = asyncio.run(self.services[chain][f"{chain}-v{v}:1"].underwrite(raw, carry=False))
        except DistposError:
            return
        self.guaranteed.append((chain, raw, gs))
        txs = []
        if strategy == "double_spend":
            other = next(w for w in USERS if w not in (u, to))
            txs.append(paid(key(u), build_send_tx(key(u), chain, n, str(addr(key(other), chain)), amount), PRICE))
        if strategy != "withhold":
            txs.append(paid(key(RELAYER), build_underwritten_tx(key(RELAYER), chain, c.nonce(key(RELAYER)), raw, gs),
                            PRICE))
        self.step(chain, *txs)

    @precondition(lambda self: self.guaranteed)
    @rule(pick=st.integers(0, 100))
    def claim(self, pick):
        chain, raw, gs = self.guaranteed[pick % len(self.guaranteed)]
        c = self.c[chain]
        self.step(chain, paid(key(RELAYER), build_claim_tx(key(RELAYER), chain, c.nonce(key(RELAYER)), gs, raw), PRICE))


    # ---- instant credit

    @rule(chain=st.sampled_from(CHAINS), u=st.sampled_from(USERS), to=st.sampled_from(USERS),
          v=st.sampled_from(VALIDATORS), amount=st.integers(1, 2500), ttl=st.integers(2, 12),
          strategy=st.sampled_from(["send", "send_later", "double_spend", "withhold"]), lock=st.booleans())
    def instant_payment(self, chain, u, to, v, amount, ttl, strategy, lock):
        """u asks a validator of chain for an instant transfer to `to` on the peer (after locking collateral for
        it with that validator, if `lock`); the credit is submitted on the peer at once; the payer then sends it,
        sends it only after the peer's next block, spends the nonce on something else, or never sends it."""
        from distpos_abci.bank import build_send_tx
        c, dst = self.c[chain], self.c[PEER[chain]]
        if lock:
            self.step(chain, paid(key(u), build_collateral_tx(key(u), chain, c.nonce(key(u)), "deposit",
                                                              str(addr(key(v), chain)), amount), PRICE))
        n = c.nonce(key(u))
        recipient = addr(key(to), PEER[chain])
        # Both timeouts set: no ordinary transfer of this test has both, so no ordinary packet shares its key.
        timeout_h, timeout_t = dst.app.last_height + ttl, 2 * T_FAR + len(self.instant)
        raw = paid(key(u), build_instant_transfer_tx(key(u), chain, n, str(recipient), amount, timeout_h, timeout_t),
                   PRICE)
        try:
            gs = asyncio.run(self.services[chain][f"{chain}-v{v}:1"].underwrite(raw, carry=False))
        except DistposError:
            return
        k = compute_instant_key(chain, PEER[chain], addr(key(u), chain), recipient, amount, timeout_h, timeout_t)
        self.instant.append((chain, raw, gs, k))
        m = interchain_pb2.MsgInstantCredit(source_chain=chain, guarantees=[g.to_proto() for g in gs], tx=raw)
        update_proto(c.light_block(), m.update)
        self.step(dst.chain_id, self.sign(dst.chain_id, key(RELAYER), "instant_credit", m))
        if strategy == "send":
            self.step(chain, raw)
        elif strategy == "double_spend":
            other = next(w for w in USERS if w != u)
            self.step(chain, paid(key(u), build_send_tx(key(u), chain, n, str(addr(key(other), chain)), 1), PRICE))
        elif strategy == "send_later":
            self.step(dst.chain_id)
            self.step(chain, raw)

    @precondition(lambda self: self.instant)
    @rule(pick=st.integers(0, 100))
    def instant_claim(self, pick):
        """The peer claims its reserve back on the source, proving its credit (refused while nothing is owed)."""
        chain, raw, gs, k = self.instant[pick % len(self.instant)]
        dst = self.c[PEER[chain]]
        value, proof = dst.prove(keys.full_instant_credit_key(chain, k))
        if value is None:
            return
        lb = dst.light_block()
        m = interchain_pb2.MsgInstantClaim(destination_chain=dst.chain_id, proof_height=lb.height,
                                           guarantees=[g.to_proto() for g in gs], tx=raw, credit=value,
                                           proof=proof.to_proto())
        update_proto(lb, m.update)
        self.step(chain, self.sign(chain, key(RELAYER), "instant_claim", m))

    @precondition(lambda self: self.instant)
    @rule(pick=st.integers(0, 100))
    def instant_release(self, pick):
        """The source's payout, proven to the peer, releases the outstanding credit (refused before one)."""
        chain, raw, gs, k = self.instant[pick % len(self.instant)]
        src = self.c[chain]
        value, proof = src.prove(keys.full_instant_paid_key(PEER[chain], k))
        if value is None:
            return
        lb = src.light_block()
        m = interchain_pb2.MsgInstantRelease(source_chain=chain, proof_height=lb.height, key=k, payout=value,
                                             proof=proof.to_proto())
        update_proto(lb, m.update)
        self.step(PEER[chain], self.sign(PEER[chain], key(RELAYER), "instant_release", m))

    @precondition(lambda self: self.instant)
    @rule(pick=st.integers(0, 100))
    def instant_return(self, pick):
        """The payer asks for a held transfer back, proving the peer has no credit for it (refused otherwise)."""
        chain, raw, gs, k = self.instant[pick % len(self.instant)]
        dst = self.c[PEER[chain]]
        value, proof = dst.prove(keys.full_instant_credit_key(chain, k))
        lb = dst.light_block()
        m = interchain_pb2.MsgInstantClaim(destination_chain=dst.chain_id, proof_height=lb.height,
                                           guarantees=[g.to_proto() for g in gs], tx=raw, proof=proof.to_proto())
        update_proto(lb, m.update)
        self.step(chain, self.sign(chain, key(RELAYER), "instant_claim", m))

    def instant_ledger(self) -> tuple[int, int, int]:
        """(paid out to reserves, credits not compensated by their packet's ack, credits neither acked nor paid
        out), over every instant transfer credited so far; asserts nothing is compensated twice."""
        paid = open_ack = pending = 0
        for chain, raw, gs, k in self.instant:
            credit = self.view(PEER[chain]).get_instant_credit(chain, k)
            if credit is None or credit.status not in (CREDITED, SETTLED, PAID_OUT):
                continue
            g = gs[0]
            send = self.view(chain).get_instant_send(g.payer.account, g.nonce)
            delivered = send is not None and send.key == k and send.status == DELIVERED
            payout = self.view(chain).get_instant_payout(PEER[chain], k)
            assert not (delivered and payout is not None), "an instant credit compensated twice"
            if payout is not None:
                paid += payout.amount
            if not delivered:
                open_ack += credit.amount
                if payout is None:
                    pending += credit.amount
        return paid, open_ack, pending

    def settled_instantly(self, chain: str, p) -> bool:
        """True when packet p of chain settled an instant credit on the peer (it paid nobody there)."""
        from distpos_abci.interchain.instant import compute_packet_instant_key
        credit = self.view(PEER[chain]).get_instant_credit(chain, compute_packet_instant_key(p))
        return credit is not None and credit.status == SETTLED and any(
            k == compute_packet_instant_key(p) for ch, _, _, k in self.instant if ch == chain)

    # ---- invariants

    @invariant()
    def supply_and_escrow(self):
        for ch in CHAINS:
            c = self.c[ch]
            minted = DistributionKeeper(c.app.state, ch).get_minted() - self.minted0[ch]
            assert c.supply() == self.supply0[ch] + minted
            dist = DistributionKeeper(c.app.state, ch)
            assert c.balance(REWARDS_POOL) == sum(r for _, r in dist.iter_rewards()) + dist.get_remainder()
            assert c.balance(keys.ESCROW) == sum(p.amount + p.relay_fee for p in self.outbox(ch))
            held = 0
            for src, _, gs, k in self.instant:
                send = self.view(src).get_instant_send(gs[0].payer.account, gs[0].nonce) if src == ch else None
                held += send.amount if send is not None and send.key == k and send.status == HELD else 0
            assert c.balance(keys.INSTANT_HOLD) == held

    @invariant()
    def relay_fees_move_once_to_the_acknowledging_relay(self):
        """Each relay's balance is its funding plus the relay fees its acks earned minus the fees it paid."""
        assert all(n == 1 for n in self.fee_settled.values()), self.fee_settled
        for (ch, r), earned in self.fees_earned.items():
            paid_fees = self.fees_paid.get((ch, str(addr(key(r), ch))), 0)
            assert self.c[ch].balance(key(r)) == RELAYER_FUNDS + earned - paid_fees

    def credited_unacked(self) -> int:
        """Packets the destination paid (not instant settlements) whose ack the source has not processed yet."""
        total = 0
        for ch in CHAINS:
            for p in self.outbox(ch):
                ack = self.view(PEER[ch]).get_inbox(ch, p.sequence)
                if ack is not None and ack.success and not self.settled_instantly(ch, p):
                    total += p.amount
        return total

    @invariant()
    def nothing_created_or_lost_between_the_banks(self):
        """Reserves move by top-ups and payouts in, and out by credits not yet compensated by an ack."""
        moved = sum(self.c[ch].reserve(PEER[ch]) - self.reserve0[ch] - self.topups[ch] for ch in CHAINS)
        paid, open_ack, _ = self.instant_ledger()
        assert moved == paid - open_ack - self.credited_unacked(), (moved, paid, open_ack)

    @invariant()
    def outstanding_instant_credit_is_what_is_pending(self):
        for ch in CHAINS:
            expected = sum(c.amount for src, _, _, k in self.instant if src == PEER[ch]
                           and (c := self.view(ch).get_instant_credit(src, k)) is not None and c.status == CREDITED)
            assert self.view(ch).get_instant_outstanding(PEER[ch]) == expected
            assert expected <= 6000

    @invariant()
    def limits_change_only_by_passed_proposals(self):
        for ch in CHAINS:
            expected = self.limits[ch]
            got = self.corr_limits(ch)
            if isinstance(expected, tuple):
                assert got.per_packet_max == expected[1]
            else:
                assert got == expected

    @invariant()
    def the_attacker_never_profits_and_validators_never_pay(self):
        for ch in CHAINS:
            staking = StakingKeeper(self.c[ch].app.state, ch)
            assert all(staking.get_validator(addr(key(v), ch).account).slashed == 0 for v in VALIDATORS)
            ledger = UnderwritingKeeper(self.c[ch].app.state, ch)
            held = sum(ledger.get_collateral(addr(key(u), ch).account, addr(key(v), ch).account).seizable
                       for u in USERS for v in VALIDATORS)
            assert self.c[ch].balance(COLLATERAL_POOL) == held
        # Across both chains: balances and collateral, plus what is escrowed in flight, minus what the destination
        # already credited for a packet whose ack is pending (it is counted on both sides until then).
        # An instant credit not yet compensated (by its packet's ack or a payout) is counted the same way.
        escrowed = sum(self.c[ch].balance(keys.ESCROW) + self.c[ch].balance(keys.INSTANT_HOLD) for ch in CHAINS)
        _, _, pending = self.instant_ledger()
        wealth = sum(self.attacker_wealth(ch) for ch in CHAINS)
        assert wealth + escrowed - self.credited_unacked() - pending <= sum(self.wealth0.values())


TwoChains.TestCase.settings = settings(max_examples=20, stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
TestTwoChains = TwoChains.TestCase
