"""staking as an app module: genesis validators, staking messages, slashing and the validator set."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..address import parse_address
from ..errors import DistposError, GenesisError, InvalidParamsError
from ..events import Event
from ..genesis import parse_amount
from ..params import compute_params_update
from ..module import BlockInfo, EndBlockResult, GenesisContext, Module, TxContext, ValidatorUpdate
from ..store.kv import KVStore
from .keeper import StakingKeeper
from .msgs import (
    MsgBond,
    MsgCreateValidator,
    MsgUnbond,
    MsgUnjail,
    MsgWithdraw,
    decode_bond,
    decode_create_validator,
    decode_unbond,
    decode_unjail,
    decode_withdraw,
    validate_endpoint,
)
from .params import StakingParams

GENESIS_VALIDATOR_KEYS = {"operator", "consensus_pub_key", "self_stake", "endpoint", "moniker"}


def _genesis_validator(entry: object, i: int, chain_id: str) -> tuple:
    if not isinstance(entry, dict):
        raise GenesisError(f"staking.validators[{i}] must be an object")
    unknown = sorted(set(entry) - GENESIS_VALIDATOR_KEYS)
    if unknown:
        raise GenesisError(f"staking.validators[{i}]: unknown keys {', '.join(unknown)}")
    try:
        operator = parse_address(entry.get("operator", ""))
        pub_key = base64.b64decode(entry.get("consensus_pub_key", ""), validate=True)
        validate_endpoint(str(entry.get("endpoint", "")))
    except (DistposError, binascii.Error, TypeError) as exc:
        raise GenesisError(f"staking.validators[{i}]: {getattr(exc, 'message', exc)}") from None
    if operator.chain_id != chain_id:
        raise GenesisError(f"staking.validators[{i}]: operator {operator} is not on chain {chain_id}")
    if len(pub_key) != 32:
        raise GenesisError(f"staking.validators[{i}]: consensus_pub_key must be base64 of 32 bytes")
    stake = parse_amount(entry.get("self_stake", "0"), f"staking.validators[{i}].self_stake")
    return operator, pub_key, stake, str(entry.get("endpoint", "")), str(entry.get("moniker", ""))


class StakingModule(Module):
    """Validators, bonded stake, unbonding, jailing and slashing; drives CometBFT's validator set."""

    name = "staking"
    decoders = {
        "create_validator": decode_create_validator,
        "bond": decode_bond,
        "unbond": decode_unbond,
        "withdraw": decode_withdraw,
        "unjail": decode_unjail,
    }
    msg_types = (MsgCreateValidator, MsgBond, MsgUnbond, MsgWithdraw, MsgUnjail)

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Store params and genesis validators (their stake minted into the pool); return the initial set."""
        section = section or {}
        if not isinstance(section, dict):
            raise GenesisError("staking must be an object")
        unknown = sorted(set(section) - {"params", "validators"})
        if unknown:
            raise GenesisError(f"unknown staking keys: {', '.join(unknown)}")
        keeper = StakingKeeper(store, ctx.chain_id)
        keeper.apply_params(StakingParams.from_json(section.get("params")))
        for i, entry in enumerate(section.get("validators") or []):
            operator, pub_key, stake, endpoint, moniker = _genesis_validator(entry, i, ctx.chain_id)
            try:
                keeper.process_create_validator(operator, pub_key, stake, endpoint, moniker, genesis=True)
            except DistposError as exc:
                raise GenesisError(f"staking.validators[{i}]: {exc.message}") from None
        updates, _ = keeper.process_validator_updates()
        return updates

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Execute a staking message."""
        keeper = StakingKeeper(store, ctx.chain_id)
        if isinstance(msg, MsgCreateValidator):
            return keeper.process_create_validator(msg.operator, msg.consensus_pub_key, msg.self_stake, msg.endpoint,
                                                   msg.moniker)
        if isinstance(msg, MsgBond):
            return keeper.process_bond(msg.operator, msg.amount)
        if isinstance(msg, MsgUnbond):
            return keeper.process_unbond(msg.operator, msg.amount, ctx.height, ctx.time_ns)
        if isinstance(msg, MsgWithdraw):
            return keeper.process_withdraw(msg.operator, ctx.height, ctx.time_ns)
        if isinstance(msg, MsgUnjail):
            return keeper.process_unjail(msg.operator, ctx.height)
        raise NotImplementedError(type(msg).__name__)

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of the staking params (keys not named keep their value)."""
        keeper = StakingKeeper(store, ctx.chain_id)
        merged = compute_params_update(keeper.get_params().encode(), raw, "staking params")
        try:
            params = StakingParams.from_json(merged)
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        keeper.apply_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode())]

    def begin_block(self, store: KVStore, block: BlockInfo) -> list[Event]:
        """Slash and jail for evidence, then account the last commit's votes for downtime (burns only, no transfers)."""
        keeper = StakingKeeper(store)
        return keeper.process_misbehavior(block) + keeper.process_votes(block)

    def end_block(self, store: KVStore, block: BlockInfo) -> EndBlockResult:
        """Report power changes to CometBFT."""
        updates, events = StakingKeeper(store).process_validator_updates()
        return EndBlockResult(events, updates)

