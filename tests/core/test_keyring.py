"""Keyring files: mode 0600, no overwrite, clear errors."""

from __future__ import annotations

import stat

import pytest

from distpos_abci.errors import KeyringError
from distpos_abci.keyring import Keyring


def test_add_get_list_and_file_mode(tmp_path):
    kr = Keyring(tmp_path / "kr")
    a = kr.add("alice")
    assert kr.get("alice").keypair == a.keypair
    assert [k.name for k in kr.list()] == ["alice"]
    path = tmp_path / "kr" / "alice.key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(a.address("e2e4")).startswith("e2e4x")


def test_invalid_duplicate_name(tmp_path):
    kr = Keyring(tmp_path)
    kr.add("bob")
    with pytest.raises(KeyringError, match="already exists"):
        kr.add("bob")


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 65])
def test_invalid_names(tmp_path, name):
    with pytest.raises(KeyringError, match="invalid key name"):
        Keyring(tmp_path).add(name)


def test_invalid_missing_key(tmp_path):
    with pytest.raises(KeyringError, match="no key 'carol'"):
        Keyring(tmp_path).get("carol")
