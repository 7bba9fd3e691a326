"""The verified-transaction cache: a signature is checked once per node, and the results never depend on it.

Each test counts ed25519 verifications (`distpos_abci.tx.verify_signature`) to see where a signature was checked."""

from __future__ import annotations

import pytest

from distpos_abci import tx as tx_module
from distpos_abci.app import DistposApp
from distpos_abci.bank import BankModule, build_send_tx
from distpos_abci.errors import BadNonceError, InvalidSignatureError, TxTooLargeError
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.params import Params
from distpos_abci.store.state import StateStore
from distpos_abci.tx import compute_tx_hash
from distpos_abci.txcache import VerifiedTxCache
from tests.helpers import CHAIN, AppHarness, addr, genesis_bytes, key


@pytest.fixture
def verifications(monkeypatch):
    """A list that grows by one for every signature verification."""
    calls: list[bytes] = []
    real = tx_module.verify_signature

    def counting(pub_key: bytes, message: bytes, signature: bytes) -> bool:
        calls.append(signature)
        return real(pub_key, message, signature)

    monkeypatch.setattr(tx_module, "verify_signature", counting)
    return calls


def _bad_signature(raw: bytes) -> bytes:
    tx = tx_pb2.Tx.FromString(raw)
    return tx_pb2.Tx(body=tx.body, signature=bytes(64)).SerializeToString()


def test_checked_tx_is_not_verified_again_in_the_block(funded, verifications):
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    assert funded.app.check_tx(raw).ok
    assert len(verifications) == 1
    result = funded.block(raw)
    assert [r.code for r in result.tx_results] == [0]
    assert len(verifications) == 1
    assert len(funded.app.verified) == 0  # an included transaction leaves the cache


def test_bytes_never_checked_are_verified_in_the_block(funded, verifications):
    good = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    bad = _bad_signature(build_send_tx(key(2), CHAIN, 0, addr(3), 10))
    result = funded.block(good, bad)
    assert [r.code for r in result.tx_results] == [0, InvalidSignatureError.code]
    assert len(verifications) == 2


def test_tx_that_failed_checktx_is_verified_again_in_the_block(funded, verifications):
    # Refused by a stateful check (the nonce is ahead), though its signature was good...
    ahead = build_send_tx(key(1), CHAIN, 1, addr(3), 10)
    assert funded.app.check_tx(ahead).code == BadNonceError.code
    # ...and refused by the signature check.
    bad = _bad_signature(build_send_tx(key(2), CHAIN, 0, addr(3), 10))
    assert funded.app.check_tx(bad).code == InvalidSignatureError.code
    assert len(verifications) == 2 and len(funded.app.verified) == 0
    result = funded.block(build_send_tx(key(1), CHAIN, 0, addr(3), 10), ahead, bad)
    assert [r.code for r in result.tx_results] == [0, 0, InvalidSignatureError.code]
    assert len(verifications) == 5  # all three verified in the block: none was accepted by CheckTx


def test_recheck_reruns_only_the_stateful_checks(funded, verifications):
    first = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    second = build_send_tx(key(1), CHAIN, 1, addr(3), 10)
    other = build_send_tx(key(2), CHAIN, 0, addr(3), 10)
    assert [funded.app.check_tx(t).code for t in (first, second, other)] == [0, 0, 0]
    assert len(verifications) == 3
    funded.block(first)  # a block that included only the first
    # CometBFT rechecks what is left in its mempool: no signature is checked, every stateful check runs.
    assert funded.app.check_tx(second, recheck=True).ok
    assert funded.app.check_tx(other, recheck=True).ok
    assert len(verifications) == 3
    # A block from elsewhere spends key 2's nonce 0 with other bytes: the recheck of `other` now fails...
    funded.block(build_send_tx(key(2), CHAIN, 0, addr(4), 1))
    assert len(verifications) == 4
    assert funded.app.check_tx(other, recheck=True).code == BadNonceError.code
    assert len(verifications) == 4
    # ...and the bytes leave the cache with the mempool, so a block carrying them verifies them itself.
    assert compute_tx_hash(other) not in funded.app.verified._entries
    funded.block(other)
    assert len(verifications) == 5


