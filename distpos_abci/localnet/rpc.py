"""The few CometBFT RPC reads the tooling needs, through the project's one RPC client (`rpc_client.CometRPC`)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import NodeUnreachableError, RpcCallError, RpcResponseError
from ..rpc_client import CometRPC
from .errors import LocalnetError
from .plan import Network, Node


class RpcError(LocalnetError):
    """A CometBFT RPC call failed: node unreachable, HTTP error or JSON-RPC error."""

    code = 55


def rpc_get(rpc_url: str, method: str, timeout: float = 2.0, **params: Any) -> dict[str, Any]:
    """The `result` of a CometBFT JSON-RPC call (ints are sent as strings, as CometBFT encodes int64)."""
    try:
        return CometRPC(rpc_url, timeout=timeout).call(method, **params)
    except (NodeUnreachableError, RpcCallError, RpcResponseError) as exc:
        raise RpcError(exc.message) from None


@dataclass(frozen=True)
class NodeStatus:
    """What one node's /status said, or why it could not be asked.

    `app_hash` is /status's latest_app_hash: the app_hash of the latest block's *header*, that is the state
    after block height - 1 (CometBFT puts block H's app hash into header H + 1).
    """

    label: str
    chain_id: str
    rpc_url: str
    reachable: bool
    height: int | None = None
    app_hash: str | None = None
    catching_up: bool | None = None
    error: str | None = None


def get_node_status(node: Node, timeout: float = 2.0) -> NodeStatus:
    """The latest height and app hash of one node; reachable=False (with the reason) when it does not answer."""
    try:
        sync = rpc_get(node.rpc_url, "status", timeout=timeout)["sync_info"]
    except (RpcError, KeyError) as exc:
        return NodeStatus(node.label, node.chain_id, node.rpc_url, reachable=False, error=str(exc))
    return NodeStatus(
        node.label,
        node.chain_id,
        node.rpc_url,
        reachable=True,
        height=int(sync["latest_block_height"]),
        app_hash=sync["latest_app_hash"],
        catching_up=bool(sync["catching_up"]),
    )


def node_status(net: Network, nodes: list[Node] | None = None, timeout: float = 2.0) -> list[NodeStatus]:
    """The status of every node (or of `nodes`), asked in parallel, in network order."""
    targets = list(net.nodes if nodes is None else nodes)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(lambda n: get_node_status(n, timeout), targets))


@dataclass(frozen=True)
class AppHashCheck:
    """Each node's own app hash after the same height of one chain."""

    chain_id: str
    height: int | None
    # label -> upper-case hex app hash, or None when that node could not say.
    hashes: dict[str, str | None]

    @property
    def agree(self) -> bool:
        """True when every node of the chain answered with the same app hash."""
        values = list(self.hashes.values())
        return self.height is not None and None not in values and len(set(values)) == 1


def get_app_hash_at(node: Node, height: int, timeout: float = 2.0) -> str:
    """The app hash (upper-case hex) this node's own app returned for block `height` in FinalizeBlock."""
    # /block_results carries the node's locally stored FinalizeBlock response, so it shows what this node's app
    # computed. Header(height + 1).app_hash would show only what consensus agreed on, the same on every node.
    result = rpc_get(node.rpc_url, "block_results", timeout=timeout, height=height)
    # Bytes fields come base64-encoded here, while /status shows hashes as upper-case hex: use hex throughout.
    return base64.b64decode(result["app_hash"] or "").hex().upper()


def check_app_hashes(net: Network, statuses: list[NodeStatus] | None = None) -> list[AppHashCheck]:
    """Per chain, compare every node's app hash at the lowest latest height among its reachable nodes."""
    statuses = statuses if statuses is not None else node_status(net)
    by_label = {s.label: s for s in statuses}
    checks = []
    for chain in net.chains:
        answered = [by_label[n.label] for n in chain.nodes if n.label in by_label]
        # Height 0 (no block yet) has no block results to compare.
        heights = [s.height for s in answered if s.reachable and s.height]
        if not heights:
            checks.append(AppHashCheck(chain.chain_id, None, {n.label: None for n in chain.nodes}))
            continue
        # Nodes move on while we ask; the lowest latest height is one every reachable node has stored.
        height = min(heights)
        hashes: dict[str, str | None] = {}
        for node in chain.nodes:
            try:
                hashes[node.label] = get_app_hash_at(node, height)
            except (RpcError, KeyError):
                hashes[node.label] = None
        checks.append(AppHashCheck(chain.chain_id, height, hashes))
    return checks
