"""`distpos query validators|validator|params|guarantees` against an in-process node's gRPC server."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading

import pytest

from distpos_abci.grpc_service import start_grpc_server
from distpos_abci.underwriting.service import UnderwritingService
from tests.staking.helpers import CHAIN, addr, cons_key, staking_genesis

DISTPOS = str(pathlib.Path(sys.executable).parent / "distpos")


@pytest.fixture
def grpc_addr(harness):
    """A node app at height 1 with validators 1 and 2, serving gRPC from a thread of its own."""
    harness.app.init_chain(CHAIN, staking_genesis({5: 10_000}, {1: 1000, 2: 500}, endpoints={1: "127.0.0.1:1"}))
    harness.block()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def serve():
        svc = UnderwritingService(harness.app, cons_key(1))
        holder["server"], holder["port"] = await start_grpc_server(harness.app, "127.0.0.1:0", svc)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    yield f"127.0.0.1:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["server"].stop(None), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def distpos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DISTPOS, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_query_validators_validator_params_guarantees(grpc_addr):
    vals = json.loads(distpos("query", "staking", "validators", "--grpc", grpc_addr, "-o", "json").stdout)
    assert sorted((v["moniker"], v["power"], v["bonded"]) for v in vals["validators"]) == [
        ("v1", 10, "1000"), ("v2", 5, "500")]
    text = distpos("query", "staking", "validators", "--grpc", grpc_addr).stdout
    assert "operator" in text.splitlines()[0] and len(text.splitlines()) == 3
    one = json.loads(distpos("query", "staking", "validator", addr(1), "--unbondings", "--signing-info", "--grpc", grpc_addr,
                             "-o", "json").stdout)
    assert one["endpoint"] == "127.0.0.1:1" and one["unbondings"] == [] and one["signing_info"]["jail_count"] == 0
    params = json.loads(distpos("query", "staking", "params", "--grpc", grpc_addr, "-o", "json").stdout)
    assert params["staking"]["power_reduction"] == 100 and params["underwriting"]["max_guarantee_blocks"] == 4
    cap = json.loads(distpos("query", "underwriting", "guarantees", "--grpc", grpc_addr, "-o", "json").stdout)
    assert (cap["bonded"], cap["free"], cap["guarantees"]) == ("1000", "0", [])  # free = credit; default credit_limit 0
    unsettled = json.loads(distpos("query", "underwriting", "guarantees", "--payer", addr(5), "--nonce", "0", "--grpc", grpc_addr, "-o", "json").stdout)
    assert unsettled == {"settled": False}


def test_invalid_validator_query_is_one_line(grpc_addr):
    res = distpos("query", "staking", "validator", addr(7), "--grpc", grpc_addr)
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0 and "no validator" in res.stderr
    res = distpos("query", "underwriting", "guarantees", "--payer", "zz", "--nonce", "1", "--grpc", grpc_addr)
    assert res.returncode == 2
    res = distpos("query", "underwriting", "guarantees", "--payer", addr(5), "--grpc", grpc_addr)
    assert res.returncode == 2 and "both --payer and --nonce" in res.stderr
