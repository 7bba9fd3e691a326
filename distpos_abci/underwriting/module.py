"""underwriting as an app module: carriers of guaranteed transactions, claims and capacity evidence."""

from __future__ import annotations

from typing import Any, Protocol

from ..bank import MsgSend
from ..errors import GenesisError, GuaranteeMismatchError, InvalidParamsError
from ..events import Event
from ..params import compute_params_update
from ..module import GenesisContext, Module, TxContext, ValidatorUpdate
from ..staking import StakingKeeper
from ..store.kv import CacheKV, KVStore
from ..tx import SignedTx, compute_tx_hash
from .keeper import PremiumRate, UnderwritingKeeper
from .msgs import (
    MsgCapacityEvidence,
    MsgClaim,
    MsgDepositCollateral,
    MsgSetPremium,
    MsgUnderwrittenTx,
    MsgUnlockCollateral,
    MsgWithdrawCollateral,
    decode_capacity_evidence,
    decode_claim,
    decode_deposit_collateral,
    decode_set_premium,
    decode_underwritten,
    decode_unlock_collateral,
    decode_withdraw_collateral,
)
from .params import UnderwritingParams


class InnerTxRunner(Protocol):
    """What underwriting needs from the app: decode and run a transaction carried inside another."""

    def decode_verified_tx(self, raw: bytes) -> SignedTx:
        """Decode and verify raw (signature, chain); raise a DistposError otherwise."""

    def run_inner_tx(self, store: KVStore, raw: bytes, ctx: TxContext) -> Any:
        """Run raw like a block transaction in store; returns its TxResult, never raises a DistposError."""


def validate_params_fit_unbonding(params: UnderwritingParams, unbonding_blocks: int) -> None:
    """Raise GenesisError unless a guarantee's whole claimable life fits in the staking unbonding period, so
    stake unbonded after signing still answers every claim on it."""
    if params.max_guarantee_blocks + params.claim_window_blocks > unbonding_blocks:
        raise GenesisError(
            f"underwriting.params: max_guarantee_blocks + claim_window_blocks "
            f"({params.max_guarantee_blocks + params.claim_window_blocks}) must not exceed "
            f"staking.params.unbonding_blocks ({unbonding_blocks}), or unbonded stake could escape a claim"
        )


