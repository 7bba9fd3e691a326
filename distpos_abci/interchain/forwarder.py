"""The keeper's multi-hop part: paths for outgoing transfers, forwarding at a middle hop, and settling a
forwarded packet (which writes the upstream packet's final ack). Mixed into InterchainKeeper, the only
writer of the interchain prefix; validation (compute_/validate_) stays apart from the writes (apply_/process_).

Money at a middle hop M between upstream U and downstream D, for an incoming packet of `amount_in`:
- forward:  U's reserve at M -amount_in, escrow +amount_in; a packet of amount_in - fee to D; pending ack to U.
- success:  escrow -amount_in, D's reserve at M +(amount_in - fee), forwarding fees +fee; success ack to U.
- failure:  escrow -amount_in, U's reserve at M +amount_in (all of it back); error ack to U with D's reason.
"""

from __future__ import annotations

import json

from ..address import Address
from ..errors import (
    CorrespondentClosedError,
    ForwardPendingError,
    FrozenDestinationError,
    NoCorrespondentError,
    NoRouteError,
    PacketTimedOutError,
)
from ..events import Event
from ..types import Amount, ChainId, Height
from . import keys
from .forwarding import (
    ForwardParams,
    compute_forward_fee,
    compute_forward_timeout,
    compute_pending_ack,
    is_pending_ack,
)
from .paths import compute_route_path, validate_path
from .records import Ack, Forward, Packet, decode_forward

MAX_FINAL_ERROR = 512  # characters of a downstream reason carried into the upstream ack


class ForwardingView:
    """Multi-hop reads of InterchainView (needs its store, chain_id and correspondent/route readers)."""

    def get_forward_params(self) -> ForwardParams:
        raw = self.store.get(keys.FORWARD_PARAMS)
        return ForwardParams.from_json(json.loads(raw)) if raw else ForwardParams()

    def get_forward(self, next_chain: str, sequence: int) -> Forward | None:
        """The record of a packet this chain forwarded to next_chain, until its outcome settles it."""
        raw = self.store.get(keys.forward_key(next_chain, sequence))
        return decode_forward(raw) if raw else None

    # ---- the source: which path ----------------------------------------------------------------------------

    def compute_transfer_path(self, destination: str, via: tuple[str, ...]) -> tuple[ChainId, ...]:
        """The path of a transfer to destination: () for a direct one (a correspondent, no path given), the
        sender's intermediate chains `via`, or the routing table's entries ("reach X via Y")."""
        params = self.get_forward_params()
        if via:
            return validate_path([self.chain_id, *via, destination], params.max_hops)
        if self.get_correspondent(destination) is not None:
            return ()

        def next_via(chain: str) -> tuple[str, int] | None:
            try:
                route = self.get_route(chain)
            except NoRouteError:
                return None
            return (route.via, route.max_hops) if route.via else None

        return compute_route_path(self.chain_id, destination, lambda c: self.get_correspondent(c) is not None,
                                  next_via, params.max_hops)



