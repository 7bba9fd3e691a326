"""client.toml and the chain-id: given by the operator (flag, env or `distpos config set`), never by the node;
the bad inputs the operators' issue listed, each one line and exit 2."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from distpos_abci.cli.main import cli
from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.keyring import Keyring
from distpos_abci.tx import compute_tx_hash

ADDRESS = "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"
CLEAN_ENV = {"DISTPOS_KEYRING_DIR": None, "DISTPOS_NODE": None, "DISTPOS_GRPC": None, "DISTPOS_CHAIN_ID": None}


@pytest.fixture
def home(tmp_path):
    Keyring(tmp_path / "keyring").add("alice", KeyPair(bytes(32)))
    return tmp_path


def run(home, *args: str):
    return CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, "DISTPOS_HOME": str(home)})


class HostileNode(BaseHTTPRequestHandler):
    """A CometBFT RPC that claims to serve chain `evil`, and keeps what is broadcast."""

    received: list[bytes] = []

    def do_POST(self):  # noqa: N802
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method, params = req["method"], req["params"]
        if method == "status":
            result = {"node_info": {"network": "evil"}}
        elif method == "abci_query":
            result = {"response": {"code": 1, "log": "unknown account"}}
        elif method == "broadcast_tx_sync":
            HostileNode.received.append(base64.b64decode(params["tx"]))
            result = {"code": 0, "hash": ""}
        elif method == "tx_search":
            raw = HostileNode.received[-1]
            result = {"txs": [{"hash": compute_tx_hash(raw).hex().upper(), "height": "7",
                               "tx_result": {"code": 0, "events": []}}], "total_count": "1"}
        else:
            result = None
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile_node():
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileNode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    HostileNode.received.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_config_set_get_show_round_trip(home):
    assert run(home, "config", "set", "chain-id", "e2e4").exit_code == 0
    assert run(home, "config", "set", "output", "json").exit_code == 0
    (home / "client.toml").write_text("# kept\n" + (home / "client.toml").read_text())
    assert run(home, "config", "set", "grpc", "127.0.0.1:9120").exit_code == 0
    assert run(home, "config", "get", "chain-id").stdout == "e2e4\n"
    shown = json.loads(run(home, "config", "show").stdout)  # output = json from client.toml
    assert (shown["chain-id"], shown["grpc"], shown["node"], shown["keyring-backend"]) == (
        "e2e4", "127.0.0.1:9120", "http://127.0.0.1:26657", "test")
    assert (home / "client.toml").read_text().startswith("# kept\n")


@pytest.mark.parametrize("key,value", [("chain-id", "E2E4"), ("output", "yaml"), ("node", "ftp://x"),
                                       ("grpc", "nohost"), ("keyring-backend", "os"), ("colour", "red")])
def test_invalid_config_value_is_refused(home, key, value):
    res = run(home, "config", "set", key, value)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert not (home / "client.toml").exists()


def test_invalid_client_toml_names_the_file_and_key(home):
    (home / "client.toml").write_text('chain-id = "NOT VALID"\n')
    res = run(home, "query", "status")
    assert res.exit_code == 1 and "client.toml" in res.stderr and "chain-id" in res.stderr


def test_invalid_no_chain_id_is_refused_before_any_network(home):
    res = run(home, "tx", "bank", "send", "alice", ADDRESS, "5", "--node", "http://127.0.0.1:1")
    assert res.exit_code == 2 and "no chain-id" in res.stderr


def test_chain_id_comes_from_client_toml_never_from_the_node(home, hostile_node):
    run(home, "config", "set", "chain-id", "e2e4")
    res = run(home, "tx", "bank", "send", "alice", ADDRESS, "5", "--node", hostile_node, "-o", "json", "--fees", "0")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["chain_id"] == "e2e4"
    body = tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(HostileNode.received[0]).body)
    assert body.chain_id == "e2e4"
    flag = run(home, "tx", "bank", "send", "alice", ADDRESS, "5", "--node", hostile_node, "--chain-id", "a1b2",
               "--fees", "0")
    assert flag.exit_code == 0 and tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(HostileNode.received[1]).body
                                                             ).chain_id == "a1b2"


@pytest.mark.parametrize("args,needle", [
    (("query", "account", ADDRESS, "--height", "99999999999999999999"), "--height"),
    (("tx", "interchain", "transfer", "alice", ADDRESS, "5", "--timeout-height", "-3", "--chain-id", "e2e4"),
     "--timeout-height"),
    (("query", "interchain", "packets", "x" * 300), "invalid chain-id"),
    (("tx", "bank", "send", "alice", ADDRESS, "-5", "--chain-id", "e2e4"), "negative numbers"),
    (("tx", "bank", "send", "alice", ADDRESS, "²", "--chain-id", "e2e4"), "positive integer"),
    (("query", "tx", "abcd"), "64 hex digits"),
    (("query", "tx", "ab" * 32, "--prove"), "--prove needs the chain"),
    (("tx", "bank"), "Usage"),
])
def test_invalid_inputs_from_the_issue_are_one_line_exit_2(home, args, needle):
    res = run(home, *args)
    assert res.exit_code == 2
    if needle == "Usage":  # a module without its command prints the module's help
        assert "send" in res.stdout
    else:
        assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1 and needle in res.stderr


def test_flat_names_of_earlier_releases_still_resolve(home):
    res = run(home, "tx", "send", "alice", ADDRESS, "5", "--chain-id", "e2e4", "--node", "http://127.0.0.1:1")
    assert res.exit_code == 4 and "unreachable" in res.stderr
    assert "send" not in run(home, "tx", "--help").stdout.split("Commands:")[1].split()
