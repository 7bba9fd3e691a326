"""A real `distpos node start` process driven over its ABCI socket, queried over gRPC,
and checked with CometBFT's own abci-cli (echo, info, check_tx valid and invalid)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from distpos_abci.abci import FrameDecoder, encode_frame
from distpos_abci.bank import build_send_tx
from distpos_abci.errors import InvalidSignatureError, TxTooLargeError, WrongChainError
from distpos_abci.gen.distpos.v1 import query_pb2, query_pb2_grpc, state_pb2
from distpos_abci.gen.tendermint.abci import types_pb2 as abci
from distpos_abci.store import merkle
from tests.abci.test_abci_cli import abci_cli
from tests.helpers import CHAIN, addr, genesis_bytes, key

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ABCIClient:
    """A minimal blocking ABCI socket client: one request, then Flush, then read both answers."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = FrameDecoder()
        self.frames: list[bytes] = []

    def call(self, **req) -> abci.Response:
        self.sock.sendall(encode_frame(abci.Request(**req).SerializeToString())
                          + encode_frame(abci.Request(flush=abci.RequestFlush()).SerializeToString()))
        while len(self.frames) < 2:
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.frames.extend(self.decoder.feed(data))
        resp, flush = (abci.Response.FromString(f) for f in self.frames[:2])
        del self.frames[:2]
        assert flush.WhichOneof("value") == "flush"
        return resp


@pytest.fixture
def node(tmp_path):
    abci_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text(
        f'[abci]\nladdr = "tcp://127.0.0.1:{abci_port}"\n[grpc]\nladdr = "127.0.0.1:{grpc_port}"\n'
        f'[metrics]\nladdr = "127.0.0.1:{metrics_port}"\n'
    )
    distpos = str(pathlib.Path(sys.executable).parent / "distpos")
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([distpos, "node", "start", "--home", str(tmp_path)], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", abci_port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail((tmp_path / "app.log").read_text())
            time.sleep(0.1)
    yield abci_port, grpc_port, metrics_port
    proc.terminate()
    assert proc.wait(10) == 0, "node did not stop cleanly on SIGTERM"
    log.close()


def test_node_over_abci_grpc_and_abci_cli(node):
    abci_port, grpc_port, metrics_port = node
    c = ABCIClient(abci_port)
    info = c.call(info=abci.RequestInfo()).info
    assert info.last_block_height == 0 and info.data == "distpos"
    init = c.call(init_chain=abci.RequestInitChain(chain_id=CHAIN, app_state_bytes=genesis_bytes({1: 1000}))).init_chain
    assert len(init.app_hash) == 32
    good = build_send_tx(key(1), CHAIN, 0, addr(2), 10)
    fin = c.call(finalize_block=abci.RequestFinalizeBlock(height=1, txs=[good])).finalize_block
    assert [r.code for r in fin.tx_results] == [0]
    assert {e.type for e in fin.tx_results[0].events} == {"tx", "transfer"}
    c.call(commit=abci.RequestCommit())
    info = c.call(info=abci.RequestInfo()).info
    assert (info.last_block_height, info.last_block_app_hash) == (1, fin.app_hash)

    # ABCI query with proof, verified against the app hash
    q = c.call(query=abci.RequestQuery(path="/account", data=addr(2).encode(), prove=True)).query
    acct = query_pb2.QueryAccountResponse.FromString(q.value)
    assert (q.code, acct.balance, q.height) == (0, 10, 1)
    op = q.proof_ops.ops[0]
    proof = merkle.MerkleProof.from_proto(state_pb2.MerkleProof.FromString(op.data))
    assert merkle.verify_membership(fin.app_hash, op.key, (10).to_bytes(8, "big"), proof)
    bad = c.call(query=abci.RequestQuery(path="/nope")).query
    assert bad.code == 31 and "unknown query path" in bad.log

    # gRPC: the same data, reflection on, errors as statuses with codes in trailing metadata
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
        stub = query_pb2_grpc.QueryStub(ch)
        assert stub.Account(query_pb2.QueryAccountRequest(address=addr(2))).balance == 10
        status = stub.Status(query_pb2.QueryStatusRequest())
        assert (status.chain_id, status.height, status.total_supply) == (CHAIN, 1, 1000)
        with pytest.raises(grpc.RpcError) as info_err:
            stub.Account(query_pb2.QueryAccountRequest(address="e2e4xbad"))
        assert info_err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(info_err.value.trailing_metadata())["distpos-code"] == "7"
        with pytest.raises(grpc.RpcError) as info_err:
            stub.Account(query_pb2.QueryAccountRequest(address=addr(2), height=50))
        assert info_err.value.code() == grpc.StatusCode.OUT_OF_RANGE
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        assert "distpos.v1.Query" in [s.name for s in resp.list_services_response.service]

    # CometBFT's own client against the same process
    address = f"tcp://127.0.0.1:{abci_port}"
    assert "-> data: hi" in abci_cli(address, "echo", "hi")
    assert "-> data: distpos" in abci_cli(address, "info")
    valid = build_send_tx(key(1), CHAIN, 1, addr(2), 5)
    assert abci_cli(address, "check_tx", "0x" + valid.hex()).splitlines()[0] == "-> code: OK"
    wrong_chain = build_send_tx(key(1), "a1b2", 1, addr(2, "a1b2"), 5)
    out = abci_cli(address, "check_tx", "0x" + wrong_chain.hex())
    assert f"-> code: {WrongChainError.code}" in out and "is for chain 'a1b2'" in out
    forged = bytearray(valid)
    forged[-1] ^= 1
    out = abci_cli(address, "check_tx", "0x" + bytes(forged).hex())
    assert f"-> code: {InvalidSignatureError.code}" in out
    out = abci_cli(address, "check_tx", "0x" + "00" * 9000)
    assert f"-> code: {TxTooLargeError.code}" in out
    # the node is still serving after every bad input
    assert c.call(echo=abci.RequestEcho(message="alive")).echo.message == "alive"

    # Prometheus metrics count what happened, by stage and result code
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("distpos_txs_total", (("chain_id", "e2e4"), ("result", "ok"), ("stage", "block")))] == 1
    assert samples[("distpos_txs_total", (("chain_id", "e2e4"), ("result", f"tx:{WrongChainError.code}"),
                                          ("stage", "check")))] == 1
    assert samples[("distpos_block_height", ())] == 1 and samples[("distpos_total_supply", ())] == 1000
    assert samples[("distpos_finalize_block_seconds_count", (("chain_id", "e2e4"),))] == 1
