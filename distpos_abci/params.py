"""Chain parameters: set in genesis, stored in state, queryable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .errors import GenesisError, InvalidParamsError
from .events import Event
from .fees import MAX_GAS_PRICE
from .store.kv import KVReader, KVStore
from .tx import DEFAULT_MAX_TX_BYTES

PARAMS_KEY = b"params/chain"  # owned by this module: canonical JSON of Params


@dataclass(frozen=True, slots=True)
class Params:
    """Chain-wide parameters."""

    max_tx_bytes: int = DEFAULT_MAX_TX_BYTES
    # Consensus minimum gas price in milli-units per gas (fees.py): fee >= ceil(gas * min_gas_price / 1000).
    # 0 = transactions may be free (the code default; localnets and the integration chains set it above 0).
    min_gas_price: int = 0

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): identical bytes on every node."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "Params":
        """Validate a params object from genesis; unknown keys are an error."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("params must be an object")
        unknown = sorted(set(data) - {"max_tx_bytes", "min_gas_price"})
        if unknown:
            raise GenesisError(f"unknown params: {', '.join(unknown)}")
        max_tx = data.get("max_tx_bytes", DEFAULT_MAX_TX_BYTES)
        if not isinstance(max_tx, int) or isinstance(max_tx, bool) or not 256 <= max_tx <= 1 << 20:
            raise GenesisError("params.max_tx_bytes must be an integer between 256 and 1048576")
        price = data.get("min_gas_price", 0)
        if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_GAS_PRICE:
            raise GenesisError(f"params.min_gas_price must be an integer between 0 and {MAX_GAS_PRICE} "
                               f"(milli-units per gas)")
        return cls(max_tx_bytes=max_tx, min_gas_price=price)


def get_params(store: KVReader) -> Params:
    """The stored parameters (defaults before genesis)."""
    raw = store.get(PARAMS_KEY)
    return Params.from_json(json.loads(raw)) if raw else Params()


def apply_params(store: KVStore, params: Params) -> None:
    """Store parameters."""
    store.set(PARAMS_KEY, params.encode())


def compute_params_update(current: bytes, raw: str, what: str) -> dict:
    """The stored canonical JSON `current` with the keys of the JSON object `raw` replaced (a partial update:
    keys not named keep their value). Only the shape is checked here; the module validates the values."""
    try:
        patch = json.loads(raw)
    except ValueError:
        raise InvalidParamsError(f"{what}: params_json is not JSON") from None
    if not isinstance(patch, dict) or not patch:
        raise InvalidParamsError(f"{what}: params_json must be a non-empty JSON object of the keys to change")
    return {**json.loads(current), **patch}


def process_params_json(store: KVStore, raw: str) -> list[Event]:
    """Governance's change of the chain params (module "chain"): validate the merged params, then store them.
    The app reads them again at Commit, so they apply from the next block."""
    merged = compute_params_update(get_params(store).encode(), raw, "chain params")
    try:
        params = Params.from_json(merged)
    except GenesisError as exc:
        raise InvalidParamsError(exc.message) from None
    apply_params(store, params)
    return [Event.of("params_updated", module="chain", params=params.encode().decode())]
