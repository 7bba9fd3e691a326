"""Entry point of the `distpos` command. DistPOS errors become one line and an exit code here."""

from __future__ import annotations

import sys

import click

from ..errors import DistposError, InvalidInputError, NodeUnreachableError, TxRejectedError
from .keys import keys
from .node import node
from .query import query
from .staking import register as register_staking
from .interchain import register as register_interchain
from .gov import register as register_gov
from .relay import relay
from .tx import tx

# Exit codes: 0 ok, 1 other DistPOS error, 2 usage / invalid input, 3 transaction
# rejected by the chain, 4 node unreachable (retrying may help).
EXIT_CODES: tuple[tuple[type[DistposError], int], ...] = (
    (TxRejectedError, 3),
    (NodeUnreachableError, 4),
    (InvalidInputError, 2),
    (DistposError, 1),
)


def exit_code_for(err: DistposError) -> int:
    """The process exit code of an error."""
    return next(code for cls, code in EXIT_CODES if isinstance(err, cls))


@click.group()
@click.version_option(package_name="distpos-abci")
def cli() -> None:
    """DistPOS: keys, transactions, queries and the node app."""


register_staking(tx, query)
register_interchain(tx, query)
register_gov(tx, query)
cli.add_command(keys)
cli.add_command(tx)
cli.add_command(query)
cli.add_command(node)
cli.add_command(relay)


def main() -> None:
    """Run the CLI, turning DistPOS errors into one clear line and a non-zero exit."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DistposError as err:
        click.echo(f"Error: {err.message}", err=True)
        sys.exit(exit_code_for(err))
    except KeyboardInterrupt:
        sys.exit(130)
