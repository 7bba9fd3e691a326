"""`distpos query account|status|tx` over gRPC: what belongs to no one module."""

from __future__ import annotations

import click

from ..address import parse_address
from ..errors import InvalidInputError
from ..gen.distpos.v1 import query_pb2, query_pb2_grpc
from .client import grpc_call
from .common import grpc_option, output_option
from .output import emit


def _call(grpc_addr: str, method: str, request):
    return grpc_call(grpc_addr, query_pb2_grpc.QueryStub, method, request)


def _proofs_json(proofs) -> list[dict]:
    return [
        {"key": p.key.hex(), "value": p.value.hex(), "exists": p.exists,
         "siblings": [s.hex() for s in p.proof.siblings],
         "leaf_key_hash": p.proof.leaf_key_hash.hex(), "leaf_value_hash": p.proof.leaf_value_hash.hex()}
        for p in proofs
    ]


@click.command("account")
@click.argument("address")
@grpc_option
@click.option("--height", type=click.IntRange(0, 2**63 - 1), default=0, help="Height to read at (0 = latest).")
@click.option("--prove", is_flag=True, help="Include Merkle proofs against the app hash in header height+1.")
@output_option
def account(address, grpc_addr, height, prove, output) -> None:
    """Balance and nonce of ADDRESS."""
    parse_address(address)
    r = _call(grpc_addr, "Account", query_pb2.QueryAccountRequest(address=address, height=height, prove=prove))
    data = {"address": r.address, "balance": str(r.balance), "nonce": r.nonce, "height": r.height}
    if prove:
        data["proofs"] = _proofs_json(r.proofs)
    emit(data, output)


@click.command("status")
@grpc_option
@output_option
def status(grpc_addr, output) -> None:
    """Chain-id, height, app hash and total supply."""
    r = _call(grpc_addr, "Status", query_pb2.QueryStatusRequest())
    emit({"chain_id": r.chain_id, "height": r.height, "app_hash": r.app_hash.hex().upper(),
          "app_version": r.app_version, "total_supply": str(r.total_supply)}, output)


@click.command("tx")
@click.argument("tx_hash", metavar="HASH")
@grpc_option
@click.option("--prove", is_flag=True, help="Include the receipt's Merkle proof.")
@output_option
def tx_(tx_hash, grpc_addr, prove, output) -> None:
    """The receipt of transaction HASH (hex)."""
    try:
        raw = bytes.fromhex(tx_hash)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInputError(f"hash {tx_hash!r} must be 64 hex digits")
    r = _call(grpc_addr, "Tx", query_pb2.QueryTxRequest(hash=raw, prove=prove))
    data = {"hash": r.hash.hex().upper(), "height": r.receipt.height, "index": r.receipt.index,
            "code": r.receipt.code, "codespace": r.receipt.codespace}
    if prove:
        data["proofs"] = _proofs_json([r.proof])
    emit(data, output)
