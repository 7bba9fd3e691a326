"""`distpos dashboard`: the live web page over a network's nodes and relays (distpos_abci/dashboard)."""

from __future__ import annotations

import pathlib

import click

from ..dashboard import Targets, build_app
from ..errors import InvalidInputError
from ..localnet import load_network


def parse_listen(text: str) -> tuple[str, int]:
    """host:port of --listen."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInputError(f"--listen must be host:port, got {text!r}")
    return host, int(port)


@click.command("dashboard")
@click.option("--network", "network", default="localnet/run", show_default=True,
              help="A localnet run directory or its network.json: the chains, nodes and relays to watch.")
@click.option("--listen", default="127.0.0.1:8088", show_default=True, help="host:port to serve the page on.")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True,
              help="Seconds between two readings of every endpoint.")
def dashboard(network, listen, interval) -> None:
    """Serve a live page: chains, validators, correspondents, packets in flight, guarantees, relays."""
    import uvicorn  # loaded only by this command: the rest of the CLI starts faster without it

    path = pathlib.Path(network)
    run_dir = path.parent if path.name == "network.json" else path
    try:
        present = (run_dir / "network.json").is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a run directory either
        present = False
    if not present:
        raise InvalidInputError(f"no network.json in {run_dir}: give a localnet run directory or its network.json")
    host, port = parse_listen(listen)
    targets = Targets.from_network(load_network(run_dir))
    click.echo(f"dashboard of {', '.join(c.chain_id for c in targets.chains)} on http://{host}:{port}/", err=True)
    uvicorn.run(build_app(targets, interval), host=host, port=port, log_level="warning")
