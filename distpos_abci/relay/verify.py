"""What a relay checks before it believes another relay: packets against the source chain's committed state.

A relay trusts only its own chain (read through its own endpoint) and, through the light client its chain
holds, more than 2/3 of each remote chain's validators. A packet handed over by another relay is queued only
when a Merkle proof shows the source chain committed exactly those bytes, under an app hash from a header the
own chain's light client verified, or one this relay verified here with the same pure light client rules.
Nothing here writes; the peer is only asked for headers and proofs, which are checked, never believed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..codec import decode_canonical
from ..errors import (
    InvalidPacketError,
    InvalidPeerResponseError,
    LightClientError,
    NoCorrespondentError,
    PacketTooLargeError,
    SourceHeaderUnverifiedError,
)
from ..gen.distpos.v1 import interchain_pb2
from ..interchain import Packet, decode_packet, keys
from ..interchain.records import decode_client_state, decode_consensus_state
from ..lightclient.types import LightBlock
from ..lightclient.verifier import compute_update_path
from ..store.merkle import verify_membership
from .endpoint import ChainEndpoint, Proven
from .limits import MAX_PACKET_BYTES

if TYPE_CHECKING:  # the protocol lives with the worker; only its shape is needed here
    from .core import RelayPeer


@dataclass(frozen=True)
class TrustedRoot:
    """A remote chain's app hash this relay trusts: the state after height - 1, as header `height` commits it."""

    chain_id: str
    height: int
    app_hash: bytes
    time_ns: int
    update: LightBlock | None = None  # the verified header, when one update brings the own chain's client to it


def decode_packet_strict(raw: bytes, what: str = "packet") -> Packet:
    """The packet in raw: bounded, the canonical protobuf encoding, and well-formed; raise otherwise."""
    if len(raw) > MAX_PACKET_BYTES:
        raise PacketTooLargeError(f"{what}: {len(raw)} bytes, more than {MAX_PACKET_BYTES}")
    decode_canonical(interchain_pb2.Packet, raw, what, InvalidPacketError)
    return decode_packet(raw)


def get_trusted_root(own: ChainEndpoint, source: str, peer: RelayPeer) -> TrustedRoot:
    """The newest root of source's state this relay can trust.

    The own chain's light client of source, when it is at the source's latest height already; otherwise the
    source's latest header, fetched from peer and verified against that client (skipping and bisection as the
    chain would, with the own chain's time as now). Raise SourceHeaderUnverifiedError when it does not verify.
    """
    raw = own.query(keys.PREFIX + keys.client_key(source)).value
    if raw is None:
        raise NoCorrespondentError(f"chain {own.chain_id} has no light client of {source}")
    client = decode_client_state(raw)
    latest = peer.latest_height()
    if client.latest_height >= latest:
        cons_raw = own.query(keys.PREFIX + keys.consensus_key(source, client.latest_height)).value
        if cons_raw is None:
            raise NoCorrespondentError(f"chain {own.chain_id} lost the consensus state of {source} at "
                                       f"{client.latest_height}")
        cons = decode_consensus_state(cons_raw)
        return TrustedRoot(source, client.latest_height, cons.app_hash, cons.time_ns)
    _, now = own.latest()
    try:
        path = compute_update_path(client, peer.light_block(latest), peer.light_block, now)
    except LightClientError as exc:
        raise SourceHeaderUnverifiedError(f"header {latest} of {source} does not verify: {exc.log}",
                                          chain_id=source) from None
    header = path[-1].signed_header.header
    return TrustedRoot(source, header.height, bytes(header.app_hash), header.time_ns,
                       path[-1] if len(path) == 1 else None)


def validate_proofs_answer(asked: list[bytes], got: list[Proven], chain_id: str) -> None:
    """Raise InvalidPeerResponseError unless got answers asked, key by key, in order."""
    if len(got) != len(asked) or any(p.key != k for p, k in zip(got, asked)):
        raise InvalidPeerResponseError(f"relay of {chain_id} answered GetProof with other keys than asked",
                                       chain_id=chain_id)


def is_committed(root: TrustedRoot, key: bytes, raw: bytes, proven: Proven) -> bool:
    """True when proven shows that key holds exactly raw in the state root commits (pure)."""
    return (proven.key == key and proven.value == raw and proven.proof is not None
            and verify_membership(root.app_hash, key, raw, proven.proof))
