"""`python -m distpos_abci.localnet up|status|down`: the operator's view of a localnet (used by `make localnet`)."""

from __future__ import annotations

import functools
import json
import pathlib
import sys
from dataclasses import asdict

import click

from .errors import LocalnetError
from .generate import DEMO_BALANCE, generate_network
from .plan import (
    APPS,
    NETWORK_FILE,
    OPERATOR_TIMEOUTS,
    TEST_TIMEOUTS,
    FixedPorts,
    FreePorts,
    Network,
    compute_default_chain_ids,
    load_network,
)
from .dashboard import DEFAULT_DASHBOARD_PORT, start_dashboard, stop_dashboard
from .netns import cut_links, heal_all, heal_links, require_netns_support, require_plan
from .procs import running_pids, start_network, stop_network, wait_for_blocks
from .rpc import NodeStatus, check_app_hashes, node_status

DEFAULT_DIR = "localnet/run"
# <repo>/bin/cometbft, where `make cometbft` puts it; used when --cometbft is not given.
_REPO_COMETBFT = pathlib.Path(__file__).resolve().parents[2] / "bin" / "cometbft"


def _fail_on_localnet_error(func):
    """Turn LocalnetError into a clean click error (`localnet:<code>: message`, exit code 1), never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LocalnetError as exc:
            raise click.ClickException(exc.log) from None

    return wrapper


@click.group()
def main() -> None:
    """Run a local DistPOS network: N chains of V validators each, on 127.0.0.1 or in network namespaces."""


@main.command()
@click.option("--chains", type=click.IntRange(1), default=None, help="Number of chains (default 1).")
@click.option("--validators", type=click.IntRange(1, 10), default=None, help="Validators per chain (default 4).")
@click.option("--chain-id", "chain_ids", multiple=True,
              help="Chain-id to use, repeatable (default e2e4, a1b2, c3d4, c005, ...).")
@click.option("--cometbft", "cometbft_bin", default=None,
              help="CometBFT v0.38.25 binary (default ./bin/cometbft, else cometbft on PATH).")
@click.option("--dir", "run_dir", default=DEFAULT_DIR, show_default=True, help="Run directory.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for blocks.")
@click.option("--min-height", type=click.IntRange(1), default=2, show_default=True,
              help="Wait until every node has reached this height.")
# For the tooling's own tests: a network without the DistPOS app, on free ports, with fast blocks.
@click.option("--app", type=click.Choice(APPS), default="distpos", hidden=True)
@click.option("--ports", type=click.Choice(["fixed", "free"]), default="fixed", hidden=True)
@click.option("--timeouts", "timeouts_name", type=click.Choice(["operator", "test"]), default="operator", hidden=True)
@click.option("--dashboard-port", type=click.IntRange(0, 65535), default=DEFAULT_DASHBOARD_PORT, show_default=True,
              help="Port of the live dashboard on 127.0.0.1 (0 = do not start it).")
@click.option("--netns/--no-netns", default=False, envvar="DISTPOS_LOCALNET_NETNS", show_default=True,
              help="Put every node and relay in its own network namespace with its own address (needs root; "
                   "env DISTPOS_LOCALNET_NETNS=1). Saved in network.json: later `up`s keep it.")
@_fail_on_localnet_error
def up(chains, validators, chain_ids, cometbft_bin, run_dir, timeout, min_height, app, ports, timeouts_name,
       dashboard_port, netns) -> None:
    """Generate the network (first time only), start what is not running, wait for blocks, print endpoints."""
    network_file = pathlib.Path(run_dir, NETWORK_FILE)
    net = load_network(run_dir) if network_file.exists() else None
    if netns or (net is not None and net.netns is not None):
        require_netns_support()  # before anything is printed or made
    if net is not None:
        _warn_if_shape_differs(net, chains, validators, chain_ids)
        if netns and net.netns is None:
            click.echo("warning: the existing network was generated without --netns; it stays on 127.0.0.1",
                       err=True)
        click.echo(f"reusing {network_file} (remove {run_dir} to generate a new network)")
    else:
        if chain_ids and chains is not None and chains != len(chain_ids):
            raise click.UsageError(f"--chains {chains} but {len(chain_ids)} --chain-id given")
        ids = list(chain_ids) or compute_default_chain_ids(chains or 1)
        allocator = FixedPorts() if ports == "fixed" else FreePorts()
        if isinstance(allocator, FixedPorts):
            click.echo(allocator.describe())
        click.echo(f"generating {len(ids)} chain(s) x {validators or 4} validator(s) in {run_dir} ...")
        net = generate_network(
            run_dir,
            chain_ids=ids,
            validators_per_chain=validators or 4,
            port_allocator=allocator,
            cometbft_bin=cometbft_bin or (str(_REPO_COMETBFT) if _REPO_COMETBFT.exists() else "cometbft"),
            timeouts=OPERATOR_TIMEOUTS if timeouts_name == "operator" else TEST_TIMEOUTS,
            app=app,
            netns=netns,
        )
    try:
        started = start_network(net)
        for label, which, pid in started:
            click.echo(f"started {label} {which} (pid {pid})")
        if not started:
            click.echo("every process was already running")
        click.echo(f"waiting for every node to reach height {min_height} (timeout {timeout:.0f}s) ...")
        statuses = wait_for_blocks(net, min_height, timeout,
                                   progress=lambda s: click.echo("  " + _progress_line(s)))
    except LocalnetError as exc:
        # Processes that did start keep running, for inspection; say how to stop them (keeping the error's code).
        raise type(exc)(f"{exc}\n\nthe network is not healthy; stop whatever runs with: "
                            f"python -m distpos_abci.localnet down --dir {run_dir}") from None
    click.echo("  " + _progress_line(statuses))
    _print_summary(net, run_dir)
    if dashboard_port and net.has_app_process:
        pid, url = start_dashboard(net, dashboard_port)
        click.echo(f"dashboard: {url}" + (f" (started, pid {pid}; log {run_dir}/dashboard.log)" if pid else " (running)"))


def _warn_if_shape_differs(net: Network, chains, validators, chain_ids) -> None:
    """The saved network wins over the command-line shape; say so rather than silently ignoring options."""
    have_ids = [c.chain_id for c in net.chains]
    have_validators = {len(c.nodes) for c in net.chains}
    if (chains is not None and chains != len(have_ids)) or (chain_ids and list(chain_ids) != have_ids) or (
            validators is not None and have_validators != {validators}):
        click.echo(f"warning: the existing network has chains {have_ids} with {sorted(have_validators)} "
                   "validator(s) each; the --chains/--validators/--chain-id options are ignored", err=True)


def _progress_line(statuses: list[NodeStatus]) -> str:
    return "heights: " + ", ".join(
        f"{s.label}={s.height if s.reachable else '-'}" for s in statuses)


def _print_summary(net: Network, run_dir: str) -> None:
    click.echo("")
    click.echo(f"localnet is up: {len(net.chains)} chain(s), app {net.app}")
    if net.netns is not None:
        click.echo(f"network namespaces {net.netns.prefix}-*, bridge {net.netns.bridge} "
                   f"({net.netns.gateway} on {net.netns.subnet}); enter one with: ip netns exec <namespace> <command>")
    for chain in net.chains:
        click.echo(f"chain-id {chain.chain_id}")
        for node in chain.nodes:
            grpc = f"  grpc {node.grpc_address}" if net.has_app_process else ""
            where = f"  netns {net.netns.member(node.label).namespace}" if net.netns is not None else ""
            click.echo(f"  {node.name}  rpc {node.rpc_url}{grpc}  p2p {node.p2p_port}{where}  "
                       f"home {node.home}")
        click.echo(f"  demo keys, funded {DEMO_BALANCE} each:")
        for account in chain.demo_accounts:
            click.echo(f"    {account.name:<6} {account.address}")
    for relay in net.relays:
        click.echo(f"relay of {relay.chain_id}: grpc {relay.grpc_address}  metrics "
                   f"http://{relay.host}:{relay.metrics_port}/metrics  log {relay.log_file}")
    click.echo(f"keyring dir: {net.keyring_dir}")
    click.echo(f"network description: {net.network_file}")
    click.echo(f"logs: <node home>/cometbft.log and app.log; status: python -m distpos_abci.localnet status --dir {run_dir}")
    click.echo(f"stop: python -m distpos_abci.localnet down --dir {run_dir} (keeps the data; "
               f"`rm -rf {run_dir}` removes it)")


@main.command()
@click.option("--dir", "run_dir", default=DEFAULT_DIR, show_default=True, help="Run directory.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_fail_on_localnet_error
def status(run_dir: str, output: str) -> None:
    """Show each node's height, app hash and processes; check the app hashes agree. Exit 1 if unhealthy."""
    net = load_network(run_dir)
    statuses = node_status(net)
    checks = check_app_hashes(net, statuses)
    pids = {n.label: running_pids(n) for n in net.nodes}
    healthy = all(s.reachable for s in statuses) and all(c.agree for c in checks)
    if output == "json":
        doc = {
            "nodes": [{**asdict(s), "pids": pids[s.label]} for s in statuses],
            "app_hashes": [{**asdict(c), "agree": c.agree} for c in checks],
            "healthy": healthy,
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        _print_status_table(net, statuses, pids)
        for check in checks:
            if check.height is None:
                click.echo(f"{check.chain_id}: no reachable node, app hashes not compared")
            elif check.agree:
                click.echo(f"{check.chain_id}: all {len(check.hashes)} app hashes agree after block {check.height}: "
                           f"{next(iter(check.hashes.values()))}")
            else:
                click.echo(f"{check.chain_id}: APP HASHES DIFFER after block {check.height}:")
                for label, value in check.hashes.items():
                    click.echo(f"  {label}: {value or 'unavailable'}")
    sys.exit(0 if healthy else 1)


def _print_status_table(net: Network, statuses: list[NodeStatus], pids: dict) -> None:
    # /status reports the latest header's app hash: the state after block HEIGHT - 1.
    rows = [("NODE", "RPC", "HEIGHT", "APP HASH IN HEADER (after HEIGHT-1)", "PROCESSES")]
    for s in statuses:
        procs = ", ".join(f"{k} {v if v else 'down'}" for k, v in pids[s.label].items()
                          if k == "cometbft" or net.has_app_process)
        rows.append((s.label, s.rpc_url, str(s.height) if s.reachable else "unreachable",
                     (s.app_hash or "-") if s.reachable else "-", procs))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@main.command()
@click.option("--dir", "run_dir", default=DEFAULT_DIR, show_default=True, help="Run directory.")
@click.option("--grace", type=float, default=10.0, show_default=True, help="Seconds before SIGKILL.")
@_fail_on_localnet_error
def down(run_dir: str, grace: float) -> None:
    """Stop every process of the localnet; the data stays (remove it with `rm -rf <dir>`)."""
    if not pathlib.Path(run_dir, NETWORK_FILE).exists():
        click.echo(f"no localnet in {run_dir}: nothing to stop")
        return
    net = load_network(run_dir)
    if net.netns is not None:
        require_netns_support()  # removing the namespaces needs root: say so before stopping anything
    dash = stop_dashboard(run_dir)
    if dash is not None:
        click.echo(f"stopped dashboard (pid {dash})")
    stopped = stop_network(net, grace=grace)
    for label, which, pid in stopped:
        click.echo(f"stopped {label} {which} (pid {pid})")
    if not stopped:
        click.echo("nothing was running")
    if net.netns is not None:
        click.echo(f"removed the network namespaces and links {net.netns.prefix}* (`up` makes them again)")
    click.echo(f"data kept in {run_dir}; `up` resumes it, `rm -rf {run_dir}` removes it")


def _side(text: str) -> list[str]:
    """A side of a cut on the command line: comma-separated chain-ids and member labels."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _sides(net: Network, side_a: str, side_b: str | None) -> tuple[list[str], list[str]]:
    """Side A and side B; without side B, every member of the localnet not on side A."""
    a = _side(side_a)
    return a, _side(side_b) if side_b is not None else [m.label for m in require_plan(net.netns).others(a)]


@main.command()
@click.argument("side_a")
@click.argument("side_b", required=False)
@click.option("--dir", "run_dir", default=DEFAULT_DIR, show_default=True, help="Run directory.")
@_fail_on_localnet_error
def cut(side_a: str, side_b: str | None, run_dir: str) -> None:
    """Cut a --netns localnet in two: SIDE_A and SIDE_B (chain-ids or members like e2e4/node3, comma-separated)
    can no longer reach each other. Without SIDE_B, SIDE_A is cut from everything else."""
    net = load_network(run_dir)
    require_netns_support()
    a, b = _sides(net, side_a, side_b)
    routes = cut_links(net.netns, a, b)
    click.echo(f"cut {','.join(a)} from {','.join(b)} ({len(routes)} blackhole routes); "
               f"heal with: python -m distpos_abci.localnet heal {side_a}{' ' + side_b if side_b else ''} "
               f"--dir {run_dir}")


@main.command()
@click.argument("side_a", required=False)
@click.argument("side_b", required=False)
@click.option("--all", "heal_everything", is_flag=True, help="Remove every cut of the localnet.")
@click.option("--dir", "run_dir", default=DEFAULT_DIR, show_default=True, help="Run directory.")
@_fail_on_localnet_error
def heal(side_a: str | None, side_b: str | None, heal_everything: bool, run_dir: str) -> None:
    """Undo `cut SIDE_A [SIDE_B]`, or with --all every cut of a --netns localnet."""
    net = load_network(run_dir)
    require_netns_support()
    if heal_everything == (side_a is not None):
        raise click.UsageError("give SIDE_A [SIDE_B] or --all")
    if heal_everything:
        heal_all(net.netns)
        click.echo("healed every cut")
        return
    a, b = _sides(net, side_a, side_b)
    routes = heal_links(net.netns, a, b)
    click.echo(f"healed {','.join(a)} and {','.join(b)} ({len(routes)} routes)")
