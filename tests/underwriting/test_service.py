"""The underwriting service in process: guarantees within the payer's unpromised collateral (or the node's credit),
co-underwriting, refusals leave nothing locked."""

from __future__ import annotations

import asyncio

import pytest

from distpos_abci.address import compute_account_id
from distpos_abci.bank import build_send_tx
from distpos_abci.errors import (
    InsufficientCapacityError,
    InsufficientCollateralError,
    PremiumBelowPriceError,
    UnderwritableTxError,
    UnderwritingDisabledError,
)
from distpos_abci.staking import build_create_validator_tx
from distpos_abci.underwriting import (
    RELEASED,
    UnderwritingKeeper,
    build_collateral_tx,
    build_set_premium_tx,
    build_underwritten_tx,
    verify_guarantee_signature,
)
from distpos_abci.underwriting.service import UnderwritingService
from tests.staking.helpers import CHAIN, Chain, addr, codes, cons_key, key, staking_genesis


class InProcessPeers:
    """PeerClient calling other services directly (endpoint = name)."""

    def __init__(self) -> None:
        self.services: dict[str, UnderwritingService] = {}
        self.calls: list[str] = []

    async def reserve(self, endpoint, tx, amount, expiry, auth, timeout):
        self.calls.append(f"reserve {endpoint}")
        return self.services[endpoint].reserve(tx, amount, expiry, auth)

    async def confirm(self, endpoint, tx_hash, auth, timeout):
        self.calls.append(f"confirm {endpoint}")
        return self.services[endpoint].confirm(tx_hash, auth)

    async def release(self, endpoint, tx_hash, auth, timeout):
        self.calls.append(f"release {endpoint}")
        self.services[endpoint].release(tx_hash, auth)


@pytest.fixture
def net(harness):
    """Validators 1 (1000), 2 (500), 3 (300) each with a service; client 5 holds 10,000 and locked collateral of
    1000, 500 and 300 with them (its next nonce is 3)."""
    endpoints = {1: "v1:1", 2: "v2:1", 3: "v3:1"}
    harness.app.init_chain(CHAIN, staking_genesis({5: 10_000}, {1: 1000, 2: 500, 3: 300}, endpoints=endpoints))
    chain = Chain(harness)
    chain.block()
    chain.block(*(build_collateral_tx(key(5), CHAIN, n, "deposit", addr(i), amount)
                  for n, (i, amount) in enumerate(((1, 1000), (2, 500), (3, 300)))))
    peers = InProcessPeers()
    carried: list = []
    services = {}
    for i, ep in endpoints.items():
        s = UnderwritingService(harness.app, cons_key(i), peers=peers, guarantee_blocks=10,
                                carrier=lambda raw, gs: carried.append((raw, gs)))
        peers.services[ep] = services[i] = s
    chain.services, chain.peers, chain.carried = services, peers, carried
    return chain


def addr_account(i):
    return compute_account_id(key(i).pub_key)


def run(coro):
    return asyncio.run(coro)


P = addr_account(5)
N = 3  # client 5's next nonce after its three deposits


def test_guarantee_within_collateral_is_immediate_and_valid(net):
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 400)
    [g] = run(net.services[1].underwrite(raw))
    assert g.amount == g.total == 400 and str(g.beneficiary) == addr(6) and (g.payer.account, g.nonce) == (P, N)
    assert verify_guarantee_signature(cons_key(1).pub_key, g)
    assert g.expiry_height - g.issued_height == 2  # capped at max_guarantee_blocks (4) - 2
    svc = net.services[1]
    assert (svc.promised(P), svc.available(P), svc.credit_used()) == (400, 600, 0)
    assert net.carried == [(raw, [g])]
    assert net.peers.calls == []
    # The carrier reaches the chain, the tx executes, the guarantee is released and the collateral is free again.
    res = net.block(build_underwritten_tx(key(9), CHAIN, 0, raw, [g]))
    assert codes(res) == [0]
    (s,) = UnderwritingKeeper(net.app.state, CHAIN).get_settlements(P, N)
    assert s.outcome == RELEASED
    assert svc.available(P) == 1000


def test_a_payment_that_executed_on_its_own_frees_the_collateral(net):
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 400)
    run(net.services[1].underwrite(raw, carry=False))
    net.block(raw)  # the client broadcast it itself: no carrier, no settlement record
    assert net.services[1].available(P) == 1000


def test_same_request_twice_returns_the_same_guarantee(net):
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 100)
    assert run(net.services[1].underwrite(raw)) == run(net.services[1].underwrite(raw))
    assert net.services[1].capacity().outstanding == 100


