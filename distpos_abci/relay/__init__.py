"""The relay service (`distpos relay start`): moves packets, acks and headers between DistPOS chains."""

from .backoff import exponential_backoff
from .config import RelayConfig, load_config
from .endpoint import ChainEndpoint, CometEndpoint
from .limits import RelayLimits
from .relayer import LocalPeer, Refusal, RelayCore, Relayer, SubmitResult

__all__ = ["ChainEndpoint", "CometEndpoint", "LocalPeer", "Refusal", "RelayConfig", "RelayCore", "RelayLimits",
           "Relayer", "SubmitResult", "exponential_backoff", "load_config"]
