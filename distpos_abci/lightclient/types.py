"""Light-client records: CometBFT headers, commits and validator sets as frozen dataclasses.

Generated protobuf classes are converted here, once, in both directions; times are integer
nanoseconds since the Unix epoch (CometBFT's zero time, 0001-01-01, is ZERO_TIME_NS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NewType

from ..gen.tendermint.crypto import keys_pb2
from ..gen.tendermint.types import types_pb2, validator_pb2

Hash = NewType("Hash", bytes)
NS = 1_000_000_000
ZERO_TIME_NS = -62135596800 * NS  # 0001-01-01T00:00:00Z, CometBFT's "no time"

FLAG_ABSENT = 1
FLAG_COMMIT = 2
FLAG_NIL = 3


@dataclass(frozen=True, slots=True)
class PartSetHeader:
    total: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class BlockID:
    hash: bytes
    parts: PartSetHeader

    def is_zero(self) -> bool:
        """True for the empty block id (height 1's last_block_id)."""
        return not self.hash and not self.parts.hash and self.parts.total == 0


@dataclass(frozen=True, slots=True)
class Header:
    """A CometBFT v0.38 block header (all 14 hashed fields)."""

    version_block: int
    version_app: int
    chain_id: str
    height: int
    time_ns: int
    last_block_id: BlockID
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes


@dataclass(frozen=True, slots=True)
class CommitSig:
    flag: int
    validator_address: bytes
    time_ns: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class Commit:
    height: int
    round: int
    block_id: BlockID
    signatures: tuple[CommitSig, ...]


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    commit: Commit


@dataclass(frozen=True, slots=True)
class Validator:
    """An ed25519 validator; its address is sha256(pub_key)[:20]."""

    pub_key: bytes
    power: int

    @property
    def address(self) -> bytes:
        return hashlib.sha256(self.pub_key).digest()[:20]


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators in CometBFT's set order (the order hashes and commit signatures use)."""

    validators: tuple[Validator, ...]

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)


@dataclass(frozen=True, slots=True)
class LightBlock:
    """A light-client update: a signed header with the set that signed it and the next set."""

    signed_header: SignedHeader
    validator_set: ValidatorSet
    next_validator_set: ValidatorSet

    @property
    def height(self) -> int:
        return self.signed_header.header.height


@dataclass(frozen=True, slots=True)
class ClientState:
    """What a light client trusts about a remote chain: its latest verified height and the set for the next."""

    chain_id: str
    latest_height: int
    latest_time_ns: int
    trusting_period_ns: int
    next_validator_set: ValidatorSet
    unbonding_period_ns: int = 0  # the remote chain's unbonding time (trusting_period_ns is shorter)
    frozen_height: int = 0  # > 0: frozen by misbehaviour at this remote height; nothing verifies through it
    frozen_evidence_hash: bytes = b""
    # Height of the trust root the client (re)started from: genesis, opening or an unfreeze by governance. The
    # client never verified anything at or below it, so misbehaviour evidence there proves nothing to it.
    root_height: int = 0

    @property
    def is_frozen(self) -> bool:
        return self.frozen_height > 0


@dataclass(frozen=True, slots=True)
class ConsensusState:
    """A verified remote header's app hash (state after height - 1) and time."""

    app_hash: bytes
    time_ns: int


# ---- protobuf conversion ---------------------------------------------------------------------------------


# google.protobuf.Timestamp's range, which CometBFT's Go types enforce: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62135596800
MAX_TIMESTAMP_SECONDS = 253402300799


def _time_from_proto(ts) -> int:
    # A time outside the range would come back out of _time_to_proto (header hash, vote sign bytes) as seconds
    # beyond int64, raising from deep inside verification; refuse it at the edge instead.
    if not (MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS and 0 <= ts.nanos < NS):
        raise ValueError(f"time {ts.seconds}s {ts.nanos}ns is outside the protobuf Timestamp range")
    return ts.seconds * NS + ts.nanos


def _time_to_proto(dst, ns: int) -> None:
    dst.SetInParent()
    dst.seconds, dst.nanos = divmod(ns, NS)


