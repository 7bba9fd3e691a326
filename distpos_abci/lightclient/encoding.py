"""CometBFT's hashes and sign bytes, computed exactly as CometBFT v0.38 does (no I/O).

- simple Merkle tree (RFC 6962): leaf sha256(0x00||item), inner sha256(0x01||l||r), split at the largest
  power of two below n, empty tree sha256("");
- header hash: that tree over the 14 header fields, each protobuf-encoded (scalars wrapped in
  google.protobuf.{String,Int64,Bytes}Value, empty values as empty bytes);
- validator-set hash: that tree over SimpleValidator{pub_key, voting_power} in set order;
- precommit sign bytes: uvarint-length-delimited CanonicalVote.
"""

from __future__ import annotations

import hashlib

from google.protobuf import wrappers_pb2

from ..abci.framing import encode_uvarint  # the one uvarint encoder: ABCI frames and sign bytes alike
from ..gen.tendermint.crypto import keys_pb2
from ..gen.tendermint.types import canonical_pb2, types_pb2, validator_pb2
from .types import BlockID, Commit, Header, ValidatorSet, _time_to_proto, block_id_to_proto

PRECOMMIT = canonical_pb2.SIGNED_MSG_TYPE_PRECOMMIT


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def compute_split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    k = 1 << (n - 1).bit_length() - 1
    return k


def compute_merkle_root(items: list[bytes]) -> bytes:
    """CometBFT's simple Merkle root (merkle.HashFromByteSlices)."""
    n = len(items)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + items[0])
    k = compute_split_point(n)
    return _sha(b"\x01" + compute_merkle_root(items[:k]) + compute_merkle_root(items[k:]))


def _wrap_bytes(v: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=v).SerializeToString() if v else b""


def compute_header_fields(h: Header) -> list[bytes]:
    """The 14 encoded fields whose Merkle root is the header hash, in CometBFT's order."""
    version = types_pb2.Header().version
    version.block, version.app = h.version_block, h.version_app
    ts = types_pb2.Header().time
    _time_to_proto(ts, h.time_ns)
    bid = types_pb2.BlockID()
    block_id_to_proto(h.last_block_id, bid)
    return [
        version.SerializeToString(),
        wrappers_pb2.StringValue(value=h.chain_id).SerializeToString() if h.chain_id else b"",
        wrappers_pb2.Int64Value(value=h.height).SerializeToString() if h.height else b"",
        ts.SerializeToString(),
        bid.SerializeToString(),
        *(_wrap_bytes(v) for v in (
            h.last_commit_hash, h.data_hash, h.validators_hash, h.next_validators_hash, h.consensus_hash,
            h.app_hash, h.last_results_hash, h.evidence_hash, h.proposer_address,
        )),
    ]


def compute_header_hash(h: Header) -> bytes:
    """The block hash of h (what commits sign, through the block id)."""
    return compute_merkle_root(compute_header_fields(h))


def compute_validator_set_hash(vs: ValidatorSet) -> bytes:
    """The hash a header carries in validators_hash / next_validators_hash."""
    return compute_merkle_root([
        validator_pb2.SimpleValidator(pub_key=keys_pb2.PublicKey(ed25519=v.pub_key), voting_power=v.power)
        .SerializeToString()
        for v in vs.validators
    ])


def compute_vote_sign_bytes(chain_id: str, height: int, round_: int, block_id: BlockID, time_ns: int) -> bytes:
    """The bytes a validator signed for a precommit of block_id at (height, round)."""
    vote = canonical_pb2.CanonicalVote(type=PRECOMMIT, height=height, round=round_, chain_id=chain_id)
    if not block_id.is_zero():  # a nil vote carries no block id
        vote.block_id.SetInParent()
        vote.block_id.hash = block_id.hash
        vote.block_id.part_set_header.SetInParent()
        vote.block_id.part_set_header.total = block_id.parts.total
        vote.block_id.part_set_header.hash = block_id.parts.hash
    _time_to_proto(vote.timestamp, time_ns)
    body = vote.SerializeToString()
    return encode_uvarint(len(body)) + body


def compute_commit_sign_bytes(chain_id: str, commit: Commit, index: int) -> bytes:
    """Sign bytes of the commit's signature at index (a COMMIT flag signs the commit's block id)."""
    sig = commit.signatures[index]
    return compute_vote_sign_bytes(chain_id, commit.height, commit.round, commit.block_id, sig.time_ns)
