"""Instant credits that run themselves: the destination chain's relay claims and releases them (issue 11).

The relay of the destination chain follows every instant credit its chain gives (`instant_credit` events, with the
MsgInstantCredit read from the same transaction: the guarantees and the payer's signed transfer live nowhere else)
and, round after round, reads both chains' state to decide the next step of each:

  own credit settled by its packet (or gone)           -> done
  own credit released (paid out)                       -> done
  source recorded the payout (`ipaid`)                 -> MsgInstantRelease into the own chain
  source: the transfer's packet is held                -> MsgInstantClaim into the source (its held amount pays)
  source: packet delivered or in flight                -> wait (the packet settles the credit)
  source past the guarantee's expiry, nonce not used   -> MsgInstantClaim into the source (collateral pays)
  otherwise                                            -> wait

Why the destination's relay: the destination's reserve is the one owed, and only the destination's blocks carry
the guarantees and the signed transfer a claim needs. The claim goes into the source through its CometBFT RPC
(the routing entry, as a direct delivery), the release into the own chain. The chain refuses a second claim or
release (interchain:225) and changes nothing; the relay's durable queue keeps each credit until it is done, and
every decision is re-derived from chain state, so a restart at any point repeats nothing that took effect.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..address import parse_address
from ..codec import encode_canonical
from ..errors import DistposError, RelayError
from ..gen.distpos.v1 import interchain_pb2
from ..interchain import keys
from ..interchain.instant import (
    CREDITED, DELIVERED, HELD, HOLD_PAID, IN_FLIGHT, InstantSend, decode_instant_credit, decode_instant_send,
)
from ..interchain.msgs import decode_instant_credit_msg
from ..lightclient.types import light_block_to_proto
from ..tx import decode_tx
from .core import LocalPeer
from .types import Block

if TYPE_CHECKING:
    from .relayer import Relayer

log = logging.getLogger("distpos.relay")

DONE, WAIT, CLAIM, RELEASE = "done", "wait", "claim", "release"
REPLAYED_CODE = 225  # interchain: claimed / released already (someone else was first): nothing changed
NOT_CLAIMABLE_CODE = 227  # interchain: the nonce may still deliver: try later
WINDOW_CLOSED_CODE = 229  # interchain: too late to claim: nothing more this relay can do


@dataclass
class InstantEntry:
    """A credit the own chain gave, kept in the relay's queue until it is settled or released."""

    source: str
    key: str  # instant key, hex
    guarantees: list[str]  # canonical Guarantee bytes, hex, as the MsgInstantCredit carried them
    tx: str  # the payer's signed MsgInstantTransfer, hex
    payer: str
    nonce: int
    expiry_height: int  # on the source
    height: int  # own height of the credit

    def to_json(self) -> dict:
        return asdict(self)


def compute_instant_entries(block: Block, chain_id: str) -> list[InstantEntry]:
    """The instant credits a committed block of chain_id gave, with what a claim needs, read from the
    MsgInstantCredit of the transaction that emitted each `instant_credit` event (pure)."""
    out = []
    for tx in block.txs:
        if tx.code != 0 or not tx.raw or not any(ev.type == "instant_credit" for ev in tx.events):
            continue
        try:
            msg = decode_tx(tx.raw, {"instant_credit": decode_instant_credit_msg}).msg
        except DistposError:
            continue  # another message emitted it (a carrier): nothing this relay can claim with
        for ev in tx.events:
            if ev.type != "instant_credit" or ev.attrs.get("source") != msg.source:
                continue
            g = msg.guarantees[0]
            out.append(InstantEntry(msg.source, ev.attrs["key"], [encode_canonical(x.to_proto()).hex()
                                                                  for x in msg.guarantees],
                                    msg.tx.hex(), str(g.payer), g.nonce, g.expiry_height, block.height))
    return out


def compute_instant_step(credit_status: int | None, send: InstantSend | None, key: bytes, paid_out: bool,
                         source_height: int, expiry_height: int) -> str:
    """What to do next for one instant credit of the own chain, from both chains' state (pure)."""
    if credit_status != CREDITED:
        return DONE  # settled by its packet, released, or unknown: nothing is outstanding
    if paid_out:
        return RELEASE
    if send is not None and send.key == key:
        if send.status == HELD:
            return CLAIM
        if send.status in (DELIVERED, IN_FLIGHT):
            return WAIT  # the packet settles the credit (delivered), or will be held (in flight): look again
        if send.status == HOLD_PAID:
            return WAIT  # paid: its payout record is provable from the next source header
        return DONE  # the hold went back to the payer: never credited here, by the source's proof
    return CLAIM if source_height > expiry_height else WAIT


