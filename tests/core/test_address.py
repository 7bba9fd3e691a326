"""Address parsing and checksums: `<chain-id>x<40 hex>`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.address import Address, compute_account_id, parse_address
from distpos_abci.errors import InvalidAddressError
from distpos_abci.types import AccountId, ChainId

SEED_EXAMPLE = "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"

chain_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=16)
accounts = st.binary(min_size=20, max_size=20)


def test_seed_example_parses():
    a = parse_address(SEED_EXAMPLE)
    assert a.chain_id == "e2e4"
    assert a.account.hex() == "63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"


def test_str_is_checksummed_and_parses_back():
    a = parse_address(SEED_EXAMPLE)
    text = str(a)
    assert text.lower() == SEED_EXAMPLE
    assert text != SEED_EXAMPLE  # mixed case carries the checksum
    assert parse_address(text) == a


def test_chain_id_containing_x_is_unambiguous():
    a = parse_address("xx1xx63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab")
    assert a.chain_id == "xx1x"


def test_account_id_is_sha256_prefix_of_pub_key():
    import hashlib

    pk = bytes(range(32))
    assert compute_account_id(pk) == hashlib.sha256(pk).digest()[:20]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "no 'x' separator"),
        ("e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1a", "has 39 characters"),
        ("e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1abc", "has 41 characters"),
        ("e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ag", "non-hex character 'g'"),
        ("x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "invalid chain-id ''"),
        ("E2E4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "invalid chain-id 'E2E4'"),
        ("e2-4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "invalid chain-id 'e2-4'"),
        ("abcdefghijklmnopqx63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "invalid chain-id"),
        ("e2e4x63EA7f78107df4c6fd8b17e7b05b1b3d41a5b1ab", "checksum mismatch"),
        ("", "no 'x' separator"),
    ],
)
def test_invalid_address(text, fragment):
    with pytest.raises(InvalidAddressError) as info:
        parse_address(text)
    assert fragment in info.value.message


@given(chain_ids, accounts)
def test_roundtrip(chain, account):
    a = Address(ChainId(chain), AccountId(account))
    assert parse_address(str(a)) == a
    assert parse_address(str(a).lower()[: -40] + account.hex()) == a  # all lower case: no checksum


@given(chain_ids, accounts, st.data())
def test_invalid_single_case_flip_fails_checksum(chain, account, data):
    text = str(Address(ChainId(chain), AccountId(account)))
    letters = [i for i in range(len(text) - 40, len(text)) if text[i].isalpha()]
    if not letters:
        return
    i = data.draw(st.sampled_from(letters))
    flipped = text[:i] + text[i].swapcase() + text[i + 1:]
    if flipped[-40:].lower() == flipped[-40:]:
        return  # flipping the only upper-case letter gives the unchecksummed form, which is valid
    with pytest.raises(InvalidAddressError, match="checksum"):
        parse_address(flipped)


@given(st.text(max_size=80))
def test_parse_never_raises_anything_else(text):
    try:
        parse_address(text)
    except InvalidAddressError:
        pass