class UnderwritingModule(Module):
    """Guaranteed transactions: release on success, payout on failure or lapse, slashing of over-signing."""

    name = "underwriting"
    decoders = {
        "underwritten": decode_underwritten,
        "claim": decode_claim,
        "capacity_evidence": decode_capacity_evidence,
        "deposit_collateral": decode_deposit_collateral,
        "unlock_collateral": decode_unlock_collateral,
        "withdraw_collateral": decode_withdraw_collateral,
        "set_premium": decode_set_premium,
    }
    msg_types = (MsgUnderwrittenTx, MsgClaim, MsgCapacityEvidence, MsgDepositCollateral, MsgUnlockCollateral,
                 MsgWithdrawCollateral, MsgSetPremium)

    def __init__(self) -> None:
        self.runner: InnerTxRunner | None = None

    def bind_app(self, runner: InnerTxRunner) -> None:
        """Installed by the app so carriers can run their inner transaction."""
        self.runner = runner

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Store params; they must fit in the staking unbonding period."""
        section = section or {}
        if not isinstance(section, dict) or sorted(set(section) - {"params"}):
            raise GenesisError("underwriting must be an object with only `params`")
        params = UnderwritingParams.from_json(section.get("params"))
        validate_params_fit_unbonding(params, StakingKeeper(store).get_params().unbonding_blocks)
        UnderwritingKeeper(store, ctx.chain_id).apply_params(params)
        return []

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of the underwriting params; they must still fit in the unbonding period."""
        keeper = UnderwritingKeeper(store, ctx.chain_id)
        merged = compute_params_update(keeper.get_params().encode(), raw, "underwriting params")
        try:
            params = UnderwritingParams.from_json(merged)
            validate_params_fit_unbonding(params, StakingKeeper(store).get_params().unbonding_blocks)
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        keeper.apply_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode())]

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Execute a carrier, a claim or capacity evidence."""
        keeper = UnderwritingKeeper(store, ctx.chain_id)
        if isinstance(msg, MsgUnderwrittenTx):
            return self._deliver_underwritten(store, keeper, ctx, msg)
        if isinstance(msg, MsgClaim):
            keeper.validate_guarantees(msg.guarantees)
            inner = self._validate_guaranteed_tx(msg.guarantees, msg.tx)
            return keeper.process_settlement(msg.guarantees, ctx.height, claim=True, premium=inner.premium)
        if isinstance(msg, MsgCapacityEvidence):
            return keeper.process_capacity_evidence(msg.guarantees, ctx.height)
        if isinstance(msg, MsgDepositCollateral):
            return keeper.process_deposit_collateral(msg.payer, msg.underwriter, msg.amount)
        if isinstance(msg, MsgUnlockCollateral):
            return keeper.process_unlock_collateral(msg.payer, msg.underwriter, msg.amount, ctx.height)
        if isinstance(msg, MsgWithdrawCollateral):
            return keeper.process_withdraw_collateral(msg.payer, msg.underwriter, ctx.height)
        if isinstance(msg, MsgSetPremium):
            return keeper.process_set_premium(msg.validator, PremiumRate(msg.rate_ppm, msg.minimum))
        raise NotImplementedError(type(msg).__name__)

    def _validate_guaranteed_tx(self, gs, raw: bytes) -> SignedTx:
        """Raise unless raw is the payment the guarantees cover, signed by their payer: its hash, signer and nonce
        are the guarantees', and it is a MsgSend of their total to their beneficiary. A carrier runs these bytes; a
        claim shows them as the payer's consent, so no underwriter can guarantee a payment the payer never signed
        and pay it out of the payer's collateral."""
        if self.runner is None:
            raise RuntimeError("underwriting module not bound to an app")
        g = gs[0]
        if g.tx_hash != compute_tx_hash(raw):
            raise GuaranteeMismatchError("guarantees name another transaction than the one given")
        inner = self.runner.decode_verified_tx(raw)
        send = inner.msg
        if not isinstance(send, MsgSend):
            raise GuaranteeMismatchError(f"only a send can be underwritten, not {type(send).__name__}")
        if (inner.signer, inner.nonce) != (g.payer.account, g.nonce):
            raise GuaranteeMismatchError(f"guarantees cover nonce {g.nonce} of {g.payer}; the transaction is "
                                         f"another account's or nonce's")
        if send.recipient != g.beneficiary or send.amount != g.total:
            raise GuaranteeMismatchError(
                f"guarantees cover {g.total} to {g.beneficiary}; the send pays {send.amount} to {send.recipient}"
            )
        return inner

    def _deliver_underwritten(self, store: KVStore, keeper: UnderwritingKeeper, ctx: TxContext,
                              msg: MsgUnderwrittenTx) -> list[Event]:
        """Run the guaranteed transaction (up to expiry), then settle by what the payer's nonce did: the carried
        bytes are only one way the nonce may be used; a re-encoding, a retry or a double spend is another."""
        if self.runner is None:
            raise RuntimeError("underwriting module not bound to an app")
        gs = msg.guarantees
        g = gs[0]
        keeper.validate_guarantees(gs)
        inner = self._validate_guaranteed_tx(gs, msg.tx)
        keeper.validate_carriable(gs, ctx.height)
        carried = Event.of("underwritten_tx", payer=g.payer, nonce=g.nonce, guarantees=len(gs), amount=g.total)
        inner_store = CacheKV(store)
        result = self.runner.run_inner_tx(inner_store, msg.tx, ctx)
        inner_store.write()  # a failed inner message wrote nothing but (maybe) its nonce, as in a block
        settled = UnderwritingKeeper(store, ctx.chain_id).process_settlement(gs, ctx.height, claim=False,
                                                                          premium=inner.premium)
        return [carried, *(result.events if result.ok else ()), *settled]
