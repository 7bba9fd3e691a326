"""Operator commands of a relay, as Hermes operators know them, reading the chains' state (never the running
relay's memory) through the chain endpoint:

- `find_pending`: packets committed in a source outbox and not yet settled, with whether the destination
  received them (then only the ack is missing) or not;
- `process_update_client`: bring the light client of a remote chain on the relay's chain up to the remote's
  latest header now (with the bisection steps the light client needs);
- `process_clear_packets`: deliver the unreceived packets of one direction and acknowledge the received ones,
  now, signed by the relay's key;
- `check_health`: every endpoint the relay depends on, each as one named check.

Transactions are signed with the relay's key at the account's next committed nonce. A running relay that uses
the same key learns of the jump from an `auth:11` refusal and re-syncs (relay/submitter.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import DistposError, NoRouteError, RelayError
from ..gen.distpos.v1 import interchain_pb2, query_pb2
from ..interchain import keys
from ..interchain.forwarding import is_final_ack_bytes, is_pending_ack
from ..interchain.records import decode_ack, decode_client_state, decode_packet
from ..lightclient.verifier import compute_update_path
from ..lightclient.types import light_block_to_proto
from ..crypto import KeyPair
from ..address import Address
from ..tx import build_tx
from ..fees import build_paid_tx
from .endpoint import CometEndpoint, get_min_gas_price
from .relayer import lookup_route
from .types import Submitted

# The newest sequences of a direction looked at by `find_pending` unless told otherwise (each is one state read;
# older pending packets are reported as not scanned rather than silently left out).
DEFAULT_MAX_SCAN = 5000
# Packets per recv or ack message of `clear packets` (the chain's own per-message cap is 16).
CLEAR_BATCH = 16


@dataclass(frozen=True)
class PendingPacket:
    source: str
    destination: str
    sequence: int
    amount: int
    received: bool  # the destination has an inbox record: only the ack to the source is missing
    success: bool | None  # the destination's answer when received (None while it forwards: multi-hop)
    forwarded: bool = False  # the destination forwarded it and waits for the next hop's outcome

    def to_json(self) -> dict:
        state = "forwarded" if self.forwarded else "unacked" if self.received else "unreceived"
        return {"source": self.source, "destination": self.destination, "sequence": self.sequence,
                "amount": str(self.amount), "state": state, "success": self.success}


@dataclass(frozen=True)
class DirectionScan:
    source: str
    destination: str
    next_sequence: int
    scanned_from: int  # lowest sequence looked at
    pending: tuple[PendingPacket, ...]


def compute_scan_range(next_sequence: int, max_scan: int) -> range:
    """The sequences to look at: the newest max_scan of 1 .. next_sequence - 1."""
    return range(max(1, next_sequence - max_scan), next_sequence)


def find_pending(source: CometEndpoint, destination: CometEndpoint, max_scan: int = DEFAULT_MAX_SCAN) -> DirectionScan:
    """The packets source committed for destination that are still in its outbox, and their state there."""
    dest = destination.chain_id
    raw_next = source.query(keys.full_next_sequence_key(dest)).value
    next_seq = int.from_bytes(raw_next, "big") if raw_next else 1
    seqs = list(compute_scan_range(next_seq, max_scan))
    outbox = source.query_many([keys.full_outbox_key(dest, s) for s in seqs])
    live = [(s, pr.value) for s, pr in zip(seqs, outbox) if pr.value is not None]
    inbox = destination.query_many([keys.full_inbox_key(source.chain_id, s) for s, _ in live])
    pending = []
    for (s, raw), rec in zip(live, inbox):
        packet = decode_packet(raw)
        ack = decode_ack(rec.value) if rec.value is not None else None
        forwarded = ack is not None and is_pending_ack(ack)
        pending.append(PendingPacket(source.chain_id, dest, s, packet.amount, ack is not None,
                                     None if ack is None or forwarded else ack.success, forwarded))
    return DirectionScan(source.chain_id, dest, next_seq, seqs[0] if seqs else next_seq, tuple(pending))


def open_peer(own: CometEndpoint, remote: str, timeout: float = 10.0) -> CometEndpoint:
    """An endpoint of remote through the routing entry in own's state."""
    route = lookup_route(own, remote)
    return CometEndpoint(remote, route.comet_rpc, timeout)


