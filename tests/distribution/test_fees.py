"""Fees, as attacks first: who pays, when, and what a refused transaction writes (nothing)."""

from __future__ import annotations

import pytest

from distpos_abci.app import DistposApp
from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.distribution import FEE_COLLECTOR, DistributionKeeper
from distpos_abci.errors import (
    BadNonceError,
    FeeBelowChainMinimumError,
    FeeBelowNodeMinimumError,
    InsufficientFeeFundsError,
    InsufficientFundsError,
    InvalidSignatureError,
)
from distpos_abci.fees import GAS_BASE, GAS_PER_BYTE, GAS_WEIGHTS, build_paid_tx, compute_fee, compute_gas_for
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.store.state import StateStore
from distpos_abci.tx import decode_tx
from tests.distribution.helpers import PRICE, block, fee_genesis, operator
from tests.helpers import CHAIN, AppHarness, addr, key

PAYER, BROKE = 4, 5


@pytest.fixture
def chain(tmp_path):
    h = AppHarness(tmp_path / "db")
    h.app.init_chain(CHAIN, fee_genesis({PAYER: 1_000_000}))
    block(h.app)
    yield h
    h.db.close()


def account(app: DistposApp, i: int):
    view = app.query_account(addr(i))
    return view.balance, view.nonce


def send(i: int, nonce: int, to: int, amount: int, **fee) -> bytes:
    raw = build_send_tx(key(i), CHAIN, nonce, addr(to), amount)
    return build_paid_tx(key(i), raw, **(fee or {"gas_price": PRICE}))


def fee_of(raw: bytes) -> int:
    return tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(raw).body).fee


def test_gas_is_base_plus_bytes_plus_the_message_weight():
    raw = send(PAYER, 0, 1, 5)
    assert compute_gas_for("send", len(raw)) == GAS_BASE + GAS_PER_BYTE * len(raw) + GAS_WEIGHTS["send"]
    assert compute_fee(1001, 1) == 2 and compute_fee(1000, 1) == 1 and compute_fee(0, 5) == 0  # ceil, exact
    # build_paid_tx's fee pays for the transaction's own bytes, the fee field included, and no more than needed
    assert fee_of(raw) == compute_fee(compute_gas_for("send", len(raw)), PRICE)


def test_attack_zero_balance_key_cannot_write_state(chain):
    """Without fees a key holding nothing could write forever (a failing message still consumed its nonce and
    left a receipt). Now: no fee is refused, a fee it cannot pay is refused, and its account stays untouched."""
    app = chain.app
    free = build_send_tx(key(BROKE), CHAIN, 0, addr(1), 1)
    priced = send(BROKE, 0, 1, 1)
    for raw, err in ((free, FeeBelowChainMinimumError), (priced, InsufficientFeeFundsError)):
        assert (app.check_tx(raw).code, app.check_tx(raw).codespace) == (err.code, "fees")
    result = block(app, free, priced)  # a faulty proposer includes them anyway
    assert [r.code for r in result.tx_results] == [FeeBelowChainMinimumError.code, InsufficientFeeFundsError.code]
    assert account(app, BROKE) == (0, 0)  # no nonce consumed, nothing paid
    assert app.query_status().total_supply == 1_000_000 + 600


def test_attack_fee_below_the_chain_minimum_is_refused_in_finalize_block(chain):
    app = chain.app
    raw = send(PAYER, 0, 1, 5)
    short = send(PAYER, 0, 1, 5, fee=fee_of(raw) - 1)
    result = block(app, short)
    assert (result.tx_results[0].code, result.tx_results[0].codespace) == (FeeBelowChainMinimumError.code, "fees")
    assert account(app, PAYER) == (1_000_000, 0)
    assert app.query_account(addr(1)).balance == 0


def test_attack_below_the_node_minimum_is_refused_by_its_check_tx_only(tmp_path):
    """A node asking more than the chain refuses in CheckTx (its mempool), never in FinalizeBlock (consensus)."""
    h = AppHarness(tmp_path / "db")
    h.app = DistposApp(StateStore(h.db), min_gas_price=5 * PRICE)
    h.app.init_chain(CHAIN, fee_genesis({PAYER: 1_000_000}))
    block(h.app)
    raw = send(PAYER, 0, 1, 5)  # pays the chain's minimum, not this node's
    res = h.app.check_tx(raw)
    assert (res.code, res.codespace) == (FeeBelowNodeMinimumError.code, "fees") and "chain's minimum" in res.log
    assert h.app.check_tx(send(PAYER, 0, 1, 5, gas_price=5 * PRICE)).ok
    result = block(h.app, raw)
    assert result.tx_results[0].ok
    assert account(h.app, PAYER) == (1_000_000 - 5 - fee_of(raw), 1)
    h.db.close()


