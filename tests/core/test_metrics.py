"""The Prometheus text exposition."""

from __future__ import annotations

import pytest

from distpos_abci.metrics import Registry


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