class Signer:
    """Signs and submits the relay's transactions to one chain at the account's next committed nonce."""

    def __init__(self, key: KeyPair, target: CometEndpoint, gas_price: int = 0) -> None:
        self.key = key
        self.target = target
        self.gas_price = gas_price  # milli-units per gas; 0 = the chain's min_gas_price
        self.address = str(Address.from_pub_key(target.chain_id, key.pub_key))

    def nonce(self) -> int:
        res = self.target.rpc.abci_query("/account", self.address.encode())
        return query_pb2.QueryAccountResponse.FromString(res["value"]).nonce if int(res.get("code") or 0) == 0 else 0

    def submit(self, field: str, msg) -> Submitted:
        price = self.gas_price or get_min_gas_price(self.target)
        raw = build_tx(self.key, self.target.chain_id, self.nonce(), field, msg)
        res = self.target.submit(build_paid_tx(self.key, raw, gas_price=price))
        if res.code != 0:
            raise RelayError(f"{field} on {self.target.chain_id} refused: {res.log}", chain_id=self.target.chain_id)
        return res


def process_update_client(signer: Signer, remote: CometEndpoint) -> list[int]:
    """Update the light client of remote on the signer's chain to remote's latest header; the heights submitted
    (empty when it is already there)."""
    target = signer.target
    raw = target.query(keys.PREFIX + keys.client_key(remote.chain_id)).value
    if raw is None:
        raise NoRouteError(f"chain {target.chain_id} has no light client of {remote.chain_id}")
    client = decode_client_state(raw)
    latest, _ = remote.latest()
    height = latest - 1  # the newest header whose commit is surely available
    if height <= client.latest_height:
        return []
    lb = remote.light_block(height)
    _, now = target.latest()
    done = []
    for step in compute_update_path(client, lb, remote.light_block, now):
        m = interchain_pb2.MsgUpdateClient(chain_id=remote.chain_id)
        light_block_to_proto(step, m.update)
        signer.submit("update_client", m)
        done.append(step.height)
    return done


