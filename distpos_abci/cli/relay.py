"""`distpos relay start --config relay.toml`: run a chain's relay (see distpos_abci/relay/README.md)."""

from __future__ import annotations

import logging
import pathlib

import click

from ..relay.config import load_config

from .common import FILE


@click.group()
def relay() -> None:
    """The relay service between DistPOS chains."""


@relay.command("start")
@click.option("--config", "config_path", required=True, type=FILE,
              help="The relay's TOML config file.")
def start(config_path: pathlib.Path) -> None:
    """Run the relay in the foreground until SIGTERM or Ctrl-C."""
    from ..relay.service import serve

    cfg = load_config(config_path)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(cfg)
