"""`distpos tx interchain transfer|topup|instant-send|instant-claim|instant-release` (signed and sent), `distpos tx interchain
open-correspondent|set-route|set-limits|close-correspondent|unfreeze-client` (governance messages: printed for a
proposal, never signed) and `distpos query interchain correspondent|route|routes|packets`."""

from __future__ import annotations

import base64
import json
import pathlib

import click
from google.protobuf.json_format import MessageToDict

from ..address import Address, parse_address, validate_chain_id
from ..authority import gov_authority_address
from ..errors import InvalidInputError
from ..gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc
from ..interchain.msgs import (
    decode_close_correspondent,
    decode_open_correspondent,
    decode_set_limits,
    decode_set_route,
    decode_transfer,
    decode_unfreeze_client,
    parse_validators_json,
)
from ..interchain.records import Limits
from ..lightclient.rpc_json import parse_rfc3339_ns
from ..lightclient.types import validator_set_to_proto
from ..rpc_client import CometRPC
from ..tx import build_tx
from ..interchain.instant import compute_instant_timeout_ns
from ..interchain.msgs import build_instant_transfer_tx
from ..relay.endpoint import CometEndpoint
from .client import compute_more_hint, fetch_pages, grpc_call, parse_cli_amount, run_tx, sign_tx
from .common import FILE, chain_id_option, grpc_option, open_keyring, output_option, page_options, tx_options
from .instant_client import build_instant_claim, build_instant_release, build_instant_return, send_instant
from .underwriting_client import load_guarantees
from .output import emit


def call_interchain(grpc_addr: str, method: str, request):
    """One Interchain query."""
    return grpc_call(grpc_addr, interchain_pb2_grpc.InterchainStub, method, request)


def _dict(msg) -> dict:
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _remote_chain(ctx, param, value: str) -> str:
    return str(validate_chain_id(value))


# ---- transactions ---------------------------------------------------------------------------------------

@click.group("interchain")
def tx_group() -> None:
    """Cross-chain transfers and top-ups; governance messages for correspondents, routes and clients."""


@tx_group.command("transfer")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--timeout-height", type=click.IntRange(0, 2**63 - 1), default=0,
              help="Destination height from which the packet is refused.")
@click.option("--timeout-seconds", type=click.IntRange(0, 10**9), default=0,
              help="Seconds after this chain's last block time from which the destination refuses the packet.")
@click.option("--path", "path", default="",
              help="Multi-hop: the intermediate chains, comma-separated (e.g. a1b2); default: direct, or the "
                   "routing table's \"via\" entries when this chain has no correspondent of TO's chain.")
@click.option("--min-amount-out", type=click.IntRange(0, 2**64 - 1), default=0,
              help="Multi-hop: refused (and refunded) if the middle hops' fees would leave TO less than this.")
@click.option("--relay-fee", default="0", metavar="AMOUNT",
              help="Escrowed with the packet; paid to the relay that proves its receipt, refunded on a timeout.")
@tx_options
def transfer(from_key, to, amount, timeout_height, timeout_seconds, path, min_amount_out, relay_fee, settings) -> None:
    """Send AMOUNT to TO on another chain with an explicit timeout (`tx bank send` uses the correspondent default),
    directly or through intermediate chains."""
    value = parse_cli_amount(amount)
    fee = parse_cli_amount(relay_fee, allow_zero=True)
    parse_address(to)
    via = [c.strip() for c in path.split(",") if c.strip()]
    timeout_ns = 0
    if timeout_seconds:
        now = parse_rfc3339_ns(CometRPC(settings.node).status()["sync_info"]["latest_block_time"])
        timeout_ns = now + timeout_seconds * 1_000_000_000

    def build(k, c, n):
        sender = Address.from_pub_key(c, k.pub_key)
        msg = interchain_pb2.MsgTransfer(from_address=str(sender), to_address=to, amount=value,
                                         timeout_height=timeout_height, timeout_time_ns=timeout_ns, path=via,
                                         min_amount_out=min_amount_out, relay_fee=fee)
        decode_transfer(msg).validate_basic(c, sender.account)  # a bad path is one line here, not a refused tx
        return build_tx(k, c, n, "transfer", msg)

    run_tx(settings, from_key, build, f"packet of {value} to {to} committed" + (f" (relay fee {fee})" if fee else ""))


