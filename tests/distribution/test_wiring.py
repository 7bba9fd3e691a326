"""Fees at the edges: the node's config, ABCI queries, gRPC services, the CLI flags, and the relay paying."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from click.testing import CliRunner

from distpos_abci.abci_adapter import DistposABCI
from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.cli.main import cli
from distpos_abci.config import load_config
from distpos_abci.errors import ConfigError, FeeBelowChainMinimumError, InvalidParamsError
from distpos_abci.fees import build_paid_tx, compute_fee, compute_gas_for
from distpos_abci.params import process_params_json
from distpos_abci.gen.distpos.v1 import distribution_pb2, distribution_pb2_grpc, tx_pb2
from distpos_abci.gen.tendermint.abci import types_pb2 as abci
from distpos_abci.grpc_service import start_grpc_server
from distpos_abci.relay.submitter import Submitter
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from tests.distribution.helpers import PRICE, block, fee_genesis
from tests.gov.helpers import GovChain, codes, gov_genesis, params_change
from tests.helpers import CHAIN, AppHarness, addr, key
from tests.interchain.helpers import ALICE, Chain, genesis
from tests.interchain.helpers import addr as ic_addr
from tests.relay.mock import MockEndpoint


@pytest.fixture
def app(tmp_path):
    h = AppHarness(tmp_path / "db")
    h.app.init_chain(CHAIN, fee_genesis({4: 1_000_000}))
    block(h.app)
    yield h.app
    h.db.close()


def call(app, stub, method, request):
    async def scenario():
        server, port = await start_grpc_server(app, "127.0.0.1:0")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                try:
                    return await getattr(stub(ch), method)(request, timeout=10), None
                except grpc.aio.AioRpcError as exc:
                    return None, exc
        finally:
            await server.stop(None)
    return asyncio.run(scenario())


def test_app_toml_fees_section(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text("[fees]\nmin_gas_price = 250\n")
    assert load_config(tmp_path).min_gas_price == 250
    for bad in ("-1", "1.5", '"cheap"', "true"):
        (tmp_path / "config" / "app.toml").write_text(f"[fees]\nmin_gas_price = {bad}\n")
        with pytest.raises(ConfigError, match="fees.min_gas_price"):
            load_config(tmp_path)


def test_abci_simulate_and_gas_prices_queries(app):
    adapter = DistposABCI(app)
    raw = build_send_tx(key(4), CHAIN, 0, addr(1), 5)
    res = adapter.query(abci.RequestQuery(path="/simulate", data=raw))
    sim = distribution_pb2.SimulateResponse.FromString(res.value)
    assert res.code == 0 and sim.gas == compute_gas_for("send", len(raw)) and sim.fee == 0
    assert sim.chain_min_fee == compute_fee(sim.gas, PRICE) and sim.code == 0
    prices = distribution_pb2.QueryGasPricesResponse.FromString(adapter.query(abci.RequestQuery(path="/gas_prices")).value)
    assert (prices.chain_min_gas_price, prices.node_min_gas_price) == (PRICE, 0)
    bad = adapter.query(abci.RequestQuery(path="/simulate", data=b"\xff"))
    assert bad.code != 0 and bad.codespace == "tx"
    assert app.query_account(addr(4)).nonce == 0  # nothing kept


def test_grpc_rewards_pool_simulate(app):
    raw = build_send_tx(key(4), CHAIN, 0, addr(1), 5)
    sim, err = call(app, distribution_pb2_grpc.FeesStub, "Simulate", distribution_pb2.SimulateRequest(tx=raw))
    assert err is None and sim.node_min_fee == sim.chain_min_fee > 0
    _, err = call(app, distribution_pb2_grpc.FeesStub, "Simulate", distribution_pb2.SimulateRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    r, err = call(app, distribution_pb2_grpc.DistributionStub, "Rewards",
                  distribution_pb2.QueryRewardsRequest(validator=addr(1)))
    assert err is None and (r.validator, r.rewards) == (addr(1), 0)
    _, err = call(app, distribution_pb2_grpc.DistributionStub, "Rewards",
                  distribution_pb2.QueryRewardsRequest(validator=addr(4)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    pool, _ = call(app, distribution_pb2_grpc.DistributionStub, "Pool", distribution_pb2.QueryPoolRequest())
    assert (pool.pool_balance, pool.remainder, pool.minted) == (0, 0, 0)
    params, _ = call(app, distribution_pb2_grpc.DistributionStub, "Params",
                     distribution_pb2.QueryDistributionParamsRequest())
    assert json.loads(params.params_json) == {"inflation_per_block": 0}


def test_cli_refuses_fees_and_gas_prices_together(tmp_path):
    res = CliRunner().invoke(cli, ["--home", str(tmp_path), "tx", "bank", "send", "alice", addr(1), "5",
                                   "--chain-id", CHAIN, "--fees", "10", "--gas-prices", "5"])
    assert res.exit_code == 2 and res.stderr == "Error: give --fees or --gas-prices, not both\n"


def test_relay_submitter_pays_the_chains_minimum_and_rereads_it_after_a_refusal(tmp_path):
    state = json.loads(genesis("e2e4", {}))
    state["params"] = {"min_gas_price": PRICE}
    db = Database(tmp_path / "db")
    app = DistposApp(StateStore(db))
    app.init_chain("e2e4", json.dumps(state).encode())
    chain = Chain("e2e4", app)
    chain.block()
    ep = MockEndpoint(chain)
    alice = str(ic_addr(ALICE, "e2e4"))
    msg = tx_pb2.MsgSend(from_address=alice, to_address=alice, amount=1)
    cheap = Submitter(ep, ALICE, gas_price=1)  # configured below the chain's minimum: refused, nothing written
    res = cheap.send("send", msg)
    assert (res.code, res.codespace) == (FeeBelowChainMinimumError.code, "fees")
    sub = Submitter(ep, ALICE)  # 0 = the chain's min_gas_price, read from its state
    assert sub.send("send", msg).code == 0 and sub.price() == PRICE
    tx = tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(ep.broadcasts[-1]).body)
    assert tx.fee == compute_fee(compute_gas_for("send", len(ep.broadcasts[-1])), PRICE) > 0
    db.close()



def test_governance_raises_the_chain_minimum_from_the_next_block(harness):
    """A passed MsgUpdateParams{module: "chain"} sets min_gas_price; a cheaper fee is then refused (fees:191)."""
    harness.app.init_chain(CHAIN, gov_genesis())
    chain = GovChain(harness)
    chain.block()
    pid = chain.keeper().get_next_proposal_id()
    chain.block(chain.propose(6, [params_change("chain", min_gas_price=2 * PRICE)]))
    chain.block(chain.vote(1, pid), chain.vote(2, pid), chain.vote(5, pid))
    assert chain.app.params.min_gas_price == 2 * PRICE
    cheap = build_paid_tx(key(6), build_send_tx(key(6), CHAIN, chain.nonce(6), addr(1), 5), gas_price=PRICE)
    assert chain.app.check_tx(cheap).code == FeeBelowChainMinimumError.code
    assert codes(chain.block(cheap)) == [FeeBelowChainMinimumError.code]
    chain.pending = {}
    enough = build_paid_tx(key(6), build_send_tx(key(6), CHAIN, chain.nonce(6), addr(1), 5), gas_price=2 * PRICE)
    assert codes(chain.block(enough)) == [0]
    with pytest.raises(InvalidParamsError):
        process_params_json(chain.app.check, '{"min_gas_price": -1}')
