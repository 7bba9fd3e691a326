"""Cross-chain transfers without a relay chain: outbox, inbox, acks, timeouts, correspondents, routes."""

from .keeper import InterchainKeeper, InterchainView
from .module import InterchainModule
from .records import Ack, Correspondent, Limits, Packet, Route, decode_ack, decode_packet

__all__ = [
    "Ack",
    "Correspondent",
    "InterchainKeeper",
    "InterchainModule",
    "InterchainView",
    "Limits",
    "Packet",
    "Route",
    "decode_ack",
    "decode_packet",
]
