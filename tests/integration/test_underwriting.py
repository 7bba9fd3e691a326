"""Underwriting on a real localnet of four DistPOS validators (1,000,000 staked each): payers lock collateral with
validators, guarantees come at once from the node's service, a lost double spend is paid from the payer's collateral
exactly once, a co-underwritten payment that is withheld is claimed after expiry from every share's collateral, and
a request beyond the collateral is refused leaving nothing reserved. No latency is asserted here (see make bench)."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest

from distpos_abci.bank import build_send_tx
from distpos_abci.crypto import KeyPair
from tests.helpers import paid

from .test_interchain import fees_paid_by
from distpos_abci.cli.underwriting_client import call_underwriting, request_guarantee, wait_for_settlement
from distpos_abci.errors import InsufficientCapacityError, ReplayedGuaranteeError, TxRejectedError
from distpos_abci.gen.distpos.v1 import query_pb2, underwriting_pb2
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import Network, find_app_bin
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting import PAID, RELEASED, build_claim_tx, build_collateral_tx, build_underwritten_tx

pytestmark = pytest.mark.integration


def keypair(net: Network, name: str):
    return Keyring(net.keyring_dir).get(name)


def account(net: Network, address: str) -> query_pb2.QueryAccountResponse:
    res = CometRPC(net.nodes[0].rpc_url).abci_query("/account", address.encode())
    return query_pb2.QueryAccountResponse.FromString(res["value"])


def capacities(net: Network) -> list[tuple[int, int, int, int]]:
    out = []
    for node in net.nodes:
        c = call_underwriting(node.grpc_address, "Capacity", underwriting_pb2.CapacityRequest())
        out.append((c.bonded, c.outstanding, c.reserved, c.free))
    return out


def operators(net: Network) -> list[str]:
    """The operator address of each node's validator."""
    return [call_underwriting(n.grpc_address, "Capacity", underwriting_pb2.CapacityRequest()).operator_address
            for n in net.nodes]


def collateral(net: Network, payer: str, node: int) -> underwriting_pb2.CollateralResponse:
    return call_underwriting(net.nodes[node].grpc_address, "Collateral", underwriting_pb2.CollateralRequest(payer=payer))


def commit(net: Network, raw: bytes, node: int = 0):
    rpc = CometRPC(net.nodes[node].rpc_url)
    rpc.broadcast_tx_sync(raw)
    return rpc.wait_for_tx(compute_tx_hash(raw), timeout=30)


def deposit(net: Network, name: str, amounts: list[int]) -> None:
    """Lock collateral of key `name` with each node's validator (amount 0 = none)."""
    chain = net.chains[0].chain_id
    key = keypair(net, name)
    for op, amount in zip(operators(net), amounts):
        if amount:
            nonce = account(net, str(key.address(chain))).nonce
            assert commit(net, paid(key.keypair, build_collateral_tx(key.keypair, chain, nonce, "deposit", op, amount))).code == 0


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def wait_past(net: Network, height: int) -> None:
    rpc = CometRPC(net.nodes[0].rpc_url)
    wait_until(lambda: int(rpc.status()["sync_info"]["latest_block_height"]) > height,
               f"chain did not pass height {height}", timeout=60)