@tx_group.command("topup")
@click.argument("from_key", metavar="FROM")
@click.argument("remote_chain", metavar="CHAIN_ID", callback=_remote_chain)
@click.argument("amount")
@tx_options
def topup(from_key, remote_chain, amount, settings) -> None:
    """Add AMOUNT to CHAIN_ID's correspondent reserve (resumes a suspended correspondent at its minimum)."""
    value = parse_cli_amount(amount)

    def build(k, c, n):
        return build_tx(k, c, n, "top_up", interchain_pb2.MsgTopUp(
            from_address=str(Address.from_pub_key(c, k.pub_key)), chain_id=remote_chain, amount=value))

    run_tx(settings, from_key, build, f"topped up {remote_chain} by {value}")


@tx_group.command("instant-send")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--dest-node", required=True, metavar="URL",
              help="CometBFT RPC of a node of TO's chain: the instant credit is submitted there.")
@click.option("--timeout-seconds", type=click.IntRange(1, 10**9), default=600, show_default=True,
              help="Seconds after this chain's last block time from which the destination refuses the packet.")
@click.option("--no-co-underwriting", is_flag=True, help="Refuse rather than ask other validators for shares.")
@grpc_option
@tx_options
def instant_send(from_key, to, amount, dest_node, timeout_seconds, no_co_underwriting, grpc_addr, settings) -> None:
    """Send AMOUNT to TO on another chain, credited there at once: the validator at --grpc (with co-underwriters)
    guarantees it, the destination at --dest-node credits TO in its next block, then the transfer is broadcast
    here and its packet settles the credit. FROM also signs the credit on the destination (any account may)."""
    value = parse_cli_amount(amount)
    recipient = parse_address(to)
    source = CometRPC(settings.node)
    now = parse_rfc3339_ns(source.status()["sync_info"]["latest_block_time"])
    signed = sign_tx(settings, from_key, lambda k, c, n: build_instant_transfer_tx(
        k, c, n, to, value, timeout_time_ns=compute_instant_timeout_ns(now, timeout_seconds, n)))
    if signed is None:  # --generate-only
        return
    key = open_keyring(settings.keyring_dir).get(from_key).keypair
    result = send_instant(grpc_addr, source, settings.chain_id, CometRPC(dest_node), recipient.chain_id, key,
                          signed.raw, settings.timeout, co_underwrite=not no_co_underwriting)
    data = {"hash": signed.hash.hex().upper(), "chain_id": signed.chain_id, "from": signed.signer, "to": to,
            "amount": str(value), "nonce": signed.nonce, "guarantee_ms": round(result.guarantee_ms, 2),
            "guarantees": [g.to_json() for g in result.guarantees], "tx": signed.raw.hex(),
            "credit_height": result.credit.height, "credit_dest_blocks": result.dest_blocks,
            "credited_seconds": round(result.credited_s, 3)}
    emit(data, settings.output, text=(
        f"guaranteed {data['hash']} in {result.guarantee_ms:.1f} ms by {len(result.guarantees)} validator(s); "
        f"{to} credited at {recipient.chain_id} height {result.credit.height} ({result.dest_blocks} block(s) "
        f"later, {result.credited_s:.2f}s); the transfer is broadcast on {settings.chain_id}"))


@tx_group.command("instant-claim")
@click.argument("from_key", metavar="FROM")
@click.argument("instant_file", metavar="INSTANT_JSON", type=FILE)
@click.option("--dest-node", required=True, metavar="URL", help="CometBFT RPC of a node of the destination chain.")
@click.option("--return-held", is_flag=True,
              help="The payer's side: the destination never credited the transfer and its packet timed out or was "
                   "refused; prove the credit absent and get the held amount back.")
