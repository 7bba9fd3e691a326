"""Governance on a real localnet: four CometBFT validators (power 1000 each) vote a staking parameter change
through `distpos tx gov`; three yes votes are more than 2/3 of the power and the change takes effect. A vote from
an account that operates no validator is refused by CheckTx."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest

from distpos_abci.crypto import KeyPair
from distpos_abci.errors import NotAValidatorError
from distpos_abci.keyring import Keyring
from distpos_abci.localnet import find_app_bin

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([find_app_bin(), *args], capture_output=True, text=True, timeout=90)


def distpos(*args: str) -> dict:
    proc = run(*args, "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_validators_vote_a_staking_param_change_through_the_cli(distpos_net, tmp_path):
    net = distpos_net
    node, grpc_addr = net.nodes[0].rpc_url, net.nodes[0].grpc_address
    keyring = Keyring(net.keyring_dir)
    for i, n in enumerate(net.nodes):  # the localnet's validators are operated by their consensus keys
        seed = base64.b64decode(json.loads(n.path("config", "priv_validator_key.json").read_text())["priv_key"]["value"])
        keyring.add(f"val{i}", KeyPair(seed[:32]))
    before = distpos("query", "staking", "params", "--grpc", grpc_addr)["staking"]["jail_blocks"]
    proposal = tmp_path / "proposal.json"
    proposal.write_text(json.dumps({
        "title": "Longer jail", "summary": "Jail downtime for longer.", "deposit": "1000",
        "messages": [{"type": "update_params", "module": "staking", "params_json": {"jail_blocks": before + 13}}],
    }))
    common = ("--keyring-dir", net.keyring_dir, "--node", node, "--chain-id", net.nodes[0].chain_id)
    submitted = distpos("tx", "gov", "propose", "alice", str(proposal), *common)
    pid = submitted["proposal_id"]
    assert pid == 1 and submitted["code"] == 0

    refused = run("tx", "gov", "vote", "alice", str(pid), "yes", *common)
    assert refused.returncode == 3 and f"gov:{NotAValidatorError.code}" in refused.stderr

    for i in range(3):
        assert distpos("tx", "gov", "vote", f"val{i}", str(pid), "yes", *common)["code"] == 0
    deadline = time.monotonic() + 30
    while (shown := distpos("query", "gov", "proposal", str(pid), "--grpc", grpc_addr))["status"] == "voting":
        assert time.monotonic() < deadline, shown
        time.sleep(0.3)
    assert shown["status"] == "passed", shown
    assert shown["final_tally"] == {"yes": 3000, "no": 0, "abstain": 0, "total": 4000}
    assert distpos("query", "staking", "params", "--grpc", grpc_addr)["staking"]["jail_blocks"] == before + 13
    listed = distpos("query", "gov", "proposals", "--status", "passed", "--grpc", grpc_addr)
    assert [p["id"] for p in listed["proposals"]] == [pid]
