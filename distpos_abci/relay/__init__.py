"""The relay service (`distpos relay start`): moves packets, acks and headers between DistPOS chains."""

from .backoff import exponential_backoff
from .config import RelayConfig, load_config
from .endpoint import ChainEndpoint, CometEndpoint
from .relayer import LocalPeer, RelayCore, Relayer

__all__ = ["ChainEndpoint", "CometEndpoint", "LocalPeer", "RelayConfig", "RelayCore", "Relayer",
           "exponential_backoff", "load_config"]
