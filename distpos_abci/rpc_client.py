"""A small CometBFT JSON-RPC client (urllib only), used by the CLI and the tests."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from .errors import NodeUnreachableError, TxRejectedError


@dataclass(frozen=True)
class Committed:
    """A transaction's on-chain result as CometBFT's /tx reports it."""

    hash: str
    height: int
    code: int
    codespace: str
    log: str


class CometRPC:
    """JSON-RPC over HTTP to one CometBFT node."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            self.url = "http://" + self.url.removeprefix("tcp://")
        self.timeout = timeout

    def call(self, method: str, **params: object) -> dict:
        """Call method; raise NodeUnreachableError on transport or RPC errors."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            # CometBFT answers JSON-RPC errors with HTTP 500 and a JSON body that says why.
            try:
                data = json.loads(exc.read())
            except ValueError:
                raise NodeUnreachableError(f"CometBFT RPC {self.url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise NodeUnreachableError(f"CometBFT RPC {self.url} unreachable: {exc}") from None
        if "error" in data:
            err = data["error"]
            raise NodeUnreachableError(f"CometBFT RPC {method} failed: {err.get('message')} {err.get('data', '')}".strip())
        return data["result"]

    def status(self) -> dict:
        """The node's /status result."""
        return self.call("status")

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        """The app's answer to a query, through CometBFT (response.value decoded to bytes)."""
        res = self.call("abci_query", path=path, data=data.hex(), height=str(height), prove=prove)["response"]
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

    def wait_for_tx(self, tx_hash: bytes, timeout: float = 30.0) -> Committed:
        """Poll /tx until the transaction is in a committed block."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                res = self.call("tx", hash=base64.b64encode(tx_hash).decode(), prove=False)
            except NodeUnreachableError as exc:
                if "not found" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise NodeUnreachableError(f"transaction {tx_hash.hex()} not committed within {timeout:.0f}s") from None
                time.sleep(0.1)
                continue
            r = res["tx_result"]
            return Committed(res["hash"], int(res["height"]), int(r.get("code", 0)), r.get("codespace", ""), r.get("log", ""))
