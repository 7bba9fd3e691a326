"""`distpos light init|status`: the trusted header `--prove` verifies from (see lightproof.py)."""

from __future__ import annotations

import time

import click

from ..errors import InvalidInputError
from ..rpc_client import CometRPC
from .common import chain_id_option, get_home, node_option, output_option
from .lightproof import DEFAULT_TRUSTING_PERIOD_S, compute_trusted_client, get_trusted_path, load_client, save_client
from .output import emit


def _hash(ctx, param, value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInputError(f"--hash {value!r} must be 64 hex digits (a CometBFT header hash)")
    return raw


@click.group("light")
def light() -> None:
    """The CLI's light client: the header `--prove` verifies from."""


@light.command("init")
@click.option("--height", type=click.IntRange(1, 2**63 - 1), required=True, help="Height of the trusted header.")
@click.option("--hash", "header_hash", required=True, callback=_hash,
              help="Its header hash, obtained out of band (a block explorer, another operator, your own node).")
@click.option("--trusting-period", type=click.IntRange(60, 10**9), default=DEFAULT_TRUSTING_PERIOD_S,
              show_default=True, help="Seconds a verified header is trusted; keep it below the unbonding time.")
@chain_id_option
@node_option
@output_option
@click.pass_context
def init(ctx, height, header_hash, trusting_period, chain_id, node, output) -> None:
    """Trust the header at HEIGHT of the chain, once it hashes to --hash (replaces any earlier trust)."""
    client = compute_trusted_client(CometRPC(node), chain_id, height, header_hash, trusting_period)
    path = get_trusted_path(get_home(ctx), chain_id)
    save_client(path, client)
    emit({"chain_id": chain_id, "height": height, "file": str(path)}, output,
         text=f"trusting {chain_id} header {height} ({header_hash.hex().upper()}); state in {path}")


@light.command("status")
@chain_id_option
@output_option
@click.pass_context
def status(ctx, chain_id, output) -> None:
    """The trusted height and time of the chain, and whether the trusting period still covers it."""
    client = load_client(get_trusted_path(get_home(ctx), chain_id), chain_id)
    expires_ns = client.latest_time_ns + client.trusting_period_ns
    data = {"chain_id": chain_id, "height": client.latest_height, "time_ns": client.latest_time_ns,
            "expired": expires_ns <= time.time_ns(), "validators": len(client.next_validator_set.validators)}
    emit(data, output)
