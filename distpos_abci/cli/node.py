"""`distpos node start`: the app server of one node home."""

from __future__ import annotations

import asyncio
import pathlib

import click

from ..config import load_config
from ..node import configure_logging, serve

from .common import DIRECTORY


@click.group()
def node() -> None:
    """Run the DistPOS app for a CometBFT node."""


@node.command("start")
@click.option("--home", type=DIRECTORY, required=True,
              help="Node home (reads config/app.toml; same directory as the CometBFT home).")
def start(home: pathlib.Path) -> None:
    """Serve ABCI and gRPC for the node at HOME until SIGINT/SIGTERM."""
    cfg = load_config(home)
    configure_logging(cfg.log_level)
    asyncio.run(serve(cfg))
