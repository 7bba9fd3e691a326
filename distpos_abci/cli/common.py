"""Options shared by several commands. Each falls back to the CLI home's client.toml, then a built-in default."""

from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import dataclass

import click

from ..address import validate_chain_id
from ..errors import InvalidFeeOptionError, InvalidInputError
from ..fees import MAX_GAS_PRICE
from ..keyring import Keyring
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT
from .clientconfig import (
    DEFAULT_HOME,
    KEYRING_BACKENDS,
    OUTPUTS,
    ClientConfig,
    load_client_config,
    validate_grpc_addr,
    validate_node_url,
)

PASSPHRASE_ENV = "DISTPOS_KEYRING_PASSPHRASE"

_CONFIG_META = "distpos.client_config"


class PathType(click.Path):
    """click.Path that refuses a NUL byte with a usage error (the OS would raise ValueError)."""

    def convert(self, value, param, ctx):  # noqa: D102
        if "\0" in str(value):
            self.fail(f"{value!r} is not a usable path (NUL byte)", param, ctx)
        return super().convert(value, param, ctx)


FILE = PathType(dir_okay=False, path_type=pathlib.Path)
DIRECTORY = PathType(file_okay=False, path_type=pathlib.Path)


def get_home(ctx: click.Context) -> pathlib.Path:
    """The CLI home given to the root command (--home, env DISTPOS_HOME, default ~/.distpos)."""
    return pathlib.Path(ctx.find_root().params.get("home") or DEFAULT_HOME)


def get_client_config(ctx: click.Context) -> ClientConfig:
    """The client.toml of the CLI home (read once per invocation)."""
    root = ctx.find_root()
    if _CONFIG_META not in root.meta:
        root.meta[_CONFIG_META] = load_client_config(get_home(ctx))
    return root.meta[_CONFIG_META]


def _configured(key: str, check=None):
    """An option callback: the given value (flag or env), else client.toml's, else the default; then checked."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            value = get_client_config(ctx).get(key)
        return check(value) if check is not None and value else value
    return callback


def _keyring_dir(ctx: click.Context, param: click.Parameter, value):
    if value is not None:
        return value
    cfg = get_client_config(ctx)
    return pathlib.Path(cfg.get("keyring-dir")) if cfg.get("keyring-dir") else cfg.home / "keyring"


def prompt_keyring_passphrase() -> str:
    """The `file` keyring's passphrase: $DISTPOS_KEYRING_PASSPHRASE (scripts, tests) or a hidden prompt."""
    return os.environ.get(PASSPHRASE_ENV) or click.prompt("Keyring passphrase", hide_input=True, err=True)


def open_keyring(keyring_dir: pathlib.Path, backend: str = "test") -> Keyring:
    """The keyring at keyring_dir, writing new keys with backend, asking for its passphrase when needed."""
    return Keyring(keyring_dir, backend, prompt_keyring_passphrase)


home_option = click.option(
    "--home", envvar="DISTPOS_HOME", type=DIRECTORY, default=None,
    help=f"CLI home holding client.toml and the keyring (env DISTPOS_HOME; default {DEFAULT_HOME}).",
)

keyring_option = click.option(
    "--keyring-dir", envvar="DISTPOS_KEYRING_DIR", type=DIRECTORY,
    default=None, callback=_keyring_dir,
    help="Directory of key files (env DISTPOS_KEYRING_DIR; client.toml keyring-dir; default HOME/keyring).",
)

keyring_backend_option = click.option(
    "--keyring-backend", envvar="DISTPOS_KEYRING_BACKEND", type=click.Choice(KEYRING_BACKENDS), default=None,
    callback=_configured("keyring-backend"),
    help="How new keys are stored: test (clear, mode 0600) or file (passphrase-encrypted, Argon2id); "
         "client.toml keyring-backend; default test.",
)

node_option = click.option(
    "--node", envvar="DISTPOS_NODE", default=None, callback=_configured("node", validate_node_url),
    help="CometBFT RPC endpoint (env DISTPOS_NODE; client.toml node; default http://127.0.0.1:26657).",
)

grpc_option = click.option(
    "--grpc", "grpc_addr", envvar="DISTPOS_GRPC", default=None, callback=_configured("grpc", validate_grpc_addr),
    help="DistPOS gRPC endpoint (env DISTPOS_GRPC; client.toml grpc; default 127.0.0.1:9090).",
)

