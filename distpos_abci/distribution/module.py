"""distribution as an app module: genesis params, MsgWithdrawRewards, the reward split at every block's start."""

from __future__ import annotations

from typing import Any

from ..errors import GenesisError, InvalidParamsError
from ..events import Event
from ..module import BlockInfo, GenesisContext, Module, TxContext, ValidatorUpdate
from ..params import compute_params_update
from ..store.kv import KVStore
from .keeper import DistributionKeeper
from .msgs import MsgWithdrawRewards, decode_withdraw_rewards
from .params import DistributionParams


class DistributionModule(Module):
    """Validator rewards from fees (and optional inflation). Runs its begin_block after staking's, so a validator
    jailed by this block's evidence or downtime earns nothing for it."""

    name = "distribution"
    decoders = {"withdraw_rewards": decode_withdraw_rewards}
    msg_types = (MsgWithdrawRewards,)

    def __init__(self) -> None:
        self.chain_id = ""  # block hooks are not told the chain; the app binds itself (bind_app)
        self._app: Any = None

    def bind_app(self, app: Any) -> None:
        """Remember the app, whose chain_id names the module accounts in block-hook events."""
        self._app = app

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Store params (`distribution: {"params": {...}}`, optional)."""
        section = section or {}
        if not isinstance(section, dict) or sorted(set(section) - {"params"}):
            raise GenesisError("distribution must be an object with only `params`")
        DistributionKeeper(store, ctx.chain_id).apply_params(DistributionParams.from_json(section.get("params")))
        return []

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Execute a distribution message."""
        if isinstance(msg, MsgWithdrawRewards):
            return DistributionKeeper(store, ctx.chain_id).process_withdraw_rewards(msg.operator, ctx.height)
        raise NotImplementedError(type(msg).__name__)

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of the distribution params (keys not named keep their value)."""
        keeper = DistributionKeeper(store, ctx.chain_id)
        merged = compute_params_update(keeper.get_params().encode(), raw, "distribution params")
        try:
            params = DistributionParams.from_json(merged)
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        keeper.apply_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode())]

    def begin_block(self, store: KVStore, block: BlockInfo) -> list[Event]:
        """Split the last block's fees (and this block's inflation) among the validators that signed it."""
        chain_id = self._app.chain_id if self._app is not None else self.chain_id
        return DistributionKeeper(store, chain_id).process_block_rewards(block)
