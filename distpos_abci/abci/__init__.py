"""ABCI 2.0 socket transport for CometBFT v0.38: framing, Application base class, asyncio server.

Knows nothing of DistPOS; the application layer subclasses Application.
"""

from .application import REQUEST_TYPES, Application, tx_size_in_block
from .framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    FramingError,
    decode_uvarint,
    encode_frame,
    encode_uvarint,
    read_frame,
)
from .server import ABCIServer, parse_address

__all__ = [
    "ABCIServer",
    "Application",
    "DEFAULT_MAX_FRAME_SIZE",
    "FrameDecoder",
    "FramingError",
    "REQUEST_TYPES",
    "decode_uvarint",
    "encode_frame",
    "encode_uvarint",
    "parse_address",
    "read_frame",
    "tx_size_in_block",
]
