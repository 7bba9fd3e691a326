"""Unsigned-varint framing: known vectors and properties."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.abci import FrameDecoder, FramingError, decode_uvarint, encode_frame, encode_uvarint, read_frame

pytestmark = pytest.mark.timeout(120)

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
FRAMES = st.lists(st.binary(max_size=300), max_size=30)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**63, b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
        (2**64 - 1, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    ],
)
def test_uvarint_vectors(value, encoded):
    assert encode_uvarint(value) == encoded
    assert decode_uvarint(encoded) == (value, len(encoded))
    # decoding at an offset, with trailing bytes, reports the position after the varint
    assert decode_uvarint(b"\xaa" + encoded + b"\x05", 1) == (value, 1 + len(encoded))


def test_frame_is_unsigned_not_zigzag():
    # v0.34 zigzag would give 0x02 for length 1; v0.38 wants 0x01
    assert encode_frame(b"x") == b"\x01x"
    assert encode_frame(b"") == b"\x00"
    assert encode_frame(b"a" * 300) == b"\xac\x02" + b"a" * 300


@given(UINT64)
def test_uvarint_roundtrip(value):
    encoded = encode_uvarint(value)
    assert 1 <= len(encoded) <= 10
    assert decode_uvarint(encoded) == (value, len(encoded))


@given(UINT64)
def test_invalid_truncated_uvarint(value):
    encoded = encode_uvarint(value)
    for cut in range(len(encoded)):
        with pytest.raises(FramingError):
            decode_uvarint(encoded[:cut])


@pytest.mark.parametrize("value", [-1, 2**64])
def test_invalid_uvarint_out_of_range(value):
    with pytest.raises(ValueError):
        encode_uvarint(value)


@pytest.mark.parametrize(
    "data",
    [
        b"\x80" * 10 + b"\x01",  # eleven bytes
        b"\xff" * 9 + b"\x02",  # 2**64: overflows uint64
        b"\xff" * 20,
    ],
)
def test_invalid_uvarint_too_long(data):
    with pytest.raises(FramingError):
        decode_uvarint(data)
    with pytest.raises(FramingError):
        FrameDecoder(max_size=2**70).feed(data)


@st.composite
def frames_and_splits(draw):
    frames = draw(FRAMES)
    stream = b"".join(encode_frame(f) for f in frames)
    if draw(st.booleans()):
        cuts = list(range(1, len(stream)))  # one byte per feed
    else:
        cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(1, len(stream) - 1)), max_size=40)))
    bounds = [0, *[c for c in cuts if c < len(stream)], len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    return frames, chunks


@settings(max_examples=200)
@given(frames_and_splits())
def test_decoder_yields_exactly_the_frames(case):
    frames, chunks = case
    decoder = FrameDecoder()
    got = []
    for chunk in chunks:
        got.extend(decoder.feed(chunk))
    assert got == frames
    assert decoder.buffered == 0


@given(FRAMES)
def test_decoder_many_frames_in_one_feed(frames):
    assert FrameDecoder().feed(b"".join(encode_frame(f) for f in frames)) == frames


@given(st.binary(max_size=500), st.data())
def test_truncated_frame_yields_nothing_until_completed(payload, data):
    encoded = encode_frame(payload)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    decoder = FrameDecoder()
    assert decoder.feed(encoded[:cut]) == []
    assert decoder.buffered == cut
    assert decoder.feed(encoded[cut:]) == [payload]
    assert decoder.buffered == 0


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=200))
def test_invalid_oversize_frame(limit, excess):
    decoder = FrameDecoder(max_size=limit)
    # rejected as soon as the length prefix is seen, before the payload arrives
    with pytest.raises(FramingError):
        decoder.feed(encode_uvarint(limit + excess))


def test_frame_at_the_limit_is_accepted():
    assert FrameDecoder(max_size=5).feed(encode_frame(b"12345")) == [b"12345"]


def test_default_limit_is_64_mib():
    decoder = FrameDecoder()
    assert decoder.feed(encode_uvarint(64 * 1024 * 1024)) == []
    with pytest.raises(FramingError):
        FrameDecoder().feed(encode_uvarint(64 * 1024 * 1024 + 1))


def _stream_reader(data: bytes) -> asyncio.StreamReader:
    """A StreamReader holding data then EOF (call inside a running loop)."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


@given(FRAMES)
def test_read_frame_reads_each_frame_then_none(frames):
    async def main():
        reader = _stream_reader(b"".join(encode_frame(f) for f in frames))
        got = []
        while (frame := await read_frame(reader, 1000)) is not None:
            got.append(frame)
        return got

    assert asyncio.run(main()) == frames


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        (b"\x80", 100),  # EOF inside the length prefix
        (b"\x05abc", 100),  # EOF inside the payload
        (b"\x05abcde", 4),  # over the limit
        (b"\xff" * 11, 100),  # overlong prefix
    ],
)
def test_invalid_read_frame(data, limit):
    async def main():
        return await read_frame(_stream_reader(data), limit)

    with pytest.raises(FramingError):
        asyncio.run(main())
