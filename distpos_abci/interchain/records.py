"""Interchain records as frozen dataclasses; protobuf stays here, converted once each way."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..address import Address, parse_address
from ..codec import decode_canonical, encode_canonical
from ..errors import DistposError, InvalidAddressError, InvalidPacketError
from ..gen.distpos.v1 import interchain_pb2
from ..lightclient.types import ClientState, ConsensusState, validator_set_from_proto, validator_set_to_proto
from ..types import MAX_AMOUNT, Amount, ChainId, Height
from .paths import validate_packet_path

Sequence = int


@dataclass(frozen=True, slots=True)
class Packet:
    """A transfer in flight from source_chain to destination_chain."""

    sequence: Sequence
    source_chain: ChainId
    destination_chain: ChainId
    sender: Address
    recipient: Address
    amount: Amount
    timeout_height: Height
    timeout_time_ns: int
    # Multi-hop (README "Through intermediate chains"): empty path = a direct packet, whose bytes are unchanged.
    path: tuple[ChainId, ...] = ()
    hop: int = 0
    origin_sender: Address | None = None
    min_amount_out: Amount = Amount(0)

    relay_fee: Amount = Amount(0)  # escrowed on the source; to the ack's relay, or back to the sender on timeout

    @property
    def is_final(self) -> bool:
        """True when the destination pays the recipient; False when it forwards the packet."""
        return not self.path or self.destination_chain == self.path[-1]

    @property
    def origin(self) -> Address:
        """The sender on the chain where the transfer started."""
        return self.origin_sender or self.sender

    def encode(self) -> bytes:
        """The bytes committed in the outbox."""
        return encode_canonical(interchain_pb2.Packet(
            sequence=self.sequence, source_chain=self.source_chain, destination_chain=self.destination_chain,
            sender=str(self.sender), recipient=str(self.recipient), amount=self.amount,
            timeout_height=self.timeout_height, timeout_time_ns=self.timeout_time_ns, path=list(self.path),
            hop=self.hop, origin_sender=str(self.origin_sender) if self.origin_sender else "",
            min_amount_out=self.min_amount_out, relay_fee=self.relay_fee,
        ))


def decode_packet(raw: bytes) -> Packet:
    """A packet from its committed bytes; raise InvalidPacketError when malformed."""
    m = decode_canonical(interchain_pb2.Packet, raw, "packet", InvalidPacketError)
    try:
        sender, recipient = parse_address(m.sender), parse_address(m.recipient)
    except InvalidAddressError as exc:
        raise InvalidPacketError(f"packet: {exc.message}") from None
    if (str(sender), str(recipient)) != (m.sender, m.recipient):
        raise InvalidPacketError("packet addresses must be in their canonical checksummed form")
    if m.sequence < 1 or not 0 < m.amount <= MAX_AMOUNT:
        raise InvalidPacketError("packet needs a sequence >= 1 and a positive amount")
    if m.source_chain == m.destination_chain:
        raise InvalidPacketError("packet source and destination are the same chain")
    if m.amount + m.relay_fee > MAX_AMOUNT:
        raise InvalidPacketError("packet amount plus relay fee exceeds the largest amount")
    origin = _decode_multihop(m, sender, recipient)
    return Packet(m.sequence, ChainId(m.source_chain), ChainId(m.destination_chain), sender, recipient,
                  Amount(m.amount), Height(m.timeout_height), m.timeout_time_ns, tuple(ChainId(c) for c in m.path),
                  m.hop, origin, Amount(m.min_amount_out), Amount(m.relay_fee))


def _decode_multihop(m: interchain_pb2.Packet, sender: Address, recipient: Address) -> Address | None:
    """Check the multi-hop fields against the rest of the packet; the origin sender, or None for a direct one."""
    if sender.chain_id != m.source_chain:
        raise InvalidPacketError("packet sender chain does not match its source")
    if not m.path:
        if recipient.chain_id != m.destination_chain:
            raise InvalidPacketError("packet recipient chain does not match its destination")
        if m.hop or m.origin_sender or m.min_amount_out:
            raise InvalidPacketError("a packet without a path carries no hop, origin sender or min_amount_out")
        return None
    try:
        validate_packet_path(m.path, m.hop, m.source_chain, m.destination_chain, recipient.chain_id)
        origin = parse_address(m.origin_sender)
    except DistposError as exc:
        raise InvalidPacketError(f"packet: {exc.message}") from None
    if str(origin) != m.origin_sender or origin.chain_id != m.path[0]:
        raise InvalidPacketError("packet origin_sender must be a canonical address on the first chain of its path")
    if m.hop == 0 and origin != sender:
        raise InvalidPacketError("the first hop's sender is the origin sender")
    if m.min_amount_out > m.amount:
        raise InvalidPacketError("packet min_amount_out is above its amount")
    return origin


@dataclass(frozen=True, slots=True)
class Ack:
    """The destination's answer: success, or the code and reason of the refusal."""

    success: bool
    error_code: int = 0
    error: str = ""

    def encode(self) -> bytes:
        return encode_canonical(interchain_pb2.Ack(success=self.success, error_code=self.error_code, error=self.error))


def decode_ack(raw: bytes) -> Ack:
    """An ack from its proven bytes; raise InvalidPacketError (or tx:13 when not canonical)."""
    m = decode_canonical(interchain_pb2.Ack, raw, "ack", InvalidPacketError)
    return Ack(m.success, m.error_code, m.error)


