"""A hypothesis state machine over the whole app: bank, staking, underwriting (through the real guarantee
service), collateral and the client strategies of issue 7 (double spends, withholding, memo retries, re-encodings,
several validators asked at once, co-underwriting, claims at any time).

Every client account belongs to one attacker. After every block:
- total supply is what genesis minted plus what inflation minted since (nothing burns here: no evidence against
  protocol-following validators);
- every transaction pays its fee (chain min_gas_price > 0, through the one fee helper); the fees and inflation
  are split among the validators that signed, and the reward pool holds exactly their rewards plus the remainder;
- the pools hold exactly what their records say (bonded pool = all stake, collateral pool = all collateral);
- no guaranteed payment pays its beneficiary more than its total (nonce payment + every settled share);
- the attacker's accounts together (balances + collateral) never end richer than they started;
- no validator loses stake (its `slashed` stays 0): validators that follow the protocol (credit_limit 0)
  guarantee only within collateral, so a payout never reaches their stake;
- premiums (issue 12: validators announce prices, payers sign premiums): each share's premium is paid at most
  once, the parts of one settlement add up to a premium the payer signed for that nonce, and nothing beyond it
  (the attacker, paying them, is poorer for it: the wealth invariant above).
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from distpos_abci.auth import AuthKeeper
from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.distribution import FEE_COLLECTOR, REWARDS_POOL, DistributionKeeper, build_withdraw_rewards_tx
from distpos_abci.errors import DistposError, NonCanonicalEncodingError
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.staking import StakingKeeper, build_bond_tx, build_unbond_tx, build_withdraw_tx
from distpos_abci.staking.keys import BONDED_POOL
from distpos_abci.underwriting import (
    COLLATERAL_POOL,
    UnderwritingKeeper,
    build_claim_tx,
    build_collateral_tx,
    build_set_premium_tx,
    build_underwritten_tx,
)
from distpos_abci.underwriting.service import UnderwritingService
from tests.helpers import AppHarness, paid
from tests.staking.helpers import CHAIN, Chain, addr, cons_key, key, staking_genesis
from tests.underwriting.helpers import operator
from tests.underwriting.test_service import InProcessPeers

VALIDATORS = (1, 2, 3)
CLIENTS = (4, 5, 6)  # payers; they and the beneficiaries below are one attacker
BENEFICIARIES = (4, 5, 6, 7)
CARRIER = 9
ALL = (1, 2, 3, 4, 5, 6, 7, 9)

amounts = st.integers(1, 800)
PRICE = 1  # chain min_gas_price, milli-units per gas: a send pays about 5
INFLATION = 3  # base units minted per block into the reward pool


class Underwriting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.h = AppHarness(self.tmp.name)
        genesis = json.loads(staking_genesis({1: 500, 2: 500, 3: 500, 4: 4000, 5: 4000, 6: 4000, CARRIER: 3000},
                                             {1: 1000, 2: 800, 3: 500}, endpoints={v: f"v{v}:1" for v in VALIDATORS}))
        genesis["params"] = {"min_gas_price": PRICE}
        genesis["distribution"] = {"params": {"inflation_per_block": INFLATION}}
        self.h.app.init_chain(CHAIN, json.dumps(genesis).encode())
        self.chain = Chain(self.h)
        self.chain.block()
        self.peers = InProcessPeers()
        self.carried: list = []
        self.services = {}
        for v in VALIDATORS:
            s = UnderwritingService(self.h.app, cons_key(v), peers=self.peers, guarantee_blocks=3,
                                    carrier=lambda raw, gs: self.carried.append((raw, gs)))
            self.peers.services[f"v{v}:1"] = self.services[v] = s
        self.queue: list[bytes] = []
        self.guaranteed: list[tuple[bytes, tuple]] = []  # every guarantee set handed out
        self.supply0 = self.supply()
        self.minted0 = DistributionKeeper(self.app.state, CHAIN).get_minted()
        self.wealth0 = self.attacker_wealth()
        self.signed_premiums: dict[tuple[str, int], set[int]] = {}  # (payer, nonce) -> premiums signed for it
        self.premium_shares: dict[tuple[str, str, str], int] = {}  # (payer, nonce, underwriter) -> times paid
        self.premium_settlements: list[tuple[tuple[str, int], int, int]] = []  # ((payer, nonce), parts, paid)

    def teardown(self) -> None:
        self.h.db.close()
        self.tmp.cleanup()

    # ---- helpers

    @property
    def app(self):
        return self.h.app

    def nonce(self, i: int) -> int:
        return AuthKeeper(self.app.check).get_account(operator(i).account).nonce

    def submit(self, raw: bytes, signer: int) -> bool:
        """As the mempool would: only what passes CheckTx is queued for the next block. The signer pays the fee."""
        raw = paid(key(signer), raw, PRICE)
        if self.app.check_tx(raw).ok:
            self.queue.append(raw)
            return True
        return False

    def supply(self) -> int:
        return self.app.query_status().total_supply

    def attacker_wealth(self) -> int:
        bank, ledger = BankKeeper(self.app.state), UnderwritingKeeper(self.app.state, CHAIN)
        held = sum(ledger.get_collateral(operator(c).account, operator(v).account).seizable
                   for c in CLIENTS for v in VALIDATORS)
        return sum(bank.get_balance(operator(a).account) for a in BENEFICIARIES) + held

    def underwrite(self, validator: int, raw: bytes, co: bool) -> tuple | None:
        try:
            gs = asyncio.run(self.services[validator].underwrite(raw, co_underwrite=co, carry=False))
        except DistposError:
            return None
        self.guaranteed.append((raw, tuple(gs)))
        return tuple(gs)

    # ---- client and validator actions

    @initialize(deposits=st.lists(st.tuples(st.sampled_from(CLIENTS), st.sampled_from(VALIDATORS),
                                            st.integers(100, 1500)), min_size=1, max_size=6))
    def start_with_collateral(self, deposits):
        for c, v, amount in deposits:
            self.deposit(c, v, amount)
        self.block(1)

    @rule(c=st.sampled_from(CLIENTS), v=st.sampled_from(VALIDATORS), amount=amounts)
    def deposit(self, c, v, amount):
        self.submit(build_collateral_tx(key(c), CHAIN, self.nonce(c), "deposit", str(operator(v)), amount), c)

    @rule(c=st.sampled_from(CLIENTS), v=st.sampled_from(VALIDATORS), amount=amounts)
    def unlock(self, c, v, amount):
        self.submit(build_collateral_tx(key(c), CHAIN, self.nonce(c), "unlock", str(operator(v)), amount), c)

    @rule(c=st.sampled_from(CLIENTS), v=st.sampled_from(VALIDATORS))
    def withdraw_collateral(self, c, v):
        self.submit(build_collateral_tx(key(c), CHAIN, self.nonce(c), "withdraw", str(operator(v))), c)

    @rule(v=st.sampled_from(VALIDATORS), amount=st.integers(1, 300), kind=st.sampled_from(["bond", "unbond", "wd"]))
    def staking(self, v, amount, kind):
        n = self.nonce(v)
        raw = {"bond": lambda: build_bond_tx(key(v), CHAIN, n, amount),
               "unbond": lambda: build_unbond_tx(key(v), CHAIN, n, amount),
               "wd": lambda: build_withdraw_tx(key(v), CHAIN, n)}[kind]()
        self.submit(raw, v)

    @rule(v=st.sampled_from(VALIDATORS))
    def withdraw_rewards(self, v):
        self.submit(build_withdraw_rewards_tx(key(v), CHAIN, self.nonce(v)), v)

    @rule(v=st.sampled_from(VALIDATORS), rate_ppm=st.integers(0, 50_000), minimum=st.integers(0, 5))
    def announce_premium(self, v, rate_ppm, minimum):
        self.submit(build_set_premium_tx(key(v), CHAIN, self.nonce(v), rate_ppm, minimum), v)

    @rule(c=st.sampled_from(CLIENTS), to=st.sampled_from(BENEFICIARIES), amount=amounts,
          v=st.sampled_from(VALIDATORS), co=st.booleans(),
          strategy=st.sampled_from(["node_carries", "broadcast", "withhold", "double_spend", "memo_retry",
                                    "partial", "reencode", "two_validators"]),
          premium=st.integers(0, 40))
    def guaranteed_payment(self, c, to, amount, v, co, strategy, premium):
        if to == c:
            to = 7
        n = self.nonce(c)
        raw = paid(key(c), build_send_tx(key(c), CHAIN, n, addr(to), amount, premium=premium), PRICE)
        self.signed_premiums.setdefault((addr(c), n), set()).add(premium)
        gs = self.underwrite(v, raw, co)
        if gs is None:
            return
        if strategy == "node_carries":
            self.submit(build_underwritten_tx(key(CARRIER), CHAIN, self.nonce(CARRIER), raw, list(gs)), CARRIER)
        elif strategy == "broadcast":
            self.submit(raw, c)
        elif strategy == "double_spend":
            other = next(b for b in BENEFICIARIES if b not in (c, to))
            self.submit(build_send_tx(key(c), CHAIN, n, addr(other), amount), c)
            self.carried.append((raw, gs))  # the guarantee's carrier arrives after the double spend
        elif strategy == "memo_retry":
            self.submit(build_send_tx(key(c), CHAIN, n, addr(to), amount, memo="retry"), c)
            self.carried.append((raw, gs))
        elif strategy == "partial":
            self.submit(build_send_tx(key(c), CHAIN, n, addr(to), max(1, amount // 3)), c)
            self.carried.append((raw, gs))
        elif strategy == "reencode":
            m = tx_pb2.Tx.FromString(raw)
            variant = m.body and (raw + b"\x38\x01")  # an unknown field appended: other bytes, same signed body
            assert self.app.check_tx(variant).code == NonCanonicalEncodingError.code
        elif strategy == "two_validators":
            other = next(w for w in VALIDATORS if w != v)
            self.underwrite(other, raw, co)  # the same nonce guaranteed twice, by two validators
        # "withhold": nothing is broadcast; a claim after expiry settles it

    @rule(c=st.sampled_from(CLIENTS), to=st.sampled_from(BENEFICIARIES), amount=amounts)
    def plain_transfer(self, c, to, amount):
        self.submit(build_send_tx(key(c), CHAIN, self.nonce(c), addr(to), amount), c)

    @precondition(lambda self: self.guaranteed)
    @rule(i=st.integers(0, 10_000), carrier=st.booleans())
    def claim_or_carry(self, i, carrier):
        raw, gs = self.guaranteed[i % len(self.guaranteed)]
        n = self.nonce(CARRIER)
        tx = (build_underwritten_tx(key(CARRIER), CHAIN, n, raw, list(gs)) if carrier
              else build_claim_tx(key(CARRIER), CHAIN, n, list(gs), raw))
        self.submit(tx, CARRIER)

    @rule(blocks=st.integers(1, 4))
    def block(self, blocks):
        for _ in range(blocks):
            txs = list(self.queue)
            n = self.nonce(CARRIER)
            for raw, gs in self.carried:
                txs.append(paid(key(CARRIER), build_underwritten_tx(key(CARRIER), CHAIN, n, raw, list(gs)), PRICE))
                n += 1
            self.carried.clear()
            self.queue.clear()
            self.note_premiums(self.chain.block(*txs, voters=VALIDATORS))  # every validator signs: rewards accrue

    def note_premiums(self, result) -> None:
        """Record every premium_paid event: per share, and per settlement (one transaction's events)."""
        for r in result.tx_results:
            per_nonce: dict[tuple[str, int], list[int]] = {}
            for e in r.events:
                if e.type != "premium_paid":
                    continue
                a = dict(e.attributes)
                share = (a["payer"], a["nonce"], a["underwriter"])
                self.premium_shares[share] = self.premium_shares.get(share, 0) + 1
                assert 0 <= int(a["paid"]) <= int(a["premium"]) and int(a["unpaid"]) == int(a["premium"]) - int(a["paid"])
                parts = per_nonce.setdefault((a["payer"], int(a["nonce"])), [0, 0])
                parts[0] += int(a["premium"])
                parts[1] += int(a["paid"])
            self.premium_settlements.extend((k, v[0], v[1]) for k, v in per_nonce.items())

    # ---- invariants

    @invariant()
    def supply_is_conserved(self):
        app = self.app
        bank = BankKeeper(app.state)
        held = sum(bank.get_balance(operator(a).account) for a in ALL)
        pools = sum(bank.get_balance(p) for p in (BONDED_POOL, COLLATERAL_POOL, FEE_COLLECTOR, REWARDS_POOL))
        minted = DistributionKeeper(app.state, CHAIN).get_minted() - self.minted0
        assert held + pools == self.supply() == self.supply0 + minted

    @invariant()
    def reward_pool_holds_exactly_what_it_owes(self):
        """Rewards never exceed fees + inflation: the pool received only those, and holds every claim on it."""
        bank, dist = BankKeeper(self.app.state), DistributionKeeper(self.app.state, CHAIN)
        owed = sum(r for _, r in dist.iter_rewards()) + dist.get_remainder()
        assert bank.get_balance(REWARDS_POOL) == owed

    @invariant()
    def pools_match_their_records(self):
        bank, staking = BankKeeper(self.app.state), StakingKeeper(self.app.state, CHAIN)
        ledger = UnderwritingKeeper(self.app.state, CHAIN)
        stakes = [staking.get_validator(operator(v).account) for v in VALIDATORS]
        assert bank.get_balance(BONDED_POOL) == sum(v.bonded + v.unbonding for v in stakes)
        assert bank.get_balance(COLLATERAL_POOL) == sum(
            ledger.get_collateral(operator(c).account, operator(v).account).seizable for c in CLIENTS for v in VALIDATORS)

    @invariant()
    def nothing_is_paid_twice(self):
        """Every guarantee set handed out is settled at most once per share and never pays beyond its total
        (with what the nonce itself paid the beneficiary). A validator may guarantee a nonce again once an
        earlier guarantee of it lapsed unclaimed (its claim window closed); settlements name the transaction
        hash of the set that settled, so each set is checked against its own."""
        ledger, auth = UnderwritingKeeper(self.app.state, CHAIN), AuthKeeper(self.app.state)
        seen = set()
        for _, gs in self.guaranteed:
            g = gs[0]
            mine = {s.underwriter: s for s in ledger.get_settlements(g.payer.account, g.nonce)
                    if s.tx_hash == g.tx_hash and s.beneficiary == str(g.beneficiary)}
            for share in gs:
                s = mine.get(str(share.underwriter))
                assert s is None or s.amount <= share.amount, (s, share)
            key_ = (g.tx_hash, tuple(sorted(x.underwriter.account for x in gs)))
            if key_ in seen:
                continue
            seen.add(key_)
            payment = auth.get_payment(g.payer.account, g.nonce)
            paid = payment[1] if payment and payment[0] == g.beneficiary.account else 0
            payouts = sum(s.amount for u, s in mine.items() if any(u == str(x.underwriter) for x in gs))
            assert paid + payouts <= max(g.total, paid), (g, paid, payouts)

    @invariant()
    def premiums_are_paid_once_and_as_signed(self):
        assert all(n == 1 for n in self.premium_shares.values()), self.premium_shares
        for payment, parts, paid in self.premium_settlements:
            assert parts in self.signed_premiums.get(payment, set()), (payment, parts)
            assert paid <= parts

    @invariant()
    def the_attacker_never_profits_and_validators_never_pay(self):
        assert self.attacker_wealth() <= self.wealth0
        staking = StakingKeeper(self.app.state, CHAIN)
        assert all(staking.get_validator(operator(v).account).slashed == 0 for v in VALIDATORS)


Underwriting.TestCase.settings = settings(max_examples=30, stateful_step_count=40, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestUnderwriting = Underwriting.TestCase
