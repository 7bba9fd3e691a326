"""Fixtures for the ABCI transport tests: a tiny counter app and a server in a background thread."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from distpos_abci.abci import ABCIServer, Application
from distpos_abci.gen.tendermint.abci import types_pb2 as abci


class CounterApp(Application):
    """Counts accepted txs; rejects the tx b"bad"; raises on b"boom" and returns the wrong type on b"wrong-type" (bugs)."""

    def __init__(self) -> None:
        self.checked = 0
        self.height = 0

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        return abci.ResponseInfo(data="counter", version="test", last_block_height=self.height)

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        if req.tx == b"bad":
            return abci.ResponseCheckTx(code=1, log="bad tx")
        if req.tx == b"boom":
            raise RuntimeError("boom")
        if req.tx == b"wrong-type":
            return abci.ResponseEcho(message="not a ResponseCheckTx")
        self.checked += 1
        return abci.ResponseCheckTx(code=0, data=self.checked.to_bytes(8, "big"))

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        self.height = req.height
        return super().finalize_block(req)


@pytest.fixture(autouse=True)
def no_asyncio_errors(caplog):
    """Fail a test when asyncio itself logged an error (unretrieved task exceptions and the like)."""
    yield
    bad = [r.getMessage() for r in caplog.get_records("call") if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert not bad, bad


@pytest.fixture
def counter_app() -> CounterApp:
    return CounterApp()


class ThreadedServer:
    """An ABCIServer running on its own event loop in a daemon thread."""

    def __init__(self, app: Application, address: str) -> None:
        self.server = ABCIServer(app, address)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="abci-test-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # surfaced to the test thread in start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_until_complete(self.server.serve_forever())

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("ABCI server did not start")
        if self._error is not None:
            raise self._error
        return self.server.bound_address

    def stop(self) -> None:
        if self._error is None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def start_threaded_server():
    """Return a function starting an app on an address in a thread; every server is stopped afterwards."""
    servers: list[ThreadedServer] = []

    def start(app: Application, address: str) -> ThreadedServer:
        ts = ThreadedServer(app, address)
        servers.append(ts)
        ts.start()
        return ts

    yield start
    for ts in servers:
        ts.stop()


@pytest.fixture
def threaded_server(start_threaded_server, counter_app: CounterApp) -> ThreadedServer:
    """A CounterApp server on tcp://127.0.0.1:0 in a background thread."""
    return start_threaded_server(counter_app, "tcp://127.0.0.1:0")
