"""`distpos keys add|show|list|delete|export|import`: BIP-39 mnemonics, the `test` and `file` backends, armored
passphrase-encrypted exports (derivation and formats: distpos_abci/keyring.py)."""

from __future__ import annotations

import click

from ..address import Address, validate_chain_id
from ..errors import InvalidInputError
from ..keyring import DEFAULT_HD_PATH, compute_armor, compute_keypair_from_mnemonic, generate_mnemonic, parse_armor
from .common import FILE, keyring_backend_option, keyring_option, open_keyring, output_option
from .output import emit

chain_option = click.option("--chain-id", default=None, help="Also print the key's address on this chain.")


def _describe(name: str, pub_key: bytes, chain_id: str | None) -> dict:
    data = {"name": name, "pub_key": pub_key.hex()}
    if chain_id:
        data["address"] = str(Address.from_pub_key(validate_chain_id(chain_id), pub_key))
    return data


def _new_passphrase(what: str) -> str:
    """A passphrase typed twice (hidden), on stderr so that stdout stays the command's output."""
    value = click.prompt(f"{what} passphrase", hide_input=True, confirmation_prompt=True, err=True)
    if len(value) < 8:
        raise InvalidInputError(f"{what} passphrase must have at least 8 characters")
    return value


@click.group()
def keys() -> None:
    """Manage the local keyring (files are mode 0600)."""


@keys.command("add")
@click.argument("name")
@click.option("--recover", is_flag=True, help="Restore the key from its BIP-39 mnemonic (asked for on the terminal).")
@click.option("--hd-path", default=DEFAULT_HD_PATH, show_default=True,
              help="SLIP-0010 ed25519 derivation path (hardened steps only).")
@keyring_option
@keyring_backend_option
@chain_option
@output_option
def add(name: str, recover: bool, hd_path: str, keyring_dir, keyring_backend: str, chain_id: str | None,
        output: str) -> None:
    """Create a key called NAME from a new 24-word mnemonic (printed once: write it down), or --recover one."""
    if recover:
        mnemonic = click.prompt("BIP-39 mnemonic", hide_input=True, err=True)
    else:
        mnemonic = generate_mnemonic()
    keypair = compute_keypair_from_mnemonic(mnemonic, hd_path)
    open_keyring(keyring_dir, keyring_backend).add(name, keypair, hd_path=hd_path)
    data = {**_describe(name, keypair.pub_key, chain_id), "hd_path": hd_path}
    if recover:
        emit(data, output)
        return
    data["mnemonic"] = mnemonic
    emit(data, output, text="\n".join([*(f"{k}: {v}" for k, v in data.items() if k != "mnemonic"), "",
                                       "Write this mnemonic down and keep it safe: it is the only way to recover "
                                       "the key, and it is not shown again.", "", mnemonic]))


@keys.command("show")
@click.argument("name")
@keyring_option
@chain_option
@output_option
def show(name: str, keyring_dir, chain_id: str | None, output: str) -> None:
    """Show the key called NAME (never its secret)."""
    e = open_keyring(keyring_dir).entry(name)
    emit({**_describe(e.name, e.pub_key, chain_id), "encrypted": e.encrypted}, output)


@keys.command("list")
@keyring_option
@chain_option
@output_option
def list_(keyring_dir, chain_id: str | None, output: str) -> None:
    """List every key."""
    rows = [_describe(e.name, e.pub_key, chain_id) for e in open_keyring(keyring_dir).entries()]
    if output == "json":
        emit({"keys": rows}, output)
    else:
        click.echo("\n".join("  ".join(str(v) for v in r.values()) for r in rows) or "(no keys)")


@keys.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@keyring_option
def delete(name: str, yes: bool, keyring_dir) -> None:
    """Delete the key called NAME (without its mnemonic or an export, it is gone for good)."""
    keyring = open_keyring(keyring_dir)
    keyring.entry(name)
    if not yes:
        # One answer only: anything but yes keeps the key (click.confirm would ask again after a stray answer).
        answer = click.prompt(f"Delete key {name!r} for good? [y/N]", default="", show_default=False, err=True)
        if answer.strip().lower() not in ("y", "yes"):
            raise click.ClickException(f"kept key {name!r}: deleting needs the answer y")
    keyring.delete(name)
    click.echo(f"deleted key {name!r}")


@keys.command("export")
@click.argument("name")
@keyring_option
def export(name: str, keyring_dir) -> None:
    """Print key NAME armored, its secret encrypted under a new passphrase (Argon2id, XSalsa20-Poly1305)."""
    key = open_keyring(keyring_dir).get(name)
    click.echo(compute_armor(name, key.keypair, _new_passphrase("Export")), nl=False)


@keys.command("import")
@click.argument("name")
@click.argument("armor_file", metavar="FILE", type=FILE)
@keyring_option
@keyring_backend_option
@output_option
def import_(name: str, armor_file, keyring_dir, keyring_backend: str, output: str) -> None:
    """Store the armored key in FILE (from `keys export`) as NAME."""
    try:
        text = armor_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {armor_file}: {getattr(exc, 'strerror', None) or exc}") from None
    _, keypair = parse_armor(text, click.prompt("Export passphrase", hide_input=True, err=True))
    open_keyring(keyring_dir, keyring_backend).add(name, keypair)
    emit(_describe(name, keypair.pub_key, None), output)
