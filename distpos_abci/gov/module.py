"""gov as an app module: proposals, votes, the end_block tally, and parameter changes (MsgUpdateParams).

Bound to the app (`bind_app`) because it runs other modules' messages: a passed proposal's messages go through
the app's normal handlers with the governance authority as their signer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..authority import GOV_AUTHORITY, validate_gov_signer
from ..errors import DistposError, GenesisError, InvalidParamsError
from ..events import Event
from ..module import BlockInfo, EndBlockResult, GenesisContext, Module, TxContext, ValidatorUpdate
from ..params import compute_params_update, process_params_json as process_chain_params_json
from ..staking import StakingKeeper
from ..store.kv import CacheKV, KVStore
from ..tx import Msg
from ..types import ChainId, Height
from ..underwriting import UnderwritingKeeper
from ..underwriting.module import validate_params_fit_unbonding
from .keeper import GovKeeper, ProposalRecord, compute_proposal_tx_hash
from .msgs import MsgSubmitProposal, MsgUpdateParams, MsgVote, ProposalDecoder, decode_vote, validate_proposal_message
from .params import GovParams

# The app's own params (params.py) are changed under this module name.
CHAIN_PARAMS = "chain"


class AuthorityRunner(Protocol):
    """What gov needs from the app: its modules, its decoders and a way to run messages as the authority."""

    chain_id: ChainId
    modules: Sequence[Module]
    decoders: Mapping[str, Any]

    def run_as_authority(self, store: KVStore, msgs: Sequence[Msg], ctx: TxContext) -> list[Event]:
        """Run msgs through their modules with the gov authority as signer: all of them, or none (raises)."""


class GovModule(Module):
    """Validators govern: proposals pass with more than 2/3 of bonded power and run as the gov authority."""

    name = "gov"
    msg_types = (MsgSubmitProposal, MsgVote, MsgUpdateParams)

    def __init__(self) -> None:
        self.app: AuthorityRunner | None = None
        self._decoder: ProposalDecoder | None = None
        # Instance decoders: submit and update-params decode through the app's decoders and module list.
        self.decoders = {  # type: ignore[misc]
            "submit_proposal": lambda m: self._require_decoder().decode_submit_proposal(m),
            "vote": decode_vote,
            "update_params": lambda m: self._require_decoder().decode_update_params(m),
        }

    def bind_app(self, app: AuthorityRunner) -> None:
        """Installed by the app so passed proposals can run other modules' messages."""
        self.app = app
        self._decoder = ProposalDecoder(app.decoders, self.get_params_modules())

    def _require_app(self) -> AuthorityRunner:
        if self.app is None:
            raise RuntimeError("gov module not bound to an app")
        return self.app

    def _require_decoder(self) -> ProposalDecoder:
        if self._decoder is None:
            raise RuntimeError("gov module not bound to an app")
        return self._decoder

    def get_params_modules(self) -> dict[str, Any]:
        """Module name -> its params hook, for every module whose parameters governance can change."""
        hooks: dict[str, Any] = {CHAIN_PARAMS: lambda store, ctx, raw: process_chain_params_json(store, raw)}
        for m in self._require_app().modules:
            if type(m).process_params_json is not Module.process_params_json:
                hooks[m.name] = m.process_params_json
        return hooks

    # ---- genesis and messages

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Store params (genesis sets everything else directly; no proposal exists at genesis)."""
        section = section or {}
        if not isinstance(section, dict) or sorted(set(section) - {"params"}):
            raise GenesisError("gov must be an object with only `params`")
        GovKeeper(store, ctx.chain_id).apply_params(GovParams.from_json(section.get("params")))
        return []

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Submit a proposal, vote, or (as the authority, inside a passed proposal) change parameters."""
        keeper = GovKeeper(store, ctx.chain_id)
        if isinstance(msg, MsgSubmitProposal):
            for pm in msg.messages:  # a parameter change that would fail now is refused at once
                if isinstance(pm.msg, MsgUpdateParams):
                    self._update_params(CacheKV(store), ctx, pm.msg)
            messages = tuple((pm.type, pm.value) for pm in msg.messages)
            return keeper.process_submit(msg.proposer, msg.title, msg.summary, messages, msg.deposit, ctx.height)
        if isinstance(msg, MsgVote):
            return keeper.process_vote(msg.voter, msg.proposal_id, msg.option, ctx.height)
        if isinstance(msg, MsgUpdateParams):
            validate_gov_signer(ctx.signer, "update-params")
            return self._update_params(store, ctx, msg)
        raise NotImplementedError(type(msg).__name__)

    def _update_params(self, store: KVStore, ctx: TxContext, msg: MsgUpdateParams) -> list[Event]:
        """Run the module's params hook, then the checks that span modules."""
        hook = self.get_params_modules().get(msg.module)
        if hook is None:
            raise InvalidParamsError(f"update-params: module {msg.module!r} has no parameters")
        events = hook(store, ctx, msg.params_json)
        validate_params_consistent(store, ctx.chain_id)
        return events

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of its own params."""
        keeper = GovKeeper(store, ctx.chain_id)
        merged = compute_params_update(keeper.get_params().encode(), raw, "gov params")
        try:
            params = GovParams.from_json(merged)
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        keeper.apply_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode())]

    # ---- block hooks

    def end_block(self, store: KVStore, block: BlockInfo) -> EndBlockResult:
        """Tally the open proposals; execute the passed ones, reject the expired ones."""
        app = self._require_app()
        return EndBlockResult(GovKeeper(store, app.chain_id).process_end_block(block.height, self._executor(block)))

    def _executor(self, block: BlockInfo):
        app = self._require_app()

        def execute(store: KVStore, p: ProposalRecord, height: Height) -> list[Event]:
            ctx = TxContext(app.chain_id, height, block.time_ns, GOV_AUTHORITY, b"", compute_proposal_tx_hash(p.id),
                            check=False)
            try:
                decoded = [self._require_decoder().decode_message(t, v, i) for i, (t, v) in enumerate(p.messages)]
                for i, pm in enumerate(decoded):  # the rules of submission still hold at execution
                    validate_proposal_message(pm, i, app.chain_id)
                return app.run_as_authority(store, [pm.msg for pm in decoded], ctx)
            except DistposError:
                raise
            except Exception as exc:  # a bug in a handler fails the proposal, never the block
                raise DistposError(f"internal error: {type(exc).__name__}") from None

        return execute


def validate_params_consistent(store: KVStore, chain_id: str) -> None:
    """Raise InvalidParamsError unless the parameters of different modules still fit together: a guarantee's
    claimable life (underwriting) within the unbonding period (staking)."""
    try:
        validate_params_fit_unbonding(UnderwritingKeeper(store, chain_id).get_params(),
                                      StakingKeeper(store, chain_id).get_params().unbonding_blocks)
    except GenesisError as exc:
        raise InvalidParamsError(exc.message) from None
