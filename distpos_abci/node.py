"""One node's app process: the ABCI server and the gRPC query service on one event loop.

Everything runs on a single asyncio loop, so ABCI requests from CometBFT's four
connections and gRPC queries never interleave inside the state machine.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from .abci import ABCIServer
from .abci_adapter import DistposABCI
from .app import DistposApp
from .config import NodeConfig
from .grpc_service import start_grpc_server
from .metrics import AppMetrics, Registry, serve_metrics
from .store.db import Database
from .store.state import StateStore
from .underwriting.node import build_underwriting_service

log = logging.getLogger("distpos.node")


def configure_logging(level: str) -> None:
    """Timestamped single-line logs on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def freeze_startup_objects() -> None:
    """Collect, then move every object alive after startup (modules, protobuf descriptors, the app and its
    keepers' tables) to the permanent generation, which the cyclic GC never walks again: its full and middle
    collections during a block then walk only what the blocks made (about 8 % of a 2000-transfer block before,
    bench/RESULTS.md). Only the cyclic collector is affected; reference counting frees everything as before.
    What an earlier call froze is thawed and collected first, so a process that starts several nodes in turn
    (tests, the benchmarks) does not keep the cycles of the ones it stopped."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def serve(cfg: NodeConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Run the node until SIGINT/SIGTERM or until `stop` is set."""
    db = Database(cfg.db_path)
    state = StateStore(db, keep_recent=cfg.keep_recent)
    app = DistposApp(state, index_receipts=cfg.index_receipts, min_retain_blocks=cfg.min_retain_blocks,
                     min_gas_price=cfg.min_gas_price)
    log.info(
        "chain=%s starting app at height=%d app_hash=%s db=%s",
        state.chain_id or "?", state.last_height, state.last_app_hash.hex() or "-", cfg.db_path,
    )
    registry = Registry()
    abci_server = ABCIServer(DistposABCI(app, AppMetrics(registry, app)), cfg.abci_laddr)
    await abci_server.start()
    underwriting = build_underwriting_service(cfg, app)
    grpc_server, _ = await start_grpc_server(app, cfg.grpc_laddr, underwriting)
    log.info("ABCI listening on %s", abci_server.bound_address)
    metrics_server = None
    if cfg.metrics_laddr:
        host, _, port = cfg.metrics_laddr.rpartition(":")
        try:
            metrics_server = await serve_metrics(registry, host or "127.0.0.1", int(port))
            log.info("Prometheus metrics on http://%s/metrics", cfg.metrics_laddr)
        except OSError as exc:  # observability must not keep a validator from running
            log.error("cannot serve Prometheus metrics on %s: %s (continuing without them)", cfg.metrics_laddr, exc)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    freeze_startup_objects()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("chain=%s stopping at height=%d", app.chain_id, app.last_height)
        if metrics_server is not None:
            metrics_server.close()
        await grpc_server.stop(grace=1)
        await abci_server.stop()
        state.close()
        db.close()
