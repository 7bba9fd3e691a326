"""DistPOS: a peer-to-peer interchain of small CometBFT chains (the ABCI application)."""

__version__ = "0.1.0"
