"""Pruning: old heights are refused clearly, the retained trees stay whole, restarts resume, archives keep all,
and the app hash never depends on any of it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.app import DistposApp
from distpos_abci.bank import build_send_tx
from distpos_abci.config import load_config
from distpos_abci.errors import ConfigError, HeightUnavailableError
from distpos_abci.store import merkle
from distpos_abci.store.db import T_NODE, T_ORPHAN, T_ORPHAN_LIST, Database
from distpos_abci.store.state import StateStore
from tests.helpers import CHAIN, addr, genesis_bytes, key

ACCOUNTS = {1: 10_000, 2: 10_000, 3: 10_000, 4: 10_000}


def _blocks(n: int) -> list[list[bytes]]:
    """Transfers that also bring values back (1 pays 2 then 2 pays 1 the same): re-created trie nodes."""
    nonces = {i: 0 for i in ACCOUNTS}
    out = []
    for b in range(n):
        txs = []
        for sender, recipient, amount in ((1, 2, 7), (2, 1, 7), (3, 1 + b % 4, 1 + b)):
            txs.append(build_send_tx(key(sender), CHAIN, nonces[sender], addr(recipient), amount))
            nonces[sender] += 1
        out.append(txs)
    return out


class Node:
    """An app on disk with a given keep_recent, reopenable like a restarted node."""

    def __init__(self, path, keep_recent: int, background: bool = False) -> None:
        self.path, self.keep_recent, self.background = path, keep_recent, background
        self.open()

    def open(self) -> None:
        self.db = Database(self.path)
        self.state = StateStore(self.db, keep_recent=self.keep_recent, background=self.background)
        self.app = DistposApp(self.state)

    def close(self) -> None:
        self.state.close()
        self.db.close()

    def run(self, blocks: list[list[bytes]]) -> list[bytes]:
        hashes = []
        if self.app.last_height == 0:
            self.app.init_chain(CHAIN, genesis_bytes(ACCOUNTS))
        for txs in blocks:
            result = self.app.finalize_block(self.app.last_height + 1, txs)
            assert all(r.ok for r in result.tx_results)
            self.app.commit()
            hashes.append(result.app_hash)
        return hashes


def _count(db: Database, table: bytes) -> int:
    return sum(1 for k, _ in _iter_table(db, table))


def _iter_table(db: Database, table: bytes):
    for k, v in db.iter_from(table):
        if not k.startswith(table):
            return
        yield k, v


def _assert_tree_whole(db: Database, root: bytes) -> int:
    """Every node under root is in the database itself (not a cache); returns how many."""
    seen, todo = 0, [root]
    while todo:
        h = todo.pop()
        if h == merkle.EMPTY_HASH:
            continue
        record = db.get(T_NODE + h)
        assert record is not None, f"node {h.hex()} of a retained root was pruned"
        seen += 1
        if record[0] == 1:
            todo += [record[1:33], record[33:65]]
    return seen


def test_pruned_height_is_refused_naming_the_oldest_available(tmp_path):
    node = Node(tmp_path / "db", keep_recent=3)
    node.run(_blocks(8))  # heights 1..8 (genesis is committed with block 1)
    assert node.state.oldest_height == 6
    with pytest.raises(HeightUnavailableError, match="height 2 is pruned: the oldest available height is 6"):
        node.app.query_account(addr(1), height=2, prove=True)
    with pytest.raises(HeightUnavailableError, match="oldest available height is 6"):
        node.app.query_store(b"anything", height=5)
    for h in (6, 7, 8):
        view = node.app.query_account(addr(1), height=h, prove=True)
        root = node.state.get_root(h)
        assert all(merkle.verify_membership(root, p.key, p.value, p.proof) for p in view.proofs if p.value)
        assert _assert_tree_whole(node.db, root) > 0
    node.close()


def test_app_hashes_are_identical_on_archive_and_pruned_nodes(tmp_path):
    blocks = _blocks(12)
    archive = Node(tmp_path / "archive", keep_recent=0)
    pruned = Node(tmp_path / "pruned", keep_recent=1)
    threaded = Node(tmp_path / "threaded", keep_recent=2, background=True)
    hashes = archive.run(blocks)
    assert pruned.run(blocks) == hashes
    assert threaded.run(blocks) == hashes
    assert threaded.state.wait_pruned()
    # Every retained tree is whole, and the pruned nodes really left the disk.
    for node in (pruned, threaded):
        for h in range(node.state.oldest_height, node.app.last_height + 1):
            _assert_tree_whole(node.db, node.state.get_root(h))
    live = _assert_tree_whole(pruned.db, pruned.state.get_root(pruned.app.last_height))
    assert _count(pruned.db, T_NODE) == live
    assert _count(archive.db, T_NODE) > 2 * live
    for node in (archive, pruned, threaded):
        node.close()


def test_archive_node_keeps_every_height_and_records_no_orphans(tmp_path):
    node = Node(tmp_path / "db", keep_recent=0)
    node.run(_blocks(6))
    assert node.state.oldest_height == 1
    for h in range(1, node.app.last_height + 1):
        node.app.query_account(addr(1), height=h, prove=True)
        _assert_tree_whole(node.db, node.state.get_root(h))
    assert _count(node.db, T_ORPHAN) == 0 and _count(node.db, T_ORPHAN_LIST) == 0
    node.close()


def test_restart_after_pruning_resumes(tmp_path):
    blocks = _blocks(10)
    reference = Node(tmp_path / "ref", keep_recent=2)
    expected = reference.run(blocks)
    reference_nodes = _count(reference.db, T_NODE)

    node = Node(tmp_path / "db", keep_recent=2)
    got = node.run(blocks[:5])
    node.close()
    node.open()  # a restart: pruning state comes from the database
    assert node.state.oldest_height == 4
    got += node.run(blocks[5:])
    assert got == expected
    assert node.state.oldest_height == reference.state.oldest_height == 9
    assert _count(node.db, T_NODE) == reference_nodes
    reference.close()
    node.close()


def test_a_prune_stopped_midway_is_finished_after_restart(tmp_path, monkeypatch):
    blocks = _blocks(8)
    reference = Node(tmp_path / "ref", keep_recent=2)
    reference.run(blocks)
    # Crash after each height's bar was raised and its root deleted, before its nodes went.
    monkeypatch.setattr(StateStore, "_drain_orphans", lambda self, height: None)
    node = Node(tmp_path / "db", keep_recent=2)
    node.run(blocks)
    assert _count(node.db, T_NODE) > _count(reference.db, T_NODE)
    node.close()
    monkeypatch.undo()
    node.open()
    node.run(_blocks(9)[8:])  # one more block: the pruner drains what is left, and the tree stays whole
    reference.run(_blocks(9)[8:])
    assert node.app.last_app_hash == reference.app.last_app_hash
    _assert_tree_whole(node.db, node.state.get_root(node.app.last_height))
    # Every list the crashed run left was drained: the disk holds what a clean run holds.
    assert _count(node.db, T_NODE) == _count(reference.db, T_NODE)
    assert _count(node.db, T_ORPHAN_LIST) == _count(reference.db, T_ORPHAN_LIST)
    reference.close()
    node.close()


def test_keep_recent_is_read_from_app_toml(tmp_path):
    (tmp_path / "config").mkdir()
    toml = tmp_path / "config" / "app.toml"
    assert load_config(tmp_path).keep_recent == 10_000
    toml.write_text("[store]\nkeep_recent = 0\n")
    assert load_config(tmp_path).keep_recent == 0
    for bad in ("-1", "true", '"100"'):
        toml.write_text(f"[store]\nkeep_recent = {bad}\n")
        with pytest.raises(ConfigError, match="store.keep_recent"):
            load_config(tmp_path)


def test_retention_settings_are_read_from_app_toml(tmp_path):
    (tmp_path / "config").mkdir()
    toml = tmp_path / "config" / "app.toml"
    cfg = load_config(tmp_path)
    assert (cfg.min_retain_blocks, cfg.index_receipts) == (0, True)
    toml.write_text("[store]\nmin_retain_blocks = 20000\nindex_receipts = false\n")
    cfg = load_config(tmp_path)
    assert (cfg.min_retain_blocks, cfg.index_receipts) == (20_000, False)
    for line, name in (("min_retain_blocks = -1", "store.min_retain_blocks"), ("min_retain_blocks = true",
                       "store.min_retain_blocks"), ('index_receipts = "yes"', "store.index_receipts")):
        toml.write_text(f"[store]\n{line}\n")
        with pytest.raises(ConfigError, match=name):
            load_config(tmp_path)


def _tree_nodes(nodes: dict[bytes, bytes], root: bytes) -> set[bytes]:
    out, todo = set(), [root]
    while todo:
        h = todo.pop()
        if h != merkle.EMPTY_HASH:
            out.add(h)
            if nodes[h][0] == 1:
                todo += [nodes[h][1:33], nodes[h][33:65]]
    return out

_batches = st.lists(st.dictionaries(st.binary(min_size=1, max_size=3), st.one_of(st.none(), st.binary(max_size=3)),
                                    max_size=12), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(_batches)
def test_orphans_are_exactly_the_nodes_the_new_tree_dropped(batches):
    nodes: dict[bytes, bytes] = {}
    root = merkle.EMPTY_HASH
    for batch in batches:
        orphans: set[bytes] = set()
        new_root, new_nodes = merkle.compute_updated_root(nodes, root, batch.items(), orphans)
        nodes.update(new_nodes)
        assert orphans == _tree_nodes(nodes, root) - _tree_nodes(nodes, new_root)
        assert new_root == merkle.compute_updated_root(nodes, root, batch.items())[0]
        root = new_root


def test_the_localnet_app_toml_states_its_retention_choices(tmp_path):
    from distpos_abci.localnet.generate import write_app_toml
    from distpos_abci.localnet.plan import Node

    node = Node("e2e4", "node0", str(tmp_path), "id", 1, 2, 3, 4, 5)
    (tmp_path / "config").mkdir()
    write_app_toml(node)
    cfg = load_config(tmp_path)
    assert (cfg.keep_recent, cfg.min_retain_blocks, cfg.index_receipts) == (10_000, 0, True)
