"""`distpos tx create-validator|bond|unbond|withdraw|unjail|claim` and `distpos query validators|validator|guarantees|params`,
plus the underwriting client used by `distpos tx send --underwrite`."""

from __future__ import annotations

import base64
import json
import pathlib
import time

import click
import grpc

from ..address import parse_address
from ..errors import (
    DistposError,
    InvalidInputError,
    NodeUnreachableError,
    RemoteQueryError,
    TxRejectedError,
    all_error_classes,
)
from ..gen.distpos.v1 import query_pb2, staking_pb2, staking_pb2_grpc, underwriting_pb2, underwriting_pb2_grpc
from ..keyring import Keyring
from ..rpc_client import CometRPC
from ..staking import (
    build_bond_tx,
    build_create_validator_tx,
    build_unbond_tx,
    build_unjail_tx,
    build_withdraw_tx,
)
from ..tx import compute_tx_hash
from ..underwriting import Guarantee, build_claim_tx, build_collateral_tx, decode_guarantee

from .common import grpc_option, keyring_option, node_option
from .output import emit, output_option

# ---- gRPC calls ----------------------------------------------------------------------------------------


def _grpc_error(grpc_addr: str, exc: grpc.RpcError) -> DistposError:
    """The node's own error class when its trailing metadata names one (so exit codes match), else a client error."""
    meta = dict(exc.trailing_metadata() or ())
    details = exc.details() or ""
    by_code = {c.code: c for c in all_error_classes()}
    cls = by_code.get(int(meta["distpos-code"])) if str(meta.get("distpos-code", "")).isdigit() else None
    if cls is not None:
        return cls(details.split(": ", 1)[1] if details.startswith(f"{cls.codespace}:") else details)
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return NodeUnreachableError(f"gRPC {grpc_addr} unreachable: {details}")
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInputError(details)
    return RemoteQueryError(details)


def call_staking(grpc_addr: str, method: str, request):
    """One Staking query."""
    with grpc.insecure_channel(grpc_addr) as channel:
        try:
            return getattr(staking_pb2_grpc.StakingStub(channel), method)(request, timeout=10)
        except grpc.RpcError as exc:
            raise _grpc_error(grpc_addr, exc) from None


