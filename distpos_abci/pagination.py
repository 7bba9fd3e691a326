"""Cursor pagination of the gRPC list queries (Staking/Validators and /Unbondings, Interchain/ListRoutes and
/ListPackets, Gov/Proposals and /Votes).

A request carries `page_key` (empty = from the start) and `limit` (0 = DEFAULT_LIMIT, above MAX_LIMIT refused
with PageLimitTooLargeError, query:34); a response carries `next_page_key` (empty = no more). A page key is the
natural key of the last item of the previous page as text (an operator or voter address, a chain-id, a
sequence, a proposal id, `<complete_height>:<seq>` for unbonding entries); the keeper seeks strictly after
it in store-key order, so pages are deterministic, and an item written or deleted between two calls never
shifts another one into or out of a later page. A key the query never hands out is InvalidPageKeyError (query:33).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .address import parse_address, validate_chain_id
from .errors import InvalidAddressError, InvalidPageKeyError, PageLimitTooLargeError
from .types import AccountId

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Longer than any natural key this project writes (a bech32 address, a chain-id, two u64 in decimal).
MAX_PAGE_KEY_CHARS = 256
U64_MAX = 2**64 - 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list query: its items and the key to ask for the next page with ("" = no more)."""

    items: list[T]
    next_page_key: str


def validate_limit(limit: int) -> int:
    """The effective page size of a request's limit (0 = DEFAULT_LIMIT); PageLimitTooLargeError above MAX_LIMIT."""
    if limit > MAX_LIMIT:
        raise PageLimitTooLargeError(f"limit {limit} is above the maximum page size {MAX_LIMIT}")
    return limit or DEFAULT_LIMIT


def validate_page_key_text(page_key: str) -> str:
    """The page key if it is plausible text at all (length, printable ASCII); InvalidPageKeyError otherwise."""
    if len(page_key) > MAX_PAGE_KEY_CHARS or not (page_key.isascii() and page_key.isprintable()):
        raise InvalidPageKeyError(f"page_key is not a page key of this query: {page_key[:64]!r}")
    return page_key


def compute_page(items: Iterable[T], limit: int, key_of: Callable[[T], str]) -> Page[T]:
    """The first `limit` of items (already in key order, after the page key) and the next page key: the key of
    the last item taken when at least one more follows."""
    taken: list[T] = []
    for item in items:
        if len(taken) == limit:
            return Page(taken, key_of(taken[-1]))
        taken.append(item)
    return Page(taken, "")


def parse_uint_key(page_key: str, what: str) -> int | None:
    """A decimal u64 page key (a sequence, a proposal id); None for an empty key; InvalidPageKeyError otherwise."""
    if not page_key:
        return None
    return _parse_u64(validate_page_key_text(page_key), page_key, what)


def parse_pair_key(page_key: str, what: str) -> tuple[int, int] | None:
    """A `<u64>:<u64>` page key; None for an empty key; InvalidPageKeyError otherwise."""
    if not page_key:
        return None
    first, _, second = validate_page_key_text(page_key).partition(":")
    return _parse_u64(first, page_key, what), _parse_u64(second, page_key, what)


def parse_address_key(page_key: str, chain_id: str) -> AccountId | None:
    """An address page key (an operator, a voter) of chain_id as its account; None for an empty key;
    InvalidPageKeyError otherwise."""
    if not page_key:
        return None
    try:
        address = parse_address(validate_page_key_text(page_key))
    except InvalidAddressError as exc:
        raise InvalidPageKeyError(f"page_key must be an address of this chain: {exc.message}") from None
    if address.chain_id != chain_id:
        raise InvalidPageKeyError(f"page_key {page_key!r} is an address of chain {address.chain_id}, not {chain_id}")
    return address.account


def parse_chain_id_key(page_key: str) -> str | None:
    """A chain-id page key; None for an empty key; InvalidPageKeyError otherwise."""
    if not page_key:
        return None
    try:
        return validate_chain_id(validate_page_key_text(page_key))
    except InvalidAddressError as exc:
        raise InvalidPageKeyError(f"page_key must be a chain-id: {exc.message}") from None


def compute_pair_key(first: int, second: int) -> str:
    """The text of a `<u64>:<u64>` page key."""
    return f"{first}:{second}"


def _parse_u64(text: str, page_key: str, what: str) -> int:
    # One spelling per number (no sign, no leading zero), so a key names one position and reads back the same.
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0") or int(text) > U64_MAX:
        raise InvalidPageKeyError(f"page_key must be {what}, got {page_key[:64]!r}")
    return int(text)
