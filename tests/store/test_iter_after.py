"""`iter_prefix_after`, the cursor under every paginated query: over the committed state, a block's write set on
top of it and a prefix store, it yields exactly the model's keys under the prefix strictly above the cursor, in
key order (property test against a sorted dict)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.store.db import Database
from distpos_abci.store.kv import CacheKV, PrefixStore, iter_prefix_after
from distpos_abci.store.state import StateStore
from distpos_abci.types import Height

AREA = b"area/"
SUB = b"s/"
# short keys over a tiny alphabet, so cursors land on, between, before and after stored keys, and on prefixes of them
KEYS = st.binary(min_size=0, max_size=3).map(lambda b: bytes(x % 3 for x in b))
COMMITTED = {SUB + bytes([a]) + bytes([b]): bytes([a, b]) for a in range(3) for b in range(3)}
COMMITTED |= {SUB + b"\x01": b"short", b"t/": b"outside", b"s": b"outside"}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("iter") / "db")
    store = StateStore(db)
    cache = CacheKV(store)
    for k, v in COMMITTED.items():
        cache.set(AREA + k, v)
    cache.set(b"other/" + SUB, b"x")
    store.commit(store.prepare_commit(Height(1), cache.writes, "c"))
    yield store
    db.close()


@settings(max_examples=200, deadline=None)
@given(writes=st.dictionaries(KEYS.map(lambda k: SUB + k), st.none() | st.binary(max_size=2), max_size=8),
       after=st.none() | KEYS)
def test_iter_prefix_after_matches_the_sorted_model(state, writes, after):
    cache = CacheKV(state)
    area = PrefixStore(cache, AREA)
    for k, v in writes.items():
        if v is None:
            area.delete(k)
        else:
            area.set(k, v)
    model = {k: v for k, v in COMMITTED.items() if k.startswith(SUB)}
    for k, v in writes.items():
        if v is None:
            model.pop(k, None)
        else:
            model[k] = v
    expected = sorted((k, v) for k, v in model.items() if after is None or k > SUB + after)
    assert list(iter_prefix_after(area, SUB, after)) == expected
    committed = sorted((k, v) for k, v in COMMITTED.items() if k.startswith(SUB) and (after is None or k > SUB + after))
    assert list(iter_prefix_after(PrefixStore(state, AREA), SUB, after)) == committed
