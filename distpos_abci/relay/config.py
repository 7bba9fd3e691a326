"""The relay's TOML config file (documented in README.md), read once at start-up."""

from __future__ import annotations

import pathlib
import re
import tomllib
from dataclasses import dataclass, field, fields

from ..address import parse_address
from ..errors import DistposError, RelayConfigError
from ..fees import MAX_GAS_PRICE
from .limits import RelayLimits


@dataclass(frozen=True)
class RelayConfig:
    chain_id: str
    comet_rpc: str
    listen: str
    key_file: str
    db_dir: str
    metrics: str = ""
    poll_interval_ms: int = 500
    settle_interval_ms: int = 2000
    max_tx_bytes: int = 0
    client_refresh_pct: int = 50
    clients: tuple[str, ...] = field(default_factory=tuple)
    policy_file: str = ""
    log_level: str = "info"
    max_inbound_packets: int = 10_000
    max_outbound_packets: int = 10_000
    max_request_packets: int = 64
    max_proof_keys: int = 64
    max_retry_entries: int = 1024
    max_request_bytes: int = 1 << 20
    resend_after_ms: int = 20_000
    direct_after_attempts: int = 3
    gas_price: int = 0  # milli-units per gas the relay pays; 0 = each chain's min_gas_price, read from its state
    min_relay_fee: int = 0  # packets of this chain with a lower relay fee are left to other relays
    fee_recipient: str = ""  # address of this chain the earned relay fees are forwarded to ("" = keep them)

    def limits(self) -> RelayLimits:
        """The bounds and re-send policy these keys give."""
        return RelayLimits(self.max_inbound_packets, self.max_outbound_packets, self.max_request_packets,
                           self.max_proof_keys, self.max_retry_entries, self.max_request_bytes,
                           self.resend_after_ms / 1000, self.direct_after_attempts)

    def resolve(self, base: pathlib.Path) -> "RelayConfig":
        """Paths relative to the config file's directory made absolute."""
        def rel(p: str) -> str:
            return str((base / p).resolve()) if p and not pathlib.Path(p).is_absolute() else p
        return RelayConfig(**{**self.__dict__, "key_file": rel(self.key_file), "db_dir": rel(self.db_dir),
                              "policy_file": rel(self.policy_file)})


def compute_key_line(text: str, key: str) -> int:
    """The 1-based line where key is assigned in the TOML text (0 when not found)."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    return next((i for i, line in enumerate(text.splitlines(), 1) if pattern.match(line)), 0)


def validate_key_types(data: dict, text: str, where: str) -> None:
    """Raise RelayConfigError naming the first key whose value has the wrong type, and its line."""
    for f in fields(RelayConfig):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "clients":
            ok, want = isinstance(value, list) and all(isinstance(v, str) for v in value), "a list of chain-ids"
        elif f.type in ("int", int):
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        else:
            ok, want = isinstance(value, str), "a string"
        if not ok:
            line = compute_key_line(text, f.name)
            at = f"{where}:{line}" if line else where
            raise RelayConfigError(f"{at}: {f.name} must be {want}, got {value!r}")


def load_config(path: str | pathlib.Path) -> RelayConfig:
    """The config at path; raise RelayConfigError naming the problem, the key and its line."""
    p = pathlib.Path(path)
    try:
        text = p.read_text()
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise RelayConfigError(f"cannot read relay config {p}: {type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RelayConfigError(f"{p}: not valid TOML: {exc}") from None
    data = data.get("relay", data)
    known = {f.name for f in fields(RelayConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RelayConfigError(f"{p}: unknown keys {', '.join(unknown)}")
    missing = sorted(f.name for f in fields(RelayConfig) if f.name in
                     ("chain_id", "comet_rpc", "listen", "key_file", "db_dir") and f.name not in data)
    if missing:
        raise RelayConfigError(f"{p}: missing required keys {', '.join(missing)}")
    validate_key_types(data, text, str(p))
    if "clients" in data:
        data["clients"] = tuple(data["clients"])
    try:
        cfg = RelayConfig(**data)
    except TypeError as exc:
        raise RelayConfigError(f"{p}: {exc}") from None
    if not 1 <= cfg.client_refresh_pct <= 99 or cfg.poll_interval_ms <= 0 or 0 < cfg.max_tx_bytes < 1024:
        raise RelayConfigError(f"{p}: client_refresh_pct 1-99, poll_interval_ms > 0, max_tx_bytes 0 (the chain's) or >= 1024")
    ints = [f.name for f in fields(RelayConfig) if f.type in ("int", int)]
    wrong = [n for n in ints if type(getattr(cfg, n)) is not int]
    if wrong:
        raise RelayConfigError(f"{p}: {', '.join(wrong)} must be integers")
    if not 0 <= cfg.gas_price <= MAX_GAS_PRICE:
        raise RelayConfigError(f"{p}: gas_price must be 0 (the chain's minimum) to {MAX_GAS_PRICE} milli-units per gas")
    if cfg.min_relay_fee < 0:
        raise RelayConfigError(f"{p}: min_relay_fee must be >= 0")
    if cfg.fee_recipient:
        try:
            recipient = parse_address(cfg.fee_recipient)
        except DistposError as exc:
            raise RelayConfigError(f"{p}: fee_recipient: {exc.message}") from None
        if recipient.chain_id != cfg.chain_id:
            raise RelayConfigError(f"{p}: fee_recipient {cfg.fee_recipient} is not an account of {cfg.chain_id}")
    problem = cfg.limits().validate()
    if problem:
        raise RelayConfigError(f"{p}: {problem}")
    return cfg.resolve(p.parent)
