"""Entry point of the `distpos` command: the one map of module namespaces, and the one place where errors
become a single line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import re
import sys

import click

from ..errors import DistposError, InvalidInputError, NodeUnreachableError, TxRejectedError
from . import bank, distribution, gov, interchain, offline, query, staking, underwriting
from .common import home_option
from .config import config
from .dashboard import dashboard
from .keys import keys
from .light import light
from .node import node
from .relay import relay

# Exit codes: 0 ok, 1 other DistPOS error, 2 usage / invalid input, 3 transaction rejected by the chain,
# 4 node unreachable (retrying may help), 70 a bug in the CLI (EX_SOFTWARE; DISTPOS_DEBUG=1 shows the trace).
EXIT_CODES: tuple[tuple[type[DistposError], int], ...] = (
    (TxRejectedError, 3),
    (NodeUnreachableError, 4),
    (InvalidInputError, 2),
    (DistposError, 1),
)
EXIT_USAGE = 2
EXIT_INTERNAL = 70
MAX_ERROR_CHARS = 400
NEGATIVE_NUMBER_RE = re.compile(r"-[0-9][0-9.eE+_]*")

# The module namespaces of `distpos tx` and `distpos query`: each module's file defines its groups, and only
# this map puts them in the tree, so command files never import one another.
TX_MODULES: dict[str, click.Group] = {
    "bank": bank.tx_group, "staking": staking.tx_group, "underwriting": underwriting.tx_group,
    "interchain": interchain.tx_group, "gov": gov.tx_group, "distribution": distribution.tx_group,
}
QUERY_MODULES: dict[str, click.Group] = {
    "bank": bank.query_group, "staking": staking.query_group, "underwriting": underwriting.query_group,
    "interchain": interchain.query_group, "gov": gov.query_group, "distribution": distribution.query_group,
}
QUERY_COMMANDS = (query.account, query.status, query.tx_, query.txs)

# Flat names of earlier releases, still accepted (hidden from --help): name -> module.
TX_ALIASES = {"send": "bank", "transfer": "interchain", "topup": "interchain", "open-correspondent": "interchain",
              "set-route": "interchain", "set-limits": "interchain", "close-correspondent": "interchain",
              "unfreeze-client": "interchain", "claim": "underwriting", "deposit-collateral": "underwriting",
              "unlock-collateral": "underwriting", "withdraw-collateral": "underwriting",
              **{name: "staking" for name in ("create-validator", "bond", "unbond", "withdraw", "unjail")}}
QUERY_ALIASES = {"validators": "staking", "validator": "staking", "params": "staking",
                 "guarantees": "underwriting", "collateral": "underwriting", "correspondent": "interchain",
                 "route": "interchain", "routes": "interchain", "packets": "interchain"}


def exit_code_for(err: DistposError) -> int:
    """The process exit code of an error."""
    return next(code for cls, code in EXIT_CODES if isinstance(err, cls))


class NamespaceGroup(click.Group):
    """A group of module namespaces that also resolves the flat names of earlier releases."""

    def __init__(self, *args, modules: dict[str, click.Group], aliases: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = aliases
        for name, group in modules.items():
            self.add_command(group, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in self.aliases:
            module = super().get_command(ctx, self.aliases[cmd_name])
            found = module.get_command(ctx, cmd_name) if isinstance(module, click.Group) else None
        return found


class DistposCLI(click.Group):
    """The root command: every failure is one line on stderr and a non-zero exit, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D102
        try:
            # Outside standalone mode click returns the code of an Exit (--help, --version) instead of exiting.
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:  # a prompt got no answer (or a confirmation was refused)
            click.echo(err=True)  # end the prompt's line, so the error is a line of its own
            _fail("aborted", 1)
        except click.exceptions.NoArgsIsHelpError as exc:  # a group without its command: its help, on stdout
            click.echo(exc.ctx.get_help())
            sys.exit(EXIT_USAGE)
        except click.NoSuchOption as exc:
            if NEGATIVE_NUMBER_RE.fullmatch(exc.option_name):  # `tx bank send alice ADDR -5`
                _fail(f"{exc.option_name}: negative numbers are not accepted (amounts, heights and ids are "
                      f"non-negative integers)", EXIT_USAGE)
            _fail(exc.format_message(), EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code if isinstance(exc, click.UsageError) else 1)
        except DistposError as err:
            _fail(err.message, exit_code_for(err))
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, the trace only when asked for
            if os.environ.get("DISTPOS_DEBUG"):
                logging.getLogger("distpos.cli").exception("internal error")
            _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with DISTPOS_DEBUG=1 for the trace",
                  EXIT_INTERNAL)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    line = " ".join(str(message).split())
    if len(line) > MAX_ERROR_CHARS:  # a 300-character argument echoed back helps no one
        line = line[: MAX_ERROR_CHARS // 2] + " … " + line[-MAX_ERROR_CHARS // 2:]
    click.echo(f"Error: {line}", err=True)
    sys.exit(code)


@click.group(cls=DistposCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="distpos-abci")
@home_option
def cli(home) -> None:
    """DistPOS: keys, transactions, queries and the node app."""


@cli.group("tx", cls=NamespaceGroup, modules=TX_MODULES, aliases=TX_ALIASES)
def tx() -> None:
    """Sign and broadcast transactions, by module."""


@cli.group("query", cls=NamespaceGroup, modules=QUERY_MODULES, aliases=QUERY_ALIASES)
def query_() -> None:
    """Query a node over gRPC, by module."""


for _command in offline.COMMANDS:
    tx.add_command(_command)
for _command in QUERY_COMMANDS:
    query_.add_command(_command)
for _command in (keys, config, light, node, relay, dashboard):
    cli.add_command(_command)


def main() -> None:
    """Run the CLI (console script `distpos`)."""
    cli.main(prog_name="distpos")
