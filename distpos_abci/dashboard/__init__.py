"""The live dashboard: a page over the network's nodes and relays, read only through their public APIs."""

from .collector import ChainTarget, FirstSeen, NodeTarget, RelayTarget, Targets, collect_snapshot
from .server import build_app

__all__ = ["ChainTarget", "FirstSeen", "NodeTarget", "RelayTarget", "Targets", "build_app", "collect_snapshot"]
