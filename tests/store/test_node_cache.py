"""The trie node caches of StateStore: bounded, internal nodes apart from leaves, and never a source of wrong
answers (a node is named by its hash, so a cached record is the stored one)."""

from __future__ import annotations

from distpos_abci.store import merkle
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore, _NodeReader


def _leaf(i: int) -> tuple[bytes, bytes]:
    return i.to_bytes(32, "big"), b"\x00" + bytes(64) + i.to_bytes(4, "big")


def _internal(i: int) -> tuple[bytes, bytes]:
    return (10**6 + i).to_bytes(32, "big"), b"\x01" + bytes(64)


def test_remember_keeps_leaves_and_internal_nodes_apart_each_within_its_bound(tmp_path):
    db = Database(tmp_path / "db")
    reader = _NodeReader(db, capacity=16, leaf_capacity=8)
    for start in range(0, 40, 5):
        reader.remember(dict([_leaf(i) for i in range(start, start + 5)] + [_internal(i) for i in range(start, start + 5)]))
        assert len(reader.leaves) <= 8 and len(reader.cache) <= 16
    assert all(record[0] == 0 for record in reader.leaves.values())
    assert all(record[0] == 1 for record in reader.cache.values())
    newest_leaf, newest_internal = _leaf(39), _internal(39)
    assert reader.get(newest_leaf[0]) == newest_leaf[1] and reader.get(newest_internal[0]) == newest_internal[1]
    # a batch larger than the bound keeps its newest entries
    reader.remember(dict(_leaf(i) for i in range(100, 120)))
    assert sorted(reader.leaves) == [_leaf(i)[0] for i in range(112, 120)]
    db.close()


def test_a_state_read_through_the_caches_equals_a_cold_read(tmp_path):
    db = Database(tmp_path / "db")
    state = StateStore(db)
    for height in (1, 2, 3):
        writes = {f"k{i}".encode(): f"v{i}-{height}".encode() for i in range(50)}
        state.commit(state.prepare_commit(height, writes, "e2e4"))
    assert state.nodes.leaves and state.nodes.cache
    cold = _NodeReader(db, capacity=0, leaf_capacity=0)
    for height in (1, 2, 3):
        root = state.get_root(height)
        for i in range(50):
            key = f"k{i}".encode()
            assert merkle.get_proof(state.nodes, root, key) == merkle.get_proof(cold, root, key)
            assert state.get_at(key, height) == f"v{i}-{height}".encode()
    db.close()
