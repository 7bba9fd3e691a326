"""Guarantee latency: how long a client waits for a signed guarantee (p50/p99 over N requests).

Two modes:
  in-process (default)   an app with two validators on a rocksdict store, its UnderwritingService behind the real
                         gRPC server on 127.0.0.1; measures the service call alone and the gRPC round trip, and a
                         co-underwritten request (two validators, two-phase reserve/confirm over gRPC).
  --localnet RUN_DIR     a running localnet (`make localnet`): funds N fresh keys from alice, then each asks
                         node0 to underwrite one payment (the node also broadcasts the carrier).

    .venv/bin/python -m bench.bench_underwriting [--n 200] [--localnet localnet/run]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time

import grpc

from distpos_abci.address import Address
from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.fees import build_paid_tx
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.underwriting import build_collateral_tx
from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import query_pb2, underwriting_pb2, underwriting_pb2_grpc
from distpos_abci.grpc_service import start_grpc_server
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting.peers import GrpcPeers
from distpos_abci.underwriting.service import UnderwritingService

CHAIN = "e2e4"


BIG_SHARE = 250_000_000  # a large payer's collateral with each validator; it pays 1.5x that (two shares)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p99 and max of samples in ms."""
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "max_ms": round(ordered[-1], 3)}


def _genesis(clients: list[str], validators: list[tuple[KeyPair, KeyPair, str]]) -> bytes:
    return json.dumps({
        "accounts": [{"address": a, "balance": "1000000000"} for a in clients],
        "staking": {"validators": [
            {"operator": str(Address.from_pub_key(CHAIN, op.pub_key)),
             "consensus_pub_key": base64.b64encode(cons.pub_key).decode(),
             "self_stake": "600000000", "endpoint": endpoint, "moniker": f"v{i}"}
            for i, (op, cons, endpoint) in enumerate(validators)]},
    }).encode()


