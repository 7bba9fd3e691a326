"""Length-prefixed framing of the ABCI socket protocol (CometBFT v0.38).

Every message on the wire is an *unsigned* varint holding the byte length of
the protobuf encoding, followed by those bytes. (CometBFT v0.34 used a zigzag
varint here; v0.38 does not.)
"""

from __future__ import annotations

import asyncio

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_UVARINT_LEN",
    "FramingError",
    "FrameDecoder",
    "decode_uvarint",
    "encode_frame",
    "encode_uvarint",
    "read_frame",
]

DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
MAX_UVARINT_LEN = 10  # a uint64 needs at most ten 7-bit groups
_UINT64_LIMIT = 1 << 64


class FramingError(ValueError):
    """The byte stream is not valid ABCI framing."""


def encode_uvarint(n: int) -> bytes:
    """Encode a non-negative integer below 2**64 as a protobuf unsigned varint."""
    if n < 0 or n >= _UINT64_LIMIT:
        raise ValueError(f"uvarint out of range: {n}")
    if n < 0x80:  # the common case for small frames; skip the loop
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _try_decode_uvarint(buf, pos: int) -> tuple[int, int] | None:
    """Decode a uvarint at pos; None when buf ends inside it, FramingError when it is too long."""
    result = 0
    end = len(buf)
    for i in range(MAX_UVARINT_LEN - 1):
        if pos + i >= end:
            return None
        b = buf[pos + i]
        result |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return result, pos + i + 1
    last = pos + MAX_UVARINT_LEN - 1
    if last >= end:
        return None
    b = buf[last]
    if b > 1:
        # The tenth byte may only carry bit 63: a larger value overflows uint64
        # and a continuation bit announces an eleventh byte (Go's ReadUvarint agrees).
        raise FramingError("uvarint longer than 10 bytes or above 2**64 - 1")
    return result | (b << 63), last + 1


def decode_uvarint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode an unsigned varint at buf[pos:]; return (value, position after it)."""
    decoded = _try_decode_uvarint(buf, pos)
    if decoded is None:
        raise FramingError("truncated uvarint")
    return decoded


def encode_frame(msg_bytes: bytes) -> bytes:
    """Prefix msg_bytes with its length as an unsigned varint."""
    return encode_uvarint(len(msg_bytes)) + msg_bytes


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get back complete frames."""

    __slots__ = ("_buf", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._buf = bytearray()
        self.max_size = max_size

    @property
    def buffered(self) -> int:
        """Number of bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Append data and return every frame it completes, in order."""
        buf = self._buf
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        while pos < end:
            decoded = _try_decode_uvarint(buf, pos)
            if decoded is None:
                break
            size, start = decoded
            if size > self.max_size:
                raise FramingError(f"frame of {size} bytes exceeds the limit of {self.max_size}")
            stop = start + size
            if stop > end:
                break
            frames.append(bytes(buf[start:stop]))
            pos = stop
        if pos:
            # One compaction per feed keeps the cost linear in the bytes fed,
            # however many frames a read carried.
            del buf[:pos]
        return frames


async def read_frame(reader: asyncio.StreamReader, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes | None:
    """Read one frame from reader; None on a clean EOF between frames."""
    prefix = bytearray()
    while True:
        b = await reader.read(1)
        if not b:
            if prefix:
                raise FramingError("EOF inside a length prefix")
            return None
        prefix += b
        decoded = _try_decode_uvarint(prefix, 0)
        if decoded is not None:
            break
    size = decoded[0]
    if size > max_size:
        raise FramingError(f"frame of {size} bytes exceeds the limit of {max_size}")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise FramingError(f"EOF inside a frame ({len(exc.partial)} of {size} bytes)") from exc
