"""Prometheus metrics in the text exposition format (0.0.4), without a client library.

A `Registry` holds counters, gauges and histograms with fixed label names; `serve_metrics`
answers `GET /metrics` on an asyncio socket. Used by the node app and the relay.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterable

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(names: Labels, values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = ""

    def __init__(self, name: str, help_: str, labels: Labels = ()) -> None:
        self.name, self.help, self.labels = name, help_, labels

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    """A monotonically increasing count."""

    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Labels = ()) -> None:
        super().__init__(name, help_, labels)
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def lines(self) -> list[str]:
        return [f"{self.name}{_fmt_labels(self.labels, k)} {v}" for k, v in sorted(self.values.items())]


class Gauge(Counter):
    """A value that goes up and down; `set_function` reads it at scrape time."""

    kind = "gauge"

    def __init__(self, name: str, help_: str, labels: Labels = ()) -> None:
        super().__init__(name, help_, labels)
        self.functions: dict[Labels, Callable[[], float]] = {}

    def set(self, value: float, **labels: str) -> None:
        self.values[self._key(labels)] = value

    def set_function(self, fn: Callable[[], float], **labels: str) -> None:
        self.functions[self._key(labels)] = fn

    def lines(self) -> list[str]:
        values = dict(self.values)
        values.update((k, fn()) for k, fn in self.functions.items())
        return [f"{self.name}{_fmt_labels(self.labels, k)} {v}" for k, v in sorted(values.items())]


class Histogram(_Metric):
    """Observations counted into cumulative buckets (seconds by default)."""

    kind = "histogram"
    DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

    def __init__(self, name: str, help_: str, labels: Labels = (), buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help_, labels)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[Labels, list] = {}  # key -> [bucket counts..., sum, count]

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        s = self.series.setdefault(key, [0] * len(self.buckets) + [0.0, 0])
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.buckets):
            s[i] += 1
        s[-2] += value
        s[-1] += 1

    def lines(self) -> list[str]:
        out = []
        for key, s in sorted(self.series.items()):
            cumulative = 0
            for bound, n in zip(self.buckets, s):
                cumulative += n
                le = 'le="%s"' % bound
                out.append(f"{self.name}_bucket{_fmt_labels(self.labels, key, le)} {cumulative}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{_fmt_labels(self.labels, key, inf)} {s[-1]}")
            out.append(f"{self.name}_sum{_fmt_labels(self.labels, key)} {s[-2]}")
            out.append(f"{self.name}_count{_fmt_labels(self.labels, key)} {s[-1]}")
        return out


class Registry:
    """The metrics of one process."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def _add(self, metric):
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help_: str, labels: Labels = ()) -> Counter:
        return self._add(Counter(name, help_, labels))

    def gauge(self, name: str, help_: str, labels: Labels = ()) -> Gauge:
        return self._add(Gauge(name, help_, labels))

    def histogram(self, name: str, help_: str, labels: Labels = (), buckets=Histogram.DEFAULT_BUCKETS) -> Histogram:
        return self._add(Histogram(name, help_, labels, buckets))

    def render(self) -> str:
        """The whole exposition text."""
        lines: list[str] = []
        for m in self.metrics:
            lines.extend(m.header())
            lines.extend(m.lines())
        return "\n".join(lines) + "\n"


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
        self.finalize = registry.histogram(
            "distpos_finalize_block_seconds", "Wall time of FinalizeBlock, hashing included.", ("chain_id",)
        )

    def record_tx(self, stage: str, result) -> None:
        """Count one transaction outcome."""
        label = "ok" if result.code == 0 else f"{result.codespace}:{result.code}"
        self.txs.inc(chain_id=self._chain(), stage=stage, result=label)

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
                body, status = registry.render().encode(), b"200 OK"
            else:
                body, status = b"not found; try /metrics\n", b"404 Not Found"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
