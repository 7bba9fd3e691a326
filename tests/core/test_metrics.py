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
    assert "# TYPE jobs_total counter\njobs_total{chain_id=\"e2e4\"} 3.0" in text
    assert 'lat_seconds_bucket{chain_id="a1b2",le="0.1"} 1' in text
    assert 'lat_seconds_bucket{chain_id="a1b2",le="1.0"} 1' in text
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

def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value of every sample in an exposition, read with the Prometheus parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
            for fam in text_string_to_metric_families(text) for smp in fam.samples}


def test_app_metrics_count_what_the_app_did(funded):
    registry = Registry()
    node = DistposABCI(funded.app, AppMetrics(registry, funded.app))
    before = samples(registry.render())
    assert before[("distpos_block_height", ())] == 1 and before[("distpos_total_supply", ())] == 1500
    assert not any(k[0] == "distpos_txs_total" for k in before)  # nothing has run through this node yet

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
    txs = {dict(k[1])["stage"] + " " + dict(k[1])["result"]: v for k, v in after.items()
           if k[0] == "distpos_txs_total" and dict(k[1])["chain_id"] == CHAIN}
    assert txs == {
        "check ok": 2,
        "check tx:6": 1,  # WrongChainError
        "recheck ok": 1,
        "block ok": 1,
        "block bank:20": 1,  # InsufficientFundsError
    }
    assert after[("distpos_block_height", ())] == 2  # the gauge follows the committed height
    assert after[("distpos_total_supply", ())] == 1500  # a transfer mints nothing
    assert after[("distpos_finalize_block_seconds_count", (("chain_id", CHAIN),))] == 1  # one block observed


def test_values_and_series_read_back_what_was_recorded():
    r = Registry()
    c = r.counter("x_total", "X.", ("kind",))
    c.inc(kind="a")
    c.inc(3, kind="b")
    assert c.values == {("a",): 1, ("b",): 3}
    h = r.histogram("lat_seconds", "L.", ("d",), buckets=(1,))
    h.observe(0.5, d="x")
    h.observe(2, d="x")
    assert h.series == {("x",): [1, 2, 2.5, 2]}  # cumulative buckets (<=1, +Inf), sum, count


def test_exposition_parses_with_the_prometheus_parser():
    from prometheus_client.parser import text_string_to_metric_families

    r = Registry()
    r.counter("distpos_txs_total", "T.", ("chain_id", "stage", "result")).inc(chain_id="e2e4", stage="check",
                                                                               result="tx:6")
    [family] = list(text_string_to_metric_families(r.render()))
    assert family.name == "distpos_txs" and family.type == "counter"
    assert [(s.labels, s.value) for s in family.samples] == [({"chain_id": "e2e4", "stage": "check",
                                                               "result": "tx:6"}, 1)]
