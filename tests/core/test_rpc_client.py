"""The CometBFT RPC client: typed errors (never told apart by text), bounded answers, kept-alive connections."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distpos_abci.errors import NodeUnreachableError, RpcCallError, RpcResponseError
from distpos_abci.rpc_client import CometRPC


class Node(BaseHTTPRequestHandler):
    """Answers by method: what `answers[method]` says (status, raw body)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as CometBFT's server does
    answers: dict = {}
    seen: list = []

    def do_POST(self):  # noqa: N802
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Node.seen.append((self.client_address[1], req["method"], req["params"]))
        status, body = Node.answers[req["method"]]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def ok(result) -> tuple[int, bytes]:
    return 200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()


@pytest.fixture
def node():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Node.answers, Node.seen = {}, []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_result_and_int64_params_as_strings(node):
    Node.answers["block_results"] = ok({"height": "5"})
    assert CometRPC(node).call("block_results", height=5, prove=False, skip=None) == {"height": "5"}
    assert Node.seen[-1][2] == {"height": "5", "prove": False}


def test_connections_are_reused(node):
    Node.answers["status"] = ok({})
    for _ in range(5):
        CometRPC(node).status()
    assert len({port for port, _, _ in Node.seen}) == 1


def test_invalid_jsonrpc_error_is_typed_with_its_code(node):
    Node.answers["tx"] = (500, json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32603, "message": "Internal error", "data": "tx (AB) not found"}}).encode())
    with pytest.raises(RpcCallError) as info:
        CometRPC(node).call("tx", hash="qw==")
    assert (info.value.method, info.value.rpc_code, info.value.rpc_data) == ("tx", -32603, "tx (AB) not found")


@pytest.mark.parametrize("status,body,error", [
    (200, b"<html>proxy</html>", RpcResponseError),
    (502, b"bad gateway", NodeUnreachableError),
    (200, b'{"jsonrpc": "2.0", "id": 1}', RpcResponseError),
    (200, b"[1, 2]", RpcResponseError),
])
def test_invalid_answers_are_typed(node, status, body, error):
    Node.answers["status"] = (status, body)
    with pytest.raises(error):
        CometRPC(node).status()


def test_invalid_oversized_answer_is_refused(node):
    Node.answers["status"] = ok({"pad": "x" * 5000})
    with pytest.raises(RpcResponseError, match="exceeds 1000"):
        CometRPC(node, max_response_bytes=1000).status()


def test_unreachable_node():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NodeUnreachableError, match="unreachable"):
        CometRPC(f"127.0.0.1:{port}", timeout=2).status()


def test_find_tx_uses_the_indexer_not_error_text(node):
    Node.answers["tx_search"] = ok({"txs": [], "total_count": "0"})
    assert CometRPC(node).find_tx(b"\xab" * 32) is None
    assert Node.seen[-1][2]["query"] == "tx.hash='" + "AB" * 32 + "'"
    Node.answers["tx_search"] = ok({"txs": [{"hash": "AB", "height": "9", "tx_result": {
        "code": 5, "codespace": "tx", "log": "bad", "events": [{"type": "tx"}]}}], "total_count": "1"})
    c = CometRPC(node).wait_for_tx(b"\xab" * 32, timeout=1)
    assert (c.height, c.code, c.codespace, c.events) == (9, 5, "tx", ({"type": "tx"},))
