"""Underwriting on a real localnet of four DistPOS validators (1,000,000 staked each): guarantees that are
released once their payment executes, a lost double spend paid from stake exactly once, co-underwriting that succeeds or is refused leaving no trace."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from distpos_abci.errors import InsufficientCapacityError, ReplayedGuaranteeError, TxRejectedError
from distpos_abci.bank import build_send_tx
from distpos_abci.cli.staking import call_underwriting, request_guarantee, wait_for_settlement
from distpos_abci.gen.distpos.v1 import query_pb2, underwriting_pb2
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import Network, find_app_bin
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting import PAID, RELEASED, build_claim_tx, build_underwritten_tx

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


def commit(net: Network, raw: bytes, node: int = 0):
    rpc = CometRPC(net.nodes[node].rpc_url)
    rpc.broadcast_tx_sync(raw)
    return rpc.wait_for_tx(compute_tx_hash(raw), timeout=30)


def test_underwritten_payment_is_guaranteed_then_released(distpos_net):
    # How fast a guarantee comes back is a figure, not a pass/fail: bench/bench_underwriting.py measures it.
    net = distpos_net
    chain = net.chains[0].chain_id
    alice, bob = keypair(net, "alice"), str(keypair(net, "bob").address(chain))
    before = account(net, bob).balance
    for i in range(5):
        raw = build_send_tx(alice.keypair, chain, account(net, str(alice.address(chain))).nonce, bob, 1000 + i)
        guarantees, _ms, _node_us = request_guarantee(net.nodes[0].grpc_address, raw)
        [g] = guarantees
        assert g.tx_hash == compute_tx_hash(raw)
        assert g.amount == 1000 + i and str(g.beneficiary) == bob and g.expiry_height > g.issued_height
        s = wait_for_settlement(net.nodes[0].grpc_address, g.tx_hash, timeout=30)
        assert s.outcome == RELEASED
    assert account(net, bob).balance == before + sum(1000 + i for i in range(5))
    assert all(c[1] == 0 for c in capacities(net))  # released guarantees are no longer outstanding


def test_cli_send_underwrite_prints_the_guarantee_and_its_time(distpos_net):
    net = distpos_net
    chain = net.chains[0].chain_id
    bob = str(keypair(net, "bob").address(chain))
    proc = subprocess.run(
        [find_app_bin(), "tx", "send", "alice", bob, "777", "--underwrite",
         "--keyring-dir", net.keyring_dir, "--node", net.nodes[1].rpc_url, "--grpc", net.nodes[1].grpc_address,
         "-o", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    print(f"\nCLI: guaranteed in {data['guarantee_ms']} ms, settled {data['settlement']['outcome']} "
          f"after {data['seconds']} s")
    assert data["settlement"]["outcome"] == "released" and len(data["guarantees"]) == 1


def test_double_spend_pays_the_beneficiary_from_stake_exactly_once(distpos_net):
    net = distpos_net
    chain = net.chains[0].chain_id
    carol, alice = keypair(net, "carol"), keypair(net, "alice")
    bob = str(keypair(net, "bob").address(chain))
    carol_addr = str(carol.address(chain))
    nonce = account(net, carol_addr).nonce
    guaranteed = build_send_tx(carol.keypair, chain, nonce, bob, 5000)
    # The client takes the guarantee and carries it itself, later: the double spend below wins the race.
    [g], ms, _ = request_guarantee(net.nodes[1].grpc_address, guaranteed, client_carries=True)
    print(f"\nguarantee for the soon-to-be double-spent payment in {ms:.2f} ms")
    underwriter_before = capacities(net)[1][0]
    bob_before = account(net, bob).balance
    spend = build_send_tx(carol.keypair, chain, nonce, str(alice.address(chain)), account(net, carol_addr).balance)
    assert commit(net, spend, node=2).code == 0
    alice_addr = str(alice.address(chain))
    carrier = build_underwritten_tx(alice.keypair, chain, account(net, alice_addr).nonce, guaranteed, [g])
    assert commit(net, carrier).code == 0
    s = wait_for_settlement(net.nodes[0].grpc_address, g.tx_hash, timeout=30)
    assert (s.outcome, s.amount) == (PAID, 5000)
    assert account(net, bob).balance == bob_before + 5000
    deadline = time.monotonic() + 15
    while capacities(net)[1][0] != underwriter_before - 5000:  # node1 sees the payout once it commits that block
        assert time.monotonic() < deadline, capacities(net)
        time.sleep(0.2)
    # Neither a claim nor a second carrier pays again: CheckTx already refuses both as replays.
    # (A refused transaction leaves the mempool nonce alone, so both may use the same one.)
    nonce = account(net, alice_addr).nonce
    claim = build_claim_tx(alice.keypair, chain, nonce, [g])
    again = build_underwritten_tx(alice.keypair, chain, nonce, guaranteed, [g])
    for raw in (claim, again):
        with pytest.raises(TxRejectedError) as info:
            commit(net, raw)
        assert info.value.remote_code == ReplayedGuaranteeError.code
    assert account(net, bob).balance == bob_before + 5000


def test_co_underwriting_succeeds_when_shares_suffice_and_is_refused_otherwise(distpos_net):
    net = distpos_net
    chain = net.chains[0].chain_id
    alice, bob = keypair(net, "alice"), str(keypair(net, "bob").address(chain))
    alice_addr = str(alice.address(chain))
    before = capacities(net)
    total_free = sum(c[3] for c in before)
    own_free = before[2][3]
    amount = own_free + 1_500_000  # needs this node and at least two others
    raw = build_send_tx(alice.keypair, chain, account(net, alice_addr).nonce, bob, amount)
    guarantees, ms, _ = request_guarantee(net.nodes[2].grpc_address, raw)
    print(f"\nco-underwritten {amount} by {len(guarantees)} validators in {ms:.2f} ms")
    assert len(guarantees) >= 3 and sum(g.amount for g in guarantees) == amount
    assert wait_for_settlement(net.nodes[2].grpc_address, guarantees[0].tx_hash, timeout=30).outcome == RELEASED
    # Each co-underwriter frees its share once its own node has committed the settling block.
    settle_capacities(net, before)

    too_much = build_send_tx(alice.keypair, chain, account(net, alice_addr).nonce, bob, total_free + 1)
    with pytest.raises(InsufficientCapacityError):
        request_guarantee(net.nodes[2].grpc_address, too_much)
    assert capacities(net) == before  # nothing reserved or outstanding anywhere


def settle_capacities(net: Network, expected: list, timeout: float = 15.0) -> None:
    """Wait until every node's capacity is back to expected (nodes commit a block at slightly different times)."""
    deadline = time.monotonic() + timeout
    while capacities(net) != expected:
        assert time.monotonic() < deadline, f"capacities {capacities(net)} never returned to {expected}"
        time.sleep(0.2)


