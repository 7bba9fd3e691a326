"""interchain keeper: light clients, outbox, inbox, acks, timeouts, correspondents and routes.

Every `process_*` validates everything first and writes last, so a raised DistposError leaves the
(transaction's cached) store untouched. Money moves only through BankKeeper transfers between local
accounts: a sender, the escrow account and the correspondent accounts; total supply never changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

from ..address import Address
from ..authority import GOV_AUTHORITY
from ..bank.keeper import BankKeeper
from ..errors import (
    ClientFrozenError,
    ClientNotFrozenError,
    ConflictingHeaderError,
    ConsensusStateMissingError,
    CorrespondentClosedError,
    CorrespondentSuspendedError,
    CorrespondentExistsError,
    DistposError,
    ExpiredInstantGuaranteeError,
    FrozenDestinationError,
    FrozenSourceError,
    InstantClaimWindowClosedError,
    InstantLimitError,
    InstantMismatchError,
    InstantNotClaimableError,
    InsufficientReservesError,
    InterchainError,
    InvalidPacketError,
    InvalidProofError,
    InvalidTrustRootError,
    MisbehaviourNotProvenError,
    NoCorrespondentError,
    NoRouteError,
    PacketOverLimitError,
    PacketTimedOutError,
    RateLimitedError,
    RecipientRejectedError,
    ReplayedInstantCreditError,
    ReplayedPacketError,
    TimeoutNotReachedError,
    TrustingPeriodExpiredError,
    UnauthorizedError,
    UnknownInstantCreditError,
    UnknownPacketError,
)
from ..events import Event
from ..lightclient import (
    ClientState,
    ConsensusState,
    LightBlock,
    compute_client_after,
    compute_evidence_hash,
    compute_header_hash,
    validate_conflicting_block,
    validate_light_block,
)
from ..lightclient.types import ValidatorSet
from ..lightclient.verifier import MAX_CLOCK_DRIFT_NS
from ..store import merkle
from ..store.kv import KVReader, KVStore, PrefixStore, iter_prefix_after
from ..types import AccountId, Amount, ChainId, Height
from ..underwriting.guarantee import Guarantee
from . import keys
from .forwarder import ForwardingKeeper, ForwardingView
from .forwarding import compute_origin_timeout
from .instant import (
    CREDITED,
    DELIVERED,
    IN_FLIGHT,
    PAID_OUT,
    HELD,
    HOLD_PAID,
    HOLD_RETURNED,
    SEEN,
    SETTLED,
    InstantCredit,
    InstantLimit,
    InstantPayout,
    InstantSend,
    MsgInstantTransfer,
    compute_instant_key,
    compute_packet_instant_key,
    compute_transfer_instant_key,
    decode_instant_credit,
    decode_instant_payout,
    decode_instant_send,
    encode_instant_limits,
    parse_instant_limits,
    validate_instant_guarantee_set,
    validate_instant_payment,
    validate_instant_signatures,
    validate_lifetime,
    validate_not_expired,
    validate_stake_covers,
)
from .policy import compute_failure_window, compute_refusal, compute_window
from .records import (
    Ack,
    Correspondent,
    Limits,
    Packet,
    Route,
    decode_ack,
    decode_client_state,
    decode_consensus_state,
    decode_correspondent,
    decode_packet,
    decode_route,
    encode_client_state,
    encode_consensus_state,
)

# Refusals that count towards a correspondent's failure rate (suspension and policy do not, so a
# suspended chain's rate does not spiral).
LIMIT_REFUSALS = (InsufficientReservesError, PacketOverLimitError, RateLimitedError)

# SEEN records expired per block at most, from each expiry queue (time, height); a backlog is worked off in the
# next blocks (a record kept longer only refuses what the timeout refuses anyway).
SEEN_EXPIRY_PER_BLOCK = 1024


def is_timed_out(packet: Packet, height: int, time_ns: int) -> bool:
    """True when a destination block at (height, time_ns) must refuse packet."""
    return is_timed_out_at(packet.timeout_height, packet.timeout_time_ns, height, time_ns)


def is_timed_out_at(timeout_height: int, timeout_time_ns: int, height: int, time_ns: int) -> bool:
    """True when a destination block at (height, time_ns) is at or past the timeout (0 = none)."""
    return bool((timeout_height and height >= timeout_height) or (timeout_time_ns and time_ns >= timeout_time_ns))


class InterchainView(ForwardingView):
    """Read-only access to the interchain prefix (queries, the relay, the full keeper)."""

    def __init__(self, store: KVStore | KVReader, chain_id: str) -> None:
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.raw = store
        self.chain_id = ChainId(chain_id)

    def get_client(self, chain_id: str) -> ClientState | None:
        raw = self.store.get(keys.client_key(chain_id))
        return decode_client_state(raw) if raw else None

    def require_client(self, chain_id: str) -> ClientState:
        client = self.get_client(chain_id)
        if client is None:
            raise NoCorrespondentError(f"no light client of chain {chain_id}")
        return client

    def require_unfrozen_client(self, chain_id: str) -> ClientState:
        """chain_id's light client; raise ClientFrozenError when misbehaviour froze it."""
        client = self.require_client(chain_id)
        if client.is_frozen:
            raise ClientFrozenError(
                f"light client of {chain_id} is frozen by misbehaviour at height {client.frozen_height}; "
                "governance must lift it with a fresh trust root"
            )
        return client

    def get_consensus(self, chain_id: str, height: int) -> ConsensusState | None:
        raw = self.store.get(keys.consensus_key(chain_id, height))
        return decode_consensus_state(raw) if raw else None

    def get_correspondent(self, chain_id: str) -> Correspondent | None:
        raw = self.store.get(keys.correspondent_key(chain_id))
        return decode_correspondent(raw) if raw else None

    def require_correspondent(self, chain_id: str) -> Correspondent:
        corr = self.get_correspondent(chain_id)
        if corr is None:
            raise NoCorrespondentError(f"chain {self.chain_id} has no correspondent account for chain {chain_id}")
        return corr

    def get_reserve(self, chain_id: str) -> Amount:
        """Balance of chain_id's correspondent account here."""
        return BankKeeper(self.raw).get_balance(keys.compute_correspondent_account(chain_id))

    def get_escrow(self) -> Amount:
        return BankKeeper(self.raw).get_balance(keys.ESCROW)

    def get_route(self, chain_id: str) -> Route:
        raw = self.store.get(keys.route_key(chain_id))
        if raw is None:
            raise NoRouteError(f"no route to chain {chain_id}")
        return decode_route(raw)

    def list_routes(self) -> list[Route]:
        return list(self.iter_routes())

    def iter_routes(self, after: str | None = None) -> Iterator[Route]:
        """Routing entries by chain-id; only those after chain-id `after`, if given."""
        for _, v in iter_prefix_after(self.store, keys.ROUTE, None if after is None else after.encode()):
            yield decode_route(v)

    def get_next_sequence(self, destination: str) -> int:
        raw = self.store.get(keys.next_sequence_key(destination))
        return int.from_bytes(raw, "big") if raw else 1

    def get_outbox(self, destination: str, sequence: int) -> bytes | None:
        return self.store.get(keys.outbox_key(destination, sequence))

    def list_outbox(self, destination: str) -> list[Packet]:
        """Packets to destination not yet acknowledged or timed out, in sequence order."""
        return list(self.iter_outbox(destination))

    def iter_outbox(self, destination: str, after: int | None = None) -> Iterator[Packet]:
        """Packets to destination not yet acknowledged or timed out, in sequence order; only those with a
        sequence above `after`, if given."""
        start = None if after is None else after.to_bytes(8, "big")
        for _, v in iter_prefix_after(self.store, keys.outbox_prefix(destination), start):
            yield decode_packet(v)

    def get_inbox(self, source: str, sequence: int) -> Ack | None:
        raw = self.store.get(keys.inbox_key(source, sequence))
        return decode_ack(raw) if raw else None

    # ---- instant credit reads

    def get_instant_limits(self) -> dict[str, InstantLimit]:
        """Instant-credit limits per correspondent, as governance set them (none: no instant credit)."""
        raw = self.store.get(keys.INSTANT_PARAMS)
        return parse_instant_limits(json.loads(raw)["instant_credit"], "instant_credit") if raw else {}

    def get_instant_limit(self, chain_id: str) -> InstantLimit:
        return self.get_instant_limits().get(chain_id, InstantLimit())

    def get_instant_outstanding(self, chain_id: str) -> Amount:
        """Instant credit given to chain_id's transfers here and not yet settled by a packet or paid out."""
        raw = self.store.get(keys.instant_outstanding_key(chain_id))
        return Amount(int.from_bytes(raw, "big")) if raw else Amount(0)

    def get_instant_credit(self, source: str, key: bytes) -> InstantCredit | None:
        raw = self.store.get(keys.instant_credit_key(source, key))
        return decode_instant_credit(raw) if raw else None

    def get_instant_send(self, payer: bytes, nonce: int) -> InstantSend | None:
        raw = self.store.get(keys.instant_send_key(payer, nonce))
        return decode_instant_send(raw) if raw else None

    def get_instant_payout(self, destination: str, key: bytes) -> InstantPayout | None:
        raw = self.store.get(keys.instant_paid_key(destination, key))
        return decode_instant_payout(raw) if raw else None

    def require_consensus(self, chain_id: str, height: int) -> ConsensusState:
        cons = self.get_consensus(chain_id, height)
        if cons is None:
            raise ConsensusStateMissingError(f"no verified header of {chain_id} at height {height}")
        return cons


