"""Shared fixtures: a fresh app on a temporary rocksdict store."""

from __future__ import annotations

import pytest

from tests.helpers import CHAIN, AppHarness, genesis_bytes


@pytest.fixture
def harness(tmp_path):
    h = AppHarness(tmp_path / "db")
    yield h
    h.db.close()


@pytest.fixture
def funded(harness):
    """An app at height 1 where keys 1 and 2 hold 1,000 and 500."""
    harness.app.init_chain(CHAIN, genesis_bytes({1: 1000, 2: 500}))
    harness.block()
    return harness
