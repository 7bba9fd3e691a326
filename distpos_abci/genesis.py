"""The app's genesis state, carried in genesis.json `app_state`.

    {"params": {"max_tx_bytes": 8192},
     "accounts": [{"address": "e2e4x...", "balance": "1000000000"}]}

Amounts are decimal strings (JSON numbers lose precision above 2^53 in many tools);
plain integers are accepted too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .address import Address, parse_address
from .errors import GenesisError, InvalidAddressError
from .params import Params
from .types import MAX_AMOUNT, Amount


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    """An account funded at genesis."""

    address: Address
    balance: Amount


@dataclass(frozen=True, slots=True)
class Genesis:
    """Validated genesis state."""

    params: Params
    accounts: tuple[GenesisAccount, ...]
    # Sections owned by other modules, by module name (validated by those modules).
    sections: dict[str, object]


def parse_amount(value: object, what: str) -> Amount:
    """A non-negative u64 amount from a decimal string or an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GenesisError(f"{what}: amount must be a decimal string")
    if isinstance(value, str) and not value.isdigit():
        raise GenesisError(f"{what}: amount {value!r} is not a non-negative decimal integer")
    amount = int(value)
    if not 0 <= amount <= MAX_AMOUNT:
        raise GenesisError(f"{what}: amount out of range")
    return Amount(amount)


CORE_KEYS = ("params", "accounts")


def parse_genesis(app_state: bytes, chain_id: str, module_names: tuple[str, ...] = ()) -> Genesis:
    """Parse and validate app_state bytes for chain_id; raise GenesisError on any problem."""
    if not app_state.strip():
        return Genesis(Params(), (), {})
    try:
        data = json.loads(app_state)
    except ValueError as exc:
        raise GenesisError(f"app_state is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GenesisError("app_state must be a JSON object")
    unknown = sorted(set(data) - set(CORE_KEYS) - set(module_names))
    if unknown:
        raise GenesisError(f"unknown app_state keys: {', '.join(unknown)}")
    params = Params.from_json(data.get("params"))
    accounts: list[GenesisAccount] = []
    seen: set[bytes] = set()
    for i, entry in enumerate(data.get("accounts") or []):
        if not isinstance(entry, dict):
            raise GenesisError(f"accounts[{i}] must be an object")
        try:
            address = parse_address(entry.get("address", ""))
        except InvalidAddressError as exc:
            raise GenesisError(f"accounts[{i}]: {exc.message}") from None
        if address.chain_id != chain_id:
            raise GenesisError(f"accounts[{i}]: address {address} is not on chain {chain_id}")
        if address.account in seen:
            raise GenesisError(f"accounts[{i}]: duplicate address {address}")
        seen.add(address.account)
        accounts.append(GenesisAccount(address, parse_amount(entry.get("balance", "0"), f"accounts[{i}]")))
    total = sum(a.balance for a in accounts)
    if total > MAX_AMOUNT:
        raise GenesisError("total genesis supply exceeds 2^64-1")
    sections = {name: data[name] for name in module_names if name in data}
    return Genesis(params, tuple(accounts), sections)
