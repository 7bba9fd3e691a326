"""The one CometBFT JSON-RPC client (httpx), used by the CLI, the localnet tooling, the relay and the tests.

Connections are kept alive and shared by every `CometRPC` of the process (one `httpx.Client`, which is
thread-safe); an answer larger than `max_response_bytes` is refused while it streams in, never read whole.
Errors are typed, never told apart by their text:

- `NodeUnreachableError`: no answer (refused, timed out, cut off) or an HTTP 5xx that is not JSON-RPC; retry may help.
- `RpcCallError`: the node answered the call with a JSON-RPC error object (`rpc_code`, `rpc_data`).
- `RpcResponseError`: the answer is not JSON-RPC, or too large.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field

import httpx

from .errors import NodeUnreachableError, RpcCallError, RpcResponseError, TxRejectedError

# /block_results or /validators of a busy chain stay well below this; a larger answer is a broken or hostile node.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def get_shared_client() -> httpx.Client:
    """The process's keep-alive HTTP client (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                                   headers={"Content-Type": "application/json"})
        return _shared


@dataclass(frozen=True)
class Committed:
    """A transaction's on-chain result as CometBFT reports it."""

    hash: str
    height: int
    code: int
    codespace: str
    log: str
    events: tuple = field(default=(), compare=False)


def compute_rpc_params(params: dict[str, object]) -> dict[str, object]:
    """JSON-RPC params as CometBFT wants them: int64 as decimal strings, None left out."""
    return {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
            for k, v in params.items() if v is not None}


def normalize_rpc_url(url: str) -> str:
    """http://HOST:PORT for `tcp://HOST:PORT`, `HOST:PORT` or an http(s) URL."""
    url = url.rstrip("/")
    return url if url.startswith(("http://", "https://")) else "http://" + url.removeprefix("tcp://")


class CometRPC:
    """JSON-RPC over HTTP to one CometBFT node."""

    def __init__(self, url: str, timeout: float = 10.0, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 client: httpx.Client | None = None) -> None:
        self.url = normalize_rpc_url(url)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._client = client

    def _read(self, resp: httpx.Response) -> bytes:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise RpcResponseError(f"CometBFT RPC {self.url}: answer of {declared} bytes exceeds "
                                   f"{self.max_response_bytes}")
        body = bytearray()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > self.max_response_bytes:
                raise RpcResponseError(f"CometBFT RPC {self.url}: answer exceeds {self.max_response_bytes} bytes")
        return bytes(body)

    def call(self, method: str, **params: object) -> dict:
        """The `result` of method; NodeUnreachableError, RpcCallError or RpcResponseError otherwise."""
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": compute_rpc_params(params)}
        client = self._client or get_shared_client()
        try:
            with client.stream("POST", self.url, content=json.dumps(payload).encode(), timeout=self.timeout,
                               headers={"Content-Type": "application/json"}) as resp:
                status, body = resp.status_code, self._read(resp)
        except httpx.TransportError as exc:
            raise NodeUnreachableError(f"CometBFT RPC {self.url} unreachable: {type(exc).__name__} {exc}".strip()) from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # CometBFT answers JSON-RPC errors with a JSON body whatever the status; anything else is a proxy or a
            # node in trouble (5xx: retry may help) or not a CometBFT endpoint at all.
            if status >= 500:
                raise NodeUnreachableError(f"CometBFT RPC {self.url}: HTTP {status}")
            raise RpcResponseError(f"CometBFT RPC {self.url}: HTTP {status}, not a JSON-RPC answer")
        if isinstance(data.get("error"), dict):
            err = data["error"]
            code = err.get("code") if isinstance(err.get("code"), int) else 0
            detail = str(err.get("data") or "")
            raise RpcCallError(f"CometBFT RPC {method} failed: {err.get('message')} {detail}".strip(),
                               method=method, rpc_code=code, rpc_data=detail)
        if not isinstance(data.get("result"), dict):
            raise RpcResponseError(f"CometBFT RPC {self.url}: {method} answered without a result")
        return data["result"]

    def status(self) -> dict:
        """The node's /status result."""
        return self.call("status")

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        """The app's answer to a query, through CometBFT (response.value decoded to bytes)."""
        res = self.call("abci_query", path=path, data=data.hex(), height=height, prove=prove)["response"]
        res["value"] = base64.b64decode(res.get("value") or "")
        return res

    def broadcast_tx_sync(self, tx: bytes) -> dict:
        """Submit tx after CheckTx; raise TxRejectedError if CheckTx refused it."""
        res = self.call("broadcast_tx_sync", tx=base64.b64encode(tx).decode())
        if int(res.get("code", 0)) != 0:
            raise TxRejectedError(
                res.get("log", "rejected"), remote_codespace=res.get("codespace", ""), remote_code=int(res["code"])
            )
        return res

    def find_tx(self, tx_hash: bytes) -> Committed | None:
        """The committed result of tx_hash, or None while no block holds it (the kv tx indexer answers)."""
        res = self.call("tx_search", query=f"tx.hash='{tx_hash.hex().upper()}'", prove=False, page=1, per_page=1)
        txs = res.get("txs") or []
        if not txs:
            return None
        t, r = txs[0], txs[0]["tx_result"]
        return Committed(t["hash"], int(t["height"]), int(r.get("code", 0)), r.get("codespace", ""), r.get("log", ""),
                         tuple(r.get("events") or ()))

    def wait_for_tx(self, tx_hash: bytes, timeout: float = 30.0) -> Committed:
        """Poll until the transaction is in a committed block; NodeUnreachableError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while (committed := self.find_tx(tx_hash)) is None:
            if time.monotonic() > deadline:
                raise NodeUnreachableError(f"transaction {tx_hash.hex()} not committed within {timeout:.0f}s")
            time.sleep(0.1)
        return committed
