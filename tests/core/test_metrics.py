"""The Prometheus text exposition, and the node app's metrics counting what the app did."""

from __future__ import annotations

import pytest

from distpos_abci.abci_adapter import DistposABCI
from distpos_abci.bank import build_send_tx
from distpos_abci.gen.tendermint.abci import types_pb2 as abci
from distpos_abci.metrics import AppMetrics, Registry
from tests.helpers import CHAIN, addr, key


def test_exposition_format():
    r = Registry()
    c = r.counter("jobs_total", "Jobs.", ("chain_id",))
    c.inc(chain_id="e2e4")
    c.inc(2, chain_id="e2e4")
    h = r.histogram("lat_seconds", "Latency.", ("chain_id",), buckets=(0.1, 1))
    h.observe(0.05, chain_id="a1b2")
    h.observe(5, chain_id="a1b2")
    r.gauge("height", "Height.").set_function(lambda: 7)
    text = r.render()
    assert "# TYPE jobs_total counter\njobs_total{chain_id=\"e2e4\"} 3" in text
    assert 'lat_seconds_bucket{chain_id="a1b2",le="0.1"} 1' in text
    assert 'lat_seconds_bucket{chain_id="a1b2",le="1"} 1' in text
    assert 'lat_seconds_bucket{chain_id="a1b2",le="+Inf"} 2' in text
    assert 'lat_seconds_count{chain_id="a1b2"} 2' in text
    assert "height 7" in text


def test_invalid_labels():
    c = Registry().counter("x_total", "X.", ("a",))
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(b="1")


def test_label_values_are_escaped():
    r = Registry()
    r.counter("x_total", "X.", ("a",)).inc(a='say "hi"\n')
    assert 'x_total{a="say \\"hi\\"\\n"} 1' in r.render()


# ---- the node app's metrics follow what happened ------------------------------------------------------------

def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of every sample in an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_app_metrics_count_what_the_app_did(funded):
    registry = Registry()
    node = DistposABCI(funded.app, AppMetrics(registry, funded.app))
    before = samples(registry.render())
    assert before["distpos_block_height"] == 1 and before["distpos_total_supply"] == 1500
    assert not any(k.startswith("distpos_txs_total") for k in before)  # nothing has run through this node yet

    ok = build_send_tx(key(1), CHAIN, 0, addr(3), 100)
    wrong_chain = build_send_tx(key(1), "a1b2", 0, addr(3), 100)
    too_much = build_send_tx(key(3), CHAIN, 0, addr(1), 10_000)  # key 3 holds only what `ok` sends it
    pending = build_send_tx(key(2), CHAIN, 0, addr(3), 5)  # checked, left in the mempool by the block
    for raw in (ok, wrong_chain, pending):
        node.check_tx(abci.RequestCheckTx(tx=raw, type=abci.NEW))
    block = abci.RequestFinalizeBlock(height=2, txs=[ok, too_much])
    block.time.seconds = 1_800_000_000
    node.finalize_block(block)
    node.commit(abci.RequestCommit())
    node.check_tx(abci.RequestCheckTx(tx=pending, type=abci.RECHECK))  # CometBFT rechecks after each commit

    after = samples(registry.render())
    txs = {k: v for k, v in after.items() if k.startswith("distpos_txs_total")}
    chain = f'chain_id="{CHAIN}"'
    assert txs == {
        f'distpos_txs_total{{{chain},stage="check",result="ok"}}': 2,
        f'distpos_txs_total{{{chain},stage="check",result="tx:6"}}': 1,  # WrongChainError
        f'distpos_txs_total{{{chain},stage="recheck",result="ok"}}': 1,
        f'distpos_txs_total{{{chain},stage="block",result="ok"}}': 1,
        f'distpos_txs_total{{{chain},stage="block",result="bank:20"}}': 1,  # InsufficientFundsError
    }
    assert after["distpos_block_height"] == 2  # the gauge follows the committed height
    assert after["distpos_total_supply"] == 1500  # a transfer mints nothing
    assert after[f"distpos_finalize_block_seconds_count{{{chain}}}"] == 1  # one block observed