@tx_options
def instant_claim(from_key, instant_file, dest_node, return_held, settings) -> None:
    """On the source chain (--node): the destination credited the instant transfer in INSTANT_JSON (what
    `instant-send -o json` prints) but the payer's nonce did not deliver it; prove the credit and have the held
    amount or the underwriters pay the destination's reserve here. Refused (227) while nothing is owed."""
    gs, raw = load_guarantees(instant_file)
    dest = CometEndpoint(gs[0].beneficiary.chain_id, dest_node)
    build = build_instant_return if return_held else build_instant_claim
    run_tx(settings, from_key, lambda k, c, n: build_tx(k, c, n, "instant_claim", build(dest, gs, raw)),
           f"held {gs[0].total} returned to {gs[0].payer}" if return_held
           else f"claim of {gs[0].total} for {gs[0].beneficiary.chain_id}'s reserve")


@tx_group.command("instant-release")
@click.argument("from_key", metavar="FROM")
@click.argument("instant_file", metavar="INSTANT_JSON", type=FILE)
@click.option("--source-node", required=True, metavar="URL", help="CometBFT RPC of a node of the source chain.")
@tx_options
def instant_release(from_key, instant_file, source_node, settings) -> None:
    """On the destination chain (--node): the source paid the claim of the instant transfer in INSTANT_JSON; prove
    it and release the outstanding instant credit."""
    gs, raw = load_guarantees(instant_file)
    source = CometEndpoint(gs[0].chain_id, source_node)
    run_tx(settings, from_key, lambda k, c, n: build_tx(
        k, c, n, "instant_release", build_instant_release(source, gs[0].beneficiary.chain_id, raw)),
        f"instant credit of {gs[0].total} from {gs[0].chain_id} released")


# ---- governance messages: generated for a proposal, never signed by a key ------------------------------------
#
# Opening and closing correspondents, routes, limits and lifting a frozen client are accepted only from the
# governance authority (authority.GOV_AUTHORITY, a module account no key controls). These commands build the
# message with that authority for the chain named by --chain-id (or client.toml) and print it: JSON with
# the TxBody field name, the message as JSON and its protobuf bytes in base64, ready for a gov proposal.

def _emit_proposal_msg(field: str, msg, output: str) -> None:
    data = {"field": field, "message": _dict(msg),
            "message_base64": base64.b64encode(msg.SerializeToString(deterministic=True)).decode()}
    emit(data, output, text=json.dumps(data, indent=2))


def _gov_options(f):
    for option in (output_option, chain_id_option):
        f = option(f)
    return f


def _read_trust_root(path: pathlib.Path):
    try:
        root = json.loads(path.read_text())
    except (OSError, ValueError):
        raise InvalidInputError(f"cannot read the trust root JSON in {path}") from None
    if not isinstance(root, dict):
        raise InvalidInputError("the trust root must be a JSON object")
    for name in ("height", "time_ns"):
        value = root.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
            raise InvalidInputError(f"trust root {name} must be an integer from 0 to 2^63-1, got {value!r}")
    return root, parse_validators_json(root.get("validators"), "trust root")


def _limits(limits_json: str) -> Limits:
    try:
        data = json.loads(limits_json)
        values = {k: int(v) for k, v in data.items()}
        if not all(0 <= v < 1 << 64 for v in values.values()):
            raise ValueError("out of range")
        return Limits(**values)
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise InvalidInputError(f"limits must be a JSON object of integers from 0 to 2^64-1 with keys {', '.join(Limits.__dataclass_fields__)}") from None


@tx_group.command("open-correspondent")
@click.argument("remote_chain", callback=_remote_chain)
@click.option("--trust-root", "trust_root", required=True, type=FILE,
              help='JSON {"height": 0, "time_ns": N, "validators": [{"pub_key": base64, "power": n}]}.')