class InterchainKeeper(ForwardingKeeper, InterchainView):
    """The full keeper: the only writer of the interchain prefix (multi-hop methods in forwarder.py)."""

    def __init__(self, store: KVStore, chain_id: str) -> None:
        super().__init__(store, chain_id)
        self.bank = BankKeeper(store)

    # ---- light clients ---------------------------------------------------------------------------------

    def validate_update_client(self, chain_id: str, lb: LightBlock, now_ns: int) -> bool:
        """Raise unless lb may update chain_id's client; False when that exact header is already trusted."""
        self.require_correspondent(chain_id)
        client = self.require_unfrozen_client(chain_id)
        h = lb.signed_header.header
        known = self.get_consensus(chain_id, h.height)
        if known is not None:
            # Relays racing each other resend headers: the same header changes nothing. Another one is
            # refused with its own code: if it verifies, it is evidence, and MsgSubmitMisbehaviour freezes.
            if known != ConsensusState(h.app_hash, h.time_ns):
                raise ConflictingHeaderError(
                    f"a different header of {chain_id} at height {h.height} is already trusted; if yours is "
                    "validly signed, submit it as MsgSubmitMisbehaviour to freeze the client"
                )
            return False
        validate_light_block(client, lb, now_ns)
        return True

    def apply_client_update(self, chain_id: str, lb: LightBlock) -> list[Event]:
        """Store the client state and consensus state after a validated lb (checks nothing)."""
        new_client, cons = compute_client_after(self.require_client(chain_id), lb)
        h = lb.signed_header.header
        self.store.set(keys.client_key(chain_id), encode_client_state(new_client))
        self.store.set(keys.consensus_key(chain_id, h.height), encode_consensus_state(cons))
        return [Event.of("update_client", chain=chain_id, height=h.height, app_hash=h.app_hash.hex())]

    def process_update_client(self, chain_id: str, lb: LightBlock, now_ns: int) -> list[Event]:
        """Verify lb against chain_id's light client and store its consensus state; a known header is a no-op."""
        if not self.validate_update_client(chain_id, lb, now_ns):
            return []
        return self.apply_client_update(chain_id, lb)

    # ---- misbehaviour ---------------------------------------------------------------------------------------

    def validate_misbehaviour(self, chain_id: str, lb1: LightBlock, lb2: LightBlock | None,
                              now_ns: int) -> bytes:
        """Raise unless lb1 and lb2 (same height, checked by the decoder) are two different blocks that both
        verify from the client's trusted state, or lb1 alone verifies and contradicts a stored consensus
        state; return the evidence hash."""
        self.require_correspondent(chain_id)
        client = self.require_unfrozen_client(chain_id)
        h1 = lb1.signed_header.header
        if h1.height <= client.root_height:
            # History before the trust root was never verified by this client (after an unfreeze: it may be the
            # very equivocation governance already dealt with). Replaying it must not freeze the client again.
            raise MisbehaviourNotProvenError(
                f"evidence at height {h1.height} is at or below the trust root height {client.root_height} of {chain_id}")
        validate_conflicting_block(client, lb1, now_ns)
        if lb2 is not None:
            validate_conflicting_block(client, lb2, now_ns)
            if compute_header_hash(h1) == compute_header_hash(lb2.signed_header.header):
                raise MisbehaviourNotProvenError(f"both headers of {chain_id} at height {h1.height} are the same block")
            return compute_evidence_hash(lb1, lb2)
        known = self.get_consensus(chain_id, h1.height)
        if known is None:
            raise MisbehaviourNotProvenError(
                f"no verified header of {chain_id} at height {h1.height} to conflict with; submit two headers"
            )
        if known == ConsensusState(h1.app_hash, h1.time_ns):
            raise MisbehaviourNotProvenError(f"header of {chain_id} at height {h1.height} agrees with the trusted one")
        return compute_evidence_hash(lb1)

    def apply_freeze(self, chain_id: str, height: int, evidence_hash: bytes) -> list[Event]:
        """Freeze chain_id's client at remote height with the evidence hash (checks nothing)."""
        client = self.require_client(chain_id)
        frozen = replace(client, frozen_height=height, frozen_evidence_hash=evidence_hash)
        self.store.set(keys.client_key(chain_id), encode_client_state(frozen))
        return [Event.of("client_frozen", chain=chain_id, height=height, evidence_hash=evidence_hash.hex())]

    def process_submit_misbehaviour(self, chain_id: str, lb1: LightBlock, lb2: LightBlock | None,
                                    now_ns: int) -> list[Event]:
        """Freeze chain_id's light client on proof that its validators signed conflicting blocks."""
        evidence = self.validate_misbehaviour(chain_id, lb1, lb2, now_ns)
        return self.apply_freeze(chain_id, lb1.height, evidence)

    # ---- sending ------------------------------------------------------------------------------------------

    def process_send(self, sender: Address, recipient: Address, amount: Amount, timeout_height: int,
                     timeout_time_ns: int, now_ns: int, via: tuple[str, ...] = (),
                     min_amount_out: Amount = Amount(0), relay_fee: Amount = Amount(0)) -> list[Event]:
        """Escrow amount and relay_fee from sender and commit a packet towards recipient's chain in the outbox:
        directly to a correspondent, or along a multi-hop path (the sender's `via` chains, or the routing table's)."""
        path = self.compute_transfer_path(recipient.chain_id, via)
        dest = path[1] if path else recipient.chain_id
        corr = self.require_correspondent(dest)
        if corr.closed:
            raise CorrespondentClosedError(f"correspondent {dest} was closed by governance: nothing is sent to it")
        if self.require_client(dest).is_frozen:
            raise FrozenDestinationError(
                f"light client of {dest} is frozen: no ack or timeout from it could be proven, so nothing is sent"
            )
        if path:
            timeout_time_ns = compute_origin_timeout(self.get_forward_params(), timeout_height, timeout_time_ns,
                                                     corr.limits.default_timeout_ns, len(path) - 1, now_ns)
        elif not timeout_height and not timeout_time_ns:
            timeout_time_ns = now_ns + corr.limits.default_timeout_ns
        seq = self.get_next_sequence(dest)
        packet = Packet(seq, self.chain_id, dest, sender, recipient, amount, Height(timeout_height), timeout_time_ns,
                        path, 0, sender if path else None, min_amount_out if path else Amount(0), relay_fee)
        events = self.bank.process_send(sender, Address(self.chain_id, keys.ESCROW), Amount(amount + relay_fee))
        self.store.set(keys.next_sequence_key(dest), (seq + 1).to_bytes(8, "big"))
        self.store.set(keys.outbox_key(dest, seq), packet.encode())
        self._set_correspondent(corr.evolve(sent=corr.sent + 1))
        return [*events, Event.of(
            "send_packet", source=self.chain_id, destination=dest, sequence=seq, sender=sender,
            recipient=recipient, amount=amount, timeout_height=timeout_height, timeout_time_ns=timeout_time_ns,
            **({"path": "->".join(path)} if path else {}),
            relay_fee=relay_fee,
        )]

    # ---- receiving ----------------------------------------------------------------------------------------

    def validate_source_not_frozen(self, source: str) -> None:
        """Raise FrozenSourceError when source's light client is frozen (its packets then time out at home)."""
        self.require_correspondent(source)
        client = self.require_client(source)
        if client.is_frozen:
            raise FrozenSourceError(
                f"packets from {source} are refused: its light client is frozen by misbehaviour at height "
                f"{client.frozen_height}; they time out and are refunded on {source}"
            )

    def validate_recv(self, source: str, proof_height: int, raw: bytes, proof: merkle.MerkleProof,
                      height: int, time_ns: int) -> Packet:
        """Raise unless raw is a packet from source to this chain, proven, new and not timed out."""
        self.validate_source_not_frozen(source)
        cons = self.require_consensus(source, proof_height)
        packet = decode_packet(raw)
        if packet.source_chain != source or packet.destination_chain != self.chain_id:
            raise InvalidPacketError(
                f"packet {packet.source_chain}->{packet.destination_chain} delivered as {source}->{self.chain_id}"
            )
        key = keys.full_outbox_key(self.chain_id, packet.sequence)
        if not merkle.verify_membership(cons.app_hash, key, raw, proof):
            raise InvalidProofError(f"packet {source}/{packet.sequence} is not proven in {source}'s state at {proof_height}")
        if self.store.get(keys.inbox_key(source, packet.sequence)) is not None:
            raise ReplayedPacketError(f"packet {source}/{packet.sequence} was already received")
        if is_timed_out(packet, height, time_ns):
            raise PacketTimedOutError(f"packet {source}/{packet.sequence} is past its timeout")
        return packet

    def process_recv(self, source: str, proof_height: int, raw: bytes, proof: merkle.MerkleProof,
                     height: Height, time_ns: int) -> list[Event]:
        """Receive one proven packet: pay it from source's reserve or refuse it; write the ack either way."""
        corr = self.require_correspondent(source)
        packet = self.validate_recv(source, proof_height, raw, proof, height, time_ns)
        instant_key = compute_packet_instant_key(packet)
        credit = self.get_instant_credit(source, instant_key)
        if credit is not None and credit.status == CREDITED:
            return self.apply_instant_settle(source, packet, instant_key, credit, height)
        reserve = self.get_reserve(source)
        refusal = compute_refusal(corr, reserve, packet.amount, height)
        events: list[Event] = []
        ack = Ack(True)
        if refusal is None and not packet.is_final:
            try:
                next_chain, fee, timeout_ns = self.compute_forward(packet, time_ns)
            except InterchainError as exc:  # the next hop cannot take it now: an error ack, refunded upstream
                refusal = exc
            else:
                events, ack = self.apply_forward(source, packet, next_chain, fee, timeout_ns)
        elif refusal is None:
            try:
                events = self.bank.process_send(
                    Address(self.chain_id, keys.compute_correspondent_account(source)), packet.recipient, packet.amount
                )
            except DistposError as exc:  # recipient balance overflow: refuse, never fail the relay's tx
                refusal = RecipientRejectedError(exc.message)
        fw_start, fw_ok, fw_failed = compute_failure_window(corr, height)
        if refusal is None:
            start, used = compute_window(corr, height)
            corr = corr.evolve(window_start=start, window_used=used + packet.amount, received_ok=corr.received_ok + 1,
                               failure_window_start=fw_start, window_ok=fw_ok + 1, window_failed=fw_failed)
            reserve = Amount(reserve - packet.amount)
            if credit is None and (packet.timeout_height or packet.timeout_time_ns):
                # Paid as an ordinary transfer: should it have been an instant one, its credit, arriving
                # later, must not pay the recipient a second time. Needed only until the packet's timeout
                # (a credit is refused from then on), so the record is listed for expiry at that timeout.
                # A packet with no timeout at all can never match an instant key (an instant transfer
                # always has one): no record.
                self.apply_seen_record(source, packet, instant_key, height)
        else:
            counted = 1 if isinstance(refusal, LIMIT_REFUSALS) else 0
            corr = corr.evolve(received_failed=corr.received_failed + counted, failure_window_start=fw_start,
                               window_ok=fw_ok, window_failed=fw_failed + counted)
            ack = Ack(False, refusal.code, refusal.message)
        self.store.set(keys.inbox_key(source, packet.sequence), ack.encode())
        events.append(Event.of("recv_packet", source=source, destination=self.chain_id, sequence=packet.sequence,
                               recipient=packet.recipient, amount=packet.amount, success=ack.success,
                               error_code=ack.error_code))
        events.extend(self._after_reserve_change(corr, reserve))
        return events

    def apply_seen_record(self, source: str, packet: Packet, instant_key: bytes, height: Height) -> None:
        """Write the SEEN record of an ordinarily paid packet and list it for expiry at its timeout: the
        destination time when the packet has a timeout time, else its destination height (checks nothing)."""
        self.store.set(keys.instant_credit_key(source, instant_key), InstantCredit(SEEN, height=height).encode())
        by_time = bool(packet.timeout_time_ns)
        due = packet.timeout_time_ns if by_time else packet.timeout_height
        self.store.set(keys.seen_expiry_key(by_time, due, source, instant_key), b"")

    def process_seen_expiry(self, height: int, time_ns: int, budget: int = SEEN_EXPIRY_PER_BLOCK) -> list[Event]:
        """End of block (height, time_ns): delete the SEEN records whose packet timed out at this block (due
        time <= time_ns, or due height <= height), in key order (oldest due first), at most `budget` from each
        queue; the rest wait for the next blocks. Every later block is past the timeout too, so a credit of
        that transfer is refused by its timeout (222) once the record is gone, never paid twice."""
        deleted = 0
        for prefix, now in ((keys.SEEN_EXPIRY_TIME, time_ns), (keys.SEEN_EXPIRY_HEIGHT, height)):
            due_entries: list[bytes] = []
            for k, _ in self.store.iter_prefix(prefix):
                if len(due_entries) >= budget or int.from_bytes(k[len(prefix):len(prefix) + 8], "big") > now:
                    break
                due_entries.append(k)
            for k in due_entries:
                _, source, instant_key = keys.split_seen_expiry_key(k[len(prefix):])
                credit = self.get_instant_credit(source, instant_key)
                if credit is not None and credit.status == SEEN:
                    self.store.delete(keys.instant_credit_key(source, instant_key))
                    deleted += 1
                self.store.delete(k)
        return [Event.of("instant_seen_expired", count=deleted)] if deleted else []

    def _after_reserve_change(self, corr: Correspondent, reserve: Amount) -> list[Event]:
        """Store corr, suspending or resuming it by its reserve; emit a top-up request below the threshold."""
        events = []
        limits = corr.limits
        if not corr.suspended and reserve < limits.min_balance:
            corr = corr.evolve(suspended=True)
            events.append(Event.of("correspondent_suspended", chain=corr.chain_id, reserve=reserve))
        elif corr.suspended and reserve >= limits.min_balance:
            corr = corr.evolve(suspended=False)
            events.append(Event.of("correspondent_resumed", chain=corr.chain_id, reserve=reserve))
        if reserve < limits.settle_threshold:
            events.append(Event.of("top_up_request", chain=corr.chain_id, reserve=reserve,
                                   settle_threshold=limits.settle_threshold))
        self._set_correspondent(corr)
        return events

    # ---- acknowledgements and timeouts ------------------------------------------------------------------

    def _require_outgoing(self, destination: str, raw: bytes) -> Packet:
        packet = decode_packet(raw)
        if packet.source_chain != self.chain_id or packet.destination_chain != destination:
            raise InvalidPacketError(f"packet {packet.source_chain}->{packet.destination_chain} is not ours to {destination}")
        if self.store.get(keys.outbox_key(destination, packet.sequence)) != raw:
            raise UnknownPacketError(f"packet {destination}/{packet.sequence} is not pending in the outbox")
        return packet

    def _settle(self, packet: Packet, refund: bool, relayer: Address | None = None,
                ack: Ack | None = None) -> list[Event]:
        """Release an outgoing packet's escrow: the amount to the destination's reserve here, or back to the
        sender; the relay fee to the relayer that proved the ack, or (a timeout: relayer None) back to the
        sender. The outbox entry goes with it, so this happens once per packet. A packet this chain forwarded
        settles through its forward record (ack None: a timeout); forwarded packets carry no relay fee.
        An instant transfer's refund is held until the destination proves whether it credited it."""
        dest = packet.destination_chain
        fwd = self.get_forward(dest, packet.sequence)
        if fwd is not None:
            return self.process_settle_forward(packet, fwd, ack)
        escrow = Address(self.chain_id, keys.ESCROW)
        instant = self._take_instant_index(packet)
        if not refund:
            to = Address(self.chain_id, keys.compute_correspondent_account(dest))
        else:
            to = Address(self.chain_id, keys.INSTANT_HOLD) if instant is not None else packet.sender
        events = self.bank.process_send(escrow, to, packet.amount)
        if packet.relay_fee:
            events += self.bank.process_send(escrow, relayer or packet.sender, packet.relay_fee)
            events.append(Event.of("relay_fee_paid" if relayer else "relay_fee_refunded", destination=dest,
                                   sequence=packet.sequence, to=relayer or packet.sender, amount=packet.relay_fee))
        self.store.delete(keys.outbox_key(dest, packet.sequence))
        if instant is not None:
            events.extend(self._apply_instant_send_outcome(*instant, HELD if refund else DELIVERED))
        if not refund:
            corr = self.require_correspondent(dest)
            events.extend(self._after_reserve_change(corr, self.get_reserve(dest)))
        return events

    def process_acknowledge(self, destination: str, proof_height: int, raw_packet: bytes, raw_ack: bytes,
                            proof: merkle.MerkleProof, relayer: Address) -> list[Event]:
        """Settle a packet by its proven ack: success pays destination's reserve here, an error refunds; either
        way the relay fee goes to relayer (the signer that delivered the proof)."""
        self.require_unfrozen_client(destination)
        cons = self.require_consensus(destination, proof_height)
        packet = self._require_outgoing(destination, raw_packet)
        key = keys.full_inbox_key(self.chain_id, packet.sequence)
        if not merkle.verify_membership(cons.app_hash, key, raw_ack, proof):
            raise InvalidProofError(f"ack of {destination}/{packet.sequence} is not proven at {proof_height}")
        ack = decode_ack(raw_ack)
        self.validate_final_ack(destination, packet.sequence, ack)
        events = self._settle(packet, refund=not ack.success, relayer=relayer, ack=ack)
        events.append(Event.of("acknowledge_packet", destination=destination, sequence=packet.sequence,
                               success=ack.success, error_code=ack.error_code, refunded=not ack.success))
        return events

    def process_timeout(self, destination: str, proof_height: int, raw_packet: bytes,
                        proof: merkle.MerkleProof) -> list[Event]:
        """Refund a packet the destination provably never received before its timeout.

        Header proof_height carries the app hash of state proof_height - 1 and the time of block proof_height.
        Blocks from proof_height on refuse the packet when proof_height >= timeout_height or that block's
        time >= timeout_time, so an absent receipt in state proof_height - 1 is final.
        """
        self.require_unfrozen_client(destination)
        cons = self.require_consensus(destination, proof_height)
        packet = self._require_outgoing(destination, raw_packet)
        if not is_timed_out(packet, proof_height, cons.time_ns):
            raise TimeoutNotReachedError(
                f"packet {destination}/{packet.sequence} has not timed out at {destination} height {proof_height}"
            )
        key = keys.full_inbox_key(self.chain_id, packet.sequence)
        if not merkle.verify_non_membership(cons.app_hash, key, proof):
            raise InvalidProofError(f"no proof that {destination} never received packet {packet.sequence}")
        events = self._settle(packet, refund=True, relayer=None)
        events.append(Event.of("timeout_packet", destination=destination, sequence=packet.sequence,
                               sender=packet.sender, amount=packet.amount, relay_fee=packet.relay_fee))
        return events

    # ---- correspondents and routes ----------------------------------------------------------------------

    def _set_correspondent(self, corr: Correspondent) -> None:
        self.store.set(keys.correspondent_key(corr.chain_id), corr.encode())

    def validate_authority(self, authority: AccountId, what: str) -> None:
        """Raise unless authority is the governance module account (no key controls it)."""
        if authority != GOV_AUTHORITY:
            raise UnauthorizedError(f"{what}: only the governance authority of {self.chain_id} may do this")

    def process_open_correspondent(self, chain_id: str, limits: Limits, root_height: int, root_time_ns: int,
                                   root_validators: ValidatorSet, trusting_period_ns: int,
                                   unbonding_period_ns: int) -> list[Event]:
        """Open chain_id's correspondent account and its light client from a trust root (validated by the
        decoder: trusting period shorter than the remote unbonding period)."""
        if chain_id == self.chain_id:
            raise InvalidPacketError("a chain cannot open a correspondent account for itself")
        if self.get_correspondent(chain_id) is not None:
            raise CorrespondentExistsError(f"correspondent {chain_id} is already open")
        client = ClientState(chain_id, root_height, root_time_ns, trusting_period_ns, root_validators,
                             unbonding_period_ns, root_height=root_height)
        self.store.set(keys.client_key(chain_id), encode_client_state(client))
        corr = Correspondent(ChainId(chain_id), limits)
        events = self._after_reserve_change(corr, self.get_reserve(chain_id))
        return [Event.of("open_correspondent", chain=chain_id, account=keys.compute_correspondent_account(chain_id).hex(),
                         trusted_height=root_height), *events]

    def process_top_up(self, sender: Address, chain_id: str, amount: Amount) -> list[Event]:
        """Move amount from sender into chain_id's reserve; a reserve back at the minimum resumes it."""
        corr = self.require_correspondent(chain_id)
        events = self.bank.process_send(sender, Address(self.chain_id, keys.compute_correspondent_account(chain_id)), amount)
        reserve = self.get_reserve(chain_id)
        events.append(Event.of("top_up", chain=chain_id, amount=amount, reserve=reserve))
        events.extend(self._after_reserve_change(corr, reserve))
        return events

    def process_set_limits(self, chain_id: str, limits: Limits) -> list[Event]:
        """Replace chain_id's limits (validated by the decoder); suspension follows the new minimum at once."""
        corr = self.require_correspondent(chain_id)
        events = [Event.of("set_limits", chain=chain_id, min_balance=limits.min_balance,
                           per_packet_max=limits.per_packet_max, rate_limit=limits.rate_limit,
                           max_failure_pct=limits.max_failure_pct)]
        return events + self._after_reserve_change(corr.evolve(limits=limits), self.get_reserve(chain_id))

    def process_close_correspondent(self, chain_id: str) -> list[Event]:
        """Close chain_id's correspondent: sends to it are refused and its packets get an error ack (119);
        the light client keeps working so packets in flight still settle; the reserve stays where it is."""
        corr = self.require_correspondent(chain_id)
        if corr.closed:
            raise CorrespondentClosedError(f"correspondent {chain_id} is already closed")
        self._set_correspondent(corr.evolve(closed=True))
        return [Event.of("correspondent_closed", chain=chain_id, reserve=self.get_reserve(chain_id))]

    def process_unfreeze_client(self, chain_id: str, root_height: int, root_time_ns: int,
                                root_validators: ValidatorSet, root_app_hash: bytes, now_ns: int) -> list[Event]:
        """Lift a freeze: the client restarts from the fresh trust root (periods unchanged) and every consensus
        state of chain_id is dropped, since one of them may be the forged header."""
        self.require_correspondent(chain_id)
        client = self.require_client(chain_id)
        if not client.is_frozen:
            raise ClientNotFrozenError(f"light client of {chain_id} is not frozen")
        if root_time_ns + client.trusting_period_ns <= now_ns:
            raise TrustingPeriodExpiredError(f"the new trust root of {chain_id} is already past the trusting period")
        if root_time_ns >= now_ns + MAX_CLOCK_DRIFT_NS:
            raise InvalidTrustRootError(f"the new trust root of {chain_id} is in the future of this chain's time")
        if root_height <= client.frozen_height:
            # The root must be past the equivocation, or the evidence that froze the client would still be
            # "above the root" and could freeze it again at once.
            raise InvalidTrustRootError(
                f"the new trust root of {chain_id} must be above the frozen height {client.frozen_height}")
        stale = [k for k, _ in self.store.iter_prefix(keys.consensus_prefix(chain_id))]
        for k in stale:
            self.store.delete(k)
        fresh = ClientState(chain_id, root_height, root_time_ns, client.trusting_period_ns, root_validators,
                            client.unbonding_period_ns, root_height=root_height)
        self.store.set(keys.client_key(chain_id), encode_client_state(fresh))
        if root_app_hash and root_height > 0:
            self.store.set(keys.consensus_key(chain_id, root_height),
                           encode_consensus_state(ConsensusState(root_app_hash, root_time_ns)))
        return [Event.of("client_unfrozen", chain=chain_id, trusted_height=root_height,
                         previous_frozen_height=client.frozen_height, dropped_consensus_states=len(stale))]

    def apply_route(self, route: Route) -> list[Event]:
        self.store.set(keys.route_key(route.chain_id), route.encode())
        return [Event.of("set_route", chain=route.chain_id, relay_grpc=route.relay_grpc, comet_rpc=route.comet_rpc)]

    # ---- instant credit: the destination ----------------------------------------------------------------

    def apply_instant_limits(self, limits: dict[str, InstantLimit]) -> list[Event]:
        """Store the instant-credit limits (validated by the caller: genesis or governance)."""
        self.store.set(keys.INSTANT_PARAMS, encode_instant_limits(limits))
        return [Event.of("instant_limits", **{c: f"{v.limit}/{v.stake_per_power}" for c, v in sorted(limits.items())})]

    def validate_instant_credit(self, source: str, gs: tuple[Guarantee, ...], transfer: MsgInstantTransfer,
                                signer: bytes, nonce: int, tx_hash: bytes, height: int, time_ns: int) -> bytes:
        """Raise unless the source's underwriters' guarantees and the payer's signed transfer may be credited
        here now; return the transfer's instant key. Checks only."""
        corr = self.require_correspondent(source)
        self.validate_source_not_frozen(source)
        if corr.closed:
            raise CorrespondentClosedError(f"correspondent {source} was closed by governance")
        if corr.suspended:
            raise CorrespondentSuspendedError(f"correspondent {source} is suspended until a top-up")
        validate_instant_guarantee_set(gs, source, self.chain_id)
        validate_instant_payment(gs, transfer, signer, nonce, tx_hash)
        if transfer.sender != gs[0].payer:
            raise InstantMismatchError("the transfer's sender is not the guaranteed payer")
        client = self.require_client(source)
        power = validate_instant_signatures(gs, client.next_validator_set)
        limit = self.get_instant_limit(source)
        validate_stake_covers(power, limit, gs[0].total)
        validate_lifetime(gs, limit)
        validate_not_expired(gs, client.latest_height)
        if is_timed_out_at(transfer.timeout_height, transfer.timeout_time_ns, height, time_ns):
            # Past its timeout the packet can only be refunded: from here on no credit is ever given for it,
            # which is what lets the source hand a held refund back on proof of no credit.
            raise ExpiredInstantGuaranteeError(f"the instant transfer's packet has timed out at {self.chain_id}")
        key = compute_instant_key(source, self.chain_id, transfer.sender, transfer.recipient, transfer.amount,
                                  transfer.timeout_height, transfer.timeout_time_ns)
        if self.get_instant_credit(source, key) is not None:
            raise ReplayedInstantCreditError(f"instant transfer {key.hex()} from {source} was already credited or "
                                             "its packet already arrived")
        outstanding = self.get_instant_outstanding(source)
        if outstanding + gs[0].total > limit.limit:
            raise InstantLimitError(f"instant credit of {source} would be {outstanding + gs[0].total}; its limit "
                                    f"here is {limit.limit}")
        if gs[0].total > self.get_reserve(source):
            raise InstantLimitError(f"reserve of {source} is {self.get_reserve(source)}, the credit needs {gs[0].total}")
        return key

    def apply_instant_credit(self, source: str, key: bytes, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """Pay the recipient from the source's reserve and record the outstanding credit (checks nothing)."""
        g = gs[0]
        corr_account = Address(self.chain_id, keys.compute_correspondent_account(source))
        events = self.bank.process_send(corr_account, g.beneficiary, g.total)
        credit = InstantCredit(CREDITED, str(g.payer), g.nonce, str(g.beneficiary), g.total, g.tx_hash,
                               g.expiry_height, height)
        self.store.set(keys.instant_credit_key(source, key), credit.encode())
        outstanding = Amount(self.get_instant_outstanding(source) + g.total)
        self._set_instant_outstanding(source, outstanding)
        events.append(Event.of("instant_credit", source=source, key=key.hex(), payer=g.payer, nonce=g.nonce,
                               recipient=g.beneficiary, amount=g.total, underwriters=len(gs), outstanding=outstanding))
        return events + self._after_reserve_change(self.require_correspondent(source), self.get_reserve(source))

    def apply_instant_settle(self, source: str, packet: Packet, key: bytes, credit: InstantCredit,
                             height: Height) -> list[Event]:
        """The proven packet of a credited instant transfer: the recipient was paid already, so the packet's
        amount stays in the source's reserve (whose escrow pays ours there on the ack) and the credit is no
        longer outstanding. Never refused: refusing would refund the payer of a credit already given."""
        self.store.set(keys.instant_credit_key(source, key), credit.evolve(SETTLED, height).encode())
        outstanding = Amount(max(0, self.get_instant_outstanding(source) - credit.amount))
        self._set_instant_outstanding(source, outstanding)
        self.store.set(keys.inbox_key(source, packet.sequence), Ack(True).encode())
        return [Event.of("recv_packet", source=source, destination=self.chain_id, sequence=packet.sequence,
                         recipient=packet.recipient, amount=packet.amount, success=True, error_code=0),
                Event.of("instant_settle", source=source, key=key.hex(), sequence=packet.sequence,
                         amount=packet.amount, outstanding=outstanding)]

    def process_instant_release(self, source: str, proof_height: int, key: bytes, raw_payout: bytes,
                                proof: merkle.MerkleProof, height: Height) -> list[Event]:
        """The source proved it paid this credit out to our reserve there: it is no longer outstanding."""
        self.require_unfrozen_client(source)
        cons = self.require_consensus(source, proof_height)
        credit = self.get_instant_credit(source, key)
        if credit is None or credit.status in (SEEN, SETTLED):
            raise UnknownInstantCreditError(f"no outstanding instant credit {key.hex()} from {source}")
        if credit.status == PAID_OUT:
            raise ReplayedInstantCreditError(f"instant credit {key.hex()} from {source} was already released")
        payout = decode_instant_payout(raw_payout)
        if not merkle.verify_membership(cons.app_hash, keys.full_instant_paid_key(self.chain_id, key), raw_payout, proof):
            raise InvalidProofError(f"payout of instant credit {key.hex()} is not proven in {source}'s state")
        self.store.set(keys.instant_credit_key(source, key), credit.evolve(PAID_OUT, height).encode())
        outstanding = Amount(max(0, self.get_instant_outstanding(source) - credit.amount))
        self._set_instant_outstanding(source, outstanding)
        return [Event.of("instant_release", source=source, key=key.hex(), amount=payout.amount,
                         outstanding=outstanding)]

    def _set_instant_outstanding(self, source: str, amount: Amount) -> None:
        if amount:
            self.store.set(keys.instant_outstanding_key(source), amount.to_bytes(8, "big"))
        else:
            self.store.delete(keys.instant_outstanding_key(source))

    # ---- instant credit: the source ----------------------------------------------------------------------

    def process_instant_send(self, transfer: MsgInstantTransfer, nonce: int, now_ns: int) -> list[Event]:
        """Send the payer's instant transfer as a packet (like MsgTransfer) and record what its nonce did."""
        dest = transfer.recipient.chain_id
        if self.compute_transfer_path(dest, ()):
            raise NoCorrespondentError(f"instant transfers go to a direct correspondent only; {dest} is reached "
                                       "through other chains")
        seq = self.get_next_sequence(dest)
        events = self.process_send(transfer.sender, transfer.recipient, transfer.amount, transfer.timeout_height,
                                   transfer.timeout_time_ns, now_ns)
        key = compute_instant_key(self.chain_id, dest, transfer.sender, transfer.recipient, transfer.amount,
                                  transfer.timeout_height, transfer.timeout_time_ns)
        payer = transfer.sender.account
        self.store.set(keys.instant_send_key(payer, nonce), InstantSend(IN_FLIGHT, dest, seq, transfer.amount, key).encode())
        self.store.set(keys.instant_sequence_key(dest, seq), payer + nonce.to_bytes(8, "big"))
        return [*events, Event.of("instant_send", destination=dest, sequence=seq, payer=transfer.sender, nonce=nonce,
                                  key=key.hex())]

    def _take_instant_index(self, packet: Packet) -> tuple[bytes, int] | None:
        """(payer, nonce) when the outgoing packet is an instant transfer's; the index entry is removed."""
        index = keys.instant_sequence_key(packet.destination_chain, packet.sequence)
        raw = self.store.get(index)
        if raw is None:
            return None
        self.store.delete(index)
        return raw[:20], int.from_bytes(raw[20:28], "big")

    def _apply_instant_send_outcome(self, payer: bytes, nonce: int, status: int) -> list[Event]:
        """An instant transfer's packet settled: delivered, or refused / timed out (its amount now held)."""
        send = self.get_instant_send(payer, nonce)
        if send is None:
            return []
        self.store.set(keys.instant_send_key(payer, nonce), send.evolve(status).encode())
        if status != HELD:
            return []
        return [Event.of("instant_hold", destination=send.destination_chain, sequence=send.sequence,
                         payer=Address(self.chain_id, AccountId(payer)), nonce=nonce, amount=send.amount,
                         key=send.key.hex())]

    def validate_instant_claim(self, destination: str, proof_height: int, raw_credit: bytes,
                               proof: merkle.MerkleProof, gs: tuple[Guarantee, ...],
                               transfer: MsgInstantTransfer) -> bytes:
        """Raise unless the destination provably credited this guaranteed instant transfer and it was not paid
        out before; return its instant key. What the nonce did is decided by compute_instant_owed."""
        self.require_correspondent(destination)
        self.require_unfrozen_client(destination)
        cons = self.require_consensus(destination, proof_height)
        credit = decode_instant_credit(raw_credit)
        if credit.status == SEEN:
            raise UnknownInstantCreditError(f"{destination} never credited this transfer instantly")
        g = gs[0]
        if (credit.payer, credit.nonce, credit.recipient, credit.amount, credit.tx_hash) != (
                str(g.payer), g.nonce, str(g.beneficiary), g.total, g.tx_hash):
            raise InstantMismatchError("the proven credit is not the guaranteed payment")
        key = compute_instant_key(self.chain_id, destination, transfer.sender, transfer.recipient, transfer.amount,
                                  transfer.timeout_height, transfer.timeout_time_ns)
        if not merkle.verify_membership(cons.app_hash, keys.full_instant_credit_key(self.chain_id, key), raw_credit,
                                        proof):
            raise InvalidProofError(f"instant credit {key.hex()} is not proven in {destination}'s state at {proof_height}")
        if self.get_instant_payout(destination, key) is not None:
            raise ReplayedInstantCreditError(f"instant credit {key.hex()} at {destination} was already paid out")
        return key

    def compute_instant_owed(self, g: Guarantee, key: bytes, consumed: bool, height: int,
                             claim_window_blocks: int) -> str:
        """Where what the destination is owed comes from: "hold" (the packet was refused or timed out: its amount
        is held here), "collateral" (the nonce did something else) or "lapsed" (unused past expiry: the nonce is
        retired, then collateral). Raise InstantNotClaimableError while the nonce may still deliver or did."""
        send = self.get_instant_send(g.payer.account, g.nonce)
        if send is not None and send.key == key:
            if send.status == DELIVERED:
                raise InstantNotClaimableError(f"nonce {g.nonce} of {g.payer} delivered the instant transfer")
            if send.status == IN_FLIGHT:
                raise InstantNotClaimableError(
                    f"the instant transfer of {g.payer} nonce {g.nonce} is in flight (packet {send.sequence})")
            if send.status == HELD:
                return "hold"  # the payer's own money for this very transfer: no window, no collateral needed
            raise ReplayedInstantCreditError(f"the held amount of {g.payer} nonce {g.nonce} was already settled")
        if height > g.expiry_height + claim_window_blocks:
            raise InstantClaimWindowClosedError(
                f"claims on {g.payer} nonce {g.nonce} closed at height {g.expiry_height + claim_window_blocks}")
        if consumed:
            return "collateral"  # the nonce did something else
        if height <= g.expiry_height:
            raise InstantNotClaimableError(
                f"nonce {g.nonce} of {g.payer} is unused and may still pay until height {g.expiry_height}")
        return "lapsed"

    def apply_hold_to_destination(self, destination: str, payer: bytes, nonce: int, key: bytes,
                                  height: Height) -> list[Event]:
        """Pay a held instant transfer to the destination's reserve here (its credit was proven; checks nothing)."""
        send = self.get_instant_send(payer, nonce)
        self.store.set(keys.instant_send_key(payer, nonce), send.evolve(HOLD_PAID).encode())
        events = self.bank.process_send(Address(self.chain_id, keys.INSTANT_HOLD),
                                        Address(self.chain_id, keys.compute_correspondent_account(destination)),
                                        send.amount)
        return events + self.apply_instant_payout_record(destination, key, send.amount, height)

    def process_instant_return(self, destination: str, proof_height: int, proof: merkle.MerkleProof,
                               transfer: MsgInstantTransfer, nonce: int) -> list[Event]:
        """Give a held instant transfer back to its payer on proof that the destination never credited it: its
        credit record is absent at a destination height where the packet had timed out, and a credit is refused
        from its timeout on, so it never will be."""
        self.require_correspondent(destination)
        self.require_unfrozen_client(destination)
        cons = self.require_consensus(destination, proof_height)
        key = compute_transfer_instant_key(self.chain_id, transfer)
        payer = transfer.sender
        send = self.get_instant_send(payer.account, nonce)
        if send is None or send.key != key or send.status != HELD:
            raise InstantNotClaimableError(f"nothing of {payer} nonce {nonce} is held for this transfer")
        if not is_timed_out_at(transfer.timeout_height, transfer.timeout_time_ns, proof_height, cons.time_ns):
            raise TimeoutNotReachedError(f"the instant transfer of {payer} nonce {nonce} has not timed out at "
                                         f"{destination} height {proof_height}")
        if not merkle.verify_non_membership(cons.app_hash, keys.full_instant_credit_key(self.chain_id, key), proof):
            raise InvalidProofError(f"no proof that {destination} never credited instant transfer {key.hex()}")
        self.store.set(keys.instant_send_key(payer.account, nonce), send.evolve(HOLD_RETURNED).encode())
        events = self.bank.process_send(Address(self.chain_id, keys.INSTANT_HOLD), payer, send.amount)
        return events + [Event.of("instant_return", destination=destination, payer=payer, nonce=nonce,
                                  amount=send.amount, key=key.hex())]

    def apply_instant_payout_record(self, destination: str, key: bytes, amount: Amount, height: Height) -> list[Event]:
        """Record that the underwriters paid destination's reserve here for key (proven back by a release)."""
        self.store.set(keys.instant_paid_key(destination, key), InstantPayout(amount, height).encode())
        events = [Event.of("instant_payout", destination=destination, key=key.hex(), amount=amount)]
        return events + self._after_reserve_change(self.require_correspondent(destination), self.get_reserve(destination))
