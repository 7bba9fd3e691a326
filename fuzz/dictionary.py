"""Protobuf tokens worth trying: varints at the edges of int32/int64/uint64 and of protobuf's Timestamp range.

Coverage cannot lead a fuzzer to these values: the limits they cross live in the C protobuf library and in
Python's int arithmetic, not in instrumented branches. libFuzzer gets them as a dictionary (`-dict`), the short
pass in `make test` as its interesting bytes.
"""

from __future__ import annotations

from distpos_abci.abci.framing import encode_uvarint


def _signed(n: int) -> bytes:
    return encode_uvarint(n % 2**64)  # protobuf int32/int64: two's complement as a 10-byte uvarint


TOKENS: tuple[bytes, ...] = tuple(dict.fromkeys((
    _signed(2**63 - 1), _signed(-2**63), _signed(-1), _signed(2**31 - 1), _signed(-2**31), _signed(2**31),
    encode_uvarint(2**64 - 1), encode_uvarint(2**32 - 1), encode_uvarint(2**32),
    _signed(-62135596800), _signed(253402300799), _signed(253402300800),  # Timestamp seconds: 0001-01-01, 9999-12-31
    encode_uvarint(999_999_999), encode_uvarint(1_000_000_000),  # Timestamp nanos
    b"\x80\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # non-minimal zero; an eleven-byte varint
)))


def write_libfuzzer_dict(path) -> None:
    """TOKENS in libFuzzer's dictionary syntax."""
    lines = [f'kw{i}="' + "".join(f"\\x{b:02x}" for b in token) + '"' for i, token in enumerate(TOKENS)]
    path.write_text("\n".join(lines) + "\n")
