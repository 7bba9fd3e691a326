"""Batch sizing: how many packets (or acks) go into each relay message, from the destination's max_tx_bytes.

A relay message carries at most `MAX_PACKETS_PER_MSG` entries (the on-chain rule, `interchain/msgs.py`), and
its transaction must stay within the chain's `max_tx_bytes` parameter (read from the chain's state). The first
message of a round carries the light-client update (one per round: the later messages of the round are
checked after it, in the same block or the next, and prove against the same height). Pure functions.
"""

from __future__ import annotations

from ..crypto import KeyPair
from ..interchain.msgs import MAX_PACKETS_PER_MSG
from ..tx import build_tx

# Two nested length prefixes (message in TxBody, TxBody in Tx) grow by at most 3 bytes each while the message
# grows from empty to 2 MiB (varints of up to 21 bits): what the empty-message envelope does not count.
LENGTH_PREFIX_GROWTH = 6
MAX_NONCE = (1 << 64) - 1  # the envelope is measured with the longest nonce varint


def compute_field_bytes(payload: int) -> int:
    """Encoded size of a length-delimited protobuf field (tag < 16) with a payload of that many bytes."""
    return 1 + _varint_len(payload) + payload


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def compute_envelope_bytes(key: KeyPair, chain_id: str, field: str, empty_msg) -> int:
    """Bytes a signed transaction adds around a message of `field` (its largest nonce, fee and prefixes)."""
    return len(build_tx(key, chain_id, MAX_NONCE, field, empty_msg, fee=MAX_NONCE)) + LENGTH_PREFIX_GROWTH


def compute_batches(entry_bytes: list[int], base_bytes: int, update_bytes: int, max_tx_bytes: int,
                    envelope_bytes: int, max_per_msg: int = MAX_PACKETS_PER_MSG) -> list[int]:
    """How many consecutive entries each message takes: at most max_per_msg, and the message (base fields,
    the update on the first one only, its entries) within max_tx_bytes - envelope_bytes. An entry too large
    for any message on its own still gets one (the chain refuses it, the relay logs it)."""
    budget = max_tx_bytes - envelope_bytes
    counts: list[int] = []
    size, n = base_bytes + update_bytes, 0
    for b in entry_bytes:
        if n and (n == max_per_msg or size + b > budget):
            counts.append(n)
            size, n = base_bytes, 0
        size += b
        n += 1
    if n:
        counts.append(n)
    return counts
