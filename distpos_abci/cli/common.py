"""Options shared by several commands."""

from __future__ import annotations

import os
import pathlib

import click


DEFAULT_KEYRING = pathlib.Path(os.path.expanduser("~/.distpos/keyring"))

keyring_option = click.option(
    "--keyring-dir",
    envvar="DISTPOS_KEYRING_DIR",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=DEFAULT_KEYRING,
    show_default=True,
    help="Directory of key files (env DISTPOS_KEYRING_DIR).",
)

node_option = click.option(
    "--node", envvar="DISTPOS_NODE", default="http://127.0.0.1:26657", show_default=True,
    help="CometBFT RPC endpoint (env DISTPOS_NODE).",
)

grpc_option = click.option(
    "--grpc", "grpc_addr", envvar="DISTPOS_GRPC", default="127.0.0.1:9090", show_default=True,
    help="DistPOS gRPC endpoint (env DISTPOS_GRPC).",
)