@click.option("--limits", "limits_json", default="{}", help="JSON of limits (see interchain/README.md).")
@click.option("--unbonding-period", type=click.IntRange(1, 10**10), required=True,
              help="Seconds: REMOTE_CHAIN's staking unbonding_time_ns / 1e9.")
@click.option("--trusting-period", type=click.IntRange(1, 10**10), default=None,
              help="Seconds, strictly below the unbonding period (default: 2/3 of it).")
@_gov_options
def open_correspondent(remote_chain, trust_root, limits_json, unbonding_period, trusting_period, chain_id,
                       output) -> None:
    """Print MsgOpenCorrespondent for REMOTE_CHAIN, for a governance proposal."""
    root, vals = _read_trust_root(trust_root)
    trusting = trusting_period if trusting_period is not None else unbonding_period * 2 // 3
    here = chain_id
    m = interchain_pb2.MsgOpenCorrespondent(authority=str(gov_authority_address(here)), chain_id=remote_chain,
                                            trusting_period_ns=trusting * 1_000_000_000,
                                            unbonding_period_ns=unbonding_period * 1_000_000_000)
    _limits(limits_json).to_proto(m.limits)
    m.trust_root.chain_id, m.trust_root.height = remote_chain, int(root.get("height", 0))
    m.trust_root.time_ns = int(root.get("time_ns", 0))
    validator_set_to_proto(vals, m.trust_root.next_validator_set)
    decode_open_correspondent(m)  # the chain's own checks (trusting < unbonding, limits) before a proposal
    _emit_proposal_msg("open_correspondent", m, output)


@tx_group.command("set-route")
@click.argument("remote_chain", callback=_remote_chain)
@click.argument("relay_grpc", required=False, default="")
@click.argument("comet_rpc", required=False, default="")
@click.option("--via", default="", help="Multi-hop: reach REMOTE_CHAIN through this chain (endpoints then optional).")
@click.option("--max-hops", type=click.IntRange(0, 255), default=0,
              help="With --via: the longest path on this route (0 = the chain's max_hops param).")
@_gov_options
def set_route(remote_chain, relay_grpc, comet_rpc, via, max_hops, chain_id, output) -> None:
    """Print MsgSetRoute for REMOTE_CHAIN (its relay's gRPC address and a CometBFT RPC, and/or --via a chain), for
    a proposal."""
    here = chain_id
    m = interchain_pb2.MsgSetRoute(authority=str(gov_authority_address(here)), route=interchain_pb2.Route(
        chain_id=remote_chain, relay_grpc=relay_grpc, comet_rpc=comet_rpc, via=via, max_hops=max_hops))
    decode_set_route(m)
    _emit_proposal_msg("set_route", m, output)


@tx_group.command("set-limits")
@click.argument("remote_chain", callback=_remote_chain)
@click.option("--limits", "limits_json", required=True, help="JSON of all limits (see interchain/README.md).")
@_gov_options
def set_limits(remote_chain, limits_json, chain_id, output) -> None:
    """Print MsgSetLimits for REMOTE_CHAIN's correspondent, for a proposal."""
    here = chain_id
    m = interchain_pb2.MsgSetLimits(authority=str(gov_authority_address(here)), chain_id=remote_chain)
    _limits(limits_json).to_proto(m.limits)
    decode_set_limits(m)
    _emit_proposal_msg("set_limits", m, output)


@tx_group.command("close-correspondent")
@click.argument("remote_chain", callback=_remote_chain)
@_gov_options
def close_correspondent(remote_chain, chain_id, output) -> None:
    """Print MsgCloseCorrespondent for REMOTE_CHAIN, for a proposal."""
    here = chain_id
    m = interchain_pb2.MsgCloseCorrespondent(authority=str(gov_authority_address(here)), chain_id=remote_chain)
    decode_close_correspondent(m)
    _emit_proposal_msg("close_correspondent", m, output)


@tx_group.command("unfreeze-client")
@click.argument("remote_chain", callback=_remote_chain)
@click.option("--trust-root", "trust_root", required=True, type=FILE,
              help='JSON {"height": H, "time_ns": N, "validators": [...], "app_hash": hex (optional)}.')
