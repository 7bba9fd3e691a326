"""`distpos relay …`: run a chain's relay and operate it (see distpos_abci/relay/README.md)."""

from __future__ import annotations

import logging
import pathlib

import click
import grpc

from ..errors import InvalidInputError, RelayError
from ..gen.distpos.v1 import relay_pb2, relay_pb2_grpc
from ..relay import ops
from ..relay.config import RelayConfig, load_config
from ..relay.endpoint import CometEndpoint
from ..relay.service import read_key_file, serve
from .common import FILE, output_option
from .output import emit

config_option = click.option("--config", "config_path", required=True, type=FILE, help="The relay's TOML config file.")


@click.group()
def relay() -> None:
    """The relay service between DistPOS chains, and its operator commands."""


@relay.command("start")
@config_option
def start(config_path: pathlib.Path) -> None:
    """Run the relay in the foreground until SIGTERM or Ctrl-C."""
    cfg = load_config(config_path)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # the HTTP client logs every request at INFO: hundreds of lines a second under load, none of them the relay's
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    serve(cfg)


@relay.group("config")
def config_group() -> None:
    """The relay's config file."""


@config_group.command("validate")
@config_option
@output_option
def config_validate(config_path: pathlib.Path, output: str) -> None:
    """Check every key of the config file (types, ranges, required keys); exit 2 naming the key and its line."""
    cfg = load_config(config_path)
    emit({"config": str(config_path), "valid": True, "chain_id": cfg.chain_id, "clients": list(cfg.clients)}, output,
         text=f"{config_path}: valid (relay of {cfg.chain_id}, clients {', '.join(cfg.clients) or 'none'})")


def _own(cfg: RelayConfig) -> CometEndpoint:
    return CometEndpoint(cfg.chain_id, cfg.comet_rpc)


def _remotes(cfg: RelayConfig, chain: str | None) -> list[str]:
    if chain is None:
        return list(cfg.clients)
    if chain == cfg.chain_id:
        raise InvalidInputError(f"--chain {chain} is this relay's own chain; name a remote chain")
    return [chain]


@relay.group("query")
def query_group() -> None:
    """Read the chains' state as the relay sees it."""


@query_group.command("pending")
@config_option
@click.option("--chain", default=None, help="Only this remote chain (default: every chain in `clients`).")
@click.option("--max-scan", type=click.IntRange(1, 1_000_000), default=ops.DEFAULT_MAX_SCAN, show_default=True,
              help="Newest sequences looked at per direction.")
@output_option
def query_pending(config_path: pathlib.Path, chain: str | None, max_scan: int, output: str) -> None:
    """Packets committed but not yet received or acknowledged, both directions, read from the chains' state."""
    cfg = load_config(config_path)
    own = _own(cfg)
    rows, scans = [], []
    for remote in _remotes(cfg, chain):
        peer = ops.open_peer(own, remote)
        for src, dst in ((own, peer), (peer, own)):
            scan = ops.find_pending(src, dst, max_scan)
            scans.append({"source": scan.source, "destination": scan.destination, "next_sequence": scan.next_sequence,
                          "scanned_from": scan.scanned_from, "pending": len(scan.pending)})
            rows += [p.to_json() for p in scan.pending]
    lines = [f"{s['source']} -> {s['destination']}: {s['pending']} pending (sequences {s['scanned_from']}.."
             f"{s['next_sequence'] - 1} scanned)" for s in scans]
    lines += [f"  {r['source']} -> {r['destination']} seq {r['sequence']} amount {r['amount']}: {r['state']}"
              for r in rows]
    emit({"directions": scans, "pending": rows}, output, text="\n".join(lines))


@relay.group("clear")
def clear_group() -> None:
    """Relay what is pending now, instead of waiting for the running relay."""


@clear_group.command("packets")
@config_option
@click.option("--from", "source", required=True, help="Source chain of the packets.")
@click.option("--to", "destination", required=True, help="Destination chain.")
@click.option("--max-scan", type=click.IntRange(1, 1_000_000), default=ops.DEFAULT_MAX_SCAN, show_default=True)
@output_option
def clear_packets(config_path: pathlib.Path, source: str, destination: str, max_scan: int, output: str) -> None:
    """Deliver SOURCE's unreceived packets to DESTINATION and acknowledge the received ones, signed by the relay's
    key (one of the two chains must be this relay's own)."""
    cfg = load_config(config_path)
    if cfg.chain_id not in (source, destination) or source == destination:
        raise InvalidInputError(f"--from/--to must be {cfg.chain_id} and one remote chain")
    own = _own(cfg)
    remote = ops.open_peer(own, destination if source == cfg.chain_id else source)
    src, dst = (own, remote) if source == cfg.chain_id else (remote, own)
    key = read_key_file(cfg.key_file)
    done = ops.process_clear_packets(src, dst, ops.Signer(key, dst, cfg.gas_price), ops.Signer(key, src, cfg.gas_price),
                                     max_scan)
    emit(done, output, text=f"{source} -> {destination}: delivered {len(done['delivered'])}, acknowledged "
                            f"{len(done['acknowledged'])}, still pending {len(done['left'])}")


@relay.command("update-client")
@config_option
@click.option("--chain", required=True, help="The remote chain whose light client on this relay's chain to update.")
@output_option
def update_client(config_path: pathlib.Path, chain: str, output: str) -> None:
    """Bring the light client of CHAIN on this relay's chain up to CHAIN's latest header now."""
    cfg = load_config(config_path)
    [remote_id] = _remotes(cfg, chain)
    own = _own(cfg)
    heights = ops.process_update_client(ops.Signer(read_key_file(cfg.key_file), own, cfg.gas_price),
                                       ops.open_peer(own, remote_id))
    emit({"chain": remote_id, "updated_to": heights[-1] if heights else None, "steps": heights}, output,
         text=f"light client of {remote_id} on {cfg.chain_id}: " +
              (f"updated to height {heights[-1]} in {len(heights)} step(s)" if heights else "already up to date"))


@relay.command("health-check")
@config_option
@output_option
def health_check(config_path: pathlib.Path, output: str) -> None:
    """Check the relay's node, its gRPC service, and per remote chain the route, the node and the light client.
    Exit 1 when any check fails."""
    cfg = load_config(config_path)

    def status() -> str:
        with grpc.insecure_channel(cfg.listen) as ch:
            try:
                s = relay_pb2_grpc.RelayStub(ch).Status(relay_pb2.RelayStatusRequest(), timeout=5)
            except grpc.RpcError as exc:
                raise RelayError(f"relay at {cfg.listen}: {exc.code().name}") from None
        return f"{cfg.listen}: height {s.latest_height}, {s.pending_outbound} outbound, {s.pending_inbound} inbound"

    checks = ops.check_health(_own(cfg), list(cfg.clients), status)
    emit({"healthy": all(c.ok for c in checks), "checks": [c.to_json() for c in checks]}, output,
         text="\n".join(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks))
    if not all(c.ok for c in checks):
        raise RelayError(f"{sum(not c.ok for c in checks)} of {len(checks)} checks failed")
