"""Chain parameters: set in genesis, stored in state, queryable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .errors import GenesisError
from .store.kv import KVReader, KVStore
from .tx import DEFAULT_MAX_TX_BYTES

PARAMS_KEY = b"params/chain"  # owned by this module: canonical JSON of Params


@dataclass(frozen=True, slots=True)
class Params:
    """Chain-wide parameters."""

    max_tx_bytes: int = DEFAULT_MAX_TX_BYTES

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
        unknown = sorted(set(data) - {"max_tx_bytes"})
        if unknown:
            raise GenesisError(f"unknown params: {', '.join(unknown)}")
        max_tx = data.get("max_tx_bytes", DEFAULT_MAX_TX_BYTES)
        if not isinstance(max_tx, int) or isinstance(max_tx, bool) or not 256 <= max_tx <= 1 << 20:
            raise GenesisError("params.max_tx_bytes must be an integer between 256 and 1048576")
        return cls(max_tx_bytes=max_tx)


def get_params(store: KVReader) -> Params:
    """The stored parameters (defaults before genesis)."""
    raw = store.get(PARAMS_KEY)
    return Params.from_json(json.loads(raw)) if raw else Params()


def apply_params(store: KVStore, params: Params) -> None:
    """Store parameters."""
    store.set(PARAMS_KEY, params.encode())