async def _in_process(n: int) -> dict:
    clients = [KeyPair(i.to_bytes(2, "big") * 16) for i in range(1, 2 * n + 2)]
    addrs = [str(Address.from_pub_key(CHAIN, k.pub_key)) for k in clients]
    with tempfile.TemporaryDirectory() as tmp1, tempfile.TemporaryDirectory() as tmp2:
        apps, services, servers, ports, dbs = [], [], [], [], []
        cons = [KeyPair(bytes([200 + i]) * 32) for i in range(2)]
        ops = [KeyPair(bytes([210 + i]) * 32) for i in range(2)]
        # Bind both gRPC servers first: each validator's on-chain record names the other's endpoint.
        for i, tmp in enumerate((tmp1, tmp2)):
            dbs.append(Database(tmp))
            apps.append(DistposApp(StateStore(dbs[-1])))
        for i, app in enumerate(apps):
            svc = UnderwritingService(app, cons[i], peers=GrpcPeers(), guarantee_blocks=10)
            server, port = await start_grpc_server(app, "127.0.0.1:0", svc)
            services.append(svc), servers.append(server), ports.append(port)
        genesis = _genesis(addrs, [(ops[i], cons[i], f"127.0.0.1:{ports[i]}") for i in range(2)])
        validators = [str(Address.from_pub_key(CHAIN, op.pub_key)) for op in ops]
        # Payers lock collateral first: small payers with validator 0, large ones with both (co-underwriting).
        deposits = [build_collateral_tx(clients[i], CHAIN, 0, "deposit", validators[0], 1000) for i in range(1, n + 1)]
        for i in range(n + 1, 2 * n + 1):
            deposits += [build_collateral_tx(clients[i], CHAIN, j, "deposit", validators[j], BIG_SHARE) for j in (0, 1)]
        for app in apps:
            app.init_chain(CHAIN, genesis)
            app.finalize_block(1, [])
            app.commit()
            app.finalize_block(2, deposits)
            app.commit()
        txs = [build_send_tx(clients[i], CHAIN, 1, addrs[0], 1000) for i in range(1, n + 1)]
        direct = []
        for raw in txs:
            t0 = time.perf_counter()
            await services[0].underwrite(raw, carry=False)
            direct.append((time.perf_counter() - t0) * 1000)
            services[0].reservations.clear()  # keep capacity constant across the run
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as channel:
            stub = underwriting_pb2_grpc.UnderwritingStub(channel)
            rtt = []
            for raw in txs:
                t0 = time.perf_counter()
                await stub.Underwrite(underwriting_pb2.UnderwriteRequest(tx=raw, client_carries=True))
                rtt.append((time.perf_counter() - t0) * 1000)
                services[0].reservations.clear()
            co = []
            big = [build_send_tx(clients[i], CHAIN, 2, addrs[0], BIG_SHARE + BIG_SHARE // 2) for i in range(n + 1, 2 * n + 1)]
            for raw in big[: max(10, n // 4)]:
                t0 = time.perf_counter()
                r = await stub.Underwrite(underwriting_pb2.UnderwriteRequest(tx=raw, client_carries=True))
                co.append((time.perf_counter() - t0) * 1000)
                assert len(r.guarantees) == 2
                for s in services:
                    s.reservations.clear()
        for server in servers:
            await server.stop(None)
        for db in dbs:
            db.close()
    return {"mode": "in-process", "n": n,
            "service_call": percentiles(direct), "grpc_round_trip": percentiles(rtt),
            "co_underwritten_grpc_round_trip": {**percentiles(co), "n": len(co)}}


def _localnet(run_dir: str, n: int) -> dict:
    from distpos_abci.keyring import Keyring
    from distpos_abci.localnet import load_network
    from distpos_abci.rpc_client import CometRPC

    net = load_network(run_dir)
    node = net.chains[0].nodes[0]
    chain = net.chains[0].chain_id
    rpc = CometRPC(node.rpc_url)
    alice = Keyring(net.keyring_dir).get("alice").keypair
    alice_addr = str(Address.from_pub_key(chain, alice.pub_key))
    nonce = query_pb2.QueryAccountResponse.FromString(rpc.abci_query("/account", alice_addr.encode())["value"]).nonce
    keys = [KeyPair.generate() for _ in range(n)]
    last = b""
    for i, k in enumerate(keys):  # fund fresh senders, so no request waits for a nonce to advance
        last = build_paid_tx(alice, build_send_tx(alice, chain, nonce + i, str(Address.from_pub_key(chain, k.pub_key)),
                                                  10_000), gas_price=LOCALNET_MIN_GAS_PRICE)
        rpc.broadcast_tx_sync(last)
    rpc.wait_for_tx(compute_tx_hash(last), timeout=60)
    with grpc.insecure_channel(node.grpc_address) as channel:
        operator = underwriting_pb2_grpc.UnderwritingStub(channel).Capacity(
            underwriting_pb2.CapacityRequest(), timeout=10).operator_address
    for k in keys:  # each sender locks collateral with node 0's validator
        last = build_paid_tx(k, build_collateral_tx(k, chain, 0, "deposit", operator, 1000),
                             gas_price=LOCALNET_MIN_GAS_PRICE)
        rpc.broadcast_tx_sync(last)
    rpc.wait_for_tx(compute_tx_hash(last), timeout=60)
    samples, node_us = [], []
    with grpc.insecure_channel(node.grpc_address) as channel:
        stub = underwriting_pb2_grpc.UnderwritingStub(channel)
        for k in keys:
            raw = build_paid_tx(k, build_send_tx(k, chain, 1, alice_addr, 100), gas_price=LOCALNET_MIN_GAS_PRICE)
            t0 = time.perf_counter()
            r = stub.Underwrite(underwriting_pb2.UnderwriteRequest(tx=raw), timeout=10)
            samples.append((time.perf_counter() - t0) * 1000)
            node_us.append(r.elapsed_us / 1000)
    return {"mode": "localnet", "n": n, "node": node.label, "grpc_round_trip": percentiles(samples),
            "inside_node": percentiles(node_us)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of guarantee requests")
    parser.add_argument("--localnet", default=None, help="run directory of a running localnet")
    args = parser.parse_args(argv)
    figures = _localnet(args.localnet, args.n) if args.localnet else asyncio.run(_in_process(args.n))
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
