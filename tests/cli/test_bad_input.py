"""Every command, fed generated bad input, answers with one line on stderr and a non-zero exit code: never a
traceback, never click's three-line usage, never the internal-error code. Network options point at a port
nobody listens on, so input that happens to be valid ends in a clean `unreachable` (exit 4)."""

from __future__ import annotations

import os
import socket
import tempfile

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distpos_abci.cli.main import EXIT_INTERNAL, cli
from distpos_abci.crypto import KeyPair
from distpos_abci.keyring import Keyring

ADDRESS = "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"
MNEMONIC = "abandon " * 23 + "art"
NOT_SAFE_TO_RUN = {("node", "start"), ("relay", "start")}  # valid input starts a server: tested on their own


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _closed_port()
NETWORK = {"node": [f"http://127.0.0.1:{PORT}"], "grpc_addr": [f"127.0.0.1:{PORT}"], "chain_id": ["e2e4"]}

SPECIAL = ["", "-1", "-5", "0", "1", "1.5", "1e9", "99999999999999999999", "18446744073709551616", "x" * 300,
           "e2e4", "E2E4", "e2e4xnothex", ADDRESS, "a1b2" + ADDRESS[4:], "\x00", "☃", "²", "-", "--", "0x10",
           " 5", "alice", "{}", "[]", '{"a": 1e400}', "/", ".", "yes", "json"]
values = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=24))


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()):
    """Every runnable command of the tree, as (path, command)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*path, name))
        elif (*path, name) not in NOT_SAFE_TO_RUN:
            yield (*path, name), command


COMMANDS = sorted(leaf_commands(cli))


def _contained(param: click.Parameter, value: str) -> str:
    """A path value that stays inside the scratch directory (`--keyring-dir /` would write to the real root)."""
    if isinstance(param.type, click.Path):
        return value.replace("..", "_").lstrip("/~") or "_"
    return value


@st.composite
def invocations(draw, command: click.Command) -> list[str]:
    """Arguments for command: every argument drawn, some options drawn, network options harmless."""
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            if param.required or draw(st.booleans()):
                args.append(_contained(param, draw(values)))
        elif isinstance(param, click.Option) and not param.is_flag and param.name != "help":
            flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
            if param.name in NETWORK:
                args += [flag, draw(st.sampled_from(NETWORK[param.name]) if draw(st.integers(0, 3)) else values)]
            elif draw(st.booleans()):
                args += [flag, _contained(param, draw(values))]
        elif isinstance(param, click.Option) and param.is_flag and draw(st.booleans()):
            args.append(param.opts[-1])
    return args


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invalid_input_is_one_line_and_a_clean_exit(path, command, data):
    args = data.draw(invocations(command))
    typed = data.draw(st.sampled_from(["", "x\n", MNEMONIC + "\n", "passphrase\npassphrase\n", "y\n"]))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as home:
        # Generated paths are relative: run in a scratch directory, so `keys add --keyring-dir x` writes nothing
        # into the working tree.
        os.chdir(scratch)
        try:
            Keyring(os.path.join(home, "keyring")).add("alice", KeyPair(bytes(32)))
            result = CliRunner().invoke(cli, [*path, *args], input=typed, env={
                "DISTPOS_HOME": home, "DISTPOS_KEYRING_DIR": None, "DISTPOS_NODE": None, "DISTPOS_GRPC": None,
                "DISTPOS_CHAIN_ID": None, "DISTPOS_KEYRING_BACKEND": None, "DISTPOS_KEYRING_PASSPHRASE": "passphrase"})
        finally:
            os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 1, 2, 3, 4), (args, result.exit_code, result.stderr)
    assert result.exit_code != EXIT_INTERNAL
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code:  # prompts (passphrase, mnemonic) go to stderr too, each on its own line
        lines = result.stderr.splitlines()
        # one error line (a generated file name may itself read "Error", so count lines, not substrings)
        assert lines and lines[-1].startswith("Error: ") and sum(ln.startswith("Error:") for ln in lines) == 1, (
            args, result.stderr)
        # Before it, only prompts, each ending in ": " and what was typed there (the test runner echoes visible input).
        answers = {""} | set(typed.splitlines())
        assert all(not line or (": " in line and line.rsplit(": ", 1)[1] in answers) for line in lines[:-1]), (
            args, result.stderr)


def test_commands_cover_every_module_namespace():
    paths = {p for p, _ in COMMANDS}
    for module in ("bank", "staking", "underwriting", "interchain", "gov"):
        assert any(p[:2] == ("tx", module) for p in paths) and any(p[:2] == ("query", module) for p in paths)