def test_guarantee_not_carried_by_expiry_is_claimed_by_cli_once(distpos_net, tmp_path):
    net = distpos_net
    chain = net.chains[0].chain_id
    bob = keypair(net, "bob")
    carol = str(keypair(net, "carol").address(chain))
    raw = build_send_tx(bob.keypair, chain, account(net, str(bob.address(chain))).nonce, carol, 4242)
    [g], ms, _ = request_guarantee(net.nodes[3].grpc_address, raw, client_carries=True)  # and never broadcast
    path = tmp_path / "guarantee.json"
    path.write_text(json.dumps({"guarantees": [g.to_json()]}))
    carol_before = account(net, carol).balance
    rpc = CometRPC(net.nodes[0].rpc_url)
    deadline = time.monotonic() + 60
    while int(rpc.status()["sync_info"]["latest_block_height"]) <= g.expiry_height:
        assert time.monotonic() < deadline, "chain did not pass the expiry height"
        time.sleep(0.25)
    cli = [find_app_bin(), "tx", "claim", "alice", str(path), "--keyring-dir", net.keyring_dir,
           "--node", net.nodes[0].rpc_url, "-o", "json"]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert account(net, carol).balance == carol_before + 4242
    second = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert second.returncode == 3 and "already settled" in second.stderr
    assert account(net, carol).balance == carol_before + 4242
    out = subprocess.run([find_app_bin(), "query", "guarantees", "--tx", g.tx_hash.hex(), "--grpc",
                          net.nodes[0].grpc_address, "-o", "json"], capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout)["outcome"] == "paid"