@pytest.mark.parametrize("make, message", [
    (lambda: build_send_tx(key(5), CHAIN, 9, addr(6), 10), "auth:11"),
    (lambda: build_send_tx(key(5), CHAIN, N, addr(6), 20_000), "bank:20"),
    (lambda: build_send_tx(key(5), CHAIN, N, addr(6, "a1b2"), 10), "refuse|within this chain"),
    (lambda: build_send_tx(key(5), CHAIN, N, addr(5), 10), "payer itself"),
    (lambda: build_create_validator_tx(key(5), CHAIN, N, cons_key(5).pub_key, 100), "only a send"),
])
def test_invalid_client_tx_is_refused(net, make, message):
    """The service asks the app's check state through the same path as CheckTx: the two cannot disagree."""
    with pytest.raises(UnderwritableTxError, match=message):
        run(net.services[1].underwrite(make()))
    assert net.services[1].capacity().outstanding == 0


def test_invalid_second_tx_with_the_same_nonce(net):
    run(net.services[1].underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 10)))
    with pytest.raises(UnderwritableTxError, match="already guaranteed"):
        run(net.services[1].underwrite(build_send_tx(key(5), CHAIN, N, addr(7), 10)))


def test_beyond_collateral_without_co_underwriting_is_refused(net):
    with pytest.raises(InsufficientCollateralError):
        run(net.services[2].underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 501), co_underwrite=False))
    assert net.services[2].available(P) == 500


def test_a_payer_without_collateral_gets_nothing_by_default(net):
    net.block(build_send_tx(key(5), CHAIN, N, addr(10), 1000))
    with pytest.raises(InsufficientCollateralError):
        run(net.services[1].underwrite(build_send_tx(key(10), CHAIN, 0, addr(6), 1), co_underwrite=False))


def test_concurrent_requests_cannot_overcommit_credit(net):
    svc = net.services[1]
    svc.credit_limit = 900  # the operator extends 900 of credit at its own stake's risk

    async def many():
        txs = [build_send_tx(key(10 + i), CHAIN, 0, addr(6), 300) for i in range(5)]
        return await asyncio.gather(*(svc.underwrite(t, co_underwrite=False) for t in txs), return_exceptions=True)

    fund = [build_send_tx(key(5), CHAIN, N + i, addr(10 + i), 1000) for i in range(5)]
    net.block(*fund)
    results = run(many())
    ok = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, InsufficientCollateralError)]
    assert (len(ok), len(refused)) == (3, 2)
    assert (svc.capacity().outstanding, svc.credit_used(), svc.capacity().free) == (900, 900, 0)


def test_co_underwriting_covers_a_large_amount(net):
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 1600)
    gs = run(net.services[1].underwrite(raw))
    assert [g.underwriter.account for g in gs] == [addr_account(i) for i in (1, 2, 3)]
    assert [g.amount for g in gs] == [1000, 500, 100] and all(g.total == 1600 for g in gs)
    assert [s.available(P) for s in net.services.values()] == [0, 0, 200]
    res = net.block(build_underwritten_tx(key(9), CHAIN, 0, raw, gs))
    assert codes(res) == [0]
    assert [s.available(P) for s in net.services.values()] == [1000, 500, 300]


def test_co_underwriting_refused_leaves_every_capacity_as_it_was(net):
    before = [s.capacity() for s in net.services.values()]
    with pytest.raises(InsufficientCapacityError, match="not covered"):
        run(net.services[2].underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 1801)))
    after = [s.capacity() for s in net.services.values()]
    assert [(c.free, c.outstanding, c.reserved) for c in after] == [(c.free, c.outstanding, c.reserved) for c in before]
    assert [s.available(P) for s in net.services.values()] == [1000, 500, 300]
    assert "confirm v1:1" not in net.peers.calls and "release v1:1" in net.peers.calls
    assert net.carried == []


def test_service_of_a_non_validator_is_disabled(net):
    svc = UnderwritingService(net.app, cons_key(8))
    with pytest.raises(UnderwritingDisabledError):
        run(svc.underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 1)))


def test_a_restarted_service_remembers_its_guarantees(net, tmp_path):
    from distpos_abci.underwriting.journal import GuaranteeJournal

    journal = GuaranteeJournal(tmp_path / "journal.jsonl")
    svc = UnderwritingService(net.app, cons_key(2), journal=journal)
    [g] = run(svc.underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 300)))
    restarted = UnderwritingService(net.app, cons_key(2), journal=GuaranteeJournal(tmp_path / "journal.jsonl"))
    assert restarted.capacity().outstanding == 300 and restarted.capacity().guarantees == (g,)
    assert restarted.available(P) == 200
    # It still knows which nonce it guaranteed, so another payment of that nonce is refused.
    with pytest.raises(UnderwritableTxError, match="already guaranteed"):
        run(restarted.underwrite(build_send_tx(key(5), CHAIN, N, addr(7), 10), co_underwrite=False))
    # Once the chain settles it, the promise no longer counts.
    net.block(build_underwritten_tx(key(9), CHAIN, 0, build_send_tx(key(5), CHAIN, N, addr(6), 300), [g]))
    assert restarted.capacity().outstanding == 0 and restarted.available(P) == 500


