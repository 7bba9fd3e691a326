"""Instant cross-chain credit on a real 2-chain x 2-validator localnet with its relays (issue 11 part 2).

Alice on e2e4 locks collateral with node 0's validator; then, ROUNDS times in a row, she signs an instant transfer
to Bob on a1b2 and does what `distpos tx interchain instant-send` does (cli/instant_client.py): the guarantee from
node 0's service, the MsgInstantCredit to a1b2 at once, then the transfer on e2e4. Measured per round:
- guarantee: the Underwrite round trip (ms);
- credit: a1b2 blocks from the one last committed when the guarantee came back to the one that credited Bob
  (1 = the very next block; the target is p50 <= 1), the wall time from asking for the guarantee to that commit,
  and that time in a1b2 block intervals (the mean interval over the rounds).
At the end every packet must have settled its credit (outstanding instant credit 0, nothing paid twice).

CometBFT takes a transaction into the block whose proposal is made after it reached the mempool, so a credit
submitted while a height's consensus is under way waits for the following height: how often that happens is the
share of the block interval spent in consensus rather than in the commit wait. Both localnet timeout sets are
measured: the operators' (`make localnet`: commit 500 ms) and the tests' (commit 100 ms, consensus-dominated).
"""

from __future__ import annotations

import os
import tempfile
import time

from distpos_abci.cli.client import get_next_nonce
from distpos_abci.cli.instant_client import send_instant
from distpos_abci.cli.underwriting_client import call_underwriting
from distpos_abci.gen.distpos.v1 import underwriting_pb2
from distpos_abci.interchain import keys
from distpos_abci.interchain.instant import compute_instant_timeout_ns
from distpos_abci.fees import build_paid_tx
from distpos_abci.interchain.msgs import build_instant_transfer_tx
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.keyring import Keyring
from distpos_abci.lightclient.rpc_json import parse_rfc3339_ns
from distpos_abci.localnet import (
    APP_DISTPOS,
    OPERATOR_TIMEOUTS,
    TEST_TIMEOUTS,
    FreePorts,
    Timeouts,
    generate_network,
    running_network,
)
from distpos_abci.relay.endpoint import CometEndpoint
from distpos_abci.rpc_client import CometRPC
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting import build_collateral_tx

ROUNDS = int(os.environ.get("BENCH_INSTANT_ROUNDS", "30"))
AMOUNT = 1000


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def main(cometbft_bin: str = "bin/cometbft") -> dict[str, object]:
    return {"operator timeouts (make localnet)": run(cometbft_bin, OPERATOR_TIMEOUTS),
            "test timeouts": run(cometbft_bin, TEST_TIMEOUTS)}


def run(cometbft_bin: str, timeouts: Timeouts) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        net = generate_network(tmp, chain_ids=["e2e4", "a1b2"], validators_per_chain=2, port_allocator=FreePorts(),
                               cometbft_bin=cometbft_bin, timeouts=timeouts, app=APP_DISTPOS)
        with running_network(net, min_height=3, timeout=180):
            src_chain, dst_chain = net.chains
            alice = Keyring(net.keyring_dir).get(src_chain.demo_accounts[0].name)
            bob = dst_chain.demo_accounts[1].address
            src, dst = CometRPC(src_chain.nodes[0].rpc_url), CometRPC(dst_chain.nodes[0].rpc_url)
            grpc_addr = src_chain.nodes[0].grpc_address
            operator = call_underwriting(grpc_addr, "Capacity", underwriting_pb2.CapacityRequest()).operator_address
            payer = str(alice.address(src_chain.chain_id))
            lock = build_paid_tx(alice.keypair, build_collateral_tx(
                alice.keypair, src_chain.chain_id, get_next_nonce(src, payer), "deposit", operator, AMOUNT * ROUNDS * 2),
                gas_price=LOCALNET_MIN_GAS_PRICE)
            src.broadcast_tx_sync(lock)
            src.wait_for_tx(compute_tx_hash(lock), 30)
            time.sleep(1.5)  # the service counts the lower of the committed and the mempool view of collateral
            nonce = get_next_nonce(src, payer)
            guarantee_ms, blocks, seconds = [], [], []
            first_height, first_time = int(dst.status()["sync_info"]["latest_block_height"]), time.monotonic()
            for _ in range(ROUNDS):
                now = parse_rfc3339_ns(src.status()["sync_info"]["latest_block_time"])
                raw = build_paid_tx(alice.keypair, build_instant_transfer_tx(
                    alice.keypair, src_chain.chain_id, nonce, bob, AMOUNT,
                    timeout_time_ns=compute_instant_timeout_ns(now, 600, nonce)), gas_price=LOCALNET_MIN_GAS_PRICE)
                r = send_instant(grpc_addr, src, src_chain.chain_id, dst, dst_chain.chain_id, alice.keypair, raw, 30)
                nonce += 1
                guarantee_ms.append(r.guarantee_ms)
                blocks.append(r.dest_blocks)
                seconds.append(r.credited_s)
            interval = (time.monotonic() - first_time) / max(
                1, int(dst.status()["sync_info"]["latest_block_height"]) - first_height)
            # Every packet settles its credit: nothing outstanding once the relays are done.
            endpoint = CometEndpoint(dst_chain.chain_id, dst_chain.nodes[0].rpc_url)
            outstanding_key = keys.PREFIX + keys.instant_outstanding_key(src_chain.chain_id)
            deadline = time.monotonic() + 180
            while endpoint.query(outstanding_key).value is not None and time.monotonic() < deadline:
                time.sleep(0.5)
            settled = endpoint.query(outstanding_key).value is None
    intervals = [x / interval for x in seconds]
    return {
        "chains": "2 x 2 validators, one relay per chain; one guarantor, no co-underwriting needed",
        "timeouts_ms": f"propose {timeouts.propose_ms}, prevote {timeouts.prevote_ms}, precommit "
                       f"{timeouts.precommit_ms}, commit {timeouts.commit_ms}",
        "rounds": ROUNDS,
        "dest_block_interval_s": round(interval, 3),
        "guarantee_p50_ms": round(_pct(guarantee_ms, 0.5), 2),
        "guarantee_p95_ms": round(_pct(guarantee_ms, 0.95), 2),
        "credit_p50_dest_blocks": _pct(blocks, 0.5),
        "credit_p95_dest_blocks": _pct(blocks, 0.95),
        "credit_max_dest_blocks": max(blocks),
        "credit_p50_s": round(_pct(seconds, 0.5), 3),
        "credit_p95_s": round(_pct(seconds, 0.95), 3),
        "credit_p50_dest_intervals": round(_pct(intervals, 0.5), 2),
        "credit_p95_dest_intervals": round(_pct(intervals, 0.95), 2),
        "target": "guarantee issued -> recipient credited: p50 <= 1 destination block",
        "all_credits_settled_by_their_packets": settled,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
