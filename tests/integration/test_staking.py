"""Staking on a real localnet: five CometBFT nodes, four of them genesis validators (1,000,000 staked each, power
1000) and the fifth a full node. It joins the validator set by bonding and signs blocks; unbonding removes it; a
validator stopped for longer than the downtime window is jailed and drops out of the set."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable

import pytest

from distpos_abci.gen.distpos.v1 import query_pb2, staking_pb2
from distpos_abci.cli.staking import call_staking
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import (
    TEST_TIMEOUTS,
    FreePorts,
    Network,
    compute_default_chain_ids,
    find_app_bin,
    generate_network,
    running_network,
    stop_node,
)
from distpos_abci.localnet.rpc import rpc_get
from distpos_abci.rpc_client import CometRPC
from distpos_abci.staking import build_unbond_tx
from tests.helpers import paid
from distpos_abci.address import Address
from distpos_abci.crypto import KeyPair
from distpos_abci.tx import compute_tx_hash

pytestmark = pytest.mark.integration

JOINER_STAKE = 2_000_000


@pytest.fixture(scope="module")
def staking_net(tmp_path_factory, cometbft_bin):
    """Four genesis validators plus node4, which starts as a full node (dropped from both genesis sets)."""
    net = generate_network(tmp_path_factory.mktemp("staking"), chain_ids=compute_default_chain_ids(1),
                           validators_per_chain=5, port_allocator=FreePorts(), cometbft_bin=cometbft_bin,
                           timeouts=TEST_TIMEOUTS)
    joiner = net.nodes[4]
    pub = json.loads(joiner.path("config", "priv_validator_key.json").read_text())["pub_key"]["value"]
    for node in net.nodes:
        path = node.path("config", "genesis.json")
        genesis = json.loads(path.read_text())
        genesis["validators"] = [v for v in genesis["validators"] if v["pub_key"]["value"] != pub]
        staking = genesis["app_state"]["staking"]
        staking["validators"] = [v for v in staking["validators"] if v["consensus_pub_key"] != pub]
        path.write_text(json.dumps(genesis, indent=2) + "\n")
    with running_network(net, min_height=2, timeout=120):
        yield net


def distpos(*args: str) -> dict:
    """Run the distpos CLI with JSON output."""
    proc = subprocess.run([find_app_bin(), *args, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def cons_address(node) -> str:
    return json.loads(node.path("config", "priv_validator_key.json").read_text())["address"].upper()


def cometbft_validators(net: Network) -> dict[str, int]:
    res = rpc_get(net.nodes[0].rpc_url, "validators", per_page=100)
    return {v["address"].upper(): int(v["voting_power"]) for v in res["validators"]}


def wait_until(what: str, predicate: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(0.25)


def submit(net: Network, key, build) -> None:
    rpc = CometRPC(net.nodes[0].rpc_url)
    chain = net.chains[0].chain_id
    address = str(Address.from_pub_key(chain, key.pub_key))
    nonce = query_pb2.QueryAccountResponse.FromString(rpc.abci_query("/account", address.encode())["value"]).nonce
    raw = paid(key, build(key, chain, nonce))
    rpc.broadcast_tx_sync(raw)
    committed = rpc.wait_for_tx(compute_tx_hash(raw), timeout=30)
    assert committed.code == 0, committed.log


def signed_latest_commit(net: Network, address: str) -> bool:
    commit = rpc_get(net.nodes[0].rpc_url, "commit")["signed_header"]["commit"]
    return any(s["validator_address"].upper() == address and s["block_id_flag"] == 2 for s in commit["signatures"])


def test_a_new_validator_joins_by_bonding_signs_blocks_and_leaves_by_unbonding(staking_net):
    net = staking_net
    joiner = net.nodes[4]
    address = cons_address(joiner)
    assert address not in cometbft_validators(net)
    alice = Keyring(net.keyring_dir).get("alice").keypair
    created = distpos("tx", "staking", "create-validator", "alice", str(JOINER_STAKE), "--consensus-key",
                      str(joiner.path("config", "priv_validator_key.json")), "--endpoint", joiner.grpc_address,
                      "--moniker", "joiner", "--keyring-dir", net.keyring_dir, "--node", net.nodes[0].rpc_url,
                      "--chain-id", net.nodes[0].chain_id)
    assert created["code"] == 0
    wait_until("node4 is in CometBFT's validator set", lambda: cometbft_validators(net).get(address) == 2000)
    wait_until("node4 signs a commit", lambda: signed_latest_commit(net, address), timeout=30)
    views = distpos("query", "staking", "validators", "--grpc", net.nodes[0].grpc_address)["validators"]
    assert {v["moniker"]: v["power"] for v in views}["joiner"] == 2000

    submit(net, alice, lambda k, c, n: build_unbond_tx(k, c, n, JOINER_STAKE))
    wait_until("node4 left CometBFT's validator set", lambda: address not in cometbft_validators(net))
    operator = str(Address.from_pub_key(net.chains[0].chain_id, alice.pub_key))
    v = call_staking(net.nodes[0].grpc_address, "Validator",
                     staking_pb2.QueryValidatorRequest(operator_address=operator)).validator
    assert (v.power, v.validator.bonded, v.validator.unbonding) == (0, 0, JOINER_STAKE)


def test_a_validator_down_longer_than_the_downtime_window_is_jailed(staking_net):
    net = staking_net
    victim = net.nodes[3]
    address = cons_address(victim)
    wait_until("node4 is out and the four genesis validators remain",
               lambda: set(cometbft_validators(net)) == {cons_address(n) for n in net.nodes[:4]})
    stop_node(net, victim)
    started = time.monotonic()
    wait_until("node3 leaves CometBFT's validator set", lambda: address not in cometbft_validators(net), timeout=90)
    print(f"\nnode3 jailed and removed {time.monotonic() - started:.1f}s after it stopped")
    views = call_staking(net.nodes[0].grpc_address, "Validators", staking_pb2.QueryValidatorsRequest()).validators
    jailed = [v for v in views if v.consensus_address == address]
    assert jailed[0].validator.jailed_until > 0 and jailed[0].power == 0
    assert jailed[0].validator.slashed > 0  # slash_fraction_downtime
    height = int(rpc_get(net.nodes[0].rpc_url, "status")["sync_info"]["latest_block_height"])
    wait_until("the chain goes on without node3",
               lambda: int(rpc_get(net.nodes[0].rpc_url, "status")["sync_info"]["latest_block_height"]) > height + 3)


def rewards_of(net: Network, operator: str) -> int:
    return int(distpos("query", "distribution", "rewards", operator, "--grpc", net.nodes[0].grpc_address)["rewards"])


def test_signing_validators_accrue_rewards_and_the_jailed_one_does_not(staking_net):
    """Runs after the downtime test: node3 is jailed. Fees paid by transactions (auto-priced by the CLI at the
    chain's min_gas_price) are split among node0-2, which sign; node3 earns nothing. A zero-balance key cannot
    write state; --dry-run writes nothing; an operator withdraws its rewards."""
    net = staking_net
    chain, grpc_addr = net.chains[0].chain_id, net.nodes[0].grpc_address
    views = call_staking(grpc_addr, "Validators", staking_pb2.QueryValidatorsRequest()).validators
    by_cons = {v.consensus_address: v for v in views}
    ops = [by_cons[cons_address(n)].validator.operator_address for n in net.nodes[:4]]
    assert by_cons[cons_address(net.nodes[3])].validator.jailed_until > 0  # from the downtime test
    before = [rewards_of(net, op) for op in ops]
    keyring = Keyring(net.keyring_dir)
    bob = str(keyring.get("bob").address(chain))
    common = ("--keyring-dir", net.keyring_dir, "--node", net.nodes[0].rpc_url, "--chain-id", chain)

    dry = distpos("tx", "bank", "send", "alice", bob, "5", "--dry-run", *common)
    assert dry["code"] == 0 and dry["gas"] > 0 and dry["fee"] == dry["chain_min_fee"] > 0
    for i in range(3):
        sent = distpos("tx", "bank", "send", "alice", bob, "5", *common)
        assert sent["code"] == 0 and sent["nonce"] == dry["nonce"] + i and sent["fee"] == dry["fee"]
    wait_until("the fees are split among the signers at the next block",
               lambda: all(rewards_of(net, op) > b for op, b in zip(ops[:3], before[:3])), timeout=30)
    after = [rewards_of(net, op) for op in ops]
    assert after[3] == before[3], "a jailed validator earned rewards"
    pool = distpos("query", "distribution", "pool", "--grpc", grpc_addr)
    everyone = sum(rewards_of(net, v.validator.operator_address) for v in views)  # the joiner's (alice's) too
    assert int(pool["pool_balance"]) == everyone + int(pool["remainder"]) and int(pool["minted"]) == 0

    broke = keyring.add("broke")  # no balance on this chain
    refused = subprocess.run([find_app_bin(), "tx", "bank", "send", "broke", bob, "1", *common],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3 and "fees:193" in refused.stderr, refused.stderr
    view = distpos("query", "account", str(broke.address(chain)), "--grpc", grpc_addr)
    assert (int(view["balance"]), int(view["nonce"])) == (0, 0)

    seed = base64.b64decode(json.loads(net.nodes[0].path("config", "priv_validator_key.json").read_text())
                            ["priv_key"]["value"])
    keyring.add("val0", KeyPair(seed[:32]))
    balance0 = int(distpos("query", "account", ops[0], "--grpc", grpc_addr)["balance"])
    withdrawn = distpos("tx", "distribution", "withdraw", "val0", *common)
    assert withdrawn["code"] == 0 and int(withdrawn["amount"]) >= after[0]
    assert int(distpos("query", "account", ops[0], "--grpc", grpc_addr)["balance"]) == (
        balance0 + int(withdrawn["amount"]) - withdrawn["fee"])
