"""Compressed binary Merkle trie over sha256(key): the app-hash commitment of the chain state.

Positions in the trie are the bits of `key_hash = sha256(key)`, most significant bit of
byte 0 first; bit `d` chooses the child of a node at depth `d` (0 = left, 1 = right).

Node encodings (node hash = sha256 of the 65-byte encoding):
    leaf      b"\\x00" + key_hash + value_hash      value_hash = sha256(value)
    internal  b"\\x01" + left_hash + right_hash
    empty     EMPTY_HASH (32 zero bytes), never stored nor hashed

The shape is canonical: a subtree with one leaf is that leaf, placed at the highest position
where it is alone; a subtree without leaves is EMPTY_HASH; anything else is an internal node.
A leaf's encoding has no depth in it, so a leaf can move up or down without being rehashed,
and the root depends only on the final set of (key, value) pairs.

Nodes are stored by hash and never overwritten, so every old root stays readable. A leaf's
stored record is its encoding followed by the raw value, which lets historical reads be
served from the trie alone.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterable, Protocol

from distpos_abci.gen.distpos.v1 import state_pb2

EMPTY_HASH = bytes(32)
KEY_BITS = 256

_LEAF = 0x00
_INTERNAL = 0x01
_LEAF_PREFIX = b"\x00"
_INTERNAL_PREFIX = b"\x01"
_ENCODING_LEN = 65

# Kinds of a subtree returned by the updater; UNKNOWN means "not read, not needed so far".
_UNKNOWN = 0
_KIND_LEAF = 1
_KIND_INTERNAL = 2

# Looked up at call time (not bound at import) so a benchmark can wrap it to count hashes.
_sha256 = hashlib.sha256


class TrieCorruptError(Exception):
    """A node the walk needs is missing from the node store or is not a valid record."""


class NodeReader(Protocol):
    """Read access to the node store: record by node hash, None when absent."""

    def get(self, node_hash: bytes) -> bytes | None: ...


@dataclass(frozen=True)
class MerkleProof:
    """Path from the root to where a key lives: siblings root-first, then the leaf met there.

    `leaf_key_hash` and `leaf_value_hash` are b"" when the path ends in an empty subtree.
    """

    siblings: tuple[bytes, ...]
    leaf_key_hash: bytes
    leaf_value_hash: bytes

    def to_proto(self) -> state_pb2.MerkleProof:
        """The protobuf form of this proof."""
        return state_pb2.MerkleProof(
            siblings=list(self.siblings),
            leaf_key_hash=self.leaf_key_hash,
            leaf_value_hash=self.leaf_value_hash,
        )

    @classmethod
    def from_proto(cls, msg: state_pb2.MerkleProof) -> MerkleProof:
        """The proof carried by a protobuf message (not validated; the verifiers do that)."""
        return cls(
            siblings=tuple(bytes(s) for s in msg.siblings),
            leaf_key_hash=bytes(msg.leaf_key_hash),
            leaf_value_hash=bytes(msg.leaf_value_hash),
        )


def compute_key_hash(key: bytes) -> bytes:
    """The 32-byte trie path of key: sha256(key)."""
    return _sha256(key).digest()


def compute_value_hash(value: bytes) -> bytes:
    """The 32-byte commitment to a value: sha256(value)."""
    return _sha256(value).digest()


def compute_leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    """The node hash of the leaf holding (key_hash, value_hash)."""
    return _sha256(_LEAF_PREFIX + key_hash + value_hash).digest()


def compute_internal_hash(left_hash: bytes, right_hash: bytes) -> bytes:
    """The node hash of the internal node with the given children."""
    return _sha256(_INTERNAL_PREFIX + left_hash + right_hash).digest()


def _read_node(reader: NodeReader, node_hash: bytes) -> bytes:
    record = reader.get(node_hash)
    if record is None:
        raise TrieCorruptError(f"trie node {node_hash.hex()} is missing from the node store")
    if type(record) is not bytes:
        # Readers may hand out bytearray/memoryview; slices of those would leak into proofs.
        record = bytes(record)
    tag = record[0] if record else -1
    if not (
        (tag == _LEAF and len(record) >= _ENCODING_LEN)
        or (tag == _INTERNAL and len(record) == _ENCODING_LEN)
    ):
        raise TrieCorruptError(f"trie node {node_hash.hex()} has a malformed record")
    return record


def compute_updated_root(
    reader: NodeReader,
    root: bytes,
    updates: Iterable[tuple[bytes, bytes | None]],
    orphans: set[bytes] | None = None,
) -> tuple[bytes, dict[bytes, bytes]]:
    """Apply (key, value | None) updates as one batch; return the new root and the nodes to write.

    With `orphans`, also add to it the hash of every node of the old root that the new root no longer
    holds (what a pruner may delete once no retained root needs it)."""
    sha = _sha256
    # Later updates of a key win; keyed by key_hash since that is the trie's real key.
    latest: dict[bytes, bytes | None] = {}
    for key, value in updates:
        latest[sha(key).digest()] = value
    if not latest:
        return root, {}

    # Sorted by key_hash, every subtree's updates form one contiguous range [lo, hi), and the
    # split at bit d is a bisect on the integer form; no lists are sliced or copied.
    key_hashes = sorted(latest)  # bytes against bytes: cheaper than sorting (key_hash, value) pairs
    values = [latest[kh] for kh in key_hashes]
    ints = [int.from_bytes(kh, "big") for kh in key_hashes]
    # live[i] = number of non-deletes among the first i updates: O(1) "how many inserts here".
    live = [0] * (len(key_hashes) + 1)
    count = 0
    for i, v in enumerate(values):
        if v is not None:
            count += 1
        live[i + 1] = count

    new_nodes: dict[bytes, bytes] = {}
    track = orphans is not None
    visited: list[bytes] = []  # existing nodes the walk reached with updates below them
    kept: list[bytes] = []  # existing nodes the walk returned unchanged
    reader_get = reader.get
    # The walk below inlines the hot helpers (node read and check, the split bisect, the internal node of two
    # non-empty children): one Python call less per node visited. `_read_node` stays the one place that
    # reports a missing or malformed record.

    def make_leaf(i: int, value_hash: bytes | None = None) -> bytes:
        value = values[i]
        if value_hash is None:
            value_hash = sha(value).digest()
        encoding = _LEAF_PREFIX + key_hashes[i] + value_hash
        node_hash = sha(encoding).digest()
        new_nodes[node_hash] = encoding + value
        return node_hash

    def combine(left: bytes, left_kind: int, right: bytes, right_kind: int) -> tuple[bytes, int]:
        # Re-establish the canonical shape: a lone leaf moves up, an empty pair vanishes.
        if left == EMPTY_HASH or right == EMPTY_HASH:
            if left == right:
                return EMPTY_HASH, _UNKNOWN
            child, kind = (right, right_kind) if left == EMPTY_HASH else (left, left_kind)
            if kind == _UNKNOWN:
                kind = _KIND_LEAF if _read_node(reader, child)[0] == _LEAF else _KIND_INTERNAL
            if kind == _KIND_LEAF:
                return child, _KIND_LEAF
        encoding = _INTERNAL_PREFIX + left + right
        node_hash = sha(encoding).digest()
        new_nodes[node_hash] = encoding
        return node_hash, _KIND_INTERNAL

    def update(node: bytes, record: bytes | None, lo: int, hi: int, depth: int) -> tuple[bytes, int]:
        # New hash and kind of the subtree at `depth` rooted at `node` after updates [lo, hi).
        if lo == hi:
            return node, (_KIND_LEAF if record is not None and record[0] == _LEAF else _UNKNOWN)

        if node == EMPTY_HASH:
            inserts = live[hi] - live[lo]
            if inserts == 0:
                return EMPTY_HASH, _UNKNOWN
            if inserts == 1:
                i = lo
                while values[i] is None:
                    i += 1
                return make_leaf(i), _KIND_LEAF
            # All of [lo, hi) share the first `depth` bits; the first key with bit `depth` set starts the
            # right half.
            shift = KEY_BITS - 1 - depth
            mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
            left, left_kind = update(EMPTY_HASH, None, lo, mid, depth + 1)
            right, right_kind = update(EMPTY_HASH, None, mid, hi, depth + 1)
            return combine(left, left_kind, right, right_kind)

        if record is None:
            record = reader_get(node)
            if (type(record) is not bytes or len(record) < _ENCODING_LEN or record[0] > _INTERNAL
                    or (record[0] == _INTERNAL and len(record) != _ENCODING_LEN)):
                record = _read_node(reader, node)  # raises, or converts a bytearray / memoryview
        if track:
            visited.append(node)

        if record[0] == _LEAF:
            leaf_key = record[1:33]
            if hi - lo == 1 and key_hashes[lo] == leaf_key:
                value = values[lo]
                if value is None:
                    return EMPTY_HASH, _UNKNOWN
                value_hash = sha(value).digest()
                if value_hash == record[33:65]:
                    if track:
                        kept.append(node)
                    return node, _KIND_LEAF  # unchanged value: keep the stored node
                return make_leaf(lo, value_hash), _KIND_LEAF
            if live[hi] == live[lo]:
                # Only deletes here: of the leaf itself, or of absent keys (no-ops).
                i = bisect_left(key_hashes, leaf_key, lo, hi)
                if i < hi and key_hashes[i] == leaf_key:
                    return EMPTY_HASH, _UNKNOWN
                if track:
                    kept.append(node)
                return node, _KIND_LEAF
            # Push the existing leaf down one level as if it sat under an internal node; the
            # recursion re-creates only the internal nodes the final shape needs, and the
            # leaf keeps its hash because its encoding carries no depth.
            shift = KEY_BITS - 1 - depth
            threshold = ((ints[lo] >> shift) | 1) << shift
            mid = bisect_left(ints, threshold, lo, hi)
            if int.from_bytes(leaf_key, "big") >= threshold:
                left, left_kind = update(EMPTY_HASH, None, lo, mid, depth + 1)
                right, right_kind = update(node, record, mid, hi, depth + 1)
            else:
                left, left_kind = update(node, record, lo, mid, depth + 1)
                right, right_kind = update(EMPTY_HASH, None, mid, hi, depth + 1)
            if track and node in (left, right):
                kept.append(node)  # the leaf moved down unchanged
            return combine(left, left_kind, right, right_kind)

        if depth >= KEY_BITS:
            raise TrieCorruptError(f"internal trie node {node.hex()} below depth {KEY_BITS}")
        old_left = record[1:33]
        old_right = record[33:65]
        shift = KEY_BITS - 1 - depth
        mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        # A side without updates keeps its child as it is (what update would return for an empty range).
        if lo == mid:
            left, left_kind = old_left, _UNKNOWN
        else:
            left, left_kind = update(old_left, None, lo, mid, depth + 1)
        if mid == hi:
            right, right_kind = old_right, _UNKNOWN
        else:
            right, right_kind = update(old_right, None, mid, hi, depth + 1)
        if left == old_left and right == old_right:
            if track:
                kept.append(node)
            return node, _KIND_INTERNAL
        if left != EMPTY_HASH and right != EMPTY_HASH:  # the common case: no shape to re-establish
            encoding = _INTERNAL_PREFIX + left + right
            node_hash = sha(encoding).digest()
            new_nodes[node_hash] = encoding
            return node_hash, _KIND_INTERNAL
        return combine(left, left_kind, right, right_kind)

    new_root, _ = update(root, None, 0, len(key_hashes), 0)
    if track:
        # Every existing node the walk reached is orphaned, except those that live on unchanged (a leaf
        # pushed down a level keeps its hash; an untouched subtree keeps its root).
        orphans.update(set(visited).difference(kept, new_nodes))  # type: ignore[union-attr]
    return new_root, new_nodes


def get_value(reader: NodeReader, root: bytes, key: bytes) -> bytes | None:
    """The value of key under root, or None when absent."""
    key_hash = _sha256(key).digest()
    key_int = int.from_bytes(key_hash, "big")
    node = root
    shift = KEY_BITS - 1
    while node != EMPTY_HASH:
        record = _read_node(reader, node)
        if record[0] == _LEAF:
            return record[65:] if record[1:33] == key_hash else None
        if shift < 0:
            raise TrieCorruptError(f"internal trie node {node.hex()} below depth {KEY_BITS}")
        node = record[33:65] if (key_int >> shift) & 1 else record[1:33]
        shift -= 1
    return None


def get_proof(reader: NodeReader, root: bytes, key: bytes) -> tuple[bytes | None, MerkleProof]:
    """The value of key under root (None when absent) and the proof of it."""
    key_hash = _sha256(key).digest()
    key_int = int.from_bytes(key_hash, "big")
    siblings: list[bytes] = []
    node = root
    shift = KEY_BITS - 1
    while node != EMPTY_HASH:
        record = _read_node(reader, node)
        if record[0] == _LEAF:
            leaf_key = record[1:33]
            proof = MerkleProof(tuple(siblings), leaf_key, record[33:65])
            return (record[65:] if leaf_key == key_hash else None), proof
        if shift < 0:
            raise TrieCorruptError(f"internal trie node {node.hex()} below depth {KEY_BITS}")
        if (key_int >> shift) & 1:
            siblings.append(record[1:33])
            node = record[33:65]
        else:
            siblings.append(record[33:65])
            node = record[1:33]
        shift -= 1
    return None, MerkleProof(tuple(siblings), b"", b"")


def compute_root_from_proof(key_hash: bytes, leaf_hash: bytes, siblings: tuple[bytes, ...] | list[bytes]) -> bytes:
    """The root implied by a node (leaf hash or EMPTY_HASH) on key_hash's path and its siblings.

    Raises ValueError on malformed input (hash lengths, more than 256 siblings).
    """
    if len(key_hash) != 32 or len(leaf_hash) != 32 or len(siblings) > KEY_BITS:
        raise ValueError("malformed proof: bad hash length or too many siblings")
    key_int = int.from_bytes(key_hash, "big")
    node = leaf_hash
    sha = _sha256
    # Walk bottom-up: the deepest sibling (last) pairs with the node at depth len(siblings).
    shift = KEY_BITS - len(siblings)
    for sibling in reversed(siblings):
        if len(sibling) != 32:
            raise ValueError("malformed proof: sibling is not 32 bytes")
        if (key_int >> shift) & 1:
            node = sha(_INTERNAL_PREFIX + sibling + node).digest()
        else:
            node = sha(_INTERNAL_PREFIX + node + sibling).digest()
        shift += 1
    return node


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def _well_formed(root: object, proof: object) -> bool:
    if not _is_hash(root) or not isinstance(proof, MerkleProof):
        return False
    siblings = proof.siblings
    if not isinstance(siblings, (tuple, list)) or len(siblings) > KEY_BITS:
        return False
    return all(_is_hash(s) for s in siblings)


def verify_membership(root: bytes, key: bytes, value: bytes, proof: MerkleProof) -> bool:
    """True when proof shows key holds value under root; never raises."""
    try:
        if not _well_formed(root, proof):
            return False
        key_hash = _sha256(key).digest()
        if proof.leaf_key_hash != key_hash or proof.leaf_value_hash != _sha256(value).digest():
            return False
        leaf_hash = compute_leaf_hash(key_hash, proof.leaf_value_hash)
        return compute_root_from_proof(key_hash, leaf_hash, proof.siblings) == root
    except (TypeError, ValueError):
        return False


def verify_non_membership(root: bytes, key: bytes, proof: MerkleProof) -> bool:
    """True when proof shows key is absent under root; never raises."""
    try:
        if not _well_formed(root, proof):
            return False
        key_hash = _sha256(key).digest()
        leaf_key, leaf_value = proof.leaf_key_hash, proof.leaf_value_hash
        if leaf_key == b"" and leaf_value == b"":
            # Key's path ends in an empty subtree.
            terminal = EMPTY_HASH
        else:
            # Key's path ends in another key's leaf; in a canonical trie that leaf is then alone
            # in the subtree the key would live in. It must sit on the key's path (shared prefix).
            if not _is_hash(leaf_key) or not _is_hash(leaf_value) or leaf_key == key_hash:
                return False
            depth = len(proof.siblings)
            diff = int.from_bytes(leaf_key, "big") ^ int.from_bytes(key_hash, "big")
            if diff >> (KEY_BITS - depth):
                return False
            terminal = compute_leaf_hash(leaf_key, leaf_value)
        return compute_root_from_proof(key_hash, terminal, proof.siblings) == root
    except (TypeError, ValueError):
        return False
