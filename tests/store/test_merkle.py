"""Tests of the compressed binary Merkle trie (distpos_abci.store.merkle)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distpos_abci.gen.distpos.v1 import state_pb2
from distpos_abci.store import merkle
from distpos_abci.store.merkle import (
    EMPTY_HASH,
    MerkleProof,
    TrieCorruptError,
    compute_key_hash,
    compute_root_from_proof,
    compute_updated_root,
    compute_value_hash,
    get_proof,
    get_value,
    verify_membership,
    verify_non_membership,
)


class DictReader:
    """A NodeReader over a plain dict that never changes behind the trie's back."""

    def __init__(self, nodes: dict[bytes, bytes] | None = None) -> None:
        self.nodes = {} if nodes is None else nodes

    def get(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(key: bytes, value: bytes) -> bytes:
    return sha(b"\x00" + sha(key) + sha(value))


def internal_hash(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def bit(key_hash: bytes, depth: int) -> int:
    return (key_hash[depth // 8] >> (7 - depth % 8)) & 1


def reference_root(pairs: dict[bytes, bytes]) -> bytes:
    """Independent oracle: the canonical root straight from the definition, no storage."""

    def build(entries: list[tuple[bytes, bytes, bytes]], depth: int) -> bytes:
        if not entries:
            return EMPTY_HASH
        if len(entries) == 1:
            _, key, value = entries[0]
            return leaf_hash(key, value)
        left = [e for e in entries if bit(e[0], depth) == 0]
        right = [e for e in entries if bit(e[0], depth) == 1]
        return internal_hash(build(left, depth + 1), build(right, depth + 1))

    return build([(sha(k), k, v) for k, v in pairs.items()], 0)


def apply(nodes: dict[bytes, bytes], root: bytes, updates) -> bytes:
    """Apply a batch and persist its nodes, checking the new-node contract on the way."""
    snapshot = dict(nodes)
    new_root, new_nodes = compute_updated_root(DictReader(nodes), root, updates)
    assert nodes == snapshot, "compute_updated_root must not mutate the store"
    for node_hash, record in new_nodes.items():
        assert sha(record[:65]) == node_hash
        assert record[0] in (0, 1)
        if record[0] == 1:
            assert len(record) == 65
        # Content-addressed and immutable: a node seen before (e.g. a state revisited) may be
        # emitted again, but only ever with the identical record.
        assert nodes.get(node_hash, record) == record
    nodes.update(new_nodes)
    return new_root


def build(pairs: dict[bytes, bytes]) -> tuple[dict[bytes, bytes], bytes]:
    nodes: dict[bytes, bytes] = {}
    root = apply(nodes, EMPTY_HASH, list(pairs.items()))
    return nodes, root


def find_prefix_pair(min_bits: int) -> tuple[bytes, bytes, int]:
    """Two small-int keys whose hashes share at least min_bits leading bits; returns shared bit count."""
    seen: dict[int, bytes] = {}
    for i in range(1_000_000):
        key = str(i).encode()
        prefix = int.from_bytes(sha(key)[:4], "big") >> (32 - min_bits)
        if prefix in seen:
            other = seen[prefix]
            a, b = int.from_bytes(sha(other), "big"), int.from_bytes(sha(key), "big")
            shared = 256 - (a ^ b).bit_length()
            return other, key, shared
        seen[prefix] = key
    raise AssertionError("no pair found")


# ---- unit vectors ----------------------------------------------------------------


def test_empty_root_is_zero_hash():
    assert EMPTY_HASH == bytes(32)
    root, new_nodes = compute_updated_root(DictReader(), EMPTY_HASH, [])
    assert root == EMPTY_HASH and new_nodes == {}
    assert get_value(DictReader(), EMPTY_HASH, b"k") is None


def test_hash_helpers():
    assert compute_key_hash(b"abc") == sha(b"abc")
    assert compute_value_hash(b"") == sha(b"")


def test_single_key_root_is_its_leaf():
    nodes, root = build({b"alpha": b"one"})
    expected = sha(b"\x00" + sha(b"alpha") + sha(b"one"))
    assert root == expected
    # The stored record carries the raw value after the 65-byte encoding.
    assert nodes[root] == b"\x00" + sha(b"alpha") + sha(b"one") + b"one"
    assert len(nodes) == 1
    assert get_value(DictReader(nodes), root, b"alpha") == b"one"
    assert get_value(DictReader(nodes), root, b"beta") is None


def test_empty_value_is_present_not_deleted():
    nodes, root = build({b"k": b""})
    assert root == leaf_hash(b"k", b"")
    assert get_value(DictReader(nodes), root, b"k") == b""


def test_two_keys_differing_at_bit_zero():
    keys = [str(i).encode() for i in range(100)]
    a = next(k for k in keys if bit(sha(k), 0) == 0)
    b = next(k for k in keys if bit(sha(k), 0) == 1)
    nodes, root = build({b: b"vb", a: b"va"})
    assert root == internal_hash(leaf_hash(a, b"va"), leaf_hash(b, b"vb"))
    assert nodes[root] == b"\x01" + leaf_hash(a, b"va") + leaf_hash(b, b"vb")
    assert len(nodes) == 3


def test_two_keys_sharing_a_long_prefix():
    a, b, shared = find_prefix_pair(8)
    assert shared >= 8
    if bit(sha(a), shared) == 1:
        a, b = b, a
    node = internal_hash(leaf_hash(a, b"1"), leaf_hash(b, b"2"))
    # Above the split: a chain of internal nodes whose other child is empty.
    for depth in reversed(range(shared)):
        node = internal_hash(EMPTY_HASH, node) if bit(sha(a), depth) else internal_hash(node, EMPTY_HASH)
    nodes, root = build({a: b"1", b: b"2"})
    assert root == node
    assert len(nodes) == shared + 3
    _, proof = get_proof(DictReader(nodes), root, a)
    assert len(proof.siblings) == shared + 1
    assert proof.siblings[:shared] == (EMPTY_HASH,) * shared
    assert verify_membership(root, a, b"1", proof)


def test_update_replaces_value():
    nodes, root = build({b"a": b"1", b"b": b"2", b"c": b"3"})
    root2 = apply(nodes, root, [(b"b", b"22")])
    assert root2 == reference_root({b"a": b"1", b"b": b"22", b"c": b"3"})
    reader = DictReader(nodes)
    assert get_value(reader, root2, b"b") == b"22"
    assert get_value(reader, root, b"b") == b"2"


def test_rewriting_same_value_is_a_noop():
    nodes, root = build({b"a": b"1", b"b": b"2"})
    new_root, new_nodes = compute_updated_root(DictReader(nodes), root, [(b"a", b"1")])
    assert new_root == root and new_nodes == {}


def test_delete_back_to_one_leaf_collapses():
    a, b, _ = find_prefix_pair(8)
    nodes, root = build({a: b"1", b: b"2", b"other": b"3"})
    root2 = apply(nodes, root, [(b, None), (b"other", None)])
    assert root2 == leaf_hash(a, b"1")
    assert root2 == build({a: b"1"})[1]


def test_delete_all_returns_empty_hash():
    pairs = {str(i).encode(): bytes([i]) for i in range(50)}
    nodes, root = build(pairs)
    root2 = apply(nodes, root, [(k, None) for k in pairs])
    assert root2 == EMPTY_HASH


def test_delete_absent_key_is_noop():
    nodes, root = build({b"a": b"1", b"b": b"2"})
    new_root, new_nodes = compute_updated_root(DictReader(nodes), root, [(b"zzz", None)])
    assert new_root == root and new_nodes == {}
    new_root, new_nodes = compute_updated_root(DictReader(), EMPTY_HASH, [(b"zzz", None)])
    assert new_root == EMPTY_HASH and new_nodes == {}


def test_later_update_of_same_key_wins():
    nodes: dict[bytes, bytes] = {}
    root = apply(nodes, EMPTY_HASH, [(b"k", b"1"), (b"j", b"x"), (b"k", b"2")])
    assert root == reference_root({b"k": b"2", b"j": b"x"})
    root = apply(nodes, root, [(b"j", None), (b"j", b"y")])
    assert root == reference_root({b"k": b"2", b"j": b"y"})
    root = apply(nodes, root, [(b"j", b"z"), (b"j", None)])
    assert root == reference_root({b"k": b"2"})


def test_consumes_updates_iterable_once():
    pairs = {str(i).encode(): b"v" for i in range(20)}
    root, _ = compute_updated_root(DictReader(), EMPTY_HASH, iter(pairs.items()))
    assert root == reference_root(pairs)


def test_each_new_node_is_hashed_once(monkeypatch):
    pairs = {str(i).encode(): str(i).encode() for i in range(2000)}
    nodes, root = build(pairs)
    calls = 0
    real = hashlib.sha256

    def counting(data=b""):
        nonlocal calls
        calls += 1
        return real(data)

    monkeypatch.setattr(merkle, "_sha256", counting)
    batches = [
        [(b"7", b"new")],  # update in place
        [(b"new-key", b"v")],  # insert, pushing an existing leaf down
        [(b"8", None)],  # delete, collapsing a sibling leaf upward
        [(str(i).encode(), None if i % 3 else b"x") for i in range(0, 3000, 7)],  # mixed batch
    ]
    for batch in batches:
        calls = 0
        root, new_nodes = compute_updated_root(DictReader(nodes), root, batch)
        inserts = sum(v is not None for _, v in batch)
        # One hash per key, per inserted value and per new node: no node is hashed twice.
        assert calls == len(batch) + inserts + len(new_nodes)
        nodes.update(new_nodes)
        if len(batch) == 1:
            # The path is short (about log2(2000) levels), not 256.
            assert len(new_nodes) <= 40


def test_invalid_missing_node_raises_trie_corrupt():
    nodes, root = build({b"a": b"1", b"b": b"2"})
    reader = DictReader({})
    with pytest.raises(TrieCorruptError):
        get_value(reader, root, b"a")
    with pytest.raises(TrieCorruptError):
        get_proof(reader, root, b"a")
    with pytest.raises(TrieCorruptError):
        compute_updated_root(reader, root, [(b"c", b"3")])


def test_invalid_malformed_record_raises_trie_corrupt():
    root = sha(b"whatever")
    with pytest.raises(TrieCorruptError):
        get_value(DictReader({root: b"\x07" + bytes(64)}), root, b"a")
    with pytest.raises(TrieCorruptError):
        get_value(DictReader({root: b"\x01" + bytes(10)}), root, b"a")


def test_proof_proto_round_trip():
    nodes, root = build({str(i).encode(): b"v" for i in range(30)})
    value, proof = get_proof(DictReader(nodes), root, b"3")
    msg = proof.to_proto()
    assert isinstance(msg, state_pb2.MerkleProof)
    again = MerkleProof.from_proto(state_pb2.MerkleProof.FromString(msg.SerializeToString()))
    assert again == proof
    assert verify_membership(root, b"3", value, again)
    _, absent = get_proof(DictReader(nodes), root, b"absent")
    assert MerkleProof.from_proto(absent.to_proto()) == absent


def test_non_membership_in_empty_trie():
    value, proof = get_proof(DictReader(), EMPTY_HASH, b"k")
    assert value is None
    assert proof == MerkleProof((), b"", b"")
    assert verify_non_membership(EMPTY_HASH, b"k", proof)
    assert not verify_membership(EMPTY_HASH, b"k", b"", proof)


def test_compute_root_from_proof_matches_root():
    nodes, root = build({str(i).encode(): b"v" for i in range(10)})
    _, proof = get_proof(DictReader(nodes), root, b"4")
    assert compute_root_from_proof(sha(b"4"), leaf_hash(b"4", b"v"), proof.siblings) == root


def test_invalid_compute_root_from_proof_rejects_bad_lengths():
    with pytest.raises(ValueError):
        compute_root_from_proof(b"short", EMPTY_HASH, ())
    with pytest.raises(ValueError):
        compute_root_from_proof(sha(b"k"), EMPTY_HASH, (EMPTY_HASH,) * 257)
    with pytest.raises(ValueError):
        compute_root_from_proof(sha(b"k"), EMPTY_HASH, (b"x",))


def test_invalid_malformed_proofs_return_false():
    nodes, root = build({str(i).encode(): b"v" for i in range(10)})
    _, good = get_proof(DictReader(nodes), root, b"4")
    assert verify_membership(root, b"4", b"v", good)
    bad_proofs = [
        replace(good, siblings=good.siblings + (EMPTY_HASH,) * 300),
        replace(good, siblings=(b"short",) + good.siblings[1:]),
        replace(good, siblings=(None,) + good.siblings[1:]),
        replace(good, siblings=None),
        replace(good, leaf_key_hash=b"x"),
        replace(good, leaf_value_hash=b""),
    ]
    for proof in bad_proofs:
        assert not verify_membership(root, b"4", b"v", proof)
        assert not verify_non_membership(root, b"4", proof)
    assert not verify_membership(root[:31], b"4", b"v", good)
    assert not verify_membership(None, b"4", b"v", good)
    assert not verify_membership(root, None, b"v", good)
    assert not verify_membership(root, b"4", None, good)
    assert not verify_membership(root, b"4", b"v", None)
    assert not verify_non_membership(root, b"4", "not a proof")
    # Half-empty leaf fields are neither an empty-subtree nor a leaf terminal.
    _, absent = get_proof(DictReader(nodes), root, b"absent")
    assert verify_non_membership(root, b"absent", absent)
    assert not verify_non_membership(root, b"absent", replace(absent, leaf_key_hash=b""))
    assert not verify_non_membership(root, b"absent", replace(absent, leaf_value_hash=b""))


def test_invalid_non_membership_via_leaf_off_the_path():
    pairs = {str(i).encode(): b"v" for i in range(64)}
    nodes, root = build(pairs)
    reader = DictReader(nodes)
    absent = next(
        k for k in (b"x%d" % i for i in range(10_000)) if get_proof(reader, root, k)[1].leaf_key_hash
    )
    _, proof = get_proof(reader, root, absent)
    assert verify_non_membership(root, absent, proof)
    # The same proof is no evidence about a key whose path does not run into that leaf.
    depth = len(proof.siblings)
    unrelated = next(
        k for k in (b"y%d" % i for i in range(10_000))
        if any(bit(sha(k), d) != bit(sha(absent), d) for d in range(depth))
    )
    assert not verify_non_membership(root, unrelated, proof)


# ---- property tests --------------------------------------------------------------

keys_st = st.integers(min_value=0, max_value=60).map(lambda i: b"key-%d" % i)
values_st = st.binary(min_size=0, max_size=8)
op_st = st.tuples(keys_st, st.one_of(st.none(), values_st))
ops_st = st.lists(op_st, min_size=0, max_size=80)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def final_state(ops) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for key, value in ops:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def split_batches(ops, cuts: list[int]) -> list[list]:
    points = sorted({c % (len(ops) + 1) for c in cuts} | {0, len(ops)})
    return [ops[a:b] for a, b in zip(points, points[1:])]


@FAST
@given(ops=ops_st, cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=10), seed=st.integers())
def test_root_independent_of_order_and_batching(ops, cuts, seed):
    nodes: dict[bytes, bytes] = {}
    root = EMPTY_HASH
    for batch in split_batches(ops, cuts):
        root = apply(nodes, root, batch)
    state = final_state(ops)
    assert root == reference_root(state)
    # The same final set, inserted in another order in one batch from an empty trie.
    pairs = list(state.items())
    random.Random(seed).shuffle(pairs)
    assert root == build(dict(pairs))[1]
    assert (root == EMPTY_HASH) == (not state)


@FAST
@given(ops=ops_st, absent=st.lists(st.binary(max_size=12), max_size=10))
def test_values_and_proofs_verify(ops, absent):
    nodes: dict[bytes, bytes] = {}
    root = apply(nodes, EMPTY_HASH, ops)
    state = final_state(ops)
    reader = DictReader(nodes)
    for key, value in state.items():
        assert get_value(reader, root, key) == value
        got, proof = get_proof(reader, root, key)
        assert got == value
        assert verify_membership(root, key, value, proof)
        assert not verify_non_membership(root, key, proof)
    for key in absent:
        if key in state:
            continue
        assert get_value(reader, root, key) is None
        got, proof = get_proof(reader, root, key)
        assert got is None
        assert verify_non_membership(root, key, proof)
        assert not verify_membership(root, key, b"", proof)


@FAST
@given(
    ops=st.lists(op_st, min_size=1, max_size=80),
    absent=st.binary(min_size=1, max_size=12).map(lambda b: b"absent-" + b),
    pick=st.integers(min_value=0),
    byte_index=st.integers(min_value=0, max_value=31),
    flip=st.integers(min_value=1, max_value=255),
    extra=st.binary(min_size=32, max_size=32),
)
def test_invalid_tampered_proofs_fail(ops, absent, pick, byte_index, flip, extra):
    nodes: dict[bytes, bytes] = {}
    root = apply(nodes, EMPTY_HASH, ops)
    state = final_state(ops)
    reader = DictReader(nodes)

    if state:
        key = sorted(state)[pick % len(state)]
        value = state[key]
        _, proof = get_proof(reader, root, key)
        assert verify_membership(root, key, value, proof)
        # Wrong value.
        assert not verify_membership(root, key, value + b"!", proof)
        # Claiming absence of a present key with its own membership proof.
        assert not verify_non_membership(root, key, proof)
        # Tampered leaf value hash (keeps the value check honest too).
        tampered = bytearray(proof.leaf_value_hash)
        tampered[byte_index] ^= flip
        assert not verify_membership(root, key, value, replace(proof, leaf_value_hash=bytes(tampered)))
        # A proof for a different present key.
        other = sorted(state)[(pick + 1) % len(state)]
        if other != key:
            assert not verify_membership(root, other, state[other], proof)
        if proof.siblings:
            i = pick % len(proof.siblings)
            sib = bytearray(proof.siblings[i])
            sib[byte_index] ^= flip
            flipped = proof.siblings[:i] + (bytes(sib),) + proof.siblings[i + 1 :]
            assert not verify_membership(root, key, value, replace(proof, siblings=flipped))
            assert not verify_membership(root, key, value, replace(proof, siblings=proof.siblings[:-1]))
            assert not verify_membership(root, key, value, replace(proof, siblings=proof.siblings[1:]))
        assert not verify_membership(root, key, value, replace(proof, siblings=proof.siblings + (extra,)))
        assert not verify_membership(root, key, value, replace(proof, siblings=(extra,) + proof.siblings))

    if absent not in state:
        _, proof = get_proof(reader, root, absent)
        assert verify_non_membership(root, absent, proof)
        # Claiming membership of an absent key, whatever value.
        assert not verify_membership(root, absent, b"", proof)
        forged = replace(proof, leaf_key_hash=sha(absent), leaf_value_hash=sha(b""))
        assert not verify_membership(root, absent, b"", forged)
        assert not verify_non_membership(root, absent, replace(proof, siblings=proof.siblings + (extra,)))
        if proof.siblings:
            i = pick % len(proof.siblings)
            sib = bytearray(proof.siblings[i])
            sib[byte_index] ^= flip
            flipped = proof.siblings[:i] + (bytes(sib),) + proof.siblings[i + 1 :]
            assert not verify_non_membership(root, absent, replace(proof, siblings=flipped))
            assert not verify_non_membership(root, absent, replace(proof, siblings=proof.siblings[:-1]))


@FAST
@given(batches=st.lists(ops_st, min_size=1, max_size=6))
def test_historical_roots_stay_readable(batches):
    nodes: dict[bytes, bytes] = {}
    reader = DictReader(nodes)
    root = EMPTY_HASH
    history: list[tuple[bytes, dict[bytes, bytes]]] = []
    applied: list = []
    for batch in batches:
        root = apply(nodes, root, batch)
        applied.extend(batch)
        history.append((root, final_state(applied)))
    all_keys = {k for batch in batches for k, _ in batch}
    for old_root, old_state in history:
        assert old_root == reference_root(old_state)
        for key in all_keys:
            assert get_value(reader, old_root, key) == old_state.get(key)
            value, proof = get_proof(reader, old_root, key)
            if key in old_state:
                assert verify_membership(old_root, key, old_state[key], proof)
            else:
                assert value is None and verify_non_membership(old_root, key, proof)
