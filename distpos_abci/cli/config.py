"""`distpos config set|get|show`: the CLI's client.toml (see clientconfig.py for the keys)."""

from __future__ import annotations

import click

from .clientconfig import CLIENT_KEYS, save_client_value, validate_client_key, validate_client_value
from .common import get_client_config, get_home, output_option
from .output import emit


@click.group("config")
def config() -> None:
    """Read and write the CLI's client.toml (in --home, env DISTPOS_HOME, default ~/.distpos)."""


@config.command("set")
@click.argument("key", metavar="KEY")
@click.argument("value", metavar="VALUE")
@click.pass_context
def set_(ctx: click.Context, key: str, value: str) -> None:
    """Set KEY (chain-id, node, grpc, output, keyring-backend, keyring-dir) to VALUE."""
    path = save_client_value(get_home(ctx), key, value)
    click.echo(f"{key} = {validate_client_value(key, value)} in {path}")


@config.command("get")
@click.argument("key", metavar="KEY")
@click.pass_context
def get(ctx: click.Context, key: str) -> None:
    """Print the value of KEY (its default when client.toml does not set it)."""
    validate_client_key(key)
    click.echo(get_client_config(ctx).get(key))


@config.command("show")
@output_option
@click.pass_context
def show(ctx: click.Context, output: str) -> None:
    """Every key with its value (from client.toml or the default) and meaning."""
    cfg = get_client_config(ctx)
    data = {key: cfg.get(key) for key in CLIENT_KEYS}
    emit({"file": str(cfg.path), **data}, output,
         text="\n".join([f"# {cfg.path}"] + [f"{k} = {v!r:<28} # {CLIENT_KEYS[k][0]}" for k, v in data.items()]))

