"""`distpos tx transfer|open-correspondent|topup|set-route` and `distpos query correspondent|route|routes|packets`."""

from __future__ import annotations

import json
import pathlib

import click
import grpc
from google.protobuf.json_format import MessageToDict

from ..errors import InvalidInputError
from ..gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc
from ..interchain.msgs import parse_validators_json
from ..interchain.records import Limits
from ..lightclient.types import validator_set_to_proto
from ..tx import build_tx
from .common import grpc_option
from .output import emit, output_option
from .staking import _amount, _grpc_error, _sign_send_wait, _tx_options


def call_interchain(grpc_addr: str, method: str, request):
    """One Interchain query."""
    with grpc.insecure_channel(grpc_addr) as channel:
        try:
            return getattr(interchain_pb2_grpc.InterchainStub(channel), method)(request, timeout=10)
        except grpc.RpcError as exc:
            raise _grpc_error(grpc_addr, exc) from None


def _dict(msg) -> dict:
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


# ---- transactions ---------------------------------------------------------------------------------------

@click.command("transfer")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--timeout-height", type=int, default=0, help="Destination height from which the packet is refused.")
@click.option("--timeout-seconds", type=int, default=0,
              help="Seconds after this chain's last block time from which the destination refuses the packet.")
@_tx_options
def transfer(from_key, to, amount, timeout_height, timeout_seconds, keyring_dir, node, timeout, output) -> None:
    """Send AMOUNT to TO on another chain with an explicit timeout (`tx send` uses the correspondent default)."""
    from ..rpc_client import CometRPC
    from ..lightclient.rpc_json import parse_rfc3339_ns
    value = _amount(amount)
    timeout_ns = 0
    if timeout_seconds:
        now = parse_rfc3339_ns(CometRPC(node).status()["sync_info"]["latest_block_time"])
        timeout_ns = now + timeout_seconds * 1_000_000_000

    def build(k, c, n):
        from ..address import Address
        msg = interchain_pb2.MsgTransfer(from_address=str(Address.from_pub_key(c, k.pub_key)), to_address=to,
                                         amount=value, timeout_height=timeout_height, timeout_time_ns=timeout_ns)
        return build_tx(k, c, n, "transfer", msg)

    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build, f"packet of {value} to {to} committed")


@click.command("open-correspondent")
@click.argument("from_key", metavar="ADMIN")
@click.argument("chain_id")
@click.option("--trust-root", "trust_root", required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help='JSON {"height": 0, "time_ns": N, "validators": [{"pub_key": base64, "power": n}]}.')
@click.option("--limits", "limits_json", default="{}", help="JSON of limits (see interchain/README.md).")
@click.option("--trusting-period", type=int, default=14 * 86400, show_default=True, help="Seconds.")
@_tx_options
def open_correspondent(from_key, chain_id, trust_root, limits_json, trusting_period, keyring_dir, node, timeout,
                       output) -> None:
    """Open CHAIN_ID's correspondent account and light client (signed by the interchain admin)."""
    try:
        root = json.loads(trust_root.read_text())
        limits = Limits(**{k: int(v) for k, v in json.loads(limits_json).items()})
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"bad trust root or limits: {exc}") from None
    vals = parse_validators_json(root.get("validators"), "trust root")

    def build(k, c, n):
        from ..address import Address
        m = interchain_pb2.MsgOpenCorrespondent(authority=str(Address.from_pub_key(c, k.pub_key)), chain_id=chain_id,
                                                trusting_period_ns=trusting_period * 1_000_000_000)
        limits.to_proto(m.limits)
        m.trust_root.chain_id, m.trust_root.height = chain_id, int(root.get("height", 0))
        m.trust_root.time_ns = int(root.get("time_ns", 0))
        validator_set_to_proto(vals, m.trust_root.next_validator_set)
        return build_tx(k, c, n, "open_correspondent", m)

    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build, f"correspondent {chain_id} opened")


@click.command("topup")
@click.argument("from_key", metavar="FROM")
@click.argument("chain_id")
@click.argument("amount")
@_tx_options
def topup(from_key, chain_id, amount, keyring_dir, node, timeout, output) -> None:
    """Add AMOUNT to CHAIN_ID's correspondent reserve (resumes a suspended correspondent at its minimum)."""
    value = _amount(amount)

    def build(k, c, n):
        from ..address import Address
        return build_tx(k, c, n, "top_up", interchain_pb2.MsgTopUp(
            from_address=str(Address.from_pub_key(c, k.pub_key)), chain_id=chain_id, amount=value))

    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build, f"topped up {chain_id} by {value}")


@click.command("set-route")
@click.argument("from_key", metavar="ADMIN")
@click.argument("chain_id")
@click.argument("relay_grpc")
@click.argument("comet_rpc")
@_tx_options
def set_route(from_key, chain_id, relay_grpc, comet_rpc, keyring_dir, node, timeout, output) -> None:
    """Set the routing entry of CHAIN_ID: its relay's gRPC address and a CometBFT RPC endpoint."""
    def build(k, c, n):
        from ..address import Address
        return build_tx(k, c, n, "set_route", interchain_pb2.MsgSetRoute(
            authority=str(Address.from_pub_key(c, k.pub_key)),
            route=interchain_pb2.Route(chain_id=chain_id, relay_grpc=relay_grpc, comet_rpc=comet_rpc)))

    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build, f"route to {chain_id} set")


# ---- queries -------------------------------------------------------------------------------------------------

@click.command("correspondent")
@click.argument("chain_id")
@grpc_option
@output_option
def correspondent(chain_id, grpc_addr, output) -> None:
    """CHAIN_ID's correspondent account here: limits, reserve, suspension, light-client height."""
    r = call_interchain(grpc_addr, "GetCorrespondent", interchain_pb2.QueryCorrespondentRequest(chain_id=chain_id))
    data = _dict(r)
    emit(data, output, text=f"{chain_id}: reserve {r.reserve} in {r.account}, "
                            f"{'SUSPENDED' if r.correspondent.suspended else 'active'}, light client at {r.client_height}")


@click.command("route")
@click.argument("chain_id")
@grpc_option
@output_option
def route(chain_id, grpc_addr, output) -> None:
    """The routing entry of CHAIN_ID."""
    r = call_interchain(grpc_addr, "GetRoute", interchain_pb2.QueryRouteRequest(chain_id=chain_id))
    emit(_dict(r), output, text=f"{r.chain_id}: relay {r.relay_grpc}, rpc {r.comet_rpc}")


@click.command("routes")
@grpc_option
@output_option
def routes(grpc_addr, output) -> None:
    """Every routing entry."""
    r = call_interchain(grpc_addr, "ListRoutes", interchain_pb2.QueryRoutesRequest())
    emit(_dict(r), output, text="\n".join(f"{x.chain_id}: relay {x.relay_grpc}, rpc {x.comet_rpc}" for x in r.routes))


@click.command("packets")
@click.argument("destination")
@grpc_option
@output_option
def packets(destination, grpc_addr, output) -> None:
    """Packets to DESTINATION still pending (not acknowledged or timed out)."""
    r = call_interchain(grpc_addr, "ListPackets", interchain_pb2.QueryPacketsRequest(destination_chain=destination))
    emit(_dict(r), output, text=f"next sequence {r.next_sequence}, {len(r.pending)} pending, escrow {r.escrow}")


def register(tx_group: click.Group, query_group: click.Group) -> None:
    """Attach the interchain commands to `distpos tx` and `distpos query`."""
    for command in (transfer, open_correspondent, topup, set_route):
        tx_group.add_command(command)
    for command in (correspondent, route, routes, packets):
        query_group.add_command(command)
