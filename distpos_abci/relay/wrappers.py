"""Wrappers around a ChainEndpoint, as Hermes wraps its chain handle: caching and metrics stay out of the
worker and out of the RPC code. Each wrapper is itself a ChainEndpoint; `serve()` stacks them:

    MeteredEndpoint(CachingEndpoint(CometEndpoint(...)))
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from ..errors import DistposError
from ..lightclient.types import LightBlock
from ..metrics import Registry
from .types import Block, Proven, Submitted

MAX_CACHED = 512  # entries per cache: headers and state at fixed heights never change once committed


class _Delegate:
    """Everything not overridden goes to the wrapped endpoint."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.chain_id = inner.chain_id

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class _Lru:
    def __init__(self, size: int) -> None:
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class CachingEndpoint(_Delegate):
    """Caches what a committed height fixes for good: light blocks, and proven state at an explicit height
    (height 0 means "latest" and is never cached). The same header is asked for by every hand-over check and
    every delivery of a round; proofs by the hand-over check and the delivery."""

    def __init__(self, inner, size: int = MAX_CACHED) -> None:
        super().__init__(inner)
        self.headers = _Lru(size)
        self.states = _Lru(size * 16)
        self.hits = 0

    def light_block(self, height: int) -> LightBlock:
        lb = self.headers.get(height) if height > 0 else None
        if lb is None:
            lb = self.inner.light_block(height)
            if height > 0:
                self.headers.put(height, lb)
        else:
            self.hits += 1
        return lb

    def query_many(self, keys: list[bytes], height: int = 0, prove: bool = False) -> list[Proven]:
        if height <= 0:
            return self.inner.query_many(keys, height, prove)
        got = {k: self.states.get((k, height, prove)) for k in keys}
        missing = [k for k in keys if got[k] is None]
        self.hits += len(keys) - len(missing)
        for k, p in zip(missing, self.inner.query_many(missing, height, prove) if missing else []):
            got[k] = p
            self.states.put((k, height, prove), p)
        return [got[k] for k in keys]

    def query(self, key: bytes, height: int = 0, prove: bool = False) -> Proven:
        return self.query_many([key], height, prove)[0]


class MeteredEndpoint(_Delegate):
    """Counts every call to the chain by method and outcome, and its duration:
    `distpos_relay_endpoint_calls_total{chain_id,method,result}`, `distpos_relay_endpoint_seconds{chain_id,method}`."""

    METHODS = ("latest", "query", "query_many", "light_block", "committed_height", "block", "broadcast",
               "wait_committed")

    def __init__(self, inner, registry: Registry) -> None:
        super().__init__(inner)
        self.calls = registry.counter("distpos_relay_endpoint_calls_total", "Calls of the relay to a chain.",
                                      ("chain_id", "method", "result"))
        self.seconds = registry.histogram("distpos_relay_endpoint_seconds", "Duration of the relay's chain calls.",
                                          ("chain_id", "method"), buckets=(0.005, 0.02, 0.05, 0.1, 0.5, 1, 5))
        for name in self.METHODS:
            setattr(self, name, self._wrap(name, getattr(inner, name)))

    def _wrap(self, name: str, fn):
        def call(*args, **kw):
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kw)
            except DistposError as exc:
                self.calls.inc(chain_id=self.chain_id, method=name, result=f"{exc.codespace}:{exc.code}")
                raise
            self.calls.inc(chain_id=self.chain_id, method=name, result="ok")
            self.seconds.observe(time.perf_counter() - t0, chain_id=self.chain_id, method=name)
            return out
        return call

    def wait_block(self, above: int, timeout: float) -> bool:  # waiting is not a call worth counting
        return self.inner.wait_block(above, timeout)


__all__ = ["Block", "CachingEndpoint", "MeteredEndpoint", "Submitted"]
