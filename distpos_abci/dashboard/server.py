"""The dashboard's ASGI application (Starlette, served by uvicorn): one page, a JSON snapshot and a
server-sent-events stream that pushes a fresh snapshot every interval.

One background task collects (in a worker thread: the gRPC and RPC clients are blocking) and every connected
page receives the same snapshot, so a hundred open browsers cost the chains no more than one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .collector import FirstSeen, Targets, collect_snapshot

log = logging.getLogger("distpos.dashboard")
TEMPLATES = Jinja2Templates(directory=str(pathlib.Path(__file__).with_name("templates")))


class Hub:
    """Collects snapshots on a timer and hands the latest to every subscriber."""

    def __init__(self, targets: Targets, interval: float) -> None:
        self.targets = targets
        self.interval = interval
        self.first_seen = FirstSeen()
        self.latest: dict = {"time": 0, "chains": [], "relays": []}
        self.version = 0
        self.changed = asyncio.Condition()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            try:
                snap = await asyncio.to_thread(collect_snapshot, self.targets, self.first_seen)
            except Exception:  # an unexpected answer must not stop the page; the next round tries again
                log.exception("dashboard: collecting failed")
            else:
                async with self.changed:
                    self.latest, self.version = snap, self.version + 1
                    self.changed.notify_all()
            await asyncio.sleep(self.interval)

    async def next_after(self, version: int) -> tuple[int, dict]:
        async with self.changed:
            await self.changed.wait_for(lambda: self.version > version)
            return self.version, self.latest


def build_app(targets: Targets, interval: float = 1.0, title: str = "DistPOS") -> Starlette:
    """The dashboard application for these targets."""
    hub = Hub(targets, interval)

    async def page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "index.html", {"title": title, "interval_ms": int(interval * 1000)})

    async def snapshot(request: Request) -> JSONResponse:
        return JSONResponse(hub.latest)

    async def events(request: Request) -> StreamingResponse:
        async def stream():
            version = 0
            while not await request.is_disconnected():
                with contextlib.suppress(asyncio.TimeoutError):
                    version, snap = await asyncio.wait_for(hub.next_after(version), timeout=15)
                    yield f"data: {json.dumps(snap, separators=(',', ':'))}\n\n"
                    continue
                yield ": keep-alive\n\n"
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        hub.task = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            hub.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub.task

    return Starlette(routes=[Route("/", page), Route("/api/snapshot", snapshot), Route("/events", events)],
                     lifespan=lifespan)
