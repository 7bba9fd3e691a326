"""Property: random bond, unbond, withdraw, transfer, guarantee, double spend, lapse, claim and evidence sequences
conserve supply (up to explicit burns), keep the pool equal to all stake, and never leave a service's outstanding
guarantees above the stake backing them unless that validator was slashed."""

from __future__ import annotations

import asyncio
import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from distpos_abci.auth import AuthKeeper
from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.errors import DistposError
from distpos_abci.staking import StakingKeeper, build_bond_tx, build_unbond_tx, build_withdraw_tx
from distpos_abci.staking.keys import BONDED_POOL
from distpos_abci.underwriting import build_claim_tx, build_underwritten_tx
from distpos_abci.underwriting.service import UnderwritingService
from tests.helpers import AppHarness
from tests.staking.helpers import CHAIN, Chain, addr, cons_key, key, staking_genesis
from tests.underwriting.helpers import operator
from tests.underwriting.test_service import InProcessPeers

VALIDATORS = (1, 2)
CLIENTS = (3, 4, 5)
ACCOUNTS = (1, 2, 3, 4, 5, 6, 9)
CARRIER = 9

amount = st.integers(1, 1500)
guarantee = st.tuples(st.just("guarantee"), st.sampled_from(CLIENTS), st.sampled_from((4, 6)), amount,
                      st.sampled_from(VALIDATORS))
op = st.one_of(
    guarantee, guarantee, guarantee,
    st.tuples(st.just("bond"), st.sampled_from(VALIDATORS), amount),
    st.tuples(st.just("unbond"), st.sampled_from(VALIDATORS), amount),
    st.tuples(st.just("withdraw"), st.sampled_from(VALIDATORS)),
    st.tuples(st.just("transfer"), st.sampled_from(CLIENTS), st.sampled_from(ACCOUNTS), amount),
    st.tuples(st.just("guarantee"), st.sampled_from(CLIENTS), st.sampled_from((4, 6)), amount,
              st.sampled_from(VALIDATORS)),
    st.tuples(st.just("double_spend"), st.sampled_from(CLIENTS)),
    st.tuples(st.just("lapse")),
    st.tuples(st.just("claim")),
    st.tuples(st.just("evidence"), st.sampled_from(VALIDATORS)),
    st.tuples(st.just("block")),
)


