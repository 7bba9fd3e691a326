"""`distpos tx send`: sign, broadcast through CometBFT RPC, wait for the commit."""

from __future__ import annotations

import time

import click

from ..address import parse_address
from ..errors import InvalidAmountError, TxRejectedError
from ..gen.distpos.v1 import query_pb2
from ..keyring import Keyring
from ..rpc_client import CometRPC
from ..bank import build_send_tx
from ..tx import compute_tx_hash
from ..types import MAX_AMOUNT
from .common import grpc_option, keyring_option, node_option
from .output import emit, output_option


def parse_cli_amount(text: str) -> int:
    """A positive integer amount of base units."""
    if not text.isdigit() or not 0 < int(text) <= MAX_AMOUNT:
        raise InvalidAmountError(f"amount {text!r} must be a positive integer of base units (at most 2^64-1)")
    return int(text)


@click.group()
def tx() -> None:
    """Sign and broadcast transactions."""


@tx.command("send")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@keyring_option
@node_option
@click.option("--memo", default="", help="Free text stored with the transaction.")
@click.option("--nonce", type=click.IntRange(0, 2**64 - 1), default=None, help="Override the nonce (default: the account's next one).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the commit.")
@click.option("--no-wait", is_flag=True, help="Return after CheckTx instead of waiting for the block.")
@click.option("--underwrite", is_flag=True,
              help="Have the validator at --grpc guarantee the payment at once, then carry it to the chain.")
@click.option("--no-co-underwriting", is_flag=True, help="With --underwrite: refuse rather than ask other validators.")
@grpc_option
@output_option
def send(from_key, to, amount, keyring_dir, node, memo, nonce, timeout, no_wait, underwrite, no_co_underwriting,
         grpc_addr, output) -> None:
    """Send AMOUNT base units from key FROM to address TO."""
    value = parse_cli_amount(amount)
    parse_address(to)
    key = Keyring(keyring_dir).get(from_key)
    rpc = CometRPC(node)
    chain_id = rpc.status()["node_info"]["network"]
    sender = key.address(chain_id)
    if nonce is None:
        res = rpc.abci_query("/account", str(sender).encode())
        nonce = query_pb2.QueryAccountResponse.FromString(res["value"]).nonce if res.get("code", 0) == 0 else 0
    raw = build_send_tx(key.keypair, chain_id, nonce, to, value, memo)
    tx_hash = compute_tx_hash(raw)
    started = time.monotonic()
    if underwrite:
        _send_underwritten(raw, grpc_addr, not no_co_underwriting, no_wait, timeout, output,
                           {"hash": tx_hash.hex().upper(), "chain_id": chain_id, "from": str(sender), "to": to,
                            "amount": str(value), "nonce": nonce})
        return
    rpc.broadcast_tx_sync(raw)
    data = {"hash": tx_hash.hex().upper(), "chain_id": chain_id, "from": str(sender), "to": to,
            "amount": str(value), "nonce": nonce}
    if no_wait:
        emit({**data, "status": "in mempool"}, output)
        return
    committed = rpc.wait_for_tx(tx_hash, timeout)
    data.update(height=committed.height, code=committed.code, codespace=committed.codespace, log=committed.log,
                seconds=round(time.monotonic() - started, 3))
    if committed.code != 0:
        if output == "json":
            emit(data, output)
        raise TxRejectedError(f"included at height {committed.height} but failed: {committed.log}",
                              remote_codespace=committed.codespace, remote_code=committed.code)
    emit(data, output, text=f"committed {data['hash']} at height {committed.height} "
                            f"({value} from {sender} to {to}, nonce {nonce}, {data['seconds']}s)")


def _send_underwritten(raw: bytes, grpc_addr: str, co_underwrite: bool, no_wait: bool, timeout: float, output: str,
                       data: dict) -> None:
    """Get the guarantee (printing how long it took), then wait for the chain to settle it."""
    from .staking import request_guarantee, settlement_json, wait_for_settlement

    started = time.monotonic()
    guarantees, ms, node_us = request_guarantee(grpc_addr, raw, co_underwrite=co_underwrite)
    data.update(guarantee_ms=round(ms, 2), node_us=node_us, guarantees=[g.to_json() for g in guarantees])
    head = (f"guaranteed {data['hash']} in {ms:.1f} ms by {len(guarantees)} validator(s) "
            f"({', '.join(f'{g.underwriter}: {g.amount}' for g in guarantees)}; expires at height "
            f"{guarantees[0].expiry_height})")
    if no_wait:
        emit(data, output, text=head)
        return
    shares = wait_for_settlement(grpc_addr, data["from"], data["nonce"], timeout)
    data.update(settlement=settlement_json(shares), seconds=round(time.monotonic() - started, 3))
    emit(data, output, text=f"{head}\nsettled at height {shares[0].height}: {data['settlement']['outcome']} "
                            f"({data['seconds']}s)")
