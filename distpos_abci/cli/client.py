"""What the command modules share and never import from each other: gRPC calls with the one map of gRPC
errors back to DistPOS errors, amounts, and the sign → broadcast → wait pipeline of every transaction."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.json_format import MessageToDict

from ..errors import (
    DistposError,
    InvalidAmountError,
    InvalidInputError,
    NodeUnreachableError,
    RemoteQueryError,
    TxRejectedError,
    all_error_classes,
)
from ..address import Address
from ..fees import build_paid_tx, read_fee
from ..gen.distpos.v1 import distribution_pb2, query_pb2, tx_pb2
from ..rpc_client import CometRPC, Committed
from ..tx import compute_tx_hash
from ..types import MAX_AMOUNT
from .common import TxSettings, open_keyring
from .output import emit

GRPC_TIMEOUT = 10.0
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


# ---- gRPC ---------------------------------------------------------------------------------------------------

def compute_grpc_error(grpc_addr: str, exc: grpc.RpcError) -> DistposError:
    """The node's own error class when its trailing metadata names one (so exit codes match), else by status."""
    meta = dict(exc.trailing_metadata() or ())
    details = (exc.details() or "").replace("\n", " ")
    code = str(meta.get("distpos-code", ""))
    cls = {c.code: c for c in all_error_classes()}.get(int(code)) if code.isdigit() else None
    if cls is not None:
        return cls(details.split(": ", 1)[1] if details.startswith(f"{cls.codespace}:") else details)
    if exc.code() in _UNREACHABLE:
        return NodeUnreachableError(f"gRPC {grpc_addr} unreachable: {details}")
    if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        return InvalidInputError(details)
    return RemoteQueryError(f"gRPC {grpc_addr}: {exc.code().name}: {details}")


