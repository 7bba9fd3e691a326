"""Prometheus metrics of the node app and the relay, on `prometheus_client`.

A `Registry` is one process's `CollectorRegistry`; its counters, gauges and histograms take their labels as
keywords (`inc(chain_id=...)`) and check them, so a typo is an error at the call, not a silent new series.
`serve_metrics` answers `GET /metrics` on an asyncio socket (the node's event loop, or the relay's thread) with
the library's text exposition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import prometheus_client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Labels = tuple[str, ...]

# `<name>_created` series only double every counter and histogram; the dashboards never read them.
prometheus_client.disable_created_metrics()


class _Metric:
    """One metric family with fixed label names."""

    def __init__(self, metric, name: str, labels: Labels) -> None:
        self._metric, self.name, self.labels = metric, name, labels

    def _child(self, labels: dict[str, str]):
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return self._metric.labels(**{k: str(v) for k, v in labels.items()}) if self.labels else self._metric

    def child(self, **labels: str):
        """The series of labels, to keep and update without a label lookup on a hot path."""
        return self._child(labels)

    @property
    def values(self) -> dict[Labels, float]:
        """The current value of each series (label values → value), for tests and status pages."""
        out: dict[Labels, float] = {}
        for family in self._metric.collect():
            for s in family.samples:
                if s.name in (self.name, f"{self.name}_total") and not s.name.endswith("_created"):
                    out[tuple(s.labels[n] for n in self.labels)] = s.value
        return out


class Counter(_Metric):
    """A monotonically increasing count."""

    def inc(self, amount: float = 1, **labels: str) -> None:
        """Add amount to the series of labels."""
        self._child(labels).inc(amount)


class Gauge(_Metric):
    """A value that goes up and down; `set_function` reads it at scrape time."""

    def set(self, value: float, **labels: str) -> None:
        """Set the series of labels."""
        self._child(labels).set(value)

    def set_function(self, fn: Callable[[], float], **labels: str) -> None:
        """Read the series of labels from fn at each scrape."""
        self._child(labels).set_function(fn)


class Histogram(_Metric):
    """Observations counted into cumulative buckets (seconds by default)."""

    DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation into the series of labels."""
        self._child(labels).observe(value)

    @property
    def series(self) -> dict[Labels, list[float]]:
        """Per series (label values): the cumulative bucket counts, then the sum, then the count."""
        out: dict[Labels, list[float]] = {}
        for family in self._metric.collect():
            buckets: dict[Labels, list[float]] = {}
            totals: dict[Labels, dict[str, float]] = {}
            for s in family.samples:
                key = tuple(s.labels[n] for n in self.labels)
                if s.name == f"{self.name}_bucket":
                    buckets.setdefault(key, []).append(s.value)
                elif s.name in (f"{self.name}_sum", f"{self.name}_count"):
                    totals.setdefault(key, {})[s.name.rsplit("_", 1)[1]] = s.value
            for key, counts in buckets.items():
                out[key] = [*counts, totals.get(key, {}).get("sum", 0.0), totals.get(key, {}).get("count", 0.0)]
        return out


class Registry:
    """The metrics of one process."""

    def __init__(self) -> None:
        self.collector = CollectorRegistry()

    def counter(self, name: str, help_: str, labels: Labels = ()) -> Counter:
        """A new counter; name ends in `_total`, as exposed."""
        base = name.removesuffix("_total")
        return Counter(prometheus_client.Counter(base, help_, labels, registry=self.collector), name, labels)

    def gauge(self, name: str, help_: str, labels: Labels = ()) -> Gauge:
        """A new gauge."""
        return Gauge(prometheus_client.Gauge(name, help_, labels, registry=self.collector), name, labels)

    def histogram(self, name: str, help_: str, labels: Labels = (),
                  buckets: Iterable[float] = Histogram.DEFAULT_BUCKETS) -> Histogram:
        """A new histogram with the given upper bounds (+Inf added)."""
        return Histogram(prometheus_client.Histogram(name, help_, labels, registry=self.collector,
                                                     buckets=tuple(buckets)), name, labels)

    def render(self) -> str:
        """The whole text exposition (format 0.0.4)."""
        return generate_latest(self.collector).decode()


class AppMetrics:
    """What a node's app reports: height, supply, transactions by stage and result, block time."""

    def __init__(self, registry: Registry, app) -> None:
        chain = lambda: str(app.chain_id)  # noqa: E731 - the chain-id is known only after InitChain
        self._chain = chain
        registry.gauge("distpos_block_height", "Last committed height.").set_function(lambda: app.last_height)
        registry.gauge("distpos_total_supply", "Total supply of the chain's token.").set_function(
            lambda: app.query_status().total_supply
        )
        self.txs = registry.counter(
            "distpos_txs_total", "Transactions by stage (check, recheck, block) and result (ok or codespace:code).",
            ("chain_id", "stage", "result"),
        )
        self._tx_children: dict[tuple[str, str, str], object] = {}
        self.finalize = registry.histogram(
            "distpos_finalize_block_seconds", "Wall time of FinalizeBlock, hashing included.", ("chain_id",)
        )

    def record_tx(self, stage: str, result) -> None:
        """Count one transaction outcome."""
        label = "ok" if result.code == 0 else f"{result.codespace}:{result.code}"
        key = (self._chain(), stage, label)
        child = self._tx_children.get(key)
        if child is None:  # label lookups cost more than the count itself on the CheckTx path
            child = self._tx_children[key] = self.txs.child(chain_id=key[0], stage=stage, result=label)
        child.inc()

    def record_block(self, seconds: float, results) -> None:
        """Record a finalized block."""
        self.finalize.observe(seconds, chain_id=self._chain())
        for r in results:
            self.record_tx("block", r)


async def serve_metrics(registry: Registry, host: str, port: int) -> asyncio.Server:
    """Serve `GET /metrics` (anything else: 404) until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body, status, kind = registry.render().encode(), b"200 OK", CONTENT_TYPE_LATEST.encode()
            else:
                body, status, kind = b"not found; try /metrics\n", b"404 Not Found", b"text/plain"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind + b"\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
