"""`distpos keys add|list|show`."""

from __future__ import annotations

import click

from ..address import validate_chain_id
from ..keyring import Keyring
from .common import keyring_option, output_option
from .output import emit

chain_option = click.option("--chain-id", default=None, help="Also print the key's address on this chain.")


def _describe(info, chain_id: str | None) -> dict:
    data = {"name": info.name, "pub_key": info.keypair.pub_key.hex()}
    if chain_id:
        data["address"] = str(info.address(validate_chain_id(chain_id)))
    return data


@click.group()
def keys() -> None:
    """Manage the local keyring (files are mode 0600)."""


@keys.command("add")
@click.argument("name")
@keyring_option
@chain_option
@output_option
def add(name: str, keyring_dir, chain_id: str | None, output: str) -> None:
    """Create a new ed25519 key called NAME."""
    emit(_describe(Keyring(keyring_dir).add(name), chain_id), output)


@keys.command("show")
@click.argument("name")
@keyring_option
@chain_option
@output_option
def show(name: str, keyring_dir, chain_id: str | None, output: str) -> None:
    """Show the key called NAME."""
    emit(_describe(Keyring(keyring_dir).get(name), chain_id), output)


@keys.command("list")
@keyring_option
@chain_option
@output_option
def list_(keyring_dir, chain_id: str | None, output: str) -> None:
    """List every key."""
    rows = [_describe(k, chain_id) for k in Keyring(keyring_dir).list()]
    if output == "json":
        emit({"keys": rows}, output)
    else:
        click.echo("\n".join("  ".join(str(v) for v in r.values()) for r in rows) or "(no keys)")