def test_attack_failing_message_still_pays_its_fee(chain):
    """The fee is what stops spam by messages that fail: it is paid, the nonce consumed, the message undone."""
    app = chain.app
    raw = send(PAYER, 0, 1, 2_000_000)  # more than the payer holds
    result = block(app, raw)
    assert result.tx_results[0].code == InsufficientFundsError.code
    assert account(app, PAYER) == (1_000_000 - fee_of(raw), 1)
    assert [e.type for e in result.tx_results[0].events] == ["tx", "fee"]
    collected = BankKeeper(app.state).get_balance(FEE_COLLECTOR)
    assert collected == fee_of(raw) and app.query_status().total_supply == 1_000_000 + 600


def test_attack_bad_signature_or_nonce_pays_nothing(chain):
    app = chain.app
    good = send(PAYER, 0, 1, 5)
    tx = tx_pb2.Tx.FromString(good)
    forged = tx_pb2.Tx(body=tx.body, signature=bytes([tx.signature[0] ^ 1]) + tx.signature[1:]).SerializeToString()
    wrong_nonce = send(PAYER, 7, 1, 5)
    result = block(app, forged, wrong_nonce)
    assert [r.code for r in result.tx_results] == [InvalidSignatureError.code, BadNonceError.code]
    assert account(app, PAYER) == (1_000_000, 0)
    assert BankKeeper(app.state).get_balance(FEE_COLLECTOR) == 0


def test_insufficient_balance_for_the_fee_keeps_the_nonce_usable(chain):
    app = chain.app
    block(app, send(PAYER, 0, BROKE, 100))  # BROKE now holds 100: less than any fee at this price
    tight = send(BROKE, 0, 1, 1)
    assert fee_of(tight) > 100
    assert app.check_tx(tight).code == InsufficientFeeFundsError.code
    assert account(app, BROKE) == (100, 0)
    assert app.check_tx(send(BROKE, 0, 1, 1, fee=100)).code == FeeBelowChainMinimumError.code


def test_fees_of_a_block_are_collected_then_split_at_the_next(chain):
    app = chain.app
    raws = [send(PAYER, n, 6, 10) for n in range(3)]
    total = sum(fee_of(r) for r in raws)
    block(app, *raws)
    dist = DistributionKeeper(app.state, CHAIN)
    assert dist.get_collected() == total
    block(app)  # signed by validators 1, 2, 3 with power 3, 2, 1
    rewards = [dist.get_rewards(operator(i)) for i in (1, 2, 3)]
    assert rewards == [total * 3 // 6, total * 2 // 6, total * 1 // 6]
    assert sum(rewards) + dist.get_remainder() == total == dist.get_pool_balance()
    assert dist.get_collected() == 0 and app.query_status().total_supply == 1_000_000 + 600


def test_simulate_reports_gas_and_minimum_fees_and_keeps_nothing(chain):
    app = chain.app
    raw = build_send_tx(key(PAYER), CHAIN, 0, addr(1), 5)  # no fee at all
    view = app.simulate_fees(raw)
    tx = decode_tx(raw, app.decoders)
    assert view.gas == compute_gas_for("send", len(tx.raw)) and view.fee == 0
    assert view.chain_min_fee == view.node_min_fee == compute_fee(view.gas, PRICE)
    assert view.result.ok  # what CheckTx would answer had it paid the minimum
    assert account(app, PAYER) == (1_000_000, 0) and app.check_tx(send(PAYER, 0, 1, 5)).ok
    broke = app.simulate_fees(build_send_tx(key(BROKE), CHAIN, 0, addr(1), 5))
    assert broke.result.code == InsufficientFeeFundsError.code


def test_message_refused_by_check_tx_leaves_the_mempool_state_untouched(chain):
    """CheckTx runs the message in its disposable cache: a refusal keeps neither the fee nor the nonce there, so
    the signer's next transaction with the same nonce is taken and pays only its own fee."""
    app = chain.app
    failing = send(PAYER, 0, 1, 2_000_000)  # more than the payer holds
    assert app.check_tx(failing).code == InsufficientFundsError.code
    mempool = BankKeeper(app.check)
    assert mempool.get_balance(operator(PAYER)) == 1_000_000
    assert mempool.get_balance(FEE_COLLECTOR) == 0
    good = send(PAYER, 0, 1, 5)
    assert app.check_tx(good).ok
    assert mempool.get_balance(operator(PAYER)) == 1_000_000 - 5 - fee_of(good)
    assert mempool.get_balance(FEE_COLLECTOR) == fee_of(good)
    assert app.check_tx(send(PAYER, 1, 1, 5)).ok  # the mempool state advanced the nonce once
