"""Property: random transfers (valid or not) conserve total supply and never go negative."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.bank import build_send_tx
from tests.helpers import CHAIN, AppHarness, addr, genesis_bytes, key

KEYS = range(1, 6)
op = st.tuples(st.sampled_from(list(KEYS)), st.sampled_from(list(KEYS)), st.integers(1, 3000), st.integers(-1, 1))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(op, max_size=8), min_size=1, max_size=5))
def test_supply_is_conserved(blocks):
    with tempfile.TemporaryDirectory() as tmp:
        h = AppHarness(tmp)
        genesis = {1: 5000, 2: 3000, 3: 1000}
        h.app.init_chain(CHAIN, genesis_bytes(genesis))
        h.block()
        nonces = {i: 0 for i in KEYS}
        for block in blocks:
            txs = []
            for src, dst, amount, nonce_skew in block:
                # nonce_skew makes some transactions stale or early, so they must fail cleanly
                txs.append(build_send_tx(key(src), CHAIN, max(0, nonces[src] + nonce_skew), addr(dst), amount))
            h.block(*txs)
            nonces = {i: h.app.query_account(addr(i)).nonce for i in KEYS}
            total = sum(h.app.query_account(addr(i)).balance for i in KEYS)
            assert total == 9000 == h.app.query_status().total_supply
        h.db.close()
