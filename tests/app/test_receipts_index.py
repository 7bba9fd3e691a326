"""Receipts left the Merkle state (issue 8): the node keeps them in its local index, pruned with the heights; a
replay is refused by its nonce alone; the app hash is the same with and without the index."""

from __future__ import annotations

import pytest

from distpos_abci.app import DistposApp, compute_retain_height
from distpos_abci.bank import build_send_tx
from distpos_abci.errors import (
    BadNonceError,
    InsufficientFundsError,
    NotFoundError,
    ProofUnavailableError,
    ReceiptsIndexDisabledError,
)
from distpos_abci.receipts.keys import PREFIX as RECEIPTS
from distpos_abci.store.db import T_LOCAL_LIST, Database
from distpos_abci.store.state import StateStore
from distpos_abci.tx import compute_tx_hash
from tests.helpers import CHAIN, addr, genesis_bytes, key


class Node:
    def __init__(self, path, keep_recent: int = 0, index_receipts: bool = True) -> None:
        self.db = Database(path)
        self.app = DistposApp(StateStore(self.db, keep_recent=keep_recent, background=False),
                              index_receipts=index_receipts)
        self.app.init_chain(CHAIN, genesis_bytes({1: 1000, 2: 500}))
        self.block()

    def block(self, *txs: bytes):
        result = self.app.finalize_block(self.app.last_height + 1, list(txs))
        self.app.commit()
        return result

    def balance(self, i: int) -> int:
        return self.app.query_account(addr(i)).balance


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path / "db")
    yield n
    n.db.close()


def test_receipts_are_not_in_the_merkle_state(node):
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    node.block(raw)
    assert list(node.app.state.iter_prefix(RECEIPTS)) == []
    assert node.app.state.get_at(RECEIPTS + compute_tx_hash(raw), node.app.last_height) is None
    receipt = node.app.query_tx(compute_tx_hash(raw)).receipt
    assert (receipt.height, receipt.index, receipt.code) == (node.app.last_height, 0, 0)
    with pytest.raises(ProofUnavailableError, match="not in the Merkle state"):
        node.app.query_tx(compute_tx_hash(raw), prove=True)


def test_attack_replay_after_the_receipt_is_gone_is_refused_by_the_nonce(tmp_path):
    n = Node(tmp_path / "db", keep_recent=2)
    try:
        raw = build_send_tx(key(1), CHAIN, 0, addr(3), 100)
        assert [r.code for r in n.block(raw).tx_results] == [0]
        for _ in range(3):
            n.block()
        with pytest.raises(NotFoundError):  # pruned with its height: nothing of it is left on the node
            n.app.query_tx(compute_tx_hash(raw))
        assert n.app.check_tx(raw).code == BadNonceError.code
        assert [r.code for r in n.block(raw).tx_results] == [BadNonceError.code]
        assert (n.balance(1), n.balance(3)) == (900, 100)
    finally:
        n.db.close()


def test_attack_the_same_bytes_twice_in_one_block_run_once(node):
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 100)
    res = node.block(raw, raw)
    assert [r.code for r in res.tx_results] == [0, BadNonceError.code]
    assert (node.balance(1), node.balance(3)) == (900, 100)
    receipt = node.app.query_tx(compute_tx_hash(raw)).receipt  # the first inclusion's receipt is kept
    assert (receipt.index, receipt.code) == (0, 0)
    assert [r.code for r in node.block(raw).tx_results] == [BadNonceError.code]
    assert node.app.query_tx(compute_tx_hash(raw)).receipt == receipt


