"""What the dashboard shows, read only through the public APIs: CometBFT RPC and the nodes' and relays' gRPC.

`collect_snapshot` is a pure function of what those endpoints answer: a JSON-friendly dict with every chain
(heights, block time, app-hash agreement), its validators (stake, jailed, underwriting capacity in use), its
correspondent accounts (reserve, limits, suspension, frozen client, top-up due), its packets in flight (with the
age the collector first saw them), its outstanding guarantees and each relay's health. An endpoint that does
not answer is reported as such on the page; it never stops the others from being read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from ..errors import DistposError
from ..gen.distpos.v1 import (
    interchain_pb2,
    interchain_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    relay_pb2,
    relay_pb2_grpc,
    staking_pb2,
    staking_pb2_grpc,
    underwriting_pb2,
    underwriting_pb2_grpc,
)
from ..pagination import MAX_LIMIT
from ..rpc_client import CometRPC

GRPC_TIMEOUT = 2.0


@dataclass(frozen=True)
class NodeTarget:
    """One node: its CometBFT RPC and the app's gRPC address."""

    label: str
    rpc_url: str
    grpc_address: str


@dataclass(frozen=True)
class ChainTarget:
    chain_id: str
    nodes: tuple[NodeTarget, ...]


@dataclass(frozen=True)
class RelayTarget:
    chain_id: str
    grpc_address: str


@dataclass(frozen=True)
class Targets:
    """Everything the dashboard watches."""

    chains: tuple[ChainTarget, ...]
    relays: tuple[RelayTarget, ...] = ()

    @classmethod
    def from_network(cls, net) -> "Targets":
        """The targets of a localnet's network.json (distpos_abci.localnet.load_network)."""
        chains = tuple(ChainTarget(c.chain_id, tuple(NodeTarget(n.label, n.rpc_url, n.grpc_address) for n in c.nodes))
                       for c in net.chains)
        relays = tuple(RelayTarget(r.chain_id, r.grpc_address) for r in net.relays)
        return cls(chains, relays)


@dataclass
class FirstSeen:
    """When the collector first saw each packet in flight (the chain stores no send time)."""

    seen: dict[str, float] = field(default_factory=dict)

    def age(self, key: str, now: float) -> float:
        first = self.seen.setdefault(key, now)
        return now - first

    def forget_except(self, keys: set[str]) -> None:
        for k in [k for k in self.seen if k not in keys]:
            del self.seen[k]


def _call(channel: grpc.Channel, stub_cls, method: str, request):
    return getattr(stub_cls(channel), method)(request, timeout=GRPC_TIMEOUT)


def collect_pages(channel: grpc.Channel, stub_cls, method: str, request, field_name: str) -> list:
    """Every item of a paginated list query (distpos_abci/pagination.py), following next_page_key."""
    request.limit, items = MAX_LIMIT, []
    while True:
        answer = _call(channel, stub_cls, method, request)
        items.extend(getattr(answer, field_name))
        if not answer.next_page_key:
            return items
        request.page_key = answer.next_page_key


def _node_view(node: NodeTarget) -> dict:
    try:
        status = CometRPC(node.rpc_url, timeout=GRPC_TIMEOUT).status()
        sync = status["sync_info"]
        return {"label": node.label, "up": True, "height": int(sync["latest_block_height"]),
                "app_hash": str(sync["latest_app_hash"]), "block_time": str(sync["latest_block_time"])}
    except (DistposError, KeyError, ValueError, TypeError):
        return {"label": node.label, "up": False, "height": 0, "app_hash": "", "block_time": ""}


def _capacity(node: NodeTarget) -> dict | None:
    try:
        with grpc.insecure_channel(node.grpc_address) as ch:
            c = _call(ch, underwriting_pb2_grpc.UnderwritingStub, "Capacity", underwriting_pb2.CapacityRequest())
    except grpc.RpcError:
        return None
    return {"operator": c.operator_address, "bonded": c.bonded, "outstanding": c.outstanding,
            "reserved": c.reserved, "free_credit": c.free, "guarantees": [
                {"payer": g.payer, "nonce": g.nonce, "beneficiary": g.beneficiary, "amount": g.amount,
                 "total": g.total, "expiry_height": g.expiry_height} for g in c.guarantees]}


