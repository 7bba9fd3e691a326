"""`distpos tx underwriting deposit-collateral|unlock-collateral|withdraw-collateral|claim|set-premium` and
`distpos query underwriting guarantees|collateral|premium`. A guaranteed payment itself is `tx bank send --underwrite`."""

from __future__ import annotations

import click

from ..address import parse_address
from ..errors import InvalidInputError
from ..gen.distpos.v1 import underwriting_pb2
from ..underwriting import build_claim_tx, build_collateral_tx, build_set_premium_tx, decode_guarantee
from .client import parse_cli_amount, run_tx
from .common import FILE, grpc_option, output_option, tx_options
from .output import emit
from .underwriting_client import call_underwriting, load_guarantees, request_quote, settlement_json

# ---- transactions -------------------------------------------------------------------------------------------


@click.group("underwriting")
def tx_group() -> None:
    """Collateral behind guarantees, and claims of guarantees that were not honoured."""


@tx_group.command("claim")
@click.argument("from_key", metavar="FROM")
@click.argument("guarantees_file", metavar="GUARANTEES_JSON", type=FILE)
@tx_options
def claim(from_key, guarantees_file, settings) -> None:
    """Claim the payout of guarantees: the JSON `tx bank send --underwrite -o json` prints (its `guarantees` and the
    signed payment `tx`, the payer's consent)."""
    gs, guaranteed_tx = load_guarantees(guarantees_file)
    run_tx(settings, from_key, lambda k, c, n: build_claim_tx(k, c, n, gs, guaranteed_tx),
           f"claim of {gs[0].total} paid to {gs[0].beneficiary}")


@tx_group.command("set-premium")
@click.argument("from_key", metavar="FROM")
@click.argument("rate_ppm", metavar="RATE_PPM", type=click.IntRange(0, 1_000_000))
@click.argument("minimum", metavar="MINIMUM")
@tx_options
def set_premium(from_key, rate_ppm, minimum, settings) -> None:
    """Announce the premium of the validator operated by FROM: RATE_PPM parts per million of a guaranteed amount,
    at least MINIMUM per guarantee. Its service refuses requests whose signed premium is below it."""
    floor = parse_cli_amount(minimum, allow_zero=True)
    run_tx(settings, from_key, lambda k, c, n: build_set_premium_tx(k, c, n, rate_ppm, floor),
           f"premium set to {rate_ppm} ppm, at least {floor}")



def _collateral_command(name: str, kind: str, with_amount: bool, doc: str, describe: str):
    """deposit-collateral / unlock-collateral (FROM VALIDATOR AMOUNT) and withdraw-collateral (FROM VALIDATOR)."""
    def command(from_key, underwriter, settings, amount=None) -> None:
        value = parse_cli_amount(amount) if with_amount else 0
        parse_address(underwriter)
        extra = (value,) if with_amount else ()
        run_tx(settings, from_key, lambda k, c, n: build_collateral_tx(k, c, n, kind, underwriter, *extra),
               describe.format(value=value, underwriter=underwriter))

    command.__doc__ = doc
    command = tx_options(command)
    if with_amount:
        command = click.argument("amount", metavar="AMOUNT")(command)
    command = click.argument("underwriter", metavar="VALIDATOR")(command)
    command = click.argument("from_key", metavar="FROM")(command)
    return tx_group.command(name)(command)


deposit_collateral = _collateral_command(
    "deposit-collateral", "deposit", True,
    "Lock AMOUNT of FROM's balance as collateral for guarantees VALIDATOR (operator address) signs for FROM.",
    "locked {value} as collateral for {underwriter}")
unlock_collateral = _collateral_command(
    "unlock-collateral", "unlock", True,
    "Start unlocking AMOUNT of FROM's collateral for VALIDATOR (withdrawable after collateral_unlock_blocks).",
    "unlocking {value} of collateral for {underwriter}")
withdraw_collateral = _collateral_command(
    "withdraw-collateral", "withdraw", False, "Return FROM's unlocked collateral for VALIDATOR.",
    "withdrew unlocked collateral for {underwriter}")


# ---- queries ------------------------------------------------------------------------------------------------

@click.group("underwriting")
def query_group() -> None:
    """Guarantee capacity, settlements and collateral."""


@query_group.command("guarantees")
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


@query_group.command("collateral")
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


@query_group.command("premium")
@click.argument("underwriter", metavar="VALIDATOR", required=False, default="")
@click.option("--amount", default="0", metavar="AMOUNT", help="Also show the premium asked for guaranteeing AMOUNT.")
@grpc_option
@output_option
def premium(underwriter, amount, grpc_addr, output) -> None:
    """VALIDATOR's announced premium (default: the validator of the node at --grpc) and its price for --amount."""
    if underwriter:
        parse_address(underwriter)
    r = request_quote(grpc_addr, parse_cli_amount(amount, allow_zero=True), underwriter)
    emit({"underwriter": r.underwriter, "rate_ppm": r.rate_ppm, "minimum": str(r.minimum), "amount": str(r.amount),
          "premium": str(r.premium), "height": r.height}, output,
         text=f"{r.underwriter}: {r.rate_ppm} ppm, at least {r.minimum}; premium for {r.amount}: {r.premium} "
              f"(height {r.height})")