def test_cli_collateral_then_guaranteed_payments_release(distpos_net):
    net = distpos_net
    chain = net.chains[0].chain_id
    alice, bob = keypair(net, "alice"), str(keypair(net, "bob").address(chain))
    alice_addr = str(alice.address(chain))
    ops = operators(net)
    for node in (0, 1):  # through the CLI, as an operator would
        proc = subprocess.run(
            [find_app_bin(), "tx", "underwriting", "deposit-collateral", "alice", ops[node], "20000", "--keyring-dir",
             net.keyring_dir, "--node", net.nodes[0].rpc_url, "--chain-id", chain, "-o", "json"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_until(lambda: collateral(net, alice_addr, 1).collateral.locked == 20000, "node 1 never saw the deposit")
    before = account(net, bob).balance
    for i in range(3):
        nonce = account(net, alice_addr).nonce
        raw = paid(alice.keypair, build_send_tx(alice.keypair, chain, nonce, bob, 1000 + i))
        [g], _, _ = request_guarantee(net.nodes[0].grpc_address, raw)
        assert g.amount == 1000 + i and str(g.beneficiary) == bob and (str(g.payer), g.nonce) == (alice_addr, nonce)
        [s] = wait_for_settlement(net.nodes[0].grpc_address, alice_addr, nonce, timeout=30)
        assert s.outcome == RELEASED
    assert account(net, bob).balance == before + sum(1000 + i for i in range(3))
    wait_until(lambda: collateral(net, alice_addr, 0).promised == 0, "released guarantees still promised")
    # The CLI's own guaranteed send, through node 1.
    proc = subprocess.run(
        [find_app_bin(), "tx", "bank", "send", "alice", bob, "777", "--underwrite",
         "--keyring-dir", net.keyring_dir, "--node", net.nodes[1].rpc_url, "--grpc", net.nodes[1].grpc_address,
         "--chain-id", chain,
         "-o", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["settlement"]["outcome"] == "released" and len(data["guarantees"]) == 1


def test_double_spend_pays_the_beneficiary_from_collateral_exactly_once(distpos_net):
    net = distpos_net
    chain = net.chains[0].chain_id
    carol, alice = keypair(net, "carol"), keypair(net, "alice")
    bob = str(keypair(net, "bob").address(chain))
    carol_addr, alice_addr = str(carol.address(chain)), str(alice.address(chain))
    deposit(net, "carol", [0, 5000, 0, 0])
    wait_until(lambda: collateral(net, carol_addr, 1).collateral.locked == 5000, "node 1 never saw the deposit")
    nonce = account(net, carol_addr).nonce
    guaranteed = paid(carol.keypair, build_send_tx(carol.keypair, chain, nonce, bob, 5000))
    # The client takes the guarantee and carries it itself, later: the double spend below wins the race.
    [g], _, _ = request_guarantee(net.nodes[1].grpc_address, guaranteed, client_carries=True)
    stake_before = capacities(net)[1][0]
    bob_before = account(net, bob).balance
    spend = paid(carol.keypair, build_send_tx(carol.keypair, chain, nonce, alice_addr, 100))
    assert commit(net, spend, node=2).code == 0
    carrier = paid(alice.keypair, build_underwritten_tx(alice.keypair, chain, account(net, alice_addr).nonce, guaranteed,
                                                       [g]))
    assert commit(net, carrier).code == 0
    [s] = wait_for_settlement(net.nodes[0].grpc_address, carol_addr, nonce, timeout=30)
    assert (s.outcome, s.amount, s.from_collateral, s.from_stake) == (PAID, 5000, 5000, 0)
    assert account(net, bob).balance == bob_before + 5000
    assert capacities(net)[1][0] == stake_before  # the validator's stake is untouched: the payer paid
    wait_until(lambda: collateral(net, carol_addr, 1).collateral.locked == 0, "collateral not seized")
    # Neither a claim nor a second carrier pays again: CheckTx already refuses both as replays.
    nonce = account(net, alice_addr).nonce
    for raw in (paid(alice.keypair, build_claim_tx(alice.keypair, chain, nonce, [g], guaranteed)),
                paid(alice.keypair, build_underwritten_tx(alice.keypair, chain, nonce, guaranteed, [g]))):
        with pytest.raises(TxRejectedError) as info:
            commit(net, raw)
        assert info.value.remote_code == ReplayedGuaranteeError.code
    assert account(net, bob).balance == bob_before + 5000


def test_co_underwritten_payment_withheld_is_claimed_from_every_share(distpos_net, tmp_path):
    net = distpos_net
    chain = net.chains[0].chain_id
    bob = keypair(net, "bob")
    bob_addr, carol = str(bob.address(chain)), str(keypair(net, "carol").address(chain))
    deposit(net, "bob", [1000, 2000, 3000, 0])
    wait_until(lambda: [collateral(net, bob_addr, i).collateral.locked for i in range(4)] == [1000, 2000, 3000, 0],
               "not every node saw the deposits")
    stakes = [c[0] for c in capacities(net)]
    nonce = account(net, bob_addr).nonce
    raw = paid(bob.keypair, build_send_tx(bob.keypair, chain, nonce, carol, 5500))
    guarantees, _, _ = request_guarantee(net.nodes[0].grpc_address, raw, client_carries=True)  # and never broadcast
    assert sum(g.amount for g in guarantees) == 5500 and len(guarantees) == 3
    shares = {str(g.underwriter): g.amount for g in guarantees}
    ops = operators(net)
    assert shares == {ops[0]: 1000, ops[2]: 3000, ops[1]: 1500}  # own share first, then most collateral first
    path = tmp_path / "guarantees.json"
    path.write_text(json.dumps({"guarantees": [g.to_json() for g in guarantees], "tx": raw.hex()}))
    carol_before = account(net, carol).balance
    wait_past(net, guarantees[0].expiry_height)
    cli = [find_app_bin(), "tx", "underwriting", "claim", "alice", str(path), "--keyring-dir", net.keyring_dir,
           "--node", net.nodes[0].rpc_url, "--chain-id", net.chains[0].chain_id, "-o", "json"]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert account(net, carol).balance == carol_before + 5500
    second = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert second.returncode == 3 and "already settled" in second.stderr
    assert account(net, carol).balance == carol_before + 5500
    out = subprocess.run([find_app_bin(), "query", "underwriting", "guarantees", "--payer", bob_addr, "--nonce", str(nonce),
                          "--grpc", net.nodes[0].grpc_address, "-o", "json"], capture_output=True, text=True, timeout=30)
    settled = json.loads(out.stdout)
    assert settled["outcome"] == "paid" and settled["amount"] == "5500"
    assert all(s["from_stake"] == "0" for s in settled["shares"])
    wait_until(lambda: [c[0] for c in capacities(net)] == stakes, "a validator's stake changed")
    assert [collateral(net, bob_addr, i).collateral.locked for i in range(4)] == [0, 500, 0, 0]
    # The withheld bytes can never execute now: their nonce was retired by the claim.
    with pytest.raises(TxRejectedError):
        commit(net, raw)
    # Beyond what is left (500 at node 1), a request is refused and nothing stays reserved anywhere.
    more = paid(bob.keypair, build_send_tx(bob.keypair, chain, account(net, bob_addr).nonce, carol, 600))
    with pytest.raises(InsufficientCapacityError):
        request_guarantee(net.nodes[1].grpc_address, more)
    assert [c[2] for c in capacities(net)] == [0, 0, 0, 0]


def test_underwritten_payment_pays_its_premium(distpos_net):
    """Issue 12: node 3's validator announces a premium through the CLI (its operator key is its consensus key);
    the query shows it; a guaranteed send signing less is refused by the service with underwriting:200; the CLI's
    guaranteed send signs the quoted premium, and the settlement pays it to the underwriter exactly."""
    net = distpos_net
    chain = net.chains[0].chain_id
    node = net.nodes[3]
    seed = base64.b64decode(json.loads(node.path("config", "priv_validator_key.json").read_text())["priv_key"]["value"])
    Keyring(net.keyring_dir).add("val3", KeyPair(seed[:32]))
    op = operators(net)[3]
    base = [find_app_bin()]
    common = ["--keyring-dir", net.keyring_dir, "--node", node.rpc_url, "--chain-id", chain, "-o", "json"]
    proc = subprocess.run([*base, "tx", "underwriting", "set-premium", "val3", "20000", "15", *common],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    query = [*base, "query", "underwriting", "premium", op, "--amount", "3000", "--grpc", node.grpc_address, "-o", "json"]
    wait_until(lambda: json.loads(subprocess.run(query, capture_output=True, text=True, timeout=30).stdout)["rate_ppm"]
               == 20000, "node 3 never showed its premium")
    shown = json.loads(subprocess.run(query, capture_output=True, text=True, timeout=30).stdout)
    assert (shown["minimum"], shown["premium"]) == ("15", "60")  # 2% of 3000
    alice = keypair(net, "alice")
    alice_addr, bob = str(alice.address(chain)), str(keypair(net, "bob").address(chain))
    deposit(net, "alice", [0, 0, 0, 10_000])
    wait_until(lambda: collateral(net, alice_addr, 3).collateral.locked == 10_000, "node 3 never saw the deposit")
    send = [*base, "tx", "bank", "send", "alice", bob, "3000", "--underwrite", "--no-co-underwriting",
            "--grpc", node.grpc_address, *common]
    low = subprocess.run([*send, "--premium", "59"], capture_output=True, text=True, timeout=60)
    assert low.returncode == 1 and "asks a premium of 60" in low.stderr and "Traceback" not in low.stderr
    op_before, alice_before = account(net, op).balance + fees_paid_by(net, 0, op), account(net, alice_addr).balance
    ok = subprocess.run(send, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data = json.loads(ok.stdout)
    assert data["premium"] == "60" and data["settlement"]["outcome"] == "released"
    # the operator also paid the fee of the carrier its node broadcast (signed with the same key)
    assert account(net, op).balance + fees_paid_by(net, 0, op) == op_before + 60
    assert account(net, alice_addr).balance == alice_before - 3000 - 60 - data["fee"]