@_gov_options
def unfreeze_client(remote_chain, trust_root, chain_id, output) -> None:
    """Print MsgUnfreezeClient lifting REMOTE_CHAIN's frozen light client, for a proposal."""
    root, vals = _read_trust_root(trust_root)
    here = chain_id
    m = interchain_pb2.MsgUnfreezeClient(authority=str(gov_authority_address(here)), chain_id=remote_chain)
    m.trust_root.chain_id, m.trust_root.height = remote_chain, int(root.get("height", 0))
    m.trust_root.time_ns = int(root.get("time_ns", 0))
    try:
        m.trust_root.app_hash = bytes.fromhex(root.get("app_hash", ""))
    except (ValueError, TypeError):
        raise InvalidInputError("trust root app_hash must be hex") from None
    validator_set_to_proto(vals, m.trust_root.next_validator_set)
    decode_unfreeze_client(m)
    _emit_proposal_msg("unfreeze_client", m, output)


# ---- queries -------------------------------------------------------------------------------------------------

@click.group("interchain")
def query_group() -> None:
    """Correspondent accounts, routes and pending packets."""


@query_group.command("correspondent")
@click.argument("chain_id", callback=_remote_chain)
@grpc_option
@output_option
def correspondent(chain_id, grpc_addr, output) -> None:
    """CHAIN_ID's correspondent account here: limits, reserve, suspension, light-client height."""
    r = call_interchain(grpc_addr, "GetCorrespondent", interchain_pb2.QueryCorrespondentRequest(chain_id=chain_id))
    data = _dict(r)
    emit(data, output, text=f"{chain_id}: reserve {r.reserve} in {r.account}, "
                            f"{'CLOSED' if r.correspondent.closed else 'SUSPENDED' if r.correspondent.suspended else 'active'}, "
                            f"light client at {r.client_height}"
                            f"{f' FROZEN at {r.client_frozen_height}' if r.client_frozen_height else ''}")


def _route_text(r: interchain_pb2.Route) -> str:
    via = f" via {r.via}" + (f" (at most {r.max_hops} hops)" if r.max_hops else "") if r.via else ""
    ends = f"relay {r.relay_grpc}, rpc {r.comet_rpc}" if r.relay_grpc else "no endpoints"
    return f"{r.chain_id}:{via} {ends}" if via else f"{r.chain_id}: {ends}"


@query_group.command("route")
@click.argument("chain_id", callback=_remote_chain)
@grpc_option
@output_option
def route(chain_id, grpc_addr, output) -> None:
    """The routing entry of CHAIN_ID."""
    r = call_interchain(grpc_addr, "GetRoute", interchain_pb2.QueryRouteRequest(chain_id=chain_id))
    emit(_dict(r), output, text=_route_text(r))


@query_group.command("routes")
@grpc_option
@page_options
@output_option
def routes(grpc_addr, page, output) -> None:
    """Routing entries by chain-id, a page at a time."""
    r = fetch_pages(lambda q: call_interchain(grpc_addr, "ListRoutes", q), interchain_pb2.QueryRoutesRequest(),
                    "routes", page)
    emit(_dict(r), output, text="\n".join(_route_text(x) for x in r.routes)
         + compute_more_hint(r.next_page_key))


@query_group.command("packets")
@click.argument("destination", callback=_remote_chain)
@grpc_option
@page_options
@output_option
def packets(destination, grpc_addr, page, output) -> None:
    """Packets to DESTINATION still pending (not acknowledged or timed out), by sequence, a page at a time."""
    r = fetch_pages(lambda q: call_interchain(grpc_addr, "ListPackets", q),
                    interchain_pb2.QueryPacketsRequest(destination_chain=destination), "pending", page)
    emit(_dict(r), output, text=f"next sequence {r.next_sequence}, {len(r.pending)} pending"
                                f"{' on this page' if r.next_page_key else ''}, escrow {r.escrow}"
                                + compute_more_hint(r.next_page_key))