class ForwardingKeeper(ForwardingView):
    """Multi-hop writes of InterchainKeeper (needs its bank and correspondent helpers too)."""

    def apply_forward_params(self, params: ForwardParams) -> None:
        self.store.set(keys.FORWARD_PARAMS, params.encode())

    # ---- a middle hop: forward ------------------------------------------------------------------------------

    def validate_next_hop(self, next_chain: str) -> None:
        """Raise unless this chain can send to next_chain now (the same rules as a local send)."""
        corr = self.get_correspondent(next_chain)
        if corr is None:
            raise NoCorrespondentError(f"chain {self.chain_id} has no correspondent for the next hop {next_chain}")
        if corr.closed:
            raise CorrespondentClosedError(f"the next hop {next_chain} was closed by governance on {self.chain_id}")
        if self.require_client(next_chain).is_frozen:
            raise FrozenDestinationError(f"the light client of the next hop {next_chain} is frozen on {self.chain_id}")

    def compute_forward(self, packet: Packet, time_ns: int) -> tuple[ChainId, Amount, int]:
        """(next chain, fee, forwarded timeout time) for a packet this chain must forward; raise the
        InterchainError that becomes its error ack."""
        params = self.get_forward_params()
        next_chain = packet.path[packet.hop + 2]
        self.validate_next_hop(next_chain)
        fee = compute_forward_fee(params, packet.amount, packet.min_amount_out)
        timeout = compute_forward_timeout(params, packet.timeout_time_ns, time_ns)
        return next_chain, fee, timeout

    def apply_forward(self, source: str, packet: Packet, next_chain: ChainId, fee: Amount,
                      timeout_ns: int) -> tuple[list[Event], Ack]:
        """Take the packet's amount from source's reserve into escrow and commit the next packet; return the
        events and the pending ack to write for the incoming packet."""
        escrow = Address(self.chain_id, keys.ESCROW)
        events = self.bank.process_send(Address(self.chain_id, keys.compute_correspondent_account(source)), escrow,
                                        packet.amount)
        seq = self.get_next_sequence(next_chain)
        onward = Packet(seq, self.chain_id, next_chain, Address(self.chain_id, keys.FORWARDER), packet.recipient,
                        Amount(packet.amount - fee), Height(0), timeout_ns, packet.path, packet.hop + 1,
                        packet.origin, packet.min_amount_out)
        self.store.set(keys.next_sequence_key(next_chain), (seq + 1).to_bytes(8, "big"))
        self.store.set(keys.outbox_key(next_chain, seq), onward.encode())
        self.store.set(keys.forward_key(next_chain, seq), Forward(ChainId(source), packet.sequence, packet.amount,
                                                                  fee).encode())
        corr = self.require_correspondent(next_chain)
        self._set_correspondent(corr.evolve(sent=corr.sent + 1))
        events += [
            Event.of("send_packet", source=self.chain_id, destination=next_chain, sequence=seq,
                     sender=onward.sender, recipient=onward.recipient, amount=onward.amount, timeout_height=0,
                     timeout_time_ns=timeout_ns),
            Event.of("forward_packet", upstream=source, upstream_sequence=packet.sequence, next=next_chain,
                     sequence=seq, amount_in=packet.amount, fee=fee, amount_out=onward.amount,
                     origin_sender=packet.origin),
        ]
        return events, compute_pending_ack(next_chain, seq)

    # ---- a middle hop: the downstream outcome ---------------------------------------------------------------

    def validate_final_ack(self, destination: str, sequence: int, ack: Ack) -> None:
        """Raise ForwardPendingError for a pending ack: the destination forwarded and waits itself."""
        if is_pending_ack(ack):
            raise ForwardPendingError(f"packet {destination}/{sequence} was forwarded by {destination} and its "
                                      "outcome is not known yet; acknowledge it with the final ack")

    def process_settle_forward(self, packet: Packet, fwd: Forward, ack: Ack | None) -> list[Event]:
        """Settle a forwarded packet by its downstream ack (None: a proven timeout) and write the upstream
        packet's final ack: success pays the next hop's reserve and the fee; failure returns everything to the
        upstream chain's reserve, so its sender is refunded there."""
        dest = packet.destination_chain
        escrow = Address(self.chain_id, keys.ESCROW)
        if ack is not None and ack.success:
            events = self.bank.process_send(escrow, Address(self.chain_id, keys.compute_correspondent_account(dest)),
                                            packet.amount)
            if fwd.fee:
                events += self.bank.process_send(escrow, Address(self.chain_id, keys.FORWARD_FEES), fwd.fee)
            final, changed = Ack(True), dest
        else:
            events = self.bank.process_send(
                escrow, Address(self.chain_id, keys.compute_correspondent_account(fwd.upstream_chain)), fwd.amount_in)
            if ack is None:
                final = Ack(False, PacketTimedOutError.code, f"{dest}: the forwarded packet timed out")
            else:
                final = Ack(False, ack.error_code, f"{dest}: {ack.error}"[:MAX_FINAL_ERROR])
            changed = fwd.upstream_chain
        self.store.delete(keys.outbox_key(dest, packet.sequence))
        self.store.delete(keys.forward_key(dest, packet.sequence))
        self.store.set(keys.inbox_key(fwd.upstream_chain, fwd.upstream_sequence), final.encode())
        events.append(Event.of("forward_settled", upstream=fwd.upstream_chain, upstream_sequence=fwd.upstream_sequence,
                               next=dest, sequence=packet.sequence, success=final.success,
                               error_code=final.error_code, fee=fwd.fee if final.success else 0))
        events.extend(self._after_reserve_change(self.require_correspondent(changed), self.get_reserve(changed)))
        return events
