"""The app hashes of a fixed scenario, pinned: a speed-up of the execution path must not change state by accident.

The scenario has fees on, three validators signing (so fees are collected, then split the next block), transfers
between fresh and funded accounts, a message that fails after its fee was paid, a replayed nonce, a bad signature,
a fee below the chain minimum, a collateral deposit and an underwritten (carried) transfer. It runs both with and
without CheckTx ahead of each block (the verified-transaction cache): both must give these hashes.

If a change alters the state layout on purpose, say why in its commit and update PINNED once, deliberately.
"""

from __future__ import annotations

import pytest

from distpos_abci.bank import build_send_tx
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.underwriting import build_collateral_tx, build_underwritten_tx
from tests.distribution.helpers import PRICE, block, fee_genesis
from tests.helpers import CHAIN, AppHarness, addr, key, paid
from tests.underwriting.helpers import guarantee, operator

PINNED = (
    "6005800c75702c6fee6443dac1b64654682fdd15994af3a0e9e8e22de77327e9",
    "d05d25861ac63a779c45827a88765b58ea470909df1e313399a03cee7f9512a4",
    "d800623b28220e315d0e65132aec4f8d2ccfacc78dffa00162a6668a576b3c95",
    "7a973859dea9be8e6d11d2b57cc7c33bcca55011225b894fe38425b0b0e467da",
    "b790ffdf9133467ba7a0096febb08664496202372ba554405c80160e55a06ffc",
    "37bb4ae0d9014df8c6b8571524a7f783da275444ec57ca9cfcd6558e3574f207",
)

# ok x3; insufficient funds (fee kept), bad nonce, bad signature, fee below the chain minimum, ok; ...
CODES = ((0, 0, 0), (20, 11, 5, 191, 0), (0,), (0, 0), ())


def _send(i: int, nonce: int, to: int, amount: int) -> bytes:
    return paid(key(i), build_send_tx(key(i), CHAIN, nonce, addr(to), amount), PRICE)


def _bad_signature(raw: bytes) -> bytes:
    tx = tx_pb2.Tx.FromString(raw)
    return tx_pb2.Tx(body=tx.body, signature=bytes(64)).SerializeToString()


def _blocks() -> list[list[bytes]]:
    inner = _send(5, 2, 7, 250)  # payer 5's nonce 2, carried with a guarantee of validator 1
    carrier = paid(key(6), build_underwritten_tx(key(6), CHAIN, 0, inner, [guarantee(1, inner, 250, addr(7))]), PRICE)
    return [
        [_send(4, 0, 8, 100_000), _send(5, 0, 8, 2_000), _send(4, 1, 9, 500)],
        [_send(4, 2, 10, 10_000_000),  # more than it holds: the message fails, the fee is kept
         _send(4, 2, 10, 1),  # its nonce was consumed by the failure above: refused as a replay
         _bad_signature(_send(5, 1, 10, 1)),
         build_send_tx(key(8), CHAIN, 0, addr(4), 1),  # no fee: below the chain minimum
         _send(8, 0, 11, 300)],  # an account funded in the block before sends on
        [paid(key(5), build_collateral_tx(key(5), CHAIN, 1, "deposit", str(operator(1)), 5_000), PRICE)],
        [carrier, _send(4, 3, 5, 77)],
        [],  # the last block's fees are split
    ]


def run_scenario(path, mempool: bool) -> tuple[list[str], list[tuple[int, ...]]]:
    """App hashes (genesis block first) and per-block result codes of the scenario."""
    h = AppHarness(path)
    h.app.init_chain(CHAIN, fee_genesis({4: 1_000_000, 5: 1_000_000, 6: 1_000_000}))
    hashes, codes = [block(h.app).app_hash.hex()], []
    for txs in _blocks():
        if mempool:
            for raw in txs:
                h.app.check_tx(raw)
        result = block(h.app, *txs)
        hashes.append(result.app_hash.hex())
        codes.append(tuple(r.code for r in result.tx_results))
    h.db.close()
    return hashes, codes


@pytest.mark.parametrize("mempool", [False, True], ids=["cold", "mempool"])
def test_app_hashes_of_the_fixed_scenario_are_pinned(tmp_path, mempool):
    hashes, codes = run_scenario(tmp_path / "db", mempool)
    assert tuple(codes) == CODES
    assert tuple(hashes) == PINNED