def _chain_view(chain: ChainTarget, peers: list[str], first_seen: FirstSeen, now: float) -> dict:
    nodes = [_node_view(n) for n in chain.nodes]
    up = [n for n in nodes if n["up"]]
    top = max((n["height"] for n in up), default=0)
    at_top = {n["app_hash"] for n in up if n["height"] == top}
    view: dict = {"chain_id": chain.chain_id, "nodes": nodes, "height": top, "app_hash_agree": len(at_top) <= 1,
                  "block_time": next((n["block_time"] for n in up if n["height"] == top), ""),
                  "validators": [], "correspondents": [], "packets": [], "guarantees": [], "supply": None,
                  "reachable": bool(up)}
    grpc_node = next((chain.nodes[i] for i, n in enumerate(nodes) if n["up"]), None)
    if grpc_node is None:
        return view
    capacities = {c["operator"]: c for c in (_capacity(n) for n in chain.nodes) if c is not None}
    try:
        with grpc.insecure_channel(grpc_node.grpc_address) as ch:
            view["supply"] = _call(ch, query_pb2_grpc.QueryStub, "Status", query_pb2.QueryStatusRequest()).total_supply
            for v in collect_pages(ch, staking_pb2_grpc.StakingStub, "Validators", staking_pb2.QueryValidatorsRequest(),
                               "validators"):
                cap = capacities.get(v.validator.operator_address, {})
                view["validators"].append({
                    "operator": v.validator.operator_address, "moniker": v.validator.moniker,
                    "bonded": v.validator.bonded, "power": v.power, "jailed": v.validator.jailed_until > 0,
                    "outstanding": cap.get("outstanding", 0), "free_credit": cap.get("free_credit", 0)})
                view["guarantees"].extend(cap.get("guarantees", []))
            for peer in peers:
                try:
                    c = _call(ch, interchain_pb2_grpc.InterchainStub, "GetCorrespondent",
                              interchain_pb2.QueryCorrespondentRequest(chain_id=peer))
                except grpc.RpcError:
                    continue
                lim = c.correspondent.limits
                view["correspondents"].append({
                    "chain_id": peer, "reserve": c.reserve, "suspended": c.correspondent.suspended,
                    "frozen": c.client_frozen_height > 0, "client_height": c.client_height,
                    "min_balance": lim.min_balance, "settle_threshold": lim.settle_threshold,
                    "per_packet_max": lim.per_packet_max, "top_up_due": c.reserve < lim.settle_threshold})
                for p in collect_pages(ch, interchain_pb2_grpc.InterchainStub, "ListPackets",
                                   interchain_pb2.QueryPacketsRequest(destination_chain=peer), "pending"):
                    key = f"{chain.chain_id}/{peer}/{p.sequence}"
                    view["packets"].append({"key": key, "source": chain.chain_id, "destination": peer,
                                            "sequence": p.sequence, "amount": p.amount, "sender": p.sender,
                                            "recipient": p.recipient, "age_s": round(first_seen.age(key, now), 1)})
    except grpc.RpcError as exc:
        view["error"] = f"gRPC {grpc_node.grpc_address}: {exc.code().name}"
    return view


def _relay_view(relay: RelayTarget) -> dict:
    try:
        with grpc.insecure_channel(relay.grpc_address) as ch:
            s = _call(ch, relay_pb2_grpc.RelayStub, "Status", relay_pb2.RelayStatusRequest())
    except grpc.RpcError as exc:
        return {"chain_id": relay.chain_id, "grpc": relay.grpc_address, "up": False, "error": exc.code().name}
    return {"chain_id": relay.chain_id, "grpc": relay.grpc_address, "up": True, "latest_height": s.latest_height,
            "pending_outbound": s.pending_outbound, "pending_inbound": s.pending_inbound, "delivered": s.delivered}


def collect_snapshot(targets: Targets, first_seen: FirstSeen, clock: Callable[[], float] = time.time) -> dict:
    """Read every endpoint once and return the page's data."""
    now = clock()
    ids = [c.chain_id for c in targets.chains]
    chains = [_chain_view(c, [p for p in ids if p != c.chain_id], first_seen, now) for c in targets.chains]
    first_seen.forget_except({p["key"] for c in chains for p in c["packets"]})
    return {"time": now, "chains": chains, "relays": [_relay_view(r) for r in targets.relays]}