def _block_id_from_proto(m: types_pb2.BlockID) -> BlockID:
    return BlockID(bytes(m.hash), PartSetHeader(m.part_set_header.total, bytes(m.part_set_header.hash)))


def block_id_to_proto(b: BlockID, dst: types_pb2.BlockID) -> None:
    """Fill dst (a BlockID field) with b, writing the non-nullable part_set_header even when empty."""
    dst.SetInParent()
    dst.hash = b.hash
    dst.part_set_header.SetInParent()
    dst.part_set_header.total = b.parts.total
    dst.part_set_header.hash = b.parts.hash


def header_from_proto(m: types_pb2.Header) -> Header:
    """Typed header from its protobuf form."""
    return Header(
        m.version.block, m.version.app, m.chain_id, m.height, _time_from_proto(m.time),
        _block_id_from_proto(m.last_block_id), bytes(m.last_commit_hash), bytes(m.data_hash),
        bytes(m.validators_hash), bytes(m.next_validators_hash), bytes(m.consensus_hash), bytes(m.app_hash),
        bytes(m.last_results_hash), bytes(m.evidence_hash), bytes(m.proposer_address),
    )


def header_to_proto(h: Header) -> types_pb2.Header:
    """The protobuf form of h, with every non-nullable field present as CometBFT writes it."""
    m = types_pb2.Header(
        chain_id=h.chain_id, height=h.height, last_commit_hash=h.last_commit_hash, data_hash=h.data_hash,
        validators_hash=h.validators_hash, next_validators_hash=h.next_validators_hash,
        consensus_hash=h.consensus_hash, app_hash=h.app_hash, last_results_hash=h.last_results_hash,
        evidence_hash=h.evidence_hash, proposer_address=h.proposer_address,
    )
    m.version.SetInParent()
    m.version.block, m.version.app = h.version_block, h.version_app
    _time_to_proto(m.time, h.time_ns)
    block_id_to_proto(h.last_block_id, m.last_block_id)
    return m


def commit_from_proto(m: types_pb2.Commit) -> Commit:
    sigs = tuple(
        CommitSig(s.block_id_flag, bytes(s.validator_address), _time_from_proto(s.timestamp), bytes(s.signature))
        for s in m.signatures
    )
    return Commit(m.height, m.round, _block_id_from_proto(m.block_id), sigs)


def commit_to_proto(c: Commit) -> types_pb2.Commit:
    m = types_pb2.Commit(height=c.height, round=c.round)
    block_id_to_proto(c.block_id, m.block_id)
    for s in c.signatures:
        sig = m.signatures.add(block_id_flag=s.flag, validator_address=s.validator_address, signature=s.signature)
        _time_to_proto(sig.timestamp, s.time_ns)
    return m


def validator_set_from_proto(m: validator_pb2.ValidatorSet) -> ValidatorSet:
    return ValidatorSet(tuple(Validator(bytes(v.pub_key.ed25519), v.voting_power) for v in m.validators))


def validator_set_to_proto(vs: ValidatorSet, dst: validator_pb2.ValidatorSet | None = None) -> validator_pb2.ValidatorSet:
    m = dst if dst is not None else validator_pb2.ValidatorSet()
    m.SetInParent()
    for v in vs.validators:
        m.validators.add(address=v.address, pub_key=keys_pb2.PublicKey(ed25519=v.pub_key), voting_power=v.power)
    return m


def light_block_from_proto(m) -> LightBlock:
    """Typed update from a distpos.v1.ClientUpdate."""
    sh = SignedHeader(header_from_proto(m.signed_header.header), commit_from_proto(m.signed_header.commit))
    return LightBlock(sh, validator_set_from_proto(m.validator_set), validator_set_from_proto(m.next_validator_set))


def light_block_to_proto(lb: LightBlock, dst) -> None:
    """Fill dst (a distpos.v1.ClientUpdate) with lb."""
    dst.signed_header.header.CopyFrom(header_to_proto(lb.signed_header.header))
    dst.signed_header.commit.CopyFrom(commit_to_proto(lb.signed_header.commit))
    validator_set_to_proto(lb.validator_set, dst.validator_set)
    validator_set_to_proto(lb.next_validator_set, dst.next_validator_set)
