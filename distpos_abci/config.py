"""The node's app configuration file: <home>/config/app.toml.

    [abci]
    laddr = "tcp://127.0.0.1:26658"  # where CometBFT's proxy_app connects (tcp:// or unix://)
    [grpc]
    laddr = "127.0.0.1:9090"         # DistPOS query service; keep it on loopback unless fronted by a proxy
    [db]
    dir = "data/distpos.db"          # rocksdict directory, relative to the home unless absolute
    [log]
    level = "info"                   # debug | info | warning | error
    [store]
    keep_recent = 10000              # heights whose state stays readable, with proofs; 0 = every height (archive).
                                     # Older trie nodes are deleted in the background after each Commit; a query
                                     # or proof at a pruned height is refused naming the oldest available one.
                                     # Relays and light clients must fetch proofs within this window. The node's
                                     # receipts index (query tx) is pruned with the same heights.
    min_retain_blocks = 0            # CometBFT blocks to keep (ResponseCommit.retain_height); 0 = keep every block.
                                     # Never fewer than keep_recent + 1 (a proof at height H needs header H+1, and a
                                     # relay catching up reads the blocks the app can still prove); an archive app
                                     # (keep_recent = 0) keeps every block. CometBFT itself keeps the headers and
                                     # commits still inside the evidence max age.
    index_receipts = true            # keep every transaction's receipt in the node's local index for `query tx`
                                     # (never in the app hash; false leaves `query tx` to CometBFT's /tx)
    [underwriting]
    enabled = true                   # serve guarantees (signs only while this node's consensus key is a validator)
    guarantee_blocks = 10            # guarantee lifetime in blocks (capped by the chain's max_guarantee_blocks - 2)
    co_deadline_ms = 2000            # how long to gather co-underwriters' shares before refusing
    rpc = ""                         # CometBFT RPC for broadcasting carriers; "" = [rpc] laddr of config.toml
    credit_limit = 0                 # guarantees beyond payers' collateral, at this validator's own stake's risk
    [metrics]
    laddr = ""                       # Prometheus /metrics as host:port; empty = off
    [fees]
    min_gas_price = 0                # this node's own minimum gas price, milli-units per gas: its CheckTx refuses a
                                     # fee below ceil(gas * price / 1000) (fees:192). The chain's min_gas_price
                                     # (consensus, FinalizeBlock) applies whatever this says.

Every key is optional; the values above are the defaults.
"""

from __future__ import annotations

import pathlib
import tomllib
from dataclasses import dataclass

from .errors import ConfigError
from .fees import MAX_GAS_PRICE

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class NodeConfig:
    """Validated app configuration of one node."""

    home: pathlib.Path
    abci_laddr: str = "tcp://127.0.0.1:26658"
    grpc_laddr: str = "127.0.0.1:9090"
    db_dir: pathlib.Path = pathlib.Path("data/distpos.db")
    log_level: str = "info"
    underwriting_enabled: bool = True
    guarantee_blocks: int = 10
    co_deadline_ms: int = 2000
    underwriting_rpc: str = ""
    credit_limit: int = 0
    metrics_laddr: str = ""
    keep_recent: int = 10_000
    min_retain_blocks: int = 0
    index_receipts: bool = True
    min_gas_price: int = 0

    @property
    def db_path(self) -> pathlib.Path:
        """Absolute database directory."""
        return self.db_dir if self.db_dir.is_absolute() else self.home / self.db_dir


