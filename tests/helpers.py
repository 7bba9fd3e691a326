"""Test helpers: deterministic keys, genesis documents and an on-disk app harness."""

from __future__ import annotations

import json

from distpos_abci.address import Address
from distpos_abci.app import DistposApp
from distpos_abci.crypto import KeyPair
from distpos_abci.fees import build_paid_tx
from distpos_abci.localnet.generate import LOCALNET_MIN_GAS_PRICE
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore

CHAIN = "e2e4"


def key(i: int) -> KeyPair:
    """Deterministic test key number i."""
    return KeyPair(bytes([i]) * 32)


def addr(i: int, chain: str = CHAIN) -> str:
    """Address of test key i on chain."""
    return str(Address.from_pub_key(chain, key(i).pub_key))


def genesis_bytes(balances: dict[int, int], chain: str = CHAIN, **params) -> bytes:
    """app_state funding test keys."""
    state = {"accounts": [{"address": addr(i, chain), "balance": str(b)} for i, b in balances.items()]}
    if params:
        state["params"] = params
    return json.dumps(state).encode()


class AppHarness:
    """A DistposApp on disk that can be reopened, as a restarted node would."""

    def __init__(self, path) -> None:
        self.path = path
        self.db = Database(path)
        self.app = DistposApp(StateStore(self.db))

    def reopen(self) -> DistposApp:
        self.db.close()
        self.db = Database(self.path)
        self.app = DistposApp(StateStore(self.db))
        return self.app

    def block(self, *txs: bytes):
        """Finalize and commit the next block."""
        result = self.app.finalize_block(self.app.last_height + 1, list(txs))
        self.app.commit()
        return result




def paid(signer: KeyPair, raw: bytes, gas_price: int | None = None) -> bytes:
    """raw re-signed paying its fee at gas_price (default: the localnet chains' minimum), fees.build_paid_tx."""
    return build_paid_tx(signer, raw, gas_price=LOCALNET_MIN_GAS_PRICE if gas_price is None else gas_price)
