"""State transitions of the app, read as vectors: pre-state, transactions, post-state."""

from __future__ import annotations

import pytest

from distpos_abci.errors import (
    BadNonceError,
    NoCorrespondentError,
    InsufficientFundsError,
    InvalidSignatureError,
    MalformedTxError,
    TxTooLargeError,
    WrongChainError,
)
from distpos_abci.store import merkle
from distpos_abci.bank import build_send_tx
from distpos_abci.tx import compute_tx_hash
from tests.helpers import CHAIN, addr, genesis_bytes, key


def balances(app, *ids):
    return tuple(app.query_account(addr(i)).balance for i in ids)


def test_genesis_funds_accounts_and_supply(funded):
    app = funded.app
    assert balances(app, 1, 2, 3) == (1000, 500, 0)
    assert app.query_status().total_supply == 1500
    assert app.last_height == 1


def test_send_moves_funds_and_advances_nonce(funded):
    app = funded.app
    result = funded.block(build_send_tx(key(1), CHAIN, 0, addr(3), 250))
    assert [r.code for r in result.tx_results] == [0]
    assert balances(app, 1, 3) == (750, 250)
    assert app.query_account(addr(1)).nonce == 1
    assert app.query_status().total_supply == 1500
    types = [e.type for e in result.tx_results[0].events]
    assert types == ["tx", "transfer"]


def test_two_txs_same_account_in_one_block(funded):
    app = funded.app
    res = funded.block(build_send_tx(key(1), CHAIN, 0, addr(3), 100), build_send_tx(key(1), CHAIN, 1, addr(3), 100))
    assert [r.code for r in res.tx_results] == [0, 0]
    assert balances(app, 1, 3) == (800, 200)


@pytest.mark.parametrize(
    "make_tx, err",
    [
        (lambda: build_send_tx(key(3), CHAIN, 0, addr(1), 1), InsufficientFundsError),
        (lambda: build_send_tx(key(1), CHAIN, 5, addr(3), 1), BadNonceError),
        (lambda: build_send_tx(key(1), "a1b2", 0, addr(3, "a1b2"), 1), WrongChainError),
        # interchain handles foreign recipients: without a correspondent account for a1b2 the send is refused
        (lambda: build_send_tx(key(1), CHAIN, 0, addr(3, "a1b2"), 1), NoCorrespondentError),
        (lambda: b"\xff\x00garbage", MalformedTxError),
        (lambda: build_send_tx(key(1), CHAIN, 0, addr(3), 1, memo="x" * 9000), TxTooLargeError),
    ],
)
def test_invalid_tx_gets_its_code_in_check_and_finalize(funded, make_tx, err):
    app = funded.app
    before_hash, before = app.last_app_hash, balances(app, 1, 2, 3)
    raw = make_tx()
    check = app.check_tx(raw)
    assert (check.code, check.codespace) == (err.code, err.codespace)
    assert check.log.startswith(f"{err.codespace}:{err.code}: ")
    result = funded.block(raw)
    assert result.tx_results[0].code == err.code
    assert balances(app, 1, 2, 3) == before
    assert app.query_status().total_supply == 1500
    receipt = app.query_tx(compute_tx_hash(raw)).receipt
    assert receipt.code == err.code and receipt.height == app.last_height
    if err not in (InsufficientFundsError, NoCorrespondentError):  # (a failed message consumes its nonce)
        assert app.last_app_hash == before_hash  # receipts are not state: a refused tx changes nothing


def test_invalid_signature_changes_nothing_but_receipt(funded):
    from distpos_abci.gen.distpos.v1 import tx_pb2

    tx = tx_pb2.Tx.FromString(build_send_tx(key(1), CHAIN, 0, addr(3), 1))
    raw = tx_pb2.Tx(body=tx.body, signature=bytes(64)).SerializeToString()
    assert funded.app.check_tx(raw).code == InvalidSignatureError.code
    funded.block(raw)
    assert funded.app.query_account(addr(1)).nonce == 0


def test_refused_checktx_does_not_consume_the_mempool_nonce(funded):
    app = funded.app
    too_much = build_send_tx(key(2), CHAIN, 0, addr(3), 10_000)
    assert app.check_tx(too_much).code == InsufficientFundsError.code
    assert app.check_tx(build_send_tx(key(2), CHAIN, 0, addr(3), 10)).code == 0


def test_failed_message_consumes_nonce_so_it_cannot_be_replayed(funded):
    app = funded.app
    raw = build_send_tx(key(2), CHAIN, 0, addr(3), 10_000)
    assert funded.block(raw).tx_results[0].code == InsufficientFundsError.code
    assert app.query_account(addr(2)).nonce == 1
    assert app.check_tx(raw).code == BadNonceError.code
    # the same transfer signed again (new bytes, same nonce) fails on the nonce
    assert app.check_tx(build_send_tx(key(2), CHAIN, 0, addr(3), 10_000, memo="again")).code == BadNonceError.code


