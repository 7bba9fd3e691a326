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
