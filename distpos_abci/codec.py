"""Strict protobuf decoding: one meaning, one encoding.

Protobuf parsers are lenient: they accept fields in any order, repeated singular fields (the last wins),
unknown fields, non-minimal and overflowing varints (Python's decoder wraps a 10-byte varint above 2^64;
Go's refuses it), explicit default values and unpacked repeated scalars. Each of those gives one signed
meaning many byte strings, hence many hashes, and may give one byte string different meanings in different
tools. DistPOS accepts only the canonical encoding: bytes are valid exactly when they parse and re-encode,
unknown fields dropped, deterministically to the very same bytes. Every decoder of signed or proven input
(transactions, messages, guarantees, packets, acks, proofs) goes through `decode_canonical`.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from .errors import DistposError, MalformedTxError, NonCanonicalEncodingError

M = TypeVar("M", bound=Message)


def encode_canonical(msg: Message) -> bytes:
    """The canonical encoding of msg: fields in number order, defaults omitted, deterministic."""
    return msg.SerializeToString(deterministic=True)


def decode_canonical(cls: type[M], raw: bytes, what: str,
                     malformed: type[DistposError] = MalformedTxError) -> M:
    """Parse raw as cls; raise `malformed` when it does not parse and NonCanonicalEncodingError when it is
    not byte-identical to its canonical encoding. The messages are the project's own text, never the
    library's (they end up in receipts and acks, which are state)."""
    try:
        msg = cls.FromString(raw)
    except (DecodeError, ValueError, RuntimeError):
        raise malformed(f"{what}: not a valid protobuf encoding") from None
    msg.DiscardUnknownFields()
    if encode_canonical(msg) != raw:
        raise NonCanonicalEncodingError(f"{what}: not the canonical encoding")
    return msg