def test_recheck_of_bytes_not_in_the_cache_verifies_them(funded, verifications):
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    assert funded.app.check_tx(raw, recheck=True).ok  # e.g. evicted, or checked before a restart
    assert len(verifications) == 1
    bad = _bad_signature(build_send_tx(key(2), CHAIN, 0, addr(3), 10))
    assert funded.app.check_tx(bad, recheck=True).code == InvalidSignatureError.code


def test_a_smaller_size_limit_applies_to_cached_bytes(funded, verifications):
    raw = build_send_tx(key(1), CHAIN, 0, addr(3), 10)
    assert funded.app.check_tx(raw).ok
    funded.app.params = Params(max_tx_bytes=len(raw) - 1)  # as if a params proposal had passed
    result = funded.app.finalize_block(2, [raw])
    assert [r.code for r in result.tx_results] == [TxTooLargeError.code]


def test_cache_is_bounded_and_evicts_the_oldest():
    cache = VerifiedTxCache(capacity=2)
    app_txs = [build_send_tx(key(1), CHAIN, n, addr(3), 1) for n in range(3)]
    decoded = [tx_module.decode_tx(raw, BankModule.decoders) for raw in app_txs]
    for tx in decoded:
        cache.put(tx)
    assert len(cache) == 2
    assert cache.get(decoded[0].hash, decoded[0].raw) is None
    assert cache.get(decoded[2].hash, decoded[2].raw) is decoded[2]
    assert cache.get(decoded[2].hash, decoded[1].raw) is None  # a hit needs the very same bytes
    assert len(VerifiedTxCache(capacity=0)) == 0


def _run_chain(path, blocks: list[list[bytes]], checked: bool, cache_size: int) -> list[tuple]:
    """Run blocks on a fresh app; with `checked`, every tx of block i+1 goes through CheckTx (and the
    rest of the mempool through RECHECK) before block i, as on a validator. Returns what every block gave."""
    h = AppHarness(path)
    h.app = DistposApp(StateStore(h.db), verified_cache_size=cache_size)
    h.app.init_chain(CHAIN, genesis_bytes({i: 10_000 for i in range(1, 9)}))
    out = [h.block().app_hash]
    if checked:
        for raw in blocks[0]:
            h.app.check_tx(raw)
    for i, txs in enumerate(blocks):
        if checked and i + 1 < len(blocks):
            for raw in blocks[i + 1]:
                h.app.check_tx(raw)
        result = h.block(*txs)
        out.append((result.app_hash, [(r.code, r.codespace, r.log, r.events) for r in result.tx_results],
                    result.events))
        if checked:
            for raw in (blocks[i + 1] if i + 1 < len(blocks) else []):
                h.app.check_tx(raw, recheck=True)
    h.db.close()
    return out


def test_app_hashes_are_byte_identical_with_and_without_the_cache(tmp_path, verifications):
    blocks = [
        [build_send_tx(key(i), CHAIN, 0, addr(i + 1), 10 * i) for i in range(1, 8)],
        [build_send_tx(key(i), CHAIN, 1, addr(9 - i), 5) for i in range(1, 8)]
        + [_bad_signature(build_send_tx(key(8), CHAIN, 0, addr(1), 1)),
           build_send_tx(key(1), CHAIN, 5, addr(2), 1)],  # a bad signature, a nonce ahead
        [build_send_tx(key(i), CHAIN, 2, addr(1), 10**9) for i in range(1, 4)]  # insufficient funds
        + [build_send_tx(key(i), CHAIN, 2, addr(2), 1) for i in range(4, 8)],
    ]
    cached = _run_chain(tmp_path / "cached", blocks, checked=True, cache_size=10_000)
    hits = len(verifications)
    tiny = _run_chain(tmp_path / "tiny", blocks, checked=True, cache_size=3)
    uncached = _run_chain(tmp_path / "uncached", blocks, checked=False, cache_size=0)
    assert cached == tiny == uncached
    assert all(isinstance(b[0], bytes) and len(b[0]) == 32 for b in cached[1:])
    assert hits < len(verifications) - hits  # the cached run verified fewer signatures than the others