def call_underwriting(grpc_addr: str, method: str, request, timeout: float = 10.0):
    """One Underwriting call."""
    with grpc.insecure_channel(grpc_addr) as channel:
        try:
            return getattr(underwriting_pb2_grpc.UnderwritingStub(channel), method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise _grpc_error(grpc_addr, exc) from None


def request_guarantee(grpc_addr: str, raw_tx: bytes, *, co_underwrite: bool = True,
                      client_carries: bool = False) -> tuple[list[Guarantee], float, int]:
    """Ask a validator to underwrite raw_tx: (guarantees, round-trip ms, node-side µs)."""
    started = time.perf_counter()
    r = call_underwriting(grpc_addr, "Underwrite", underwriting_pb2.UnderwriteRequest(
        tx=raw_tx, no_co_underwriting=not co_underwrite, client_carries=client_carries))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return [decode_guarantee(g) for g in r.guarantees], elapsed_ms, r.elapsed_us


def wait_for_settlement(grpc_addr: str, payer: str, nonce: int, timeout: float) -> list:
    """Poll the node until the chain settled the guarantees of the payer's nonce; returns the settled shares."""
    deadline = time.monotonic() + timeout
    while True:
        r = call_underwriting(grpc_addr, "Settlement", underwriting_pb2.SettlementRequest(payer=payer, nonce=nonce))
        if r.settled:
            return list(r.settlements)
        if time.monotonic() > deadline:
            raise NodeUnreachableError(f"guarantees of {payer} nonce {nonce} not settled within {timeout:.0f}s")
        time.sleep(0.1)


def settlement_json(shares) -> dict:
    """The settled shares of one guaranteed payment as JSON."""
    first = shares[0]
    return {"payer": first.payer, "nonce": first.nonce, "beneficiary": first.beneficiary,
            "tx_hash": first.tx_hash.hex().upper(), "height": first.height,
            "outcome": "paid" if any(s.outcome == 2 for s in shares) else "released",
            "amount": str(sum(s.amount for s in shares)),
            "shares": [{"underwriter": s.underwriter, "outcome": {1: "released", 2: "paid"}.get(s.outcome, "?"),
                        "amount": str(s.amount), "from_collateral": str(s.from_collateral),
                        "from_stake": str(s.from_stake)} for s in shares]}


# ---- transactions ----------------------------------------------------------------------------------------


def _next_nonce(rpc: CometRPC, address: str) -> int:
    res = rpc.abci_query("/account", address.encode())
    return query_pb2.QueryAccountResponse.FromString(res["value"]).nonce if res.get("code", 0) == 0 else 0


def _sign_send_wait(keyring_dir, from_key, node, timeout, output, build, describe: str) -> None:
    """Sign with key FROM (build(keypair, chain_id, nonce) -> raw), broadcast, wait, print."""
    key = Keyring(keyring_dir).get(from_key)
    rpc = CometRPC(node)
    chain_id = rpc.status()["node_info"]["network"]
    sender = str(key.address(chain_id))
    nonce = _next_nonce(rpc, sender)
    raw = build(key.keypair, chain_id, nonce)
    tx_hash = compute_tx_hash(raw)
    started = time.monotonic()
    rpc.broadcast_tx_sync(raw)
    committed = rpc.wait_for_tx(tx_hash, timeout)
    data = {"hash": tx_hash.hex().upper(), "chain_id": chain_id, "signer": sender, "nonce": nonce,
            "height": committed.height, "code": committed.code, "log": committed.log,
            "seconds": round(time.monotonic() - started, 3)}
    if committed.code != 0:
        if output == "json":
            emit(data, output)
        raise TxRejectedError(f"included at height {committed.height} but failed: {committed.log}",
                              remote_codespace=committed.codespace, remote_code=committed.code)
    emit(data, output, text=f"committed {data['hash']} at height {committed.height}: {describe}")


def _amount(text: str) -> int:
    from .tx import parse_cli_amount

    return parse_cli_amount(text)


def _tx_options(f):
    for option in (output_option,
                   click.option("--timeout", type=float, default=30.0, show_default=True,
                                help="Seconds to wait for the commit."),
                   node_option, keyring_option):
        f = option(f)
    return f


@click.command("create-validator")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="SELF_STAKE")
@click.option("--consensus-key", "consensus_key", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="The node's config/priv_validator_key.json (only its public key is used).")
@click.option("--consensus-pub-key", default=None, help="Base64 ed25519 public key, instead of --consensus-key.")
@click.option("--endpoint", default="", help="host:port of the node's gRPC server (underwriting service).")
@click.option("--moniker", default="", help="A name for the validator.")
@_tx_options
def create_validator(from_key, amount, consensus_key, consensus_pub_key, endpoint, moniker, keyring_dir, node,
                     timeout, output) -> None:
    """Make key FROM the operator of a new validator bonding SELF_STAKE."""
    stake = _amount(amount)
    if consensus_key is not None:
        pub = _pub_from_file(consensus_key)
    elif consensus_pub_key:
        try:
            pub = base64.b64decode(consensus_pub_key, validate=True)
        except ValueError:
            raise InvalidInputError("--consensus-pub-key must be base64") from None
    else:
        raise InvalidInputError("give --consensus-key FILE or --consensus-pub-key BASE64")
    _sign_send_wait(keyring_dir, from_key, node, timeout, output,
                    lambda k, c, n: build_create_validator_tx(k, c, n, pub, stake, endpoint, moniker),
                    f"validator created with self-stake {stake}")


def _pub_from_file(path: pathlib.Path) -> bytes:
    try:
        return base64.b64decode(json.loads(path.read_text())["pub_key"]["value"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"cannot read a public key from {path}: {exc}") from None


@click.command("bond")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="AMOUNT")
@_tx_options
def bond(from_key, amount, keyring_dir, node, timeout, output) -> None:
    """Bond AMOUNT more to FROM's validator."""
    value = _amount(amount)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output, lambda k, c, n: build_bond_tx(k, c, n, value),
                    f"bonded {value}")


@click.command("unbond")
@click.argument("from_key", metavar="FROM")
@click.argument("amount", metavar="AMOUNT")
@_tx_options
def unbond(from_key, amount, keyring_dir, node, timeout, output) -> None:
    """Start unbonding AMOUNT of FROM's validator stake."""
    value = _amount(amount)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output, lambda k, c, n: build_unbond_tx(k, c, n, value),
                    f"unbonding {value}")