class Model:
    def __init__(self, tmp: str) -> None:
        self.h = AppHarness(tmp)
        genesis = staking_genesis({1: 2000, 2: 2000, 3: 3000, 4: 3000, 5: 3000}, {1: 1000, 2: 500},
                                  endpoints={1: "v1:1", 2: "v2:1"})
        self.h.app.init_chain(CHAIN, genesis)
        self.chain = Chain(self.h)
        self.chain.block()
        self.peers = InProcessPeers()
        self.carried: list = []
        self.services = {}
        for v in VALIDATORS:
            s = UnderwritingService(self.h.app, cons_key(v), peers=self.peers, guarantee_blocks=10,
                                    carrier=lambda raw, gs: self.carried.append((raw, gs)))
            self.peers.services[f"v{v}:1"] = self.services[v] = s
        self.queue: list[bytes] = []
        self.lapsed: list = []
        self.evidence: tuple[int, ...] = ()
        self.claiming = False
        self.stats = {"guaranteed": 0, "paid": 0, "released": 0}
        self.slashed: set[int] = set()
        self.burned = 0
        self.supply0 = self.supply()

    def app(self):
        return self.h.app

    def _nonce(self, i: int) -> int:
        return AuthKeeper(self.app().check).get_account(operator(i).account).nonce

    def submit(self, raw: bytes) -> None:
        if self.app().check_tx(raw).ok:  # as the mempool would: only what passes CheckTx is queued
            self.queue.append(raw)

    def supply(self) -> int:
        return self.app().query_status().total_supply

    def step(self, o) -> None:
        kind = o[0]
        if kind == "bond":
            self.submit(build_bond_tx(key(o[1]), CHAIN, self._nonce(o[1]), o[2]))
        elif kind == "unbond":
            self.submit(build_unbond_tx(key(o[1]), CHAIN, self._nonce(o[1]), o[2]))
        elif kind == "withdraw":
            self.submit(build_withdraw_tx(key(o[1]), CHAIN, self._nonce(o[1])))
        elif kind == "transfer":
            self.submit(build_send_tx(key(o[1]), CHAIN, self._nonce(o[1]), addr(o[2]), o[3]))
        elif kind == "guarantee":
            raw = build_send_tx(key(o[1]), CHAIN, self._nonce(o[1]), addr(o[2]), o[3])
            try:
                asyncio.run(self.services[o[4]].underwrite(raw))
                self.stats["guaranteed"] += 1
            except DistposError:
                pass
        elif kind == "double_spend":
            # Spend everything with the nonce a guaranteed tx may be waiting on: it lands before the carriers.
            balance = self.app().query_account(addr(o[1])).balance
            if balance:
                self.submit(build_send_tx(key(o[1]), CHAIN, self._nonce(o[1]), addr(6), balance))
        elif kind == "lapse":
            self.lapsed.extend(gs for _, gs in self.carried)  # the carriers never reach the chain
            self.carried.clear()
        elif kind == "claim":
            self.claiming = True  # claim every lapsed guarantee in the next block (too early ones fail cleanly)
        elif kind == "evidence":
            self.evidence = (o[1],)
        else:
            self.block()

    def block(self) -> None:
        txs = list(self.queue)
        nonce = self._nonce(CARRIER)
        for gs in self.lapsed if self.claiming else ():
            txs.append(build_claim_tx(key(CARRIER), CHAIN, nonce, gs))
            nonce += 1
        self.claiming = False
        for raw, gs in self.carried:
            txs.append(build_underwritten_tx(key(CARRIER), CHAIN, nonce, raw, gs))
            nonce += 1
        self.carried.clear()
        self.queue.clear()
        result = self.chain.block(*txs, evidence=self.evidence)
        self.evidence = ()
        events = [e for r in result.tx_results for e in r.events] + list(result.events)
        for e in events:
            attrs = dict(e.attributes)
            if e.type == "guarantee_paid":
                self.stats["paid"] += 1
            if e.type == "guarantee_release":
                self.stats["released"] += 1
            if e.type == "burn":
                self.burned += int(attrs["amount"])
            if e.type == "slash" and int(attrs["amount"]) > 0:
                self.slashed.add(next(v for v in VALIDATORS if str(operator(v)) == attrs["operator"]))
        self.check()

    def check(self) -> None:
        app = self.app()
        bank = BankKeeper(app.state)
        staking = StakingKeeper(app.state, CHAIN)
        balances = sum(app.query_account(addr(i)).balance for i in ACCOUNTS) + bank.get_balance(BONDED_POOL)
        assert balances == self.supply() == self.supply0 - self.burned
        stakes = [staking.get_validator(operator(v).account) for v in VALIDATORS]
        assert bank.get_balance(BONDED_POOL) == sum(v.bonded + v.unbonding for v in stakes)
        for v, record in zip(VALIDATORS, stakes):
            outstanding = self.services[v].capacity().outstanding
            if v not in self.slashed:
                assert outstanding <= record.backing, (v, outstanding, record)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=30))
def test_supply_and_backing_invariants(ops):
    with tempfile.TemporaryDirectory() as tmp:
        m = Model(tmp)
        try:
            for o in ops:
                m.step(o)
            m.block()
            for _ in range(12):  # let every guarantee expire and claims close: nothing may break on the way
                m.block()
            for name, count in m.stats.items():
                event(f"{name}: {'some' if count else 'none'}")
        finally:
            m.h.db.close()