def wait_for_height(endpoint: CometEndpoint, height: int, timeout: float) -> None:
    """Return once endpoint's chain is at height or above; raise RelayError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while endpoint.latest()[0] < height:
        if time.monotonic() > deadline:
            raise RelayError(f"chain {endpoint.chain_id} did not reach height {height} within {timeout:.0f} s",
                             chain_id=endpoint.chain_id)
        time.sleep(0.2)


def _trusted_height(target: CometEndpoint, remote: str) -> int:
    raw = target.query(keys.PREFIX + keys.client_key(remote)).value
    return decode_client_state(raw).latest_height if raw is not None else 0


def process_clear_packets(source: CometEndpoint, destination: CometEndpoint, to_destination: Signer,
                          to_source: Signer, max_scan: int = DEFAULT_MAX_SCAN) -> dict:
    """Deliver source's unreceived packets into destination, then acknowledge on source every packet destination
    received; returns what was done. Packets that can no longer be received (timed out) are left to the relay's
    timeout path."""
    scan = find_pending(source, destination, max_scan)
    unreceived = [p for p in scan.pending if not p.received]
    delivered: list[int] = []
    if unreceived:
        process_update_client(to_destination, source)
        height = _trusted_height(destination, source.chain_id)  # proofs of the state under that trusted header
        proofs = source.query_many([keys.full_outbox_key(destination.chain_id, p.sequence) for p in unreceived],
                                   height=height - 1, prove=True)
        ready = [(p, pr) for p, pr in zip(unreceived, proofs) if pr.value is not None and pr.proof is not None]
        last = 0
        for i in range(0, len(ready), CLEAR_BATCH):
            m = interchain_pb2.MsgRecvPackets(source_chain=source.chain_id, proof_height=height)
            for _, pr in ready[i:i + CLEAR_BATCH]:
                m.packets.add(packet=pr.value, proof=pr.proof.to_proto())
            last = to_destination.submit("recv_packets", m).height
            delivered += [p.sequence for p, _ in ready[i:i + CLEAR_BATCH]]
        # The receipts are provable once a header above their block exists: wait for it, bounded.
        wait_for_height(destination, last + 2, timeout=60)
    rescan = find_pending(source, destination, max_scan)
    received = [p for p in rescan.pending if p.received]
    acked: list[int] = []
    if received:
        process_update_client(to_source, destination)
        height = _trusted_height(source, destination.chain_id)
        acks = destination.query_many([keys.full_inbox_key(source.chain_id, p.sequence) for p in received],
                                      height=height - 1, prove=True)
        packets = source.query_many([keys.full_outbox_key(destination.chain_id, p.sequence) for p in received])
        ready_acks = [(p, raw.value, pr) for p, raw, pr in zip(received, packets, acks)
                      if raw.value is not None and pr.value is not None and pr.proof is not None
                      and is_final_ack_bytes(pr.value)]
        for i in range(0, len(ready_acks), CLEAR_BATCH):
            m = interchain_pb2.MsgAcknowledge(destination_chain=destination.chain_id, proof_height=height)
            for _, raw, pr in ready_acks[i:i + CLEAR_BATCH]:
                m.acks.add(packet=raw, ack=pr.value, proof=pr.proof.to_proto())
            to_source.submit("acknowledge", m)
            acked += [p.sequence for p, _, _ in ready_acks[i:i + CLEAR_BATCH]]
    return {"source": source.chain_id, "destination": destination.chain_id, "delivered": delivered,
            "acknowledged": acked, "left": [p.sequence for p in find_pending(source, destination, max_scan).pending]}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def check_health(own: CometEndpoint, remotes: list[str], relay_status, now_ns: int | None = None) -> list[Check]:
    """Each dependency of the relay as a check: its node, its own gRPC service (relay_status() -> dict), and per
    remote chain the route, the remote node and the light client (not frozen, inside its trusting period)."""
    checks: list[Check] = []

    def run(name: str, fn) -> object:
        try:
            detail = fn()
        except (DistposError, OSError, KeyError, ValueError) as exc:
            checks.append(Check(name, False, getattr(exc, "message", None) or type(exc).__name__))
            return None
        checks.append(Check(name, True, str(detail)))
        return detail

    top = run(f"node of {own.chain_id}", lambda: f"height {own.latest()[0]}")
    run("relay gRPC service", relay_status)
    if top is None:
        return checks
    now = now_ns if now_ns is not None else own.latest()[1] or time.time_ns()
    for remote in remotes:
        route = run(f"route to {remote}", lambda r=remote: lookup_route(own, r))
        if route is None:
            continue
        peer = CometEndpoint(remote, route.comet_rpc, 5.0)
        run(f"node of {remote}", lambda p=peer: f"height {p.latest()[0]}")

        def client(r=remote) -> str:
            raw = own.query(keys.PREFIX + keys.client_key(r)).value
            if raw is None:
                raise NoRouteError(f"no light client of {r} on {own.chain_id}")
            c = decode_client_state(raw)
            if c.is_frozen:
                raise RelayError(f"light client of {r} is frozen at height {c.frozen_height}", chain_id=r)
            left = c.latest_time_ns + c.trusting_period_ns - now
            if left <= 0:
                raise RelayError(f"light client of {r} expired: its trusting period ended", chain_id=r)
            return f"trusted height {c.latest_height}, {left // 1_000_000_000} s of trusting period left"
        run(f"light client of {remote}", client)
    return checks
