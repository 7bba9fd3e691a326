"""The node side: [underwriting] config, the consensus key from CometBFT's home, and the gRPC services in process."""

from __future__ import annotations

import asyncio
import base64
import json

import grpc
import pytest

from distpos_abci.bank import build_send_tx
from distpos_abci.cli.client import compute_grpc_error
from distpos_abci.config import load_config
from distpos_abci.errors import ConfigError, InsufficientCollateralError, UnderwritingDisabledError
from distpos_abci.gen.distpos.v1 import staking_pb2, staking_pb2_grpc, underwriting_pb2, underwriting_pb2_grpc
from distpos_abci.grpc_service import start_grpc_server
from distpos_abci.underwriting import build_collateral_tx
from distpos_abci.underwriting.node import load_consensus_key
from distpos_abci.underwriting.service import UnderwritingService
from tests.staking.helpers import CHAIN, addr, cons_key, key, staking_genesis


def write_home(tmp_path, app_toml: str = "", seed: bytes = bytes([101]) * 32):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text(app_toml)
    k = cons_key(1) if seed == bytes([101]) * 32 else None
    pub = (k or cons_key(1)).pub_key
    (tmp_path / "config" / "priv_validator_key.json").write_text(json.dumps({
        "address": "", "pub_key": {"type": "tendermint/PubKeyEd25519", "value": base64.b64encode(pub).decode()},
        "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": base64.b64encode(seed + pub).decode()}}))
    return tmp_path


def test_underwriting_config_defaults_and_values(tmp_path):
    cfg = load_config(write_home(tmp_path, "[underwriting]\nguarantee_blocks = 7\nco_deadline_ms = 500\n"))
    assert (cfg.underwriting_enabled, cfg.guarantee_blocks, cfg.co_deadline_ms) == (True, 7, 500)


@pytest.mark.parametrize("text", ["[underwriting]\nenabled = 1\n", "[underwriting]\nguarantee_blocks = 0\n",
                                  "[underwriting]\nbogus = 1\n"])
def test_invalid_underwriting_config(tmp_path, text):
    with pytest.raises(ConfigError):
        load_config(write_home(tmp_path, text))


def test_consensus_key_is_read_from_the_cometbft_home(tmp_path):
    assert load_consensus_key(write_home(tmp_path)).pub_key == cons_key(1).pub_key


def test_invalid_consensus_key_file(tmp_path):
    home = write_home(tmp_path, seed=bytes([7]) * 32)  # seed does not match the stored public half
    with pytest.raises(ConfigError, match="does not match"):
        load_consensus_key(home)


def test_grpc_services_in_process(harness):
    harness.app.init_chain(CHAIN, staking_genesis({5: 10_000, 8: 10_000}, {1: 1000, 2: 500}))
    harness.block()
    harness.block(build_collateral_tx(key(5), CHAIN, 0, "deposit", addr(1), 1000))

    async def scenario():
        svc = UnderwritingService(harness.app, cons_key(1))
        server, port = await start_grpc_server(harness.app, "127.0.0.1:0", svc)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                staking = staking_pb2_grpc.StakingStub(ch)
                uw = underwriting_pb2_grpc.UnderwritingStub(ch)
                vals = await staking.Validators(staking_pb2.QueryValidatorsRequest())
                params = await staking.Params(staking_pb2.QueryStakingParamsRequest())
                raw = build_send_tx(key(5), CHAIN, 1, addr(6), 100)
                r = await uw.Underwrite(underwriting_pb2.UnderwriteRequest(tx=raw, client_carries=True))
                cap = await uw.Capacity(underwriting_pb2.CapacityRequest())
                big = build_send_tx(key(8), CHAIN, 0, addr(6), 5000)
                try:
                    await uw.Underwrite(underwriting_pb2.UnderwriteRequest(tx=big, no_co_underwriting=True))
                except grpc.RpcError as exc:
                    err = exc
                try:
                    await staking.Validator(staking_pb2.QueryValidatorRequest(operator_address=addr(7)))
                except grpc.RpcError as exc:
                    missing = exc
                col = await uw.Collateral(underwriting_pb2.CollateralRequest(payer=addr(5)))
                return vals, params, r, cap, err, missing, col
        finally:
            await server.stop(None)

    vals, params, r, cap, err, missing, col = asyncio.run(scenario())
    assert sorted(v.power for v in vals.validators) == [5, 10]
    assert json.loads(params.underwriting_json)["claim_window_blocks"] == 5
    assert len(r.guarantees) == 1 and r.elapsed_us > 0
    assert (cap.bonded, cap.outstanding, cap.free) == (1000, 100, 0)  # free credit: credit_limit defaults to 0
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(compute_grpc_error("x", err), InsufficientCollateralError)  # key 8 locked no collateral
    assert (col.collateral.locked, col.promised, col.underwriter) == (1000, 100, addr(1))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


def test_underwriting_disabled_node_answers_unavailable(harness):
    harness.app.init_chain(CHAIN, staking_genesis({5: 10_000}, {1: 1000}))
    harness.block()

    async def scenario():
        server, port = await start_grpc_server(harness.app, "127.0.0.1:0", None)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                uw = underwriting_pb2_grpc.UnderwritingStub(ch)
                try:
                    await uw.Capacity(underwriting_pb2.CapacityRequest())
                except grpc.RpcError as exc:
                    return exc
        finally:
            await server.stop(None)

    exc = asyncio.run(scenario())
    assert exc.code() == grpc.StatusCode.UNAVAILABLE
    assert isinstance(compute_grpc_error("x", exc), UnderwritingDisabledError)
