"""The node's gRPC server maps errors in one interceptor: DistPOS errors to their status and code metadata, bugs
to INTERNAL without library text; servicers never catch, and no module imports a private abort helper."""

from __future__ import annotations

import ast
import asyncio
import pathlib

import grpc
import pytest

from distpos_abci.gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc, query_pb2, query_pb2_grpc
from distpos_abci.grpc_service import start_grpc_server
from tests.helpers import CHAIN, genesis_bytes

GRPC_SERVICE = pathlib.Path(__file__).parents[2] / "distpos_abci" / "grpc_service"


def _call(app, stub_class, method, request):
    """Start the server on app, make one call, return (response or None, RpcError or None)."""
    async def scenario():
        server, port = await start_grpc_server(app, "127.0.0.1:0")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                try:
                    return await getattr(stub_class(ch), method)(request, timeout=10), None
                except grpc.aio.AioRpcError as exc:
                    return None, exc
        finally:
            await server.stop(None)
    return asyncio.run(scenario())


@pytest.fixture
def app(harness):
    harness.app.init_chain(CHAIN, genesis_bytes({1: 1000}))
    harness.block()
    return harness.app


def test_distpos_error_becomes_its_status_and_code_metadata(app):
    _, err = _call(app, query_pb2_grpc.QueryStub, "Tx", query_pb2.QueryTxRequest(hash=b"short"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("tx:2: hash must be 32 bytes")
    meta = dict(err.trailing_metadata())
    assert (meta["distpos-codespace"], meta["distpos-code"]) == ("tx", "2")


def test_a_receipt_proof_is_unimplemented_with_its_code(app):
    _, err = _call(app, query_pb2_grpc.QueryStub, "Tx", query_pb2.QueryTxRequest(hash=b"\x01" * 32, prove=True))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED and err.details().startswith("query:35: receipts are not")
    _, err = _call(app, query_pb2_grpc.QueryStub, "Tx", query_pb2.QueryTxRequest(hash=b"\x01" * 32))
    assert err.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("method,request_", [
    ("ListPackets", interchain_pb2.QueryPacketsRequest(destination_chain="x" * 300)),
    ("GetRoute", interchain_pb2.QueryRouteRequest(chain_id="")),
    ("GetCorrespondent", interchain_pb2.QueryCorrespondentRequest(chain_id="A1B2")),
])
def test_invalid_chain_id_in_interchain_queries_is_invalid_argument(app, method, request_):
    _, err = _call(app, interchain_pb2_grpc.InterchainStub, method, request_)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "invalid chain-id" in err.details()


def test_a_bug_is_internal_without_library_text(app, monkeypatch):
    monkeypatch.setattr(app, "query_status", lambda: (_ for _ in ()).throw(RuntimeError("library secret")))
    _, err = _call(app, query_pb2_grpc.QueryStub, "Status", query_pb2.QueryStatusRequest())
    assert err.code() == grpc.StatusCode.INTERNAL and "library secret" not in err.details()
    assert dict(err.trailing_metadata())["distpos-code"] == "1"


def test_servicers_do_not_catch_or_abort():
    for path in GRPC_SERVICE.glob("*.py"):
        text = path.read_text()
        assert "_abort" not in text, path
        if path.name != "errors.py":
            assert "except DistposError" not in text and "context.abort" not in text, path


def test_no_import_cycle_between_server_and_servicers():
    for path in GRPC_SERVICE.glob("*.py"):
        if path.name in ("server.py", "__init__.py"):
            continue
        imported = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        assert "server" not in imported and "grpc_service.server" not in imported, path