@dataclass(frozen=True, slots=True)
class Limits:
    """A correspondent's limits (see README: correspondent rules)."""

    min_balance: Amount = Amount(0)
    settle_threshold: Amount = Amount(0)
    per_packet_max: Amount = Amount(0)
    rate_limit: Amount = Amount(0)
    rate_window_blocks: int = 0
    max_failure_pct: int = 0
    default_timeout_ns: int = 600 * 1_000_000_000
    failure_window_blocks: int = 0

    def to_proto(self, dst: interchain_pb2.CorrespondentLimits) -> None:
        dst.SetInParent()
        for f in self.__dataclass_fields__:
            setattr(dst, f, getattr(self, f))

    @classmethod
    def from_proto(cls, m: interchain_pb2.CorrespondentLimits) -> "Limits":
        return cls(**{f: getattr(m, f) for f in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Correspondent:
    """A remote chain's correspondent account here: limits, suspension, rate window and counters."""

    chain_id: ChainId
    limits: Limits
    suspended: bool = False
    window_start: Height = Height(0)
    window_used: Amount = Amount(0)
    received_ok: int = 0
    received_failed: int = 0
    sent: int = 0
    closed: bool = False
    failure_window_start: Height = Height(0)
    window_ok: int = 0
    window_failed: int = 0

    def encode(self) -> bytes:
        m = interchain_pb2.Correspondent(
            chain_id=self.chain_id, suspended=self.suspended, window_start=self.window_start,
            window_used=self.window_used, received_ok=self.received_ok, received_failed=self.received_failed,
            sent=self.sent, closed=self.closed, failure_window_start=self.failure_window_start,
            window_ok=self.window_ok, window_failed=self.window_failed,
        )
        self.limits.to_proto(m.limits)
        return encode_canonical(m)

    def to_proto(self) -> interchain_pb2.Correspondent:
        return interchain_pb2.Correspondent.FromString(self.encode())

    def evolve(self, **changes) -> "Correspondent":
        return replace(self, **changes)


def decode_correspondent(raw: bytes) -> Correspondent:
    m = decode_canonical(interchain_pb2.Correspondent, raw, "correspondent record")
    return Correspondent(ChainId(m.chain_id), Limits.from_proto(m.limits), m.suspended, Height(m.window_start),
                         Amount(m.window_used), m.received_ok, m.received_failed, m.sent, m.closed,
                         Height(m.failure_window_start), m.window_ok, m.window_failed)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a chain's relay (gRPC) and CometBFT RPC are reached."""

    chain_id: ChainId
    relay_grpc: str
    comet_rpc: str
    via: str = ""  # multi-hop: chain_id is reached through this chain
    max_hops: int = 0  # with via: longest path on this route (0 = the forwarding param)

    def to_proto(self) -> interchain_pb2.Route:
        return interchain_pb2.Route(chain_id=self.chain_id, relay_grpc=self.relay_grpc, comet_rpc=self.comet_rpc,
                                    via=self.via, max_hops=self.max_hops)

    def encode(self) -> bytes:
        return encode_canonical(self.to_proto())


def decode_route(raw: bytes) -> Route:
    m = decode_canonical(interchain_pb2.Route, raw, "route record")
    return Route(ChainId(m.chain_id), m.relay_grpc, m.comet_rpc, m.via, m.max_hops)


@dataclass(frozen=True, slots=True)
class Forward:
    """A packet this chain forwarded (multi-hop), kept until the downstream outcome settles it."""

    upstream_chain: ChainId
    upstream_sequence: Sequence
    amount_in: Amount
    fee: Amount

    def encode(self) -> bytes:
        return encode_canonical(interchain_pb2.Forward(upstream_chain=self.upstream_chain,
                                                       upstream_sequence=self.upstream_sequence,
                                                       amount_in=self.amount_in, fee=self.fee))


def decode_forward(raw: bytes) -> Forward:
    m = decode_canonical(interchain_pb2.Forward, raw, "forward record")
    return Forward(ChainId(m.upstream_chain), m.upstream_sequence, Amount(m.amount_in), Amount(m.fee))


def encode_client_state(c: ClientState) -> bytes:
    m = interchain_pb2.ClientState(chain_id=c.chain_id, latest_height=c.latest_height,
                                   latest_time_ns=c.latest_time_ns, trusting_period_ns=c.trusting_period_ns,
                                   unbonding_period_ns=c.unbonding_period_ns, frozen_height=c.frozen_height,
                                   frozen_evidence_hash=c.frozen_evidence_hash, root_height=c.root_height)
    validator_set_to_proto(c.next_validator_set, m.next_validator_set)
    return encode_canonical(m)


def decode_client_state(raw: bytes) -> ClientState:
    m = decode_canonical(interchain_pb2.ClientState, raw, "client state record")
    return ClientState(m.chain_id, m.latest_height, m.latest_time_ns, m.trusting_period_ns,
                       validator_set_from_proto(m.next_validator_set), m.unbonding_period_ns, m.frozen_height,
                       bytes(m.frozen_evidence_hash), m.root_height)


def encode_consensus_state(c: ConsensusState) -> bytes:
    return encode_canonical(interchain_pb2.ConsensusState(app_hash=c.app_hash, time_ns=c.time_ns))


def decode_consensus_state(raw: bytes) -> ConsensusState:
    m = decode_canonical(interchain_pb2.ConsensusState, raw, "consensus state record")
    return ConsensusState(bytes(m.app_hash), m.time_ns)