@click.command("withdraw")
@click.argument("from_key", metavar="FROM")
@_tx_options
def withdraw(from_key, keyring_dir, node, timeout, output) -> None:
    """Pay FROM's matured unbonding entries back to its account."""
    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build_withdraw_tx, "withdrawn")


@click.command("unjail")
@click.argument("from_key", metavar="FROM")
@_tx_options
def unjail(from_key, keyring_dir, node, timeout, output) -> None:
    """Bring FROM's validator back from jail after its term."""
    _sign_send_wait(keyring_dir, from_key, node, timeout, output, build_unjail_tx, "unjailed")


@click.command("claim")
@click.argument("from_key", metavar="FROM")
@click.argument("guarantees_file", metavar="GUARANTEES_JSON", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@_tx_options
def claim(from_key, guarantees_file, keyring_dir, node, timeout, output) -> None:
    """Claim the payout of guarantees (the `guarantees` printed by `tx send --underwrite -o json`)."""
    gs = load_guarantees(guarantees_file)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output, lambda k, c, n: build_claim_tx(k, c, n, gs),
                    f"claim of {gs[0].total} paid to {gs[0].beneficiary}")


def load_guarantees(path: pathlib.Path) -> list[Guarantee]:
    """Guarantees from a JSON file: a list, or an object with a `guarantees` list, as the CLI prints them."""
    try:
        data = json.loads(path.read_text())
        items = data["guarantees"] if isinstance(data, dict) else data
        return [decode_guarantee(underwriting_pb2.Guarantee(
            tx_hash=bytes.fromhex(g["tx_hash"]), amount=int(g["amount"]), total=int(g["total"]),
            beneficiary=g["beneficiary"], underwriter=g["underwriter"], chain_id=g["chain_id"],
            expiry_height=int(g["expiry_height"]), issued_height=int(g["issued_height"]),
            payer=g["payer"], nonce=int(g["nonce"]), signature=bytes.fromhex(g["signature"]))) for g in items]
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInputError(f"cannot read guarantees from {path}: want the JSON `tx send --underwrite -o json` "
                                f"prints (a list of guarantees, or an object with `guarantees`)") from None


@click.command("deposit-collateral")
@click.argument("from_key", metavar="FROM")
@click.argument("underwriter", metavar="VALIDATOR")
@click.argument("amount", metavar="AMOUNT")
@_tx_options
def deposit_collateral(from_key, underwriter, amount, keyring_dir, node, timeout, output) -> None:
    """Lock AMOUNT of FROM's balance as collateral for guarantees VALIDATOR (operator address) signs for FROM."""
    value = _amount(amount)
    parse_address(underwriter)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output,
                    lambda k, c, n: build_collateral_tx(k, c, n, "deposit", underwriter, value),
                    f"locked {value} as collateral for {underwriter}")


@click.command("unlock-collateral")
@click.argument("from_key", metavar="FROM")
@click.argument("underwriter", metavar="VALIDATOR")
@click.argument("amount", metavar="AMOUNT")
@_tx_options
def unlock_collateral(from_key, underwriter, amount, keyring_dir, node, timeout, output) -> None:
    """Start unlocking AMOUNT of FROM's collateral for VALIDATOR (withdrawable after collateral_unlock_blocks)."""
    value = _amount(amount)
    parse_address(underwriter)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output,
                    lambda k, c, n: build_collateral_tx(k, c, n, "unlock", underwriter, value),
                    f"unlocking {value} of collateral for {underwriter}")


@click.command("withdraw-collateral")
@click.argument("from_key", metavar="FROM")
@click.argument("underwriter", metavar="VALIDATOR")
@_tx_options
def withdraw_collateral(from_key, underwriter, keyring_dir, node, timeout, output) -> None:
    """Return FROM's unlocked collateral for VALIDATOR."""
    parse_address(underwriter)
    _sign_send_wait(keyring_dir, from_key, node, timeout, output,
                    lambda k, c, n: build_collateral_tx(k, c, n, "withdraw", underwriter),
                    f"withdrew unlocked collateral for {underwriter}")


# ---- queries -------------------------------------------------------------------------------------------


def validator_json(view) -> dict:
    """A ValidatorView as JSON."""
    v = view.validator
    return {"operator": v.operator_address, "moniker": v.moniker, "power": view.power,
            "bonded": str(v.bonded), "unbonding": str(v.unbonding), "slashed": str(v.slashed),
            "jailed_until": v.jailed_until, "endpoint": v.endpoint, "consensus_address": view.consensus_address,
            "consensus_pub_key": base64.b64encode(v.consensus_pub_key).decode()}