def load_config(home: str | pathlib.Path) -> NodeConfig:
    """Read <home>/config/app.toml (defaults when absent); raise ConfigError naming the bad key."""
    home = pathlib.Path(home).resolve()
    path = home / "config" / "app.toml"
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    known = {"abci": {"laddr"}, "grpc": {"laddr"}, "db": {"dir"}, "log": {"level"}, "metrics": {"laddr"}, "store": {"keep_recent", "min_retain_blocks", "index_receipts"},
             "fees": {"min_gas_price"},
             "underwriting": {"enabled", "guarantee_blocks", "co_deadline_ms", "rpc", "credit_limit"}}
    for section, values in data.items():
        if section not in known or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        for key in values:
            if key not in known[section]:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
    cfg = NodeConfig(
        home=home,
        abci_laddr=str(data.get("abci", {}).get("laddr", NodeConfig.abci_laddr)),
        grpc_laddr=str(data.get("grpc", {}).get("laddr", NodeConfig.grpc_laddr)),
        db_dir=pathlib.Path(str(data.get("db", {}).get("dir", NodeConfig.db_dir))),
        log_level=str(data.get("log", {}).get("level", NodeConfig.log_level)),
        metrics_laddr=str(data.get("metrics", {}).get("laddr", "")),
        **_store_config(path, data.get("store", {})),
        min_gas_price=_min_gas_price(path, data.get("fees", {})),
        **_underwriting_config(path, data.get("underwriting", {})),
    )
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"{path}: log.level must be one of {', '.join(LOG_LEVELS)}")
    if not (cfg.abci_laddr.startswith("tcp://") or cfg.abci_laddr.startswith("unix://")):
        raise ConfigError(f"{path}: abci.laddr must start with tcp:// or unix://")
    if cfg.metrics_laddr and not cfg.metrics_laddr.rpartition(":")[2].isdigit():
        raise ConfigError(f"{path}: metrics.laddr must be host:port or empty")
    return cfg


def _store_config(path: pathlib.Path, section: dict) -> dict:
    """The validated [store] keys as NodeConfig fields."""
    value = section.get("keep_recent", NodeConfig.keep_recent)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{path}: store.keep_recent must be an integer >= 0 (0 keeps every height)")
    retain = section.get("min_retain_blocks", NodeConfig.min_retain_blocks)
    if isinstance(retain, bool) or not isinstance(retain, int) or not 0 <= retain < 1 << 62:
        raise ConfigError(f"{path}: store.min_retain_blocks must be an integer >= 0 (0 keeps every block)")
    index = section.get("index_receipts", NodeConfig.index_receipts)
    if not isinstance(index, bool):
        raise ConfigError(f"{path}: store.index_receipts must be true or false")
    return {"keep_recent": value, "min_retain_blocks": retain, "index_receipts": index}


def _min_gas_price(path: pathlib.Path, section: dict) -> int:
    """[fees] min_gas_price: an integer of milli-units per gas, 0 to MAX_GAS_PRICE."""
    value = section.get("min_gas_price", NodeConfig.min_gas_price)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GAS_PRICE:
        raise ConfigError(f"{path}: fees.min_gas_price must be an integer from 0 to {MAX_GAS_PRICE} (milli-units "
                          f"per gas; 1000 = one base unit per gas)")
    return value


def _underwriting_config(path: pathlib.Path, section: dict) -> dict:
    """The validated [underwriting] keys as NodeConfig fields."""
    enabled = section.get("enabled", NodeConfig.underwriting_enabled)
    blocks = section.get("guarantee_blocks", NodeConfig.guarantee_blocks)
    deadline = section.get("co_deadline_ms", NodeConfig.co_deadline_ms)
    rpc = section.get("rpc", NodeConfig.underwriting_rpc)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}: underwriting.enabled must be true or false")
    for name, value in (("guarantee_blocks", blocks), ("co_deadline_ms", deadline)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{path}: underwriting.{name} must be a positive integer")
    if not isinstance(rpc, str):
        raise ConfigError(f"{path}: underwriting.rpc must be a string")
    credit = section.get("credit_limit", NodeConfig.credit_limit)
    if isinstance(credit, bool) or not isinstance(credit, int) or not 0 <= credit < 1 << 64:
        raise ConfigError(f"{path}: underwriting.credit_limit must be an integer from 0 to 2^64-1")
    return {"underwriting_enabled": enabled, "guarantee_blocks": blocks, "co_deadline_ms": deadline,
            "underwriting_rpc": rpc, "credit_limit": credit}
