"""Three in-process chains for multi-hop tests: e2e4 - a1b2 - c3d4, where the end chains have correspondents
only at a1b2 and e2e4 reaches c3d4 through a routing entry "c3d4 via a1b2". A hand-driven relay moves packets,
acks and timeout proofs between neighbours."""

from __future__ import annotations

import json

from distpos_abci.app import DistposApp, default_modules
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import decode_packet, keys
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore

from .helpers import RELAYER, Chain, GovStub, ack_msg, genesis, recv_msg, update_proto

NEIGHBOURS = {"e2e4": ("a1b2",), "a1b2": ("e2e4", "c3d4"), "c3d4": ("a1b2",)}
VIA_ROUTES = {"e2e4": [{"chain_id": "c3d4", "via": "a1b2"}], "a1b2": [], "c3d4": [{"chain_id": "e2e4", "via": "a1b2"}]}


def open_hop_chain(tmp_path, chain: str, limits: dict[str, dict] | None = None, params: dict | None = None,
                   reserve: int = 1_000_000) -> Chain:
    """A chain of the e2e4 - a1b2 - c3d4 line with its neighbours' correspondents (limits per neighbour), its via
    routes and forwarding params."""
    limits = limits or {}
    state = json.loads(genesis(chain, {p: limits.get(p, {}) for p in NEIGHBOURS[chain]}, reserve))
    state["interchain"]["routes"] += VIA_ROUTES[chain]
    if params is not None:
        state["interchain"]["params"] = params
    stub = GovStub(chain)
    app = DistposApp(StateStore(Database(tmp_path / chain)), default_modules() + [stub])
    app.init_chain(chain, json.dumps(state).encode())
    c = Chain(chain, app, govstub=stub)
    c.block()
    return c


def three_chains(tmp_path, limits: dict[str, dict[str, dict]] | None = None, params: dict | None = None,
                 ) -> tuple[Chain, Chain, Chain]:
    limits = limits or {}
    return tuple(open_hop_chain(tmp_path, c, limits.get(c), params) for c in ("e2e4", "a1b2", "c3d4"))  # type: ignore[return-value]


def outbox(src: Chain, dest: str) -> list[int]:
    return [p.sequence for p in src.view.list_outbox(dest)]


def catch_up(c: Chain, other: Chain) -> None:
    """Blocks on c until its clock is not behind other's (block times follow heights here), so c's light
    client accepts other's next header."""
    while c.app.last_height < other.app.last_height:
        c.block()


def deliver(src: Chain, dst: Chain, seqs: list[int] | None = None):
    """Relay src's pending packets (or seqs) to dst; the TxResult."""
    catch_up(dst, src)
    seqs = outbox(src, dst.chain_id) if seqs is None else seqs
    return dst.tx(RELAYER, "recv_packets", recv_msg(src, seqs, dst.chain_id))


def acknowledge(src: Chain, dst: Chain, seqs: list[int]):
    """Relay dst's acks of src's packets seqs back to src; the TxResult."""
    catch_up(src, dst)
    raws = [src.view.get_outbox(dst.chain_id, s) for s in seqs]
    return src.tx(RELAYER, "acknowledge", ack_msg(dst, src.chain_id, raws))


def timeout(src: Chain, dst: Chain, seq: int, raw: bytes | None = None):
    """Relay a non-membership proof of src's packet seq on dst back to src; the TxResult."""
    catch_up(src, dst)
    raw = raw if raw is not None else src.view.get_outbox(dst.chain_id, seq)
    _, proof = dst.prove(keys.full_inbox_key(src.chain_id, decode_packet(raw).sequence))
    lb = dst.light_block()
    m = interchain_pb2.MsgTimeout(destination_chain=dst.chain_id, proof_height=lb.height, packet=raw,
                                  proof=proof.to_proto())
    update_proto(lb, m.update)
    return src.tx(RELAYER, "timeout", m)


def total_reserves_and_fees(c: Chain) -> int:
    """Every interchain module account of c: escrow, forwarding fees and each neighbour's reserve."""
    return (c.balance(keys.ESCROW) + c.balance(keys.FORWARD_FEES)
            + sum(c.reserve(p) for p in NEIGHBOURS[c.chain_id]))
