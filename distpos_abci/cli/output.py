"""Printing data as text or JSON (`--output json`)."""

from __future__ import annotations

import json

import click


def emit(data: dict, output: str, text: str | None = None) -> None:
    """Print data as JSON, or as `text` (default: key: value lines)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo(text if text is not None else "\n".join(f"{k}: {v}" for k, v in data.items()))