output_option = click.option(
    "--output", "-o", type=click.Choice(OUTPUTS), default=None, callback=_configured("output"),
    help="Output format: text or json (client.toml output; default text).",
)


def _chain_id(ctx: click.Context, param: click.Parameter, value):
    if value is None:
        value = get_client_config(ctx).get("chain-id")
    if not value:
        raise InvalidInputError("no chain-id: give --chain-id ID or run `distpos config set chain-id ID` "
                                "(it is never taken from the node)")
    return str(validate_chain_id(value))


chain_id_option = click.option(
    "--chain-id", "chain_id", envvar="DISTPOS_CHAIN_ID", default=None, callback=_chain_id,
    help="Chain the transaction is for (env DISTPOS_CHAIN_ID; client.toml chain-id). Never read from the node.",
)


@dataclass(frozen=True)
class PageRequest:
    """Which page of a list query to ask for (distpos_abci/pagination.py), and whether to follow later pages."""

    page_key: str = ""
    limit: int = 0
    follow_all: bool = False


def page_options(f):
    """Add --page-key, --limit and --all, passed to f as `page: PageRequest`."""
    @functools.wraps(f)
    def wrapper(*args, page_key, limit, follow_all, **kwargs):
        return f(*args, page=PageRequest(page_key, limit, follow_all), **kwargs)

    for option in (click.option("--all", "follow_all", is_flag=True,
                                help="Follow next_page_key to the last page and print every item."),
                   click.option("--limit", type=click.IntRange(0, MAX_LIMIT), default=0,
                                help=f"Items per page (0 = the node's default, {DEFAULT_LIMIT}; at most {MAX_LIMIT})."),
                   click.option("--page-key", default="",
                                help="Start after this key: the next_page_key of an earlier answer (default: the "
                                     "first page).")):
        wrapper = option(wrapper)
    return wrapper


@dataclass(frozen=True)
class TxSettings:
    """Where and how a transaction is signed, sent and reported."""

    keyring_dir: pathlib.Path
    node: str
    chain_id: str
    timeout: float
    output: str
    nonce: int | None = None
    generate_only: bool = False
    fees: int | None = None  # --fees: exactly this fee, base units
    gas_prices: int | None = None  # --gas-prices: milli-units per gas (default: auto, the node's minimum)
    dry_run: bool = False


def tx_options(f):
    """Add --keyring-dir, --node, --chain-id, --nonce, --generate-only, --fees, --gas-prices, --dry-run, --timeout
    and --output, passed to f as `settings: TxSettings`."""
    @functools.wraps(f)
    def wrapper(*args, keyring_dir, node, chain_id, nonce, generate_only, fees, gas_prices, dry_run, timeout, output,
                **kwargs):
        if fees is not None and gas_prices is not None:
            raise InvalidFeeOptionError("give --fees or --gas-prices, not both")
        return f(*args, settings=TxSettings(keyring_dir, node, chain_id, timeout, output, nonce, generate_only,
                                            fees, gas_prices, dry_run), **kwargs)

    for option in (output_option,
                   click.option("--dry-run", is_flag=True,
                                help="Sign and simulate against --node's mempool state: print the gas, the fee and "
                                     "what CheckTx would answer; send nothing."),
                   click.option("--gas-prices", "gas_prices", type=click.IntRange(0, MAX_GAS_PRICE), default=None,
                                help="Pay ceil(gas * P / 1000): P in milli-units per gas (default: auto, the minimum "
                                     "--node asks, i.e. the chain's min_gas_price or the node's own if higher)."),
                   click.option("--fees", type=click.IntRange(0, 2**64 - 1), default=None,
                                help="Pay exactly this fee, in base units (default: auto, see --gas-prices)."),
                   click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
                                help="Seconds to wait for the commit."),
                   click.option("--generate-only", is_flag=True,
                                help="Print the unsigned transaction (for `distpos tx sign`) instead of sending it; "
                                     "needs only the key's public half."),
                   click.option("--nonce", type=click.IntRange(0, 2**64 - 1), default=None,
                                help="The signer's nonce (default: the account's next one, asked of --node)."),
                   chain_id_option, node_option, keyring_option):
        wrapper = option(wrapper)
    return wrapper
