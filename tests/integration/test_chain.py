"""Issue 2 end to end: four real CometBFT v0.38.25 validators driving the DistPOS app.

Transfers by CLI, queries over gRPC on every node, the same app hash on every node at
every height, proofs through CometBFT's abci_query checked against header H+1, and a
node killed with -9 mid-traffic that restarts and catches up with nothing applied twice.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import grpc
import pytest

from distpos_abci.bank import build_send_tx
from tests.helpers import paid
from distpos_abci.errors import InsufficientFundsError
from distpos_abci.gen.distpos.v1 import query_pb2, query_pb2_grpc, state_pb2
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import get_app_hash_at, node_status, rpc_get, start_node, stop_node, wait_for_blocks
from distpos_abci.rpc_client import CometRPC
from distpos_abci.store import merkle
from distpos_abci.tx import compute_tx_hash

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


def cli(net, *args: str, node=None) -> subprocess.CompletedProcess:
    node = node or net.chains[0].nodes[0]
    env = {**os.environ, "DISTPOS_KEYRING_DIR": str(net.keyring_dir), "DISTPOS_NODE": node.rpc_url,
           "DISTPOS_GRPC": node.grpc_address, "DISTPOS_CHAIN_ID": node.chain_id}
    return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=120, env=env)


def account(node, address: str) -> query_pb2.QueryAccountResponse:
    with grpc.insecure_channel(node.grpc_address) as ch:
        return query_pb2_grpc.QueryStub(ch).Account(query_pb2.QueryAccountRequest(address=address), timeout=10)


def demo(net, name: str) -> str:
    return next(a.address for a in net.chains[0].demo_accounts if a.name == name)


def wait_until(pred, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def assert_app_hashes_agree(net, heights) -> None:
    for h in heights:
        hashes = {n.label: get_app_hash_at(n, h) for n in net.chains[0].nodes}
        assert len(set(hashes.values())) == 1, f"app hashes differ at height {h}: {hashes}"


def test_transfer_by_cli_visible_on_every_node(distpos_net):
    net = distpos_net
    alice, bob = demo(net, "alice"), demo(net, "bob")
    before = account(net.chains[0].nodes[0], bob).balance
    res = cli(net, "tx", "bank", "send", "alice", bob, "1234", "-o", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["code"] == 0 and out["height"] > 0
    wait_for_blocks(net, min_height=out["height"] + 1, timeout=60)
    for node in net.chains[0].nodes:
        assert account(node, bob).balance == before + 1234
        assert account(node, alice).nonce >= 1
        q = cli(net, "query", "account", bob, "-o", "json", node=node)
        assert json.loads(q.stdout)["balance"] == str(before + 1234)
    height = min(s.height for s in node_status(net))
    assert_app_hashes_agree(net, range(1, height + 1))


def test_rejected_transfer_is_one_line_and_changes_nothing(distpos_net):
    net = distpos_net
    carol, bob = demo(net, "carol"), demo(net, "bob")
    node = net.chains[0].nodes[1]
    before = (account(node, carol).balance, account(node, bob).balance)
    res = cli(net, "tx", "bank", "send", "carol", bob, str(before[0] + 1), node=node)
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0 and f"bank:{InsufficientFundsError.code}" in res.stderr
    assert (account(node, carol).balance, account(node, bob).balance) == before


def test_abci_query_proof_verifies_against_next_header(distpos_net):
    net = distpos_net
    node = net.chains[0].nodes[2]
    bob = demo(net, "bob")
    rpc = CometRPC(node.rpc_url)
    res = rpc.abci_query("/account", bob.encode(), prove=True)
    h = int(res["height"])
    acct = query_pb2.QueryAccountResponse.FromString(res["value"])
    wait_for_blocks(net, min_height=h + 1, timeout=60, nodes=[node])
    header = rpc_get(node.rpc_url, "header", height=h + 1)["header"]
    app_hash = bytes.fromhex(header["app_hash"])
    op = res["proofOps"]["ops"][0]
    proof = merkle.MerkleProof.from_proto(state_pb2.MerkleProof.FromString(base64.b64decode(op["data"])))
    key = base64.b64decode(op["key"])
    assert merkle.verify_membership(app_hash, key, acct.balance.to_bytes(8, "big"), proof)
    assert not merkle.verify_membership(app_hash, key, (acct.balance + 1).to_bytes(8, "big"), proof)
    # gRPC serves the same answer at the same height
    with grpc.insecure_channel(node.grpc_address) as ch:
        g = query_pb2_grpc.QueryStub(ch).Account(query_pb2.QueryAccountRequest(address=bob, height=h, prove=True))
    assert g.balance == acct.balance and g.proofs[0].proof.siblings == acct.proofs[0].proof.siblings


def test_kill_9_node_while_traffic_flows_then_catch_up(distpos_net):
    net = distpos_net
    nodes = net.chains[0].nodes
    alice_key = Keyring(net.keyring_dir).get("alice").keypair
    alice, carol = demo(net, "alice"), demo(net, "carol")
    rpc = CometRPC(nodes[0].rpc_url)
    start_nonce = account(nodes[0], alice).nonce
    carol_before = account(nodes[0], carol).balance
    committed: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def traffic() -> None:
        nonce = start_nonce
        try:
            while not stop.is_set():
                raw = paid(alice_key, build_send_tx(alice_key, net.chains[0].chain_id, nonce, carol, 1 + nonce % 7))
                rpc.broadcast_tx_sync(raw)
                result = rpc.wait_for_tx(compute_tx_hash(raw), timeout=60)
                assert result.code == 0, result.log
                committed.append(1 + nonce % 7)
                nonce += 1
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    def height(node) -> int:
        [s] = node_status(net, [node], timeout=1.0)
        return s.height if s.reachable and s.height is not None else -1

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    wait_until(lambda: committed or errors, what="traffic committing")
    victim = nodes[3]
    stop_node(net, victim, force=True)  # kill -9 of both its app and its CometBFT
    killed_at, sent_before = height(nodes[0]), len(committed)
    # the other three go on: three more blocks, and traffic committed in them, while the victim is down
    wait_until(lambda: errors or (height(nodes[0]) >= killed_at + 3 and len(committed) > sent_before),
               what="blocks and transactions without the victim")
    start_node(net, victim)
    restarted_at = height(nodes[0])
    # the victim catches up while the traffic still flows
    wait_until(lambda: errors or height(victim) >= restarted_at, timeout=120, what="the victim catching up")
    stop.set()
    sender.join(90)
    assert not errors, errors
    assert len(committed) >= 3
    target = max(s.height for s in node_status(net, [nodes[0]])) + 1
    wait_for_blocks(net, min_height=target, timeout=120)
    expected_carol = carol_before + sum(committed)
    for node in nodes:
        assert account(node, carol).balance == expected_carol, node.label
        assert account(node, alice).nonce == start_nonce + len(committed), node.label
    assert_app_hashes_agree(net, range(1, target + 1))


def test_query_txs_finds_a_transfer_by_its_events(distpos_net):
    net = distpos_net
    bob = demo(net, "bob")
    sent = json.loads(cli(net, "tx", "bank", "send", "alice", bob, "7", "-o", "json").stdout)
    res = cli(net, "query", "txs", "--events", f"transfer.recipient={bob}", "--events", f"tx.height={sent['height']}",
              "-o", "json")
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert found["total_count"] == 1 and found["txs"][0]["hash"] == sent["hash"]
    assert cli(net, "query", "txs", "--events", "transfer.recipient='x'").returncode == 2


def test_prove_verifies_through_the_cli_light_client(distpos_net, tmp_path):
    net = distpos_net
    node, bob = net.chains[0].nodes[0], demo(net, "bob")
    env = {**os.environ, "DISTPOS_HOME": str(tmp_path), "DISTPOS_NODE": node.rpc_url, "DISTPOS_GRPC": node.grpc_address,
           "DISTPOS_CHAIN_ID": node.chain_id, "DISTPOS_KEYRING_DIR": str(net.keyring_dir)}

    def run(*args):
        return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=120, env=env)

    unverified = run("query", "account", bob, "--prove")
    assert unverified.returncode == 2 and "distpos light init" in unverified.stderr
    trusted = 2
    header_hash = rpc_get(node.rpc_url, "commit", height=trusted)["signed_header"]["commit"]["block_id"]["hash"]
    wrong = run("light", "init", "--height", str(trusted), "--hash", "AB" * 32)
    assert wrong.returncode == 1 and "does not hash" in wrong.stderr
    assert run("light", "init", "--height", str(trusted), "--hash", header_hash).returncode == 0
    res = run("query", "account", bob, "--prove", "-o", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["verification"]["verified"] and out["verification"]["header_height"] == out["height"] + 1
    assert out["verification"]["trusted_from"] == trusted and int(out["balance"]) > 0
    status = json.loads(run("light", "status", "-o", "json").stdout)
    assert status["height"] == out["height"] + 1 and not status["expired"]
    sent = json.loads(run("tx", "bank", "send", "alice", bob, "3", "-o", "json").stdout)
    receipt = run("query", "tx", sent["hash"], "-o", "json")
    assert receipt.returncode == 0, receipt.stderr
    assert json.loads(receipt.stdout)["height"] == sent["height"]
    # Receipts left the Merkle state (issue 8): --prove checks the code against LastResultsHash of the next header.
    proved = run("query", "tx", sent["hash"], "--prove", "-o", "json")
    assert proved.returncode == 0, proved.stderr
    out = json.loads(proved.stdout)
    assert (out["height"], out["code"], out["codespace"]) == (sent["height"], 0, "")
    assert out["verification"]["verified"] and out["verification"]["header_height"] == sent["height"] + 1
