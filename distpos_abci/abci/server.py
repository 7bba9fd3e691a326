"""asyncio ABCI socket server: frames in, Application calls, frames out."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat

from google.protobuf.message import DecodeError

from distpos_abci.gen.tendermint.abci import types_pb2 as abci

from .application import REQUEST_TYPES, Application
from .framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FramingError, encode_frame, encode_uvarint

__all__ = ["ABCIServer", "parse_address"]

_READ_SIZE = 256 * 1024
# asyncio pauses a transport above 64 KiB by default; draining past that point
# applies back-pressure without paying for a drain on every batch of CheckTx.
_DRAIN_THRESHOLD = 64 * 1024

# ResponseFlush is empty, so its framed Response never changes.
_FLUSH_FRAME = encode_frame(abci.Response(flush=abci.ResponseFlush()).SerializeToString())


def _response_table() -> dict[str, tuple[bytes, type]]:
    """Map each request type to (Response field tag bytes, expected response class)."""
    table = {}
    for kind in REQUEST_TYPES:
        field = abci.Response.DESCRIPTOR.fields_by_name[kind]
        tag = encode_uvarint((field.number << 3) | 2)  # wire type 2: length-delimited
        table[kind] = (tag, getattr(abci, field.message_type.name))
    return table


_RESPONSES = _response_table()


def parse_address(address: str) -> tuple[str, str, int | None]:
    """Split 'tcp://host:port', 'unix:///path' or 'host:port' into (scheme, host-or-path, port)."""
    if address.startswith("unix://"):
        path = address[len("unix://"):]
        if not path:
            raise ValueError(f"unix address without a path: {address!r}")
        return "unix", path, None
    rest = address[len("tcp://"):] if address.startswith("tcp://") else address
    if "://" in rest:
        raise ValueError(f"unsupported address scheme: {address!r}")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address needs host:port: {address!r}")
    host = host.strip("[]")  # IPv6 literals come bracketed
    return "tcp", host, int(port)


class _CloseConnection(Exception):
    """Internal: the connection must be dropped (already logged)."""


class ABCIServer:
    """Serve an Application to CometBFT over TCP or a unix socket."""

    def __init__(
        self,
        app: Application,
        address: str,
        *,
        logger: logging.Logger | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.app = app
        self.address = address
        self.log = logger or logging.getLogger(__name__)
        self.max_frame_size = max_frame_size
        self._scheme, self._host, self._port = parse_address(address)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self._bound_address: str | None = None
        self._stopped: asyncio.Event | None = None
        # Bound methods looked up once: dispatch is on the CheckTx hot path.
        self._handlers = {kind: getattr(app, kind) for kind in REQUEST_TYPES}
        self.counters: dict[str, int] = {kind: 0 for kind in ("flush",) + REQUEST_TYPES}

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Bind the listening socket."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._stopped = asyncio.Event()
        if self._scheme == "unix":
            _remove_stale_socket(self._host)
            self._server = await asyncio.start_unix_server(self._on_connection, path=self._host)
        else:
            self._server = await asyncio.start_server(self._on_connection, host=self._host or None, port=self._port)
        if self._scheme == "unix":
            self._bound_address = "unix://" + self._host
        else:
            host, port = self._server.sockets[0].getsockname()[:2]
            if ":" in host:
                host = f"[{host}]"
            self._bound_address = f"tcp://{host}:{port}"
        self.log.info("ABCI server listening on %s", self._bound_address)

    async def serve_forever(self) -> None:
        """Start if needed, then serve until stop() is called."""
        if self._server is None:
            await self.start()
        await self._stopped.wait()

    async def stop(self) -> None:
        """Close the listener and every open connection."""
        if self._server is None or not self._server.is_serving():
            return  # never started, or already stopping
        self._server.close()
        # Aborting the transports ends each connection's read loop with EOF (or
        # its drain with an error) even when the peer stopped reading; cancelling
        # the tasks instead makes asyncio 3.11 log a spurious error.
        for writer in self._connections.values():
            writer.transport.abort()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        await self._server.wait_closed()
        if self._scheme == "unix":
            try:
                os.unlink(self._host)
            except FileNotFoundError:
                pass
        self._stopped.set()
        self.log.info("ABCI server on %s stopped", self.address)

    @property
    def bound_address(self) -> str:
        """The listening address, with the real port when port 0 was asked for."""
        if self._bound_address is None:
            raise RuntimeError("server not started")
        return self._bound_address

    # ---- one connection ----------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections[task] = writer
        peer = writer.get_extra_info("peername")
        peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else f"unix:{self._host}"
        self.log.info("ABCI connection opened from %s", peer)
        try:
            await self._serve(reader, writer, peer)
        except _CloseConnection:
            pass
        except OSError as exc:  # includes ConnectionResetError from the peer
            self.log.info("ABCI connection from %s failed: %s", peer, exc)
        finally:
            self._connections.pop(task, None)
            writer.close()
            self.log.info("ABCI connection from %s closed", peer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        decoder = FrameDecoder(self.max_frame_size)
        transport = writer.transport
        handlers = self._handlers
        counters = self.counters
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                if decoder.buffered:
                    self.log.warning("ABCI peer %s closed inside a frame (%d bytes pending)", peer, decoder.buffered)
                return
            try:
                frames = decoder.feed(data)
            except FramingError as exc:
                self.log.error("ABCI peer %s sent bad framing, closing: %s", peer, exc)
                raise _CloseConnection from exc
            # Responses of one read are joined into one write; the socket sees
            # them in request order because this loop is the only writer.
            out: list[bytes] = []
            try:
                for frame in frames:
                    req = abci.Request()
                    try:
                        req.ParseFromString(frame)
                    except DecodeError as exc:
                        self.log.error("ABCI peer %s sent an unparsable Request, closing: %s", peer, exc)
                        raise _CloseConnection from exc
                    kind = req.WhichOneof("value")
                    if kind == "flush":
                        counters["flush"] += 1
                        out.append(_FLUSH_FRAME)
                        writer.write(b"".join(out))
                        out.clear()
                        await writer.drain()
                        continue
                    handler = handlers.get(kind)
                    if handler is None:
                        self.log.error("ABCI peer %s sent a Request without a known type (%r), closing", peer, kind)
                        raise _CloseConnection
                    counters[kind] += 1
                    out.append(self._call(handler, kind, getattr(req, kind), peer))
            except _CloseConnection:
                if out:  # the answers before the bad request are still correct
                    writer.write(b"".join(out))
                raise
            if out:
                writer.write(b"".join(out))
            if transport.get_write_buffer_size() > _DRAIN_THRESHOLD:
                await writer.drain()

    def _call(self, handler, kind: str, request, peer: str) -> bytes:
        """Run one handler and return its framed Response."""
        tag, response_cls = _RESPONSES[kind]
        try:
            result = handler(request)
        except Exception as exc:
            # A handler that raises is a bug in the application; CometBFT cannot
            # be told about it safely, so drop the connection (CometBFT stops).
            self.log.exception("ABCI %s handler raised; closing the connection from %s", kind, peer)
            raise _CloseConnection from exc
        if not isinstance(result, response_cls):
            self.log.error(
                "ABCI %s handler returned %s, not %s; closing the connection from %s",
                kind, type(result).__name__, response_cls.__name__, peer,
            )
            raise _CloseConnection
        # Encode Response{<kind>: result} by hand: the oneof field is a single
        # length-delimited field, and this skips copying result into a Response.
        body = result.SerializeToString()
        inner = tag + encode_uvarint(len(body)) + body
        return encode_uvarint(len(inner)) + inner


def _remove_stale_socket(path: str) -> None:
    """Unlink a unix socket file nobody listens on; refuse to steal a live one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nothing answered: a leftover from a dead process
    else:
        raise OSError(f"another process is listening on {path}")
    finally:
        probe.close()