def grpc_call(grpc_addr: str, stub_class, method: str, request, timeout: float = GRPC_TIMEOUT):
    """One unary call of stub_class.method on grpc_addr; failures become DistPOS errors."""
    with grpc.insecure_channel(grpc_addr) as channel:
        try:
            return getattr(stub_class(channel), method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise compute_grpc_error(grpc_addr, exc) from None


def fetch_pages(call: Callable, request, field: str, page):
    """A paginated list query from page.page_key with page.limit; with page.follow_all, every later page too,
    returned as one answer holding the items of all of them (other fields, next_page_key included, from the last).
    `call(request)` makes one call; `field` names the repeated field."""
    request.page_key, request.limit = page.page_key, page.limit
    answer = call(request)
    items = list(getattr(answer, field))
    while page.follow_all and answer.next_page_key:
        request.page_key = answer.next_page_key
        answer = call(request)
        items.extend(getattr(answer, field))
    del getattr(answer, field)[:]
    getattr(answer, field).extend(items)
    return answer


def compute_more_hint(next_page_key: str) -> str:
    """The text-output line telling a user how to ask for the next page ("" when this was the last)."""
    return f"\nmore: --page-key {next_page_key}" if next_page_key else ""


# ---- input --------------------------------------------------------------------------------------------------

def parse_cli_amount(text: str, allow_zero: bool = False) -> int:
    """A positive (or, with allow_zero, non-negative) integer amount of base units."""
    if not text.isascii() or not text.isdigit() or not (0 if allow_zero else 1) <= int(text) <= MAX_AMOUNT:
        what = "a non-negative" if allow_zero else "a positive"
        raise InvalidAmountError(f"amount {text!r} must be {what} integer of base units (at most 2^64-1)")
    return int(text)


def parse_positive_id(text: str, what: str) -> int:
    """A positive uint64 id."""
    if not text.isascii() or not text.isdigit() or int(text) == 0 or int(text) >= 1 << 64:
        raise InvalidInputError(f"{what} {text!r} must be a positive integer")
    return int(text)


# ---- transactions -------------------------------------------------------------------------------------------

Build = Callable[..., bytes]  # build(keypair, chain_id, nonce) -> signed tx bytes


@dataclass(frozen=True)
class SignedTx:
    """A transaction signed for one chain, not yet sent."""

    raw: bytes
    hash: bytes
    chain_id: str
    signer: str
    nonce: int
    fee: int = 0


def get_next_nonce(rpc: CometRPC, address: str) -> int:
    """The account's next nonce from the node's committed state (0 for an account it does not know)."""
    res = rpc.abci_query("/account", address.encode())
    return query_pb2.QueryAccountResponse.FromString(res["value"]).nonce if res.get("code", 0) == 0 else 0


@dataclass(frozen=True)
class PublicKeyOnly:
    """Stands in for a KeyPair when only the transaction body is wanted (`--generate-only`): it signs nothing,
    and the placeholder signature is dropped with the envelope."""

    pub_key: bytes

    def sign(self, message: bytes) -> bytes:
        """64 zero bytes; never broadcast."""
        return bytes(64)


def get_gas_price(rpc: CometRPC) -> int:
    """The lowest gas price the node's CheckTx takes: max(chain min_gas_price, the node's own), milli-units per gas."""
    res = rpc.abci_query("/gas_prices", b"")
    if int(res.get("code") or 0) != 0:
        raise RemoteQueryError(f"the node would not tell its gas prices: {res.get('log', '')}")
    prices = distribution_pb2.QueryGasPricesResponse.FromString(res["value"])
    return max(prices.chain_min_gas_price, prices.node_min_gas_price)


def apply_fee(settings: TxSettings, key, raw: bytes) -> bytes:
    """raw re-signed with its fee: --fees as given, else ceil(gas * price / 1000) at --gas-prices or, by default,
    at the minimum price --node asks (fees.build_paid_tx)."""
    if settings.fees is not None:
        return build_paid_tx(key, raw, fee=settings.fees)
    price = settings.gas_prices if settings.gas_prices is not None else get_gas_price(CometRPC(settings.node))
    return build_paid_tx(key, raw, gas_price=price)


def simulate(rpc: CometRPC, raw: bytes) -> distribution_pb2.SimulateResponse:
    """The node's simulation of a signed transaction (ABCI query /simulate: nothing is kept)."""
    res = rpc.abci_query("/simulate", raw)
    if int(res.get("code") or 0) != 0:
        raise TxRejectedError(res.get("log", "refused"), remote_codespace=res.get("codespace", ""),
                              remote_code=int(res["code"]))
    return distribution_pb2.SimulateResponse.FromString(res["value"])


def report_simulation(settings: TxSettings, signed: "SignedTx") -> None:
    """Print what the node says of a signed transaction: gas, fee, minimum fees, CheckTx's answer; send nothing."""
    sim = simulate(CometRPC(settings.node), signed.raw)
    data = {"hash": signed.hash.hex().upper(), "chain_id": signed.chain_id, "signer": signed.signer,
            "nonce": signed.nonce, "gas": sim.gas, "fee": sim.fee, "chain_min_fee": sim.chain_min_fee,
            "node_min_fee": sim.node_min_fee, "code": sim.code, "codespace": sim.codespace, "log": sim.log}
    verdict = "would pass" if sim.code == 0 else f"would fail: {sim.log}"
    emit(data, settings.output, text=f"gas {sim.gas}, fee {sim.fee} (chain minimum {sim.chain_min_fee}, node minimum "
                                     f"{sim.node_min_fee}); {verdict}; nothing sent")


def describe_body(body: tx_pb2.TxBody) -> str:
    """One line naming a body's message and signer nonce."""
    return f"{body.WhichOneof('msg')} from nonce {body.nonce}"


def generate_unsigned(settings: TxSettings, from_key: str, build: Build) -> None:
    """Print the unsigned transaction FROM would sign: its body in base64 and, for reading, as JSON."""
    entry = open_keyring(settings.keyring_dir).entry(from_key)  # the public half: no passphrase asked
    signer = str(Address.from_pub_key(settings.chain_id, entry.pub_key))
    nonce = settings.nonce if settings.nonce is not None else get_next_nonce(CometRPC(settings.node), signer)
    placeholder = PublicKeyOnly(entry.pub_key)
    raw = apply_fee(settings, placeholder, build(placeholder, settings.chain_id, nonce))
    body_raw = tx_pb2.Tx.FromString(raw).body
    body = tx_pb2.TxBody.FromString(body_raw)
    data = {"type": "distpos/unsigned-tx/v1", "chain_id": settings.chain_id, "signer": signer, "nonce": nonce,
            "fee": body.fee,
            "message_type": body.WhichOneof("msg"),
            "message": MessageToDict(getattr(body, body.WhichOneof("msg")), preserving_proto_field_name=True),
            "body": base64.b64encode(body_raw).decode()}
    emit(data, settings.output, text=json.dumps(data, indent=2))


def sign_tx(settings: TxSettings, from_key: str, build: Build) -> SignedTx | None:
    """Sign with key FROM for settings.chain_id (the nonce from the node unless given), paying its fee
    (apply_fee); with --generate-only print the unsigned transaction instead, with --dry-run the node's
    simulation of it, and return None."""
    if settings.generate_only:
        generate_unsigned(settings, from_key, build)
        return None
    key = open_keyring(settings.keyring_dir).get(from_key)
    signer = str(key.address(settings.chain_id))
    nonce = settings.nonce if settings.nonce is not None else get_next_nonce(CometRPC(settings.node), signer)
    raw = apply_fee(settings, key.keypair, build(key.keypair, settings.chain_id, nonce))
    signed = SignedTx(raw, compute_tx_hash(raw), settings.chain_id, signer, nonce, read_fee(raw)[1])
    if settings.dry_run:
        report_simulation(settings, signed)
        return None
    return signed


def broadcast_and_wait(settings: TxSettings, signed: SignedTx, data: dict) -> Committed:
    """Broadcast, wait for the block and add the outcome to data; TxRejectedError (data printed as JSON first
    with -o json) when CheckTx refused it or the block ran it with a non-zero code."""
    rpc = CometRPC(settings.node)
    started = time.monotonic()
    rpc.broadcast_tx_sync(signed.raw)
    committed = rpc.wait_for_tx(signed.hash, settings.timeout)
    data.update(height=committed.height, code=committed.code, codespace=committed.codespace, log=committed.log,
                seconds=round(time.monotonic() - started, 3))
    if committed.code != 0:
        if settings.output == "json":
            emit(data, settings.output)
        raise TxRejectedError(f"included at height {committed.height} but failed: {committed.log}",
                              remote_codespace=committed.codespace, remote_code=committed.code)
    return committed


def sign_send_wait(settings: TxSettings, from_key: str, build: Build) -> tuple[dict, Committed] | None:
    """Sign, broadcast and wait for the block; the data to print and the committed result (None when
    --generate-only or --dry-run printed something else instead)."""
    signed = sign_tx(settings, from_key, build)
    if signed is None:
        return None
    data = {"hash": signed.hash.hex().upper(), "chain_id": signed.chain_id, "signer": signed.signer,
            "nonce": signed.nonce, "fee": signed.fee}
    committed = broadcast_and_wait(settings, signed, data)
    return data, committed


def run_tx(settings: TxSettings, from_key: str, build: Build, describe: str) -> None:
    """Sign, broadcast, wait and print `committed HASH at height H: describe`."""
    sent = sign_send_wait(settings, from_key, build)
    if sent is None:
        return
    data, _ = sent
    emit(data, settings.output, text=f"committed {data['hash']} at height {data['height']}: {describe}")


def get_event_attribute(events, kind: str, key: str) -> str:
    """The value of attribute key of the first event of type kind ("" when absent)."""
    for e in events:
        if e.get("type") == kind:
            for a in e.get("attributes") or []:
                if a.get("key") == key:
                    return str(a.get("value"))
    return ""