def test_replay_of_included_tx_rejected_and_receipt_keeps_first(funded):
    app = funded.app
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    funded.block(raw)
    first = app.query_tx(compute_tx_hash(raw)).receipt
    assert first.code == 0
    assert app.check_tx(raw).code == BadNonceError.code  # the nonce refuses the same bytes: no receipt is read
    res = funded.block(raw)
    assert res.tx_results[0].code == BadNonceError.code
    assert app.query_tx(compute_tx_hash(raw)).receipt == first
    assert balances(app, 1, 3) == (990, 10)


def test_checktx_tracks_pending_nonces_and_recheck_drops_stale(funded):
    app = funded.app
    tx0 = build_send_tx(key(1), CHAIN, 0, addr(3), 600)
    tx1 = build_send_tx(key(1), CHAIN, 1, addr(3), 600)
    assert app.check_tx(tx0).code == 0
    # the mempool state already holds tx0: a second 600 cannot be covered
    assert app.check_tx(tx1).code == InsufficientFundsError.code
    # a competing tx with nonce 0 spends the balance in a block; tx0 becomes invalid on recheck
    other = build_send_tx(key(1), CHAIN, 0, addr(2), 1000)
    funded.block(other)
    assert app.check_tx(tx0, recheck=True).code == BadNonceError.code


def test_state_survives_restart_and_uncommitted_block_is_lost(harness):
    harness.app.init_chain(CHAIN, genesis_bytes({1: 1000}))
    harness.block(build_send_tx(key(1), CHAIN, 0, addr(3), 5))
    height, app_hash = harness.app.last_height, harness.app.last_app_hash
    # finalize block 2 but crash before Commit
    harness.app.finalize_block(2, [build_send_tx(key(1), CHAIN, 1, addr(3), 5)])
    app = harness.reopen()
    assert (app.last_height, app.last_app_hash) == (height, app_hash)
    assert app.chain_id == CHAIN
    assert app.query_account(addr(3)).balance == 5
    # CometBFT replays block 2: applied exactly once
    app.finalize_block(2, [build_send_tx(key(1), CHAIN, 1, addr(3), 5)])
    app.commit()
    assert app.query_account(addr(3)).balance == 10


def test_crash_before_first_commit_redoes_genesis(harness):
    h0 = harness.app.init_chain(CHAIN, genesis_bytes({1: 1000}))
    app = harness.reopen()
    assert app.last_height == 0
    assert app.init_chain(CHAIN, genesis_bytes({1: 1000})) == h0


def test_same_blocks_give_same_app_hash_on_two_nodes(tmp_path):
    from tests.helpers import AppHarness

    a, b = AppHarness(tmp_path / "a"), AppHarness(tmp_path / "b")
    txs = [build_send_tx(key(1), CHAIN, n, addr(2 + n % 3), 1 + n) for n in range(20)]
    for h in (a, b):
        h.app.init_chain(CHAIN, genesis_bytes({1: 10_000}))
        h.block(*txs[:10])
        h.block(*txs[10:])
    assert a.app.last_app_hash == b.app.last_app_hash
    a.db.close()
    b.db.close()


def test_historical_query_with_proof_verifies_against_that_root(funded):
    app = funded.app
    root1 = app.last_app_hash
    funded.block(build_send_tx(key(1), CHAIN, 0, addr(3), 100))
    old = app.query_account(addr(1), height=1, prove=True)
    assert old.balance == 1000 and old.height == 1
    bal = old.proofs[0]
    assert merkle.verify_membership(root1, bal.key, bal.value, bal.proof)
    new = app.query_account(addr(3), prove=True)
    assert new.balance == 100
    assert merkle.verify_membership(app.last_app_hash, new.proofs[0].key, new.proofs[0].value, new.proofs[0].proof)
    # key 3 had no balance at height 1: a non-membership proof
    absent = app.query_account(addr(3), height=1, prove=True).proofs[0]
    assert absent.value is None
    assert merkle.verify_non_membership(root1, absent.key, absent.proof)


def test_invalid_query_height(funded):
    from distpos_abci.errors import HeightUnavailableError

    with pytest.raises(HeightUnavailableError):
        funded.app.query_account(addr(1), height=99)


def test_invalid_query_foreign_address(funded):
    from distpos_abci.errors import InvalidAddressError

    with pytest.raises(InvalidAddressError, match="this node serves e2e4"):
        funded.app.query_account(addr(1, "a1b2"))


def test_attack_library_text_never_reaches_the_state(funded):
    """Receipts (in the node's index) keep the code and codespace, never the log (which may quote a library);
    and the state gets nothing of a malformed transaction."""
    from distpos_abci.receipts.keys import full_receipt_key
    from distpos_abci.tx import compute_tx_hash

    before = funded.app.last_app_hash
    bad = b"\x0a\x03abc\x12"  # a truncated protobuf: the decoder's own message would name its internals
    funded.block(bad)
    assert funded.app.last_app_hash == before
    raw = funded.app.state.local.get(full_receipt_key(compute_tx_hash(bad)))
    assert raw is not None
    from distpos_abci.gen.distpos.v1 import state_pb2

    stored = state_pb2.TxReceipt.FromString(raw)
    assert (stored.code, stored.codespace) == (3, "tx")
    assert b"protobuf" not in raw.lower() and b"decode" not in raw.lower() and b"error" not in raw.lower()
