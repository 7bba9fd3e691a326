"""Addresses that carry their chain, like an e-mail domain: `<chain-id>x<40 hex>`.

`e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab` is account 63ea... on chain e2e4.
Hex digits never include `x`, so the last `x` is the separator and parsing is
unambiguous even when a chain-id itself contains an `x`.

Checksum (EIP-55 style, but bound to the chain): h = sha256(ascii(chain_id + "x" +
lower-case hex)); hex letter i is upper case exactly when the i-th hex digit of h
is 8 or more. An all-lower-case account part carries no
checksum and is accepted; any mixed case must match the checksum exactly.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from .errors import InvalidAddressError
from .types import AccountId, ChainId

SEPARATOR = "x"
ACCOUNT_HEX_LEN = 40
CHAIN_ID_RE = re.compile(r"^[a-z0-9]{1,16}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]{40}$")


def validate_chain_id(chain_id: str) -> ChainId:
    """Raise InvalidAddressError unless chain_id is 1-16 lower-case letters and digits."""
    if not CHAIN_ID_RE.match(chain_id):
        raise InvalidAddressError(f"invalid chain-id {chain_id!r}: want 1-16 characters of [a-z0-9]")
    return ChainId(chain_id)


def compute_account_id(pub_key: bytes) -> AccountId:
    """The 20-byte account id of an ed25519 public key: sha256(key)[:20]."""
    if len(pub_key) != 32:
        raise InvalidAddressError(f"ed25519 public key must be 32 bytes, got {len(pub_key)}")
    return AccountId(hashlib.sha256(pub_key).digest()[:20])


@functools.lru_cache(maxsize=65536)  # pure; the edges (events, CLI, gRPC) render the same hot accounts again and again
def compute_checksum_hex(chain_id: str, account_hex: str) -> str:
    """Mixed-case form of the 40 lower-case hex digits, checksummed over chain and account."""
    digest = hashlib.sha256(f"{chain_id}{SEPARATOR}{account_hex}".encode()).hexdigest()
    return "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(account_hex))


@dataclass(frozen=True, slots=True)
class Address:
    """An account on a chain."""

    chain_id: ChainId
    account: AccountId

    def __str__(self) -> str:
        return f"{self.chain_id}{SEPARATOR}{compute_checksum_hex(self.chain_id, self.account.hex())}"

    @classmethod
    def from_pub_key(cls, chain_id: str, pub_key: bytes) -> "Address":
        """The address of an ed25519 public key on chain_id."""
        return cls(validate_chain_id(chain_id), compute_account_id(pub_key))


def parse_address(text: str) -> Address:
    """Parse `<chain-id>x<40 hex>`; raise InvalidAddressError naming exactly what is wrong."""
    if not isinstance(text, str):
        raise InvalidAddressError(f"address must be a string, got {type(text).__name__}")
    return _parse_address_text(str(text))


# Pure, and its result is a frozen value: every transfer parses its two addresses, mostly the same busy ones
# (an invalid text raises, and lru_cache keeps no exception, so it is parsed, and refused, each time).
@functools.lru_cache(maxsize=65536)
def _parse_address_text(text: str) -> Address:
    # Hex digits never include "x", so the last "x" is the separator.
    chain_part, sep, hex_part = text.rpartition(SEPARATOR)
    if not sep:
        raise InvalidAddressError(f"address {text!r} has no 'x' separator: want <chain-id>x<40 hex digits>")
    if len(hex_part) != ACCOUNT_HEX_LEN:
        raise InvalidAddressError(
            f"address {text!r}: account part {hex_part!r} has {len(hex_part)} characters, want {ACCOUNT_HEX_LEN} hex digits"
        )
    if not _HEX_RE.match(hex_part):
        bad = next(c for c in hex_part if c not in "0123456789abcdefABCDEF")
        raise InvalidAddressError(f"address {text!r}: account part has non-hex character {bad!r}")
    try:
        chain_id = validate_chain_id(chain_part)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"address {text!r}: {exc.message}") from None
    lower = hex_part.lower()
    if hex_part != lower and hex_part != compute_checksum_hex(chain_id, lower):
        raise InvalidAddressError(f"address {text!r}: checksum mismatch (mixed case does not match)")
    return Address(chain_id, AccountId(bytes.fromhex(lower)))
