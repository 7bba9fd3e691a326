"""`distpos tx staking create-validator|bond|unbond|withdraw|unjail` and
`distpos query staking validators|validator|unbondings|params`."""

from __future__ import annotations

import base64
import binascii
import json
import pathlib

import click

from ..address import parse_address
from ..errors import InvalidInputError
from ..gen.distpos.v1 import staking_pb2, staking_pb2_grpc
from ..staking import build_bond_tx, build_create_validator_tx, build_unbond_tx, build_unjail_tx, build_withdraw_tx
from .client import compute_more_hint, fetch_pages, grpc_call, parse_cli_amount, run_tx
from .common import FILE, PageRequest, grpc_option, output_option, page_options, tx_options
from .output import emit


def call_staking(grpc_addr: str, method: str, request):
    """One Staking query."""
    return grpc_call(grpc_addr, staking_pb2_grpc.StakingStub, method, request)


# ---- transactions -------------------------------------------------------------------------------------------

@click.group("staking")
def tx_group() -> None:
    """Validators: create, bond, unbond, withdraw, unjail."""


@tx_group.command("create-validator")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="SELF_STAKE")
@click.option("--consensus-key", "consensus_key", type=FILE,
              help="The node's config/priv_validator_key.json (only its public key is used).")
@click.option("--consensus-pub-key", default=None, help="Base64 ed25519 public key, instead of --consensus-key.")
@click.option("--endpoint", default="", help="host:port of the node's gRPC server (underwriting service).")
@click.option("--moniker", default="", help="A name for the validator.")
@tx_options
def create_validator(from_key, amount, consensus_key, consensus_pub_key, endpoint, moniker, settings) -> None:
    """Make key FROM the operator of a new validator bonding SELF_STAKE."""
    stake = parse_cli_amount(amount)
    if consensus_key is not None:
        pub = _pub_from_file(consensus_key)
    elif consensus_pub_key:
        try:
            pub = base64.b64decode(consensus_pub_key, validate=True)
        except (ValueError, binascii.Error):
            raise InvalidInputError("--consensus-pub-key must be base64") from None
    else:
        raise InvalidInputError("give --consensus-key FILE or --consensus-pub-key BASE64")
    if len(pub) != 32:
        raise InvalidInputError(f"the consensus public key must be 32 bytes of ed25519, got {len(pub)}")
    run_tx(settings, from_key, lambda k, c, n: build_create_validator_tx(k, c, n, pub, stake, endpoint, moniker),
           f"validator created with self-stake {stake}")


def _pub_from_file(path: pathlib.Path) -> bytes:
    try:
        return base64.b64decode(json.loads(path.read_text())["pub_key"]["value"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, binascii.Error):
        raise InvalidInputError(f"cannot read a public key from {path}: want CometBFT's priv_validator_key.json") from None


@tx_group.command("bond")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="AMOUNT")
@tx_options
def bond(from_key, amount, settings) -> None:
    """Bond AMOUNT more to FROM's validator."""
    value = parse_cli_amount(amount)
    run_tx(settings, from_key, lambda k, c, n: build_bond_tx(k, c, n, value), f"bonded {value}")


@tx_group.command("unbond")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="AMOUNT")
@tx_options
def unbond(from_key, amount, settings) -> None:
    """Start unbonding AMOUNT of FROM's validator stake."""
    value = parse_cli_amount(amount)
    run_tx(settings, from_key, lambda k, c, n: build_unbond_tx(k, c, n, value), f"unbonding {value}")


@tx_group.command("withdraw")
@click.argument("from_key", metavar="FROM")
@tx_options
def withdraw(from_key, settings) -> None:
    """Pay FROM's matured unbonding entries back to its account."""
    run_tx(settings, from_key, build_withdraw_tx, "withdrawn")


@tx_group.command("unjail")
@click.argument("from_key", metavar="FROM")
@tx_options
def unjail(from_key, settings) -> None:
    """Bring FROM's validator back from jail after its term."""
    run_tx(settings, from_key, build_unjail_tx, "unjailed")


# ---- queries ------------------------------------------------------------------------------------------------