@click.command("validators")
@grpc_option
@output_option
def validators(grpc_addr, output) -> None:
    """Every validator: stake, power, jail, endpoint."""
    r = call_staking(grpc_addr, "Validators", staking_pb2.QueryValidatorsRequest())
    rows = [validator_json(v) for v in r.validators]
    if output == "json":
        emit({"height": r.height, "validators": rows}, output)
        return
    lines = [f"{'operator':<58} {'power':>7} {'bonded':>12} {'unbonding':>10} {'jailed_until':>12}  moniker"]
    lines += [f"{v['operator']:<58} {v['power']:>7} {v['bonded']:>12} {v['unbonding']:>10} {v['jailed_until']:>12}"
              f"  {v['moniker']}" for v in rows]
    emit({}, output, text="\n".join(lines))


@click.command("validator")
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
        u = call_staking(grpc_addr, "Unbondings", staking_pb2.QueryUnbondingsRequest(operator_address=operator))
        data["unbondings"] = [{"amount": str(e.amount), "complete_height": e.complete_height,
                               "start_height": e.start_height} for e in u.entries]
    if signing_info:
        s = call_staking(grpc_addr, "SigningInfo", staking_pb2.QuerySigningInfoRequest(operator_address=operator)).info
        data["signing_info"] = {"window_start": s.window_start, "missed_in_window": s.missed_in_window,
                                "jail_count": s.jail_count, "total_missed": s.total_missed}
    emit(data, output)


@click.command("params")
@grpc_option
@output_option
def params(grpc_addr, output) -> None:
    """Staking and underwriting parameters."""
    r = call_staking(grpc_addr, "Params", staking_pb2.QueryStakingParamsRequest())
    emit({"staking": json.loads(r.staking_json), "underwriting": json.loads(r.underwriting_json)}, output)


@click.command("guarantees")
@grpc_option
@click.option("--payer", default=None, help="With --nonce: show the on-chain settlement of this payer's nonce.")
@click.option("--nonce", type=click.IntRange(0, 2**64 - 1), default=None, help="The guaranteed nonce.")
@output_option
def guarantees(grpc_addr, payer, nonce, output) -> None:
    """The node's capacity and outstanding guarantees, or the settlement of a guaranteed payment."""
    if (payer is None) != (nonce is None):
        raise InvalidInputError("give both --payer and --nonce, or neither")
    if payer is not None:
        parse_address(payer)
        r = call_underwriting(grpc_addr, "Settlement", underwriting_pb2.SettlementRequest(payer=payer, nonce=nonce))
        emit({"settled": r.settled, **(settlement_json(r.settlements) if r.settled else {})}, output)
        return
    c = call_underwriting(grpc_addr, "Capacity", underwriting_pb2.CapacityRequest())
    emit({"operator": c.operator_address, "height": c.height, "bonded": str(c.bonded),
          "outstanding": str(c.outstanding), "reserved": str(c.reserved), "free": str(c.free),
          "guarantees": [decode_guarantee(g).to_json() for g in c.guarantees]}, output)


@click.command("collateral")
@click.argument("payer", metavar="PAYER")
@click.argument("underwriter", metavar="VALIDATOR", required=False, default="")
@grpc_option
@output_option
def collateral(payer, underwriter, grpc_addr, output) -> None:
    """PAYER's collateral held for VALIDATOR (default: the validator of the node at --grpc)."""
    parse_address(payer)
    if underwriter:
        parse_address(underwriter)
    r = call_underwriting(grpc_addr, "Collateral",
                          underwriting_pb2.CollateralRequest(payer=payer, underwriter=underwriter))
    emit({"payer": r.payer, "underwriter": r.underwriter, "locked": str(r.collateral.locked),
          "unlocking": str(r.collateral.unlocking), "unlock_height": r.collateral.unlock_height,
          "promised": str(r.promised), "height": r.height}, output)


def register(tx_group: click.Group, query_group: click.Group) -> None:
    """Attach the staking and underwriting commands to `distpos tx` and `distpos query`."""
    for command in (create_validator, bond, unbond, withdraw, unjail, claim, deposit_collateral, unlock_collateral,
                    withdraw_collateral):
        tx_group.add_command(command)
    for command in (validators, validator, params, guarantees, collateral):
        query_group.add_command(command)
