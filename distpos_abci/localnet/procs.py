"""Run, watch and stop the processes of a localnet: per node one app process (unless the builtin kvstore)
and one CometBFT process, each in its own session, its pid recorded in the node home. With --netns both run in
the node's network namespace (`ip netns exec`), made before the first start and removed by stop_network.

The pid files are the only record of what runs, so that `up`, `down` and `status` work from separate
command invocations. A recorded pid only counts when that process's command line still names the node
home: after a reboot or a crash the pid may belong to something else, which must never be signalled.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence

from .errors import LocalnetError
from .netns import setup_netns, teardown_netns
from .netplan import compute_exec_prefix
from .plan import Network, Node, Relay, _read_pid, is_port_free
from .rpc import NodeStatus, node_status

APP = "app"
COMETBFT = "cometbft"
# How long a started app may take to listen on its ABCI port (imports, opening the database).
APP_LISTEN_TIMEOUT = 30.0
DEFAULT_GRACE = 10.0
_HAS_PROC = pathlib.Path("/proc/self/cmdline").exists()

# Popen objects of the processes this Python process started, by pid: polling them reaps exited children,
# which would otherwise stay zombies and look alive to a signal-0 check.
_children: dict[int, subprocess.Popen] = {}


# ---- pids ---------------------------------------------------------------------------------------------


def _pid_file(node: Node, which: str) -> pathlib.Path:
    return node.app_pid_file if which == APP else node.cometbft_pid_file


def _log_file(node: Node, which: str) -> pathlib.Path:
    return node.app_log if which == APP else node.cometbft_log


def is_pid_running(pid: int, home: str) -> bool:
    """True when pid is alive and its command line names home (so it is that node's process)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    if not _HAS_PROC:
        # Without /proc (not Linux) only liveness can be checked, not the command line.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # A zombie has an empty command line, and counts as not running.
    return os.fsencode(home) in cmdline.split(b"\0")


def running_pids(node: Node) -> dict[str, int | None]:
    """The node's recorded pids that are still running ({"app": ..., "cometbft": ...}), None otherwise."""
    return {which: pid if pid is not None and is_pid_running(pid, node.home) else None
            for which, pid in node.pids().items()}


def log_tail(node: Node, lines: int = 30) -> str:
    """The last lines of the node's CometBFT and app logs, labelled, for error messages."""
    parts = []
    for which in (COMETBFT, APP):
        path = _log_file(node, which)
        if not path.exists():
            continue
        with path.open("rb") as fh:
            # Only the end of a possibly large log is needed.
            fh.seek(max(0, path.stat().st_size - 64 * 1024))
            text = fh.read().decode(errors="replace")
        tail = "\n".join(text.splitlines()[-lines:])
        parts.append(f"--- {node.label} {path.name} (last {lines} lines) ---\n{tail}")
    return "\n".join(parts) if parts else f"--- {node.label}: no logs yet ---"


# ---- starting ------------------------------------------------------------------------------------------


def _spawn(node: Node, which: str, args: list[str]) -> int:
    """Start one background process in its own session, logging to the node home; record and return its pid."""
    log_path = _log_file(node, which)
    with log_path.open("ab") as log:
        # A marker makes restarts easy to find in an appended log.
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node.home,
            # Its own session: Ctrl-C in the terminal that ran `up` does not reach it, and stopping can signal
            # the whole process group.
            start_new_session=True,
            # Python buffers stdout when it is a file: unbuffered, a crash's last words reach app.log.
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _children[proc.pid] = proc
    pid_file = _pid_file(node, which)
    tmp = pid_file.with_suffix(".pid.tmp")
    tmp.write_text(f"{proc.pid}\n")
    os.replace(tmp, pid_file)
    return proc.pid


def _require_free_ports(node: Node, ports: dict[str, int]) -> None:
    busy = [f"{name} {port}" for name, port in ports.items() if not is_port_free(port)]
    if busy:
        raise LocalnetError(
            f"{node.label}: port(s) already in use: {', '.join(busy)} "
            "(another localnet or an old process still running? try `down`, or check with `ss -ltnp`)"
        )


def _listening_ports(pid: int | None = None) -> set[int] | None:
    """Ports in LISTEN state in the network namespace of process pid (default: this process's), read from
    /proc/<pid>/net; None where that is unavailable."""
    ports: set[int] = set()
    found = False
    base = f"/proc/{pid}/net" if pid is not None else "/proc/net"
    for name in (f"{base}/tcp", f"{base}/tcp6"):
        try:
            lines = pathlib.Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            # fields[1] is "ADDR:PORT" in hex, fields[3] the state; 0A is LISTEN.
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports if found else None


def _is_listening(port: int, pid: int | None = None) -> bool:
    # Reading /proc is passive: probing by connecting would hand the ABCI server a stray connection, and probing
    # by binding could make the app's own bind fail in the instant the probe holds the port. /proc/<pid>/net shows
    # the namespace pid runs in, which is the app's own with --netns.
    ports = _listening_ports(pid)
    if ports is not None:
        return port in ports
    return not is_port_free(port)


def _wait_app_listening(node: Node, pid: int, timeout: float = APP_LISTEN_TIMEOUT) -> None:
    """Wait until the app listens on its ABCI port, so CometBFT connects at once instead of retrying every 3 s."""
    deadline = time.monotonic() + timeout
    while not _is_listening(node.abci_port, pid):
        if not is_pid_running(pid, node.home):
            raise LocalnetError(f"{node.label}: the app exited during start-up\n{log_tail(node)}")
        if time.monotonic() > deadline:
            raise LocalnetError(
                f"{node.label}: the app did not listen on {node.abci_address} within {timeout:.0f}s\n{log_tail(node)}"
            )
        time.sleep(0.1)


def _app_args(net: Network, node: Node) -> list[str]:
    if not net.app_bin or not pathlib.Path(net.app_bin).exists():
        raise LocalnetError(f"the distpos executable {net.app_bin!r} does not exist (run `make venv`)")
    return [*compute_exec_prefix(net.netns, node.label), net.app_bin, "node", "start", "--home", node.home]


def _start_nodes(net: Network, nodes: Sequence[Node]) -> list[tuple[str, str, int]]:
    """Start whatever of these nodes is not running, apps first; return (label, "app"|"cometbft", pid)."""
    started: list[tuple[str, str, int]] = []
    if net.netns is not None:
        # Only what is missing: a running node keeps its namespace.
        setup_netns(net.netns)
    if net.has_app_process:
        waiting = []
        # Start every app before waiting for any: their start-ups overlap.
        for node in nodes:
            if running_pids(node)[APP] is None:
                if net.netns is None:  # a namespace has ports of its own, used by this node alone
                    _require_free_ports(node, {"abci": node.abci_port, "grpc": node.grpc_port})
                pid = _spawn(node, APP, _app_args(net, node))
                started.append((node.label, APP, pid))
                waiting.append((node, pid))
        for node, pid in waiting:
            _wait_app_listening(node, pid)
    for node in nodes:
        if running_pids(node)[COMETBFT] is None:
            if net.netns is None:
                _require_free_ports(node, {"p2p": node.p2p_port, "rpc": node.rpc_port,
                                           "prometheus": node.prometheus_port})
            pid = _spawn(node, COMETBFT, [*compute_exec_prefix(net.netns, node.label), net.cometbft_bin, "start",
                                          "--home", node.home])
            started.append((node.label, COMETBFT, pid))
    return started


def start_network(net: Network) -> list[tuple[str, str, int]]:
    """Start every process of the network that is not already running; return what was started."""
    started = _start_nodes(net, net.nodes)
    for relay in net.relays:
        pid = start_relay(net, relay)
        if pid is not None:
            started.append((f"{relay.chain_id}/relay", "relay", pid))
    return started


def start_node(net: Network, node: Node | str) -> list[tuple[str, str, int]]:
    """Start one node's app (if any) and CometBFT, whichever is not running."""
    return _start_nodes(net, [_as_node(net, node)])


def _as_node(net: Network, node: Node | str) -> Node:
    return net.node(node) if isinstance(node, str) else node


# ---- stopping -----------------------------------------------------------------------------------------


def _signal(pid: int, sig: int) -> None:
    """Signal pid's process group when pid leads it (it does: start_new_session), else pid alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stop_processes(targets: list[tuple[Node, str]], force: bool, grace: float) -> list[tuple[str, str, int]]:
    """Signal the recorded, running processes together, wait, SIGKILL stragglers; remove their pid files."""
    live: list[tuple[Node, str, int]] = []
    for node, which in targets:
        pid = running_pids(node)[which]
        if pid is not None:
            live.append((node, which, pid))
        else:
            # A stale pid file (process gone) would only mislead later commands.
            _pid_file(node, which).unlink(missing_ok=True)
    for _, _, pid in live:
        _signal(pid, signal.SIGKILL if force else signal.SIGTERM)
    pending = _wait_exit(live, grace)
    if pending:
        for _, _, pid in pending:
            _signal(pid, signal.SIGKILL)
        pending = _wait_exit(pending, 5.0)
    if pending:
        names = ", ".join(f"{node.label} {which} (pid {pid})" for node, which, pid in pending)
        raise LocalnetError(f"could not stop: {names}")
    for node, which, _ in live:
        _pid_file(node, which).unlink(missing_ok=True)
    return [(node.label, which, pid) for node, which, pid in live]


def _wait_exit(procs: list[tuple[Node, str, int]], timeout: float) -> list[tuple[Node, str, int]]:
    """The processes still running after up to timeout seconds."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        pending = [p for p in pending if is_pid_running(p[2], p[0].home)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return pending


def stop_node(net: Network, node: Node | str, *, force: bool = False,
              grace: float = DEFAULT_GRACE) -> list[tuple[str, str, int]]:
    """Stop one node's CometBFT and app (SIGTERM, SIGKILL after grace; force=True: SIGKILL at once, a crash)."""
    node = _as_node(net, node)
    if force:
        return _stop_processes([(node, COMETBFT), (node, APP)], force=True, grace=grace)
    # CometBFT first: stopping the app under a running CometBFT makes it log a crash and exit uncleanly.
    stopped = _stop_processes([(node, COMETBFT)], force=False, grace=grace)
    return stopped + _stop_processes([(node, APP)], force=False, grace=grace)


def stop_network(net: Network, *, grace: float = DEFAULT_GRACE) -> list[tuple[str, str, int]]:
    """Stop exactly the recorded processes of every node: relays, all CometBFTs, then all apps; then remove the
    network namespaces and links of a --netns localnet (also when stopping failed: `up` makes them again)."""
    try:
        relays = [(f"{r.chain_id}/relay", "relay", pid) for r in net.relays
                  if (pid := stop_relay(r, grace=grace)) is not None]
        stopped = relays + _stop_processes([(n, COMETBFT) for n in net.nodes], force=False, grace=grace)
        return stopped + _stop_processes([(n, APP) for n in net.nodes], force=False, grace=grace)
    finally:
        if net.netns is not None:
            teardown_netns(net.netns.prefix)


# ---- waiting ------------------------------------------------------------------------------------------


def wait_for_blocks(
    net: Network,
    min_height: int = 2,
    timeout: float = 60.0,
    *,
    nodes: Sequence[Node | str] | None = None,
    progress: Callable[[list[NodeStatus]], None] | None = None,
    progress_interval: float = 2.0,
) -> list[NodeStatus]:
    """Poll /status until every node (or each of `nodes`) is at min_height or above; return the statuses."""
    targets = [_as_node(net, n) for n in (net.nodes if nodes is None else nodes)]
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic() + progress_interval
    while True:
        statuses = node_status(net, targets, timeout=1.0)
        if all(s.reachable and s.height is not None and s.height >= min_height for s in statuses):
            return statuses
        _raise_if_dead(net, targets)
        now = time.monotonic()
        if now > deadline:
            lagging = [(n, s) for n, s in zip(targets, statuses)
                       if not (s.reachable and s.height is not None and s.height >= min_height)]
            summary = ", ".join(f"{n.label} at {s.height}" if s.reachable else f"{n.label} unreachable"
                                for n, s in lagging)
            tails = "\n".join(log_tail(n) for n, _ in lagging)
            raise LocalnetError(f"timed out after {timeout:.0f}s waiting for height {min_height}: {summary}\n{tails}")
        if progress and now >= next_progress:
            progress(statuses)
            next_progress = now + progress_interval
        time.sleep(0.25)


def _raise_if_dead(net: Network, nodes: Sequence[Node]) -> None:
    """Fail at once, with its logs, when a node's process has exited: waiting longer cannot help."""
    for node in nodes:
        alive = running_pids(node)
        needed = (APP, COMETBFT) if net.has_app_process else (COMETBFT,)
        dead = [which for which in needed if alive[which] is None]
        if dead:
            raise LocalnetError(f"{node.label}: {' and '.join(dead)} not running\n{log_tail(node)}")


@contextlib.contextmanager
def running_network(net: Network, *, min_height: int = 2, timeout: float = 120.0) -> Iterator[Network]:
    """Start the network, wait for min_height, yield it, and always stop it afterwards."""
    try:
        start_network(net)
        wait_for_blocks(net, min_height, timeout)
        yield net
    finally:
        stop_network(net)


# ---- relays ------------------------------------------------------------------------------------------

def relay_pid(relay: Relay) -> int | None:
    """The relay's recorded pid when that process is running (its command line names its config file)."""
    pid = _read_pid(relay.pid_file)
    return pid if pid is not None and is_pid_running(pid, str(relay.config_file)) else None


def start_relay(net: Network, relay: Relay) -> int | None:
    """Start relay unless it runs; return the new pid or None."""
    if relay_pid(relay) is not None:
        return None
    if not net.app_bin:
        raise LocalnetError("relays need the distpos executable")
    # With --netns the relay runs inside its own namespace.
    args = [*compute_exec_prefix(net.netns, relay.label), net.app_bin, "relay", "start", "--config",
            str(relay.config_file)]
    with relay.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=relay.home,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _children[proc.pid] = proc
    relay.pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_relay(relay: Relay, *, force: bool = False, grace: float = 10.0) -> int | None:
    """Stop relay (SIGTERM, SIGKILL after grace; force: SIGKILL at once); return the pid stopped or None."""
    pid = relay_pid(relay)
    if pid is None:
        relay.pid_file.unlink(missing_ok=True)
        return None
    _signal(pid, signal.SIGKILL if force else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while relay_pid(relay) is not None:
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.05)
    relay.pid_file.unlink(missing_ok=True)
    return pid