def test_the_app_hash_is_the_same_with_and_without_the_receipts_index(tmp_path):
    with_index, without = Node(tmp_path / "a"), Node(tmp_path / "b", index_receipts=False)
    try:
        blocks = [
            [build_send_tx(key(1), CHAIN, 0, addr(3), 100), build_send_tx(key(2), CHAIN, 0, addr(3), 9999)],
            [build_send_tx(key(1), CHAIN, 1, addr(2), 5), b"\xff\x00garbage"],
            [build_send_tx(key(1), CHAIN, 1, addr(2), 5)],  # replayed bytes
            [],
        ]
        for txs in blocks:
            a, b = with_index.block(*txs), without.block(*txs)
            assert a.app_hash == b.app_hash
            assert [r.code for r in a.tx_results] == [r.code for r in b.tx_results]
        assert [r.code for r in a.tx_results] == []
        raw = blocks[0][1]
        assert with_index.app.query_tx(compute_tx_hash(raw)).receipt.code == InsufficientFundsError.code
        with pytest.raises(ReceiptsIndexDisabledError, match="index_receipts = false"):
            without.app.query_tx(compute_tx_hash(raw))
    finally:
        with_index.db.close()
        without.db.close()


def test_a_transfer_writes_no_receipt_into_the_state(node):
    """Per transfer: the recipient's balance and what the nonce paid (the sender's balance and nonce record are
    one account's here); per block: the expiry list and the block time."""
    n = 50
    txs = [build_send_tx(key(1), CHAIN, i, addr(100 + i), 1) for i in range(n)]
    node.app.finalize_block(node.app.last_height + 1, txs)
    writes = node.app._pending.writes
    node.app.commit()
    assert not any(k.startswith(RECEIPTS) for k in writes)
    # sender balance and nonce record are written once each for all 50 (one account): 50 recipients + 50 paid
    assert len(writes) == 2 + 50 + 50 + 2


def test_restart_after_pruning_finishes_the_local_index(tmp_path):
    """A node stopped between raising its oldest height and deleting that height's receipts deletes them on
    restart."""
    path = tmp_path / "db"
    n = Node(path, keep_recent=2)
    raws = [build_send_tx(key(1), CHAIN, i, addr(3), 1) for i in range(4)]
    for raw in raws:
        n.block(raw)
    kept = n.app.state.oldest_height
    assert all(k[1:9] >= kept.to_bytes(8, "big") for k, _ in n.db.iter_from(T_LOCAL_LIST) if k[:1] == T_LOCAL_LIST)
    n.app.query_tx(compute_tx_hash(raws[-1]))
    # simulate a crash mid-prune: the list of a pruned height is still there
    from distpos_abci.store.db import compute_local_list_key
    from distpos_abci.store.state import encode_key_list
    stale = RECEIPTS + compute_tx_hash(raws[-1])
    n.db.write({compute_local_list_key(1): encode_key_list([stale])})
    n.db.close()
    db = Database(path)
    try:
        state = StateStore(db, keep_recent=2, background=False)
        state.prune()
        assert db.get(compute_local_list_key(1)) is None and state.local.get(stale) is None
    finally:
        db.close()


@pytest.mark.parametrize("last, min_retain, keep_recent, expected", [
    (1000, 0, 100, 0),  # the operator keeps every block
    (1000, 500, 0, 0),  # an archive app proves every height: every header stays
    (1000, 500, 100, 501),  # the operator's 500 blocks
    (1000, 10, 100, 900),  # never fewer than keep_recent + 1: a proof at H needs header H+1
    (50, 500, 100, 0),  # not that many blocks yet
])
def test_retain_height(last, min_retain, keep_recent, expected):
    assert compute_retain_height(last, min_retain, keep_recent) == expected


def test_commit_answers_cometbft_with_the_retain_height(tmp_path):
    from distpos_abci.abci_adapter import DistposABCI
    from distpos_abci.gen.tendermint.abci import types_pb2 as abci

    db = Database(tmp_path / "db")
    try:
        app = DistposApp(StateStore(db, keep_recent=2, background=False), min_retain_blocks=4)
        adapter = DistposABCI(app)
        app.init_chain(CHAIN, genesis_bytes({1: 10}))
        answers = []
        for height in range(1, 8):
            adapter.finalize_block(abci.RequestFinalizeBlock(height=height))
            answers.append(adapter.commit(abci.RequestCommit()).retain_height)
        assert answers == [0, 0, 0, 1, 2, 3, 4]  # the last 4 blocks (more than keep_recent + 1 = 3)
    finally:
        db.close()
