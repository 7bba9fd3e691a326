"""Wiring of the underwriting service into a node: its key from CometBFT's home, its RPC, its peers."""

from __future__ import annotations

import base64
import json
import logging
import pathlib
import tomllib

from ..config import NodeConfig
from ..crypto import KeyPair
from ..errors import ConfigError
from ..rpc_client import CometRPC
from .journal import GuaranteeJournal
from .peers import GrpcPeers
from .service import NodeCarrier, UnderwritingService

log = logging.getLogger("distpos.underwriting")

# The guarantees this node signed, relative to its home (see journal.py).
JOURNAL_FILE = "data/underwriting-journal.jsonl"


def load_consensus_key(home: pathlib.Path) -> KeyPair:
    """The node's ed25519 key from <home>/config/priv_validator_key.json (priv_key.value = seed || pubkey)."""
    path = home / "config" / "priv_validator_key.json"
    try:
        data = json.loads(path.read_text())
        raw = base64.b64decode(data["priv_key"]["value"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the consensus key {path}: {exc}") from None
    if len(raw) != 64:
        raise ConfigError(f"{path}: priv_key.value must be base64 of 64 bytes, got {len(raw)}")
    key = KeyPair(raw[:32])
    if key.pub_key != raw[32:]:
        raise ConfigError(f"{path}: the public half does not match the seed")
    return key


def comet_rpc_laddr(home: pathlib.Path) -> str:
    """CometBFT's [rpc] laddr from <home>/config/config.toml."""
    try:
        data = tomllib.loads((home / "config" / "config.toml").read_text())
        return str(data["rpc"]["laddr"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "tcp://127.0.0.1:26657"


def build_underwriting_service(cfg: NodeConfig, app) -> UnderwritingService | None:
    """The node's service, or None when disabled or the node home has no consensus key."""
    if not cfg.underwriting_enabled:
        return None
    try:
        key = load_consensus_key(cfg.home)
    except ConfigError as err:
        log.warning("underwriting disabled: %s", err.message)
        return None
    rpc = CometRPC(cfg.underwriting_rpc or comet_rpc_laddr(cfg.home), timeout=5.0)
    journal = GuaranteeJournal(cfg.home / JOURNAL_FILE)
    service = UnderwritingService(app, key, peers=GrpcPeers(), guarantee_blocks=cfg.guarantee_blocks,
                                  co_deadline=cfg.co_deadline_ms / 1000, journal=journal,
                                  credit_limit=cfg.credit_limit)
    service.carrier = NodeCarrier(app, key, rpc.broadcast_tx_sync)
    log.info("underwriting service enabled (consensus address %s)", service.cons_address.hex().upper())
    return service
