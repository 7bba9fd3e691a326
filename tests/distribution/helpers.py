"""A chain with three staked validators and fees on, producing blocks with chosen signers."""

from __future__ import annotations

import json

from distpos_abci.address import parse_address
from distpos_abci.app import BlockResult, DistposApp
from distpos_abci.module import BlockInfo, Vote
from distpos_abci.types import Height
from distpos_abci.types import AccountId
from tests.helpers import addr
from tests.staking.helpers import cons_addr, staking_genesis

PRICE = 1_000  # chain min_gas_price in these tests: one base unit per gas
POWERS = {1: 3, 2: 2, 3: 1}  # validator i -> voting power in the commits these tests build


def fee_genesis(balances: dict[int, int], price: int = PRICE, inflation: int = 0) -> bytes:
    """Validators 1-3 (stake 300/200/100) funded as given, chain min_gas_price = price, inflation per block."""
    state = json.loads(staking_genesis(balances, {1: 300, 2: 200, 3: 100}))
    state["params"] = {"min_gas_price": price}
    state["distribution"] = {"params": {"inflation_per_block": inflation}}
    return json.dumps(state).encode()


def block(app: DistposApp, *txs: bytes, signers: tuple[int, ...] = (1, 2, 3),
          powers: dict[int, int] | None = None) -> BlockResult:
    """Finalize and commit the next block; its last commit has every validator, signed by `signers`."""
    height = Height(app.last_height + 1)
    votes = tuple(Vote(cons_addr(i), p, i in signers) for i, p in (powers or POWERS).items())
    result = app.finalize_block(BlockInfo(height, height * 1_000_000_000, b"", votes), list(txs))
    app.commit()
    return result


def operator(i: int) -> AccountId:
    """Account id of validator i's operator (test key i)."""
    return parse_address(addr(i)).account
