"""Entry point of `python -m distpos_abci.localnet`."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="python -m distpos_abci.localnet")
