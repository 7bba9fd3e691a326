"""`distpos query account|status|tx` over gRPC and `distpos query txs` through CometBFT's /tx_search: what
belongs to no one module."""

from __future__ import annotations

import re

import click
from google.protobuf.message import DecodeError

from ..address import parse_address, validate_chain_id
from ..auth import AuthRecord
from ..auth.keys import full_account_key
from ..bank.keeper import decode_amount
from ..bank.keys import full_balance_key
from ..errors import DistposError, InvalidInputError, InvalidProofError, compute_codespace_of
from ..gen.distpos.v1 import query_pb2, query_pb2_grpc
from .client import grpc_call
from ..rpc_client import CometRPC
from .common import get_client_config, get_home, grpc_option, node_option, output_option
from .lightproof import verify_state_proofs, verify_tx_result_proof
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
@click.option("--prove", is_flag=True,
              help="Verify the answer: Merkle proofs against header height+1, which the CLI's light client verifies "
                   "from its trusted header (`distpos light init`); prints only what was proven.")
@node_option
@output_option
@click.pass_context
def account(ctx, address, grpc_addr, height, prove, node, output) -> None:
    """Balance and nonce of ADDRESS."""
    addr = parse_address(address)
    r = _call(grpc_addr, "Account", query_pb2.QueryAccountRequest(address=address, height=height, prove=prove))
    data = {"address": r.address, "balance": str(r.balance), "nonce": r.nonce, "height": r.height}
    if prove:
        balance, nonce = _proven_account(addr, r.proofs)
        data.update(balance=str(balance), nonce=nonce, proofs=_proofs_json(r.proofs))
        data["verification"] = verify_state_proofs(get_home(ctx), node, addr.chain_id, r.height, r.proofs)
    emit(data, output)


def _proven_account(addr, proofs) -> tuple[int, int]:
    """Balance and nonce read from the proofs themselves (so a node cannot prove one value and print another)."""
    by_key = {p.key: p for p in proofs}
    bal, auth = by_key.get(full_balance_key(addr.account)), by_key.get(full_account_key(addr.account))
    if bal is None or auth is None:
        raise InvalidProofError(f"the node did not prove the balance and account keys of {addr}")
    try:
        record = AuthRecord.decode(auth.value if auth.exists else None)
        return decode_amount(bal.value if bal.exists else None), record.nonce
    except (DistposError, ValueError, DecodeError):
        raise InvalidProofError("proven account values do not decode") from None


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
@click.option("--prove", is_flag=True,
              help="Verify the result code against LastResultsHash of the next header, which the CLI's light client "
                   "verifies (receipts are not in the app state; the node's CometBFT must keep block results).")
@node_option
@click.option("--chain-id", "chain_id", envvar="DISTPOS_CHAIN_ID", default=None,
              help="With --prove: the chain the transaction is on (default: client.toml chain-id; never the node's).")
@output_option
@click.pass_context
def tx_(ctx, tx_hash, grpc_addr, prove, node, chain_id, output) -> None:
    """The receipt of transaction HASH (hex), from the node's receipts index."""
    try:
        raw = bytes.fromhex(tx_hash)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInputError(f"hash {tx_hash!r} must be 64 hex digits")
    chain = None
    if prove:
        chain = chain_id or get_client_config(ctx).get("chain-id")
        if not chain:
            raise InvalidInputError("--prove needs the chain: give --chain-id or set chain-id in client.toml")
    r = _call(grpc_addr, "Tx", query_pb2.QueryTxRequest(hash=raw))
    data = {"hash": r.hash.hex().upper(), "height": r.receipt.height, "index": r.receipt.index,
            "code": r.receipt.code, "codespace": r.receipt.codespace}
    if prove:
        # Only what the headers commit is printed: height and index (the block's data hash), the code
        # (LastResultsHash); the codespace follows from the code, which is unique across DistPOS.
        result, verification = verify_tx_result_proof(get_home(ctx), node, str(validate_chain_id(chain)), raw,
                                                       r.receipt.height, r.receipt.index)
        data.update(code=result.code, codespace=compute_codespace_of(result.code), verification=verification)
    emit(data, output)


# `type.attribute=value`: the value is quoted for CometBFT's query language, so it may hold no quote or backslash.
_EVENT_RE = re.compile(r"^([A-Za-z0-9_]{1,64})\.([A-Za-z0-9_]{1,64})=([^'\\\x00-\x1f]{1,256})$")


def compute_tx_query(events: tuple[str, ...]) -> str:
    """CometBFT's tx_search query for `type.attr=value` conditions, all of which must hold."""
    if not events:
        raise InvalidInputError("give at least one --events type.attribute=value (e.g. transfer.recipient=ADDR)")
    parts = []
    for text in events:
        match = _EVENT_RE.match(text)
        if match is None:
            raise InvalidInputError(f"event {text!r} must be type.attribute=value (value without quotes)")
        kind, attr, value = match.groups()
        if (kind, attr) == ("tx", "height"):
            if not value.isascii() or not value.isdigit() or int(value) >= 1 << 63:
                raise InvalidInputError(f"tx.height {value!r} must be a height")
            parts.append(f"tx.height={int(value)}")
        else:
            parts.append(f"{kind}.{attr}='{value}'")
    return " AND ".join(parts)


@click.command("txs")
@click.option("--events", "events", multiple=True, metavar="TYPE.ATTR=VALUE",
              help="A condition on the transactions' events (repeat: all must hold), e.g. transfer.recipient=ADDR.")
@click.option("--page", type=click.IntRange(1, 10**9), default=1, show_default=True, help="Page, from 1.")
@click.option("--limit", type=click.IntRange(1, 100), default=30, show_default=True, help="Transactions per page.")
@click.option("--order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True, help="By height.")
@node_option
@output_option
def txs(events, page, limit, order, node, output) -> None:
    """Committed transactions whose events match, through the node's tx indexer (CometBFT /tx_search)."""
    query = compute_tx_query(events)
    r = CometRPC(node).call("tx_search", query=query, page=page, per_page=limit, order_by=order, prove=False)
    rows = [{"hash": t["hash"], "height": int(t["height"]), "index": int(t.get("index", 0)),
             "code": int(t["tx_result"].get("code", 0)), "codespace": t["tx_result"].get("codespace", ""),
             "events": t["tx_result"].get("events") or []} for t in r.get("txs") or []]
    total = int(r.get("total_count") or 0)
    data = {"query": query, "total_count": total, "page": page, "limit": limit, "txs": rows}
    emit(data, output, text="\n".join([f"{total} transaction(s) match {query}; page {page}"] + [
        f"{t['height']:>8} {t['hash']} {_outcome(t)}" for t in rows]))


def _outcome(row: dict) -> str:
    return "ok" if row["code"] == 0 else f"{row['codespace']}:{row['code']}"
