"""`distpos query gov ...` against an in-process node's gRPC server, and the CLI's refusals of bad input."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading

import pytest

from distpos_abci.cli.gov import compute_proposal_messages, load_proposal
from distpos_abci.errors import InvalidInputError
from distpos_abci.gen.distpos.v1 import gov_pb2
from distpos_abci.grpc_service import start_grpc_server
from tests.gov.helpers import CHAIN, GovChain, addr, gov_address, gov_genesis, params_change

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


def distpos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def grpc_addr(harness):
    """A chain with proposal 1 passed and proposal 2 voting (one no vote), serving gRPC from a thread."""
    harness.app.init_chain(CHAIN, gov_genesis())
    chain = GovChain(harness)
    chain.block()
    chain.block(chain.propose(6, [params_change("staking", jail_blocks=7)], title="first"))
    chain.block(chain.vote(1, 1), chain.vote(2, 1), chain.vote(5, 1))
    chain.block(chain.propose(6, [params_change("gov", min_deposit=200)], title="second"))
    chain.block(chain.vote(3, 2, "no"))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def serve():
        holder["server"], holder["port"] = await start_grpc_server(harness.app, "127.0.0.1:0")
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    yield f"127.0.0.1:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["server"].stop(None), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_query_gov_proposals_proposal_params(grpc_addr):
    listed = json.loads(distpos("query", "gov", "proposals", "--grpc", grpc_addr, "-o", "json").stdout)
    assert [(p["id"], p["status"], p["title"]) for p in listed["proposals"]] == [(1, "passed", "first"),
                                                                                 (2, "voting", "second")]
    voting = json.loads(distpos("query", "gov", "proposals", "--status", "voting", "--grpc", grpc_addr, "-o",
                                "json").stdout)
    assert [p["id"] for p in voting["proposals"]] == [2]
    one = json.loads(distpos("query", "gov", "proposal", "2", "--grpc", grpc_addr, "-o", "json").stdout)
    assert one["tally"] == {"yes": 0, "no": 1, "abstain": 0, "total": 8}
    assert one["votes"] == [{"voter": addr(3), "option": "no", "height": 5}]
    assert one["messages"] == [{"type": "update_params", "authority": gov_address(), "module": "gov",
                                "params_json": '{"min_deposit":200}'}]
    passed = json.loads(distpos("query", "gov", "proposal", "1", "--grpc", grpc_addr, "-o", "json").stdout)
    assert passed["final_tally"] == passed["tally"] == {"yes": 6, "no": 0, "abstain": 0, "total": 8}
    params = json.loads(distpos("query", "gov", "params", "--grpc", grpc_addr, "-o", "json").stdout)
    assert params == {"max_active_proposals": 2, "min_deposit": 100, "voting_period_blocks": 5}


def test_invalid_unknown_proposal_is_one_line_and_nonzero(grpc_addr):
    res = distpos("query", "gov", "proposal", "9", "--grpc", grpc_addr)
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0 and "no proposal 9" in res.stderr


def test_invalid_proposal_files_are_refused_before_signing(tmp_path):
    bad = {
        "not json": "{",
        "no messages": json.dumps({"title": "t", "deposit": "1"}),
        "unknown type": json.dumps({"title": "t", "deposit": "1", "messages": [{"type": "nope"}]}),
        "bad field": json.dumps({"title": "t", "deposit": "1", "messages": [{"type": "set_route", "x": 1}]}),
        "zero deposit": json.dumps({"title": "t", "deposit": "0", "messages": []}),
    }
    for name, text in bad.items():
        path = tmp_path / "p.json"
        path.write_text(text)
        with pytest.raises(InvalidInputError):
            load_proposal(path)
        res = distpos("tx", "gov", "propose", "alice", str(path), "--keyring-dir", str(tmp_path / "kr"))
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, (name, res.stderr)
    res = distpos("tx", "gov", "vote", "alice", "x", "yes", "--keyring-dir", str(tmp_path / "kr"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_proposal_json_fills_the_gov_authority_and_takes_params_as_an_object():
    messages = compute_proposal_messages(
        [{"type": "update_params", "module": "staking", "params_json": {"jail_blocks": 30}}], CHAIN)
    msg = gov_pb2.MsgUpdateParams.FromString(messages[0].value)
    assert (msg.authority, msg.module, msg.params_json) == (gov_address(), "staking", '{"jail_blocks":30}')