def validator_json(view) -> dict:
    """A ValidatorView as JSON."""
    v = view.validator
    return {"operator": v.operator_address, "moniker": v.moniker, "power": view.power,
            "bonded": str(v.bonded), "unbonding": str(v.unbonding), "slashed": str(v.slashed),
            "jailed_until": v.jailed_until, "endpoint": v.endpoint, "consensus_address": view.consensus_address,
            "consensus_pub_key": base64.b64encode(v.consensus_pub_key).decode()}


@click.group("staking")
def query_group() -> None:
    """Validators and staking parameters."""


@query_group.command("validators")
@grpc_option
@page_options
@output_option
def validators(grpc_addr, page, output) -> None:
    """Validators by operator address, a page at a time: stake, power, jail, endpoint."""
    r = fetch_pages(lambda q: call_staking(grpc_addr, "Validators", q), staking_pb2.QueryValidatorsRequest(),
                    "validators", page)
    rows = [validator_json(v) for v in r.validators]
    if output == "json":
        emit({"height": r.height, "validators": rows, "next_page_key": r.next_page_key}, output)
        return
    lines = [f"{'operator':<58} {'power':>7} {'bonded':>12} {'unbonding':>10} {'jailed_until':>12}  moniker"]
    lines += [f"{v['operator']:<58} {v['power']:>7} {v['bonded']:>12} {v['unbonding']:>10} {v['jailed_until']:>12}"
              f"  {v['moniker']}" for v in rows]
    emit({}, output, text="\n".join(lines) + compute_more_hint(r.next_page_key))


@query_group.command("validator")
@click.argument("operator", metavar="OPERATOR_ADDRESS")
@grpc_option
@click.option("--unbondings", is_flag=True, help="Include the unbonding entries.")
@click.option("--signing-info", is_flag=True, help="Include the downtime accounting.")
@output_option
def validator(operator, grpc_addr, unbondings, signing_info, output) -> None:
    """One validator by operator address."""
    parse_address(operator)
    r = call_staking(grpc_addr, "Validator", staking_pb2.QueryValidatorRequest(operator_address=operator))
    data = validator_json(r.validator)
    if unbondings:
        every = _unbondings(grpc_addr, operator, PageRequest(follow_all=True))
        data["unbondings"] = [unbonding_json(e) for e in every.entries]
    if signing_info:
        s = call_staking(grpc_addr, "SigningInfo", staking_pb2.QuerySigningInfoRequest(operator_address=operator)).info
        data["signing_info"] = {"window_start": s.window_start, "missed_in_window": s.missed_in_window,
                                "jail_count": s.jail_count, "total_missed": s.total_missed}
    emit(data, output)


def unbonding_json(e) -> dict:
    """An UnbondingEntry as JSON."""
    return {"amount": str(e.amount), "complete_height": e.complete_height, "start_height": e.start_height}


def _unbondings(grpc_addr: str, operator: str, page: PageRequest):
    return fetch_pages(lambda q: call_staking(grpc_addr, "Unbondings", q),
                       staking_pb2.QueryUnbondingsRequest(operator_address=operator), "entries", page)


@query_group.command("unbondings")
@click.argument("operator", metavar="OPERATOR_ADDRESS")
@grpc_option
@page_options
@output_option
def unbondings_(operator, grpc_addr, page, output) -> None:
    """A validator's unbonding entries, earliest completion first, a page at a time."""
    parse_address(operator)
    r = _unbondings(grpc_addr, operator, page)
    rows = [unbonding_json(e) for e in r.entries]
    if output == "json":
        emit({"operator": operator, "unbondings": rows, "next_page_key": r.next_page_key}, output)
        return
    lines = [f"{'amount':>12} {'start_height':>12} {'complete_height':>15}"]
    lines += [f"{e['amount']:>12} {e['start_height']:>12} {e['complete_height']:>15}" for e in rows]
    emit({}, output, text="\n".join(lines) + compute_more_hint(r.next_page_key))


@query_group.command("params")
@grpc_option
@output_option
def params(grpc_addr, output) -> None:
    """Staking and underwriting parameters."""
    r = call_staking(grpc_addr, "Params", staking_pb2.QueryStakingParamsRequest())
    emit({"staking": json.loads(r.staking_json), "underwriting": json.loads(r.underwriting_json)}, output)