class InstantFollower:
    """The instant credits of one source: the inbound worker of (source -> own) runs `round` on its settle
    cadence; the supervisor's scan adds the entries (with the scan cursor, atomically)."""

    def __init__(self, sup: "Relayer", source: str) -> None:
        self.sup, self.source = sup, source

    def round(self) -> None:
        sup, src = self.sup, self.source
        entries = [InstantEntry(**d) for d in sup.queue.instant_records(src)]
        if not entries or not sup.is_due("instant", src):
            return
        try:
            target = sup.direct(src) if sup.direct is not None else None
            if target is None:
                raise RelayError(f"no route with a CometBFT RPC to {src}: its instant credits cannot be claimed",
                                 chain_id=src)
            self._advance_all(entries, target)
            sup.succeeded("instant", src)
        except DistposError as exc:
            sup.failed("instant", src, f"instant:{exc.codespace}:{exc.code}", exc.log)

    def _advance_all(self, entries: list[InstantEntry], target) -> None:
        """Read what decides every entry's step in two batched queries (own credits; the source's payouts and
        nonce records of the credits still outstanding), then take each step."""
        sup, src = self.sup, self.source
        credits = sup.ep.query_many([keys.full_instant_credit_key(src, bytes.fromhex(e.key)) for e in entries])
        statuses = [decode_instant_credit(c.value).status if c.value else None for c in credits]
        live = [e for e, s in zip(entries, statuses) if s == CREDITED]
        source_height, _ = target.latest()
        reads = target.query_many([k for e in live for k in (
            keys.full_instant_paid_key(sup.chain, bytes.fromhex(e.key)),
            keys.full_instant_send_key(parse_address(e.payer).account, e.nonce))]) if live else []
        found = {e.key: (reads[2 * i].value, reads[2 * i + 1].value) for i, e in enumerate(live)}
        for e, status in zip(entries, statuses):
            paid, raw_send = found.get(e.key, (None, None))
            send = decode_instant_send(raw_send) if raw_send else None
            self._advance(e, status, send, paid is not None, source_height, target)

    def _advance(self, e: InstantEntry, status: int | None, send: InstantSend | None, paid: bool,
                 source_height: int, target) -> None:
        sup, src, key = self.sup, self.source, bytes.fromhex(e.key)
        step = compute_instant_step(status, send, key, paid, source_height, e.expiry_height)
        if step == DONE:
            sup.queue.delete_instant(src, e.key)
            sup.metrics.instant.inc(chain_id=sup.chain, step="done", result="ok")
            log.info("chain=%s instant credit %s from %s done (credit status %s)", sup.chain, e.key, src, status)
        elif step == CLAIM:
            self._claim(e, key, target)
        elif step == RELEASE:
            self._release(e, key)

    def _claim(self, e: InstantEntry, key: bytes, target) -> None:
        """MsgInstantClaim into the source: the own credit record proven at the own chain's latest header."""
        sup, src = self.sup, self.source
        height, update, _ = sup.proof_point(sup.chain, LocalPeer(sup.core), target)
        proven = sup.ep.query(keys.full_instant_credit_key(src, key), height - 1, prove=True)
        if proven.value is None or proven.proof is None:
            return  # the credit is newer than the provable state: next round
        m = interchain_pb2.MsgInstantClaim(destination_chain=sup.chain, proof_height=height, tx=bytes.fromhex(e.tx),
                                           credit=proven.value, proof=proven.proof.to_proto())
        for g in e.guarantees:
            m.guarantees.add().ParseFromString(bytes.fromhex(g))
        if update is not None:
            light_block_to_proto(update, m.update)
        res = sup.submit_and_wait("instant_claim", m, target)
        self._count("claim", res.codespace, res.code)
        if res.code == 0:
            log.info("chain=%s claimed instant credit %s on %s at its height %d (proof height %d)", sup.chain, e.key,
                     src, res.height, height)
        elif res.code == REPLAYED_CODE and res.codespace == "interchain":
            log.info("chain=%s instant credit %s already claimed on %s: %s", sup.chain, e.key, src, res.log)
        elif res.code == WINDOW_CLOSED_CODE and res.codespace == "interchain":
            sup.queue.delete_instant(src, e.key)
            log.warning("chain=%s instant credit %s: claim window on %s closed, given up: %s", sup.chain, e.key, src,
                        res.log)
        elif res.code == NOT_CLAIMABLE_CODE and res.codespace == "interchain":
            # The source sees the nonce still able to pay (our read was older than its state): back off.
            raise RelayError(f"instant credit {e.key} not claimable on {src} yet: {res.log}", chain_id=src)
        else:
            raise RelayError(f"instant claim {e.key} on {src} refused: {res.log}", chain_id=src)

    def _release(self, e: InstantEntry, key: bytes) -> None:
        """MsgInstantRelease into the own chain: the source's payout record proven by the source's relay."""
        sup, src = self.sup, self.source
        peer = sup.route_peer(src)
        height, update, _ = sup.proof_point(src, peer)
        proven = sup.proofs(peer, [keys.full_instant_paid_key(sup.chain, key)], height - 1, src)[0]
        if proven.value is None or proven.proof is None:
            return  # the payout is newer than the source's provable state: next round
        m = interchain_pb2.MsgInstantRelease(source_chain=src, proof_height=height, key=key, payout=proven.value,
                                             proof=proven.proof.to_proto())
        if update is not None:
            light_block_to_proto(update, m.update)
        res = sup.submit_and_wait("instant_release", m)
        self._count("release", res.codespace, res.code)
        if res.code == 0 or (res.code == REPLAYED_CODE and res.codespace == "interchain"):
            sup.queue.delete_instant(src, e.key)
            log.info("chain=%s released instant credit %s of %s at height %d%s", sup.chain, e.key, src, res.height,
                     "" if res.code == 0 else " (someone else had)")
        else:
            raise RelayError(f"instant release {e.key} of {src} refused: {res.log}", chain_id=src)

    def _count(self, step: str, codespace: str, code: int) -> None:
        self.sup.metrics.instant.inc(chain_id=self.sup.chain, step=step,
                                     result="ok" if code == 0 else f"{codespace}:{code}")