def test_invalid_co_underwriting_calls_from_strangers(net):
    from distpos_abci.errors import UnauthorizedCoordinatorError
    from distpos_abci.tx import compute_tx_hash
    from distpos_abci.underwriting.service import RESERVE, CoordinatorAuth, compute_coordination_sign_bytes

    peer = net.services[2]
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 100)
    h = compute_tx_hash(raw)
    expiry = net.app.last_height + 2
    coordinator = addr(1)  # validator 1's operator, but signed with a key that is not its consensus key
    forged = CoordinatorAuth(coordinator, cons_key(7).sign(
        compute_coordination_sign_bytes(RESERVE, CHAIN, h, 100, expiry, coordinator)))
    with pytest.raises(UnauthorizedCoordinatorError):
        peer.reserve(raw, 100, expiry, forged)
    stranger = CoordinatorAuth(addr(7), cons_key(7).sign(
        compute_coordination_sign_bytes(RESERVE, CHAIN, h, 100, expiry, addr(7))))
    with pytest.raises(UnauthorizedCoordinatorError):
        peer.reserve(raw, 100, expiry, stranger)
    assert peer.capacity().reserved == 0
    # A genuine reservation cannot be confirmed or released by another validator.
    genuine = CoordinatorAuth(coordinator, cons_key(1).sign(
        compute_coordination_sign_bytes(RESERVE, CHAIN, h, 100, expiry, coordinator)))
    assert peer.reserve(raw, 100, expiry, genuine) == 100
    from distpos_abci.underwriting.service import CONFIRM
    other = CoordinatorAuth(addr(3), cons_key(3).sign(compute_coordination_sign_bytes(CONFIRM, CHAIN, h, 0, 0, addr(3))))
    with pytest.raises(UnauthorizedCoordinatorError):
        peer.confirm(h, other)
    assert peer.capacity().reserved == 100


def test_invalid_second_guarantee_of_a_share_already_held(net):
    """Found by the stateful machine: a validator holding a co-underwritten share of a payment signed a second,
    whole guarantee of the same nonce when asked directly; the two could not both settle."""
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 1600)
    gs = run(net.services[1].underwrite(raw))  # validators 2 and 3 hold shares
    assert len(gs) == 3
    net.services[2].credit_limit = 10_000  # it could afford a whole guarantee: it must still not sign one
    with pytest.raises(UnderwritableTxError, match="already guaranteed or reserved"):
        run(net.services[2].underwrite(raw, co_underwrite=False))
    with pytest.raises(UnderwritableTxError, match="already guaranteed or reserved"):
        run(net.services[1].underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 1600)))  # same bytes, co-underwritten


# ---- premiums (issue 12) ----------------------------------------------------------------------------------------


def _announce(net, validator, rate_ppm, minimum, nonce=0):
    assert codes(net.block(build_set_premium_tx(key(validator), CHAIN, nonce, rate_ppm, minimum))) == [0]


def test_invalid_request_below_the_announced_premium_is_refused(net):
    """Validator 1 asks 1% (at least 2): a request signing 3 for 400 is refused with 200 and holds nothing; one
    signing 4 is guaranteed, and the carrier pays the underwriter exactly the 4 signed."""
    _announce(net, 1, 10_000, 2)
    svc = net.services[1]
    with pytest.raises(PremiumBelowPriceError, match="asks a premium of 4"):
        run(svc.underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 400, premium=3)))
    assert (svc.capacity().outstanding, svc.available(P)) == (0, 1000)
    assert (PremiumBelowPriceError.codespace, PremiumBelowPriceError.code) == ("underwriting", 200)
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 400, premium=4)
    [g] = run(svc.underwrite(raw))
    before = net.app.query_account(addr(1)).balance
    assert codes(net.block(build_underwritten_tx(key(9), CHAIN, 0, raw, [g]))) == [0]
    assert net.app.query_account(addr(1)).balance == before + 4


def test_co_underwriter_below_its_price_refuses_its_share(net):
    """Validator 2 asks a minimum of 50 per share: the payer's 10 for 1600 gives it 3 for its 500, so it refuses
    and the coordinator covers the amount without it (validator 3's free share is too small: not covered)."""
    _announce(net, 2, 0, 50)
    with pytest.raises(InsufficientCapacityError):
        run(net.services[1].underwrite(build_send_tx(key(5), CHAIN, N, addr(6), 1600, premium=10)))
    assert [s.available(P) for s in net.services.values()] == [1000, 500, 300]
    raw = build_send_tx(key(5), CHAIN, N, addr(6), 1300, premium=10)
    gs = run(net.services[1].underwrite(raw))
    assert sorted(g.underwriter.account for g in gs) == sorted([addr_account(1), addr_account(3)])
