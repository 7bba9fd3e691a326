"""The localnet's dashboard process (`distpos dashboard`), started by `up` and stopped by `down`; its pid and
log live in the run directory."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

from .errors import LocalnetError
from .plan import Network, _read_pid
from .procs import _children, _signal, is_pid_running

DEFAULT_DASHBOARD_PORT = 8088


def _files(run_dir: str) -> tuple[pathlib.Path, pathlib.Path]:
    base = pathlib.Path(run_dir).resolve()
    return base / "dashboard.pid", base / "dashboard.log"


def dashboard_pid(run_dir: str) -> int | None:
    """The dashboard's recorded pid when that process still runs (its command line names the run directory)."""
    pid_file, _ = _files(run_dir)
    pid = _read_pid(pid_file)
    return pid if pid is not None and is_pid_running(pid, str(pathlib.Path(run_dir).resolve())) else None


def start_dashboard(net: Network, port: int = DEFAULT_DASHBOARD_PORT) -> tuple[int | None, str]:
    """Start the dashboard unless it runs; (new pid or None, its URL)."""
    url = f"http://127.0.0.1:{port}/"
    if dashboard_pid(net.run_dir) is not None:
        return None, url
    if not net.app_bin:
        raise LocalnetError("the dashboard needs the distpos executable")
    pid_file, log_file = _files(net.run_dir)
    args = [net.app_bin, "dashboard", "--network", str(pathlib.Path(net.run_dir).resolve()),
            "--listen", f"127.0.0.1:{port}"]
    with log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _children[proc.pid] = proc
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid, url


def stop_dashboard(run_dir: str, grace: float = 5.0) -> int | None:
    """Stop the dashboard if it runs; the pid stopped or None."""
    pid_file, _ = _files(run_dir)
    pid = dashboard_pid(run_dir)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return None
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while dashboard_pid(run_dir) is not None:
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return pid
