"""interchain as an app module: genesis correspondents and routes, the interchain messages, and the
outbound hook that turns a bank MsgSend to a foreign address into a packet."""

from __future__ import annotations

import json
from typing import Any

from ..address import Address
from ..auth import AuthKeeper
from ..bank.keeper import BankKeeper
from ..bank.msgs import MsgSend
from ..errors import DistposError, GenesisError, GuaranteeLifetimeError, InstantMismatchError, InvalidParamsError
from ..events import Event
from ..genesis import parse_amount
from ..params import compute_params_update
from ..module import BlockInfo, EndBlockResult, GenesisContext, Module, TxContext, ValidatorUpdate
from ..store.kv import KVStore
from ..tx import SignedTx, decode_tx, validate_tx_stateless
from ..types import Amount, ChainId
from ..underwriting.keeper import PAID, UnderwritingKeeper
from . import keys
from .forwarding import ForwardParams
from .instant import (
    MsgInstantClaim,
    MsgInstantCredit,
    MsgInstantRelease,
    MsgInstantTransfer,
    decode_instant_transfer,
    parse_instant_limits,
    validate_instant_guarantee_set,
    validate_instant_payment,
)
from .keeper import InterchainKeeper
from .msgs import (
    MsgAcknowledge,
    MsgCloseCorrespondent,
    MsgOpenCorrespondent,
    MsgRecvPackets,
    MsgSetLimits,
    MsgSetRoute,
    MsgSubmitMisbehaviour,
    MsgTimeout,
    MsgTopUp,
    MsgTransfer,
    MsgUnfreezeClient,
    MsgUpdateClient,
    decode_acknowledge,
    decode_close_correspondent,
    decode_instant_claim,
    decode_instant_credit_msg,
    decode_instant_release,
    decode_open_correspondent,
    decode_recv_packets,
    decode_set_limits,
    decode_set_route,
    decode_submit_misbehaviour,
    decode_unfreeze_client,
    decode_timeout,
    decode_top_up,
    decode_transfer,
    decode_update_client,
    parse_validators_json,
    validate_limits,
    validate_route,
    validate_trust_root,
)
from .records import Limits, Route

GENESIS_KEYS = {"correspondents", "routes", "params", "instant_credit"}
CORRESPONDENT_KEYS = {"chain_id", "limits", "trust_root", "trusting_period_ns", "unbonding_period_ns", "reserve"}


def _limits_json(data: object, what: str) -> Limits:
    if not isinstance(data, dict):
        raise GenesisError(f"{what} must be an object")
    unknown = sorted(set(data) - set(Limits.__dataclass_fields__))
    if unknown:
        raise GenesisError(f"{what}: unknown keys {', '.join(unknown)}")
    try:
        return validate_limits(Limits(**{k: int(v) for k, v in data.items()}))
    except (TypeError, ValueError, DistposError) as exc:
        raise GenesisError(f"{what}: {getattr(exc, 'message', exc)}") from None


class InterchainModule(Module):
    """Cross-chain transfers through correspondent accounts, verified by on-chain light clients."""

    name = "interchain"
    decoders = {
        "transfer": decode_transfer,
        "update_client": decode_update_client,
        "recv_packets": decode_recv_packets,
        "acknowledge": decode_acknowledge,
        "timeout": decode_timeout,
        "open_correspondent": decode_open_correspondent,
        "top_up": decode_top_up,
        "set_route": decode_set_route,
        "submit_misbehaviour": decode_submit_misbehaviour,
        "unfreeze_client": decode_unfreeze_client,
        "set_limits": decode_set_limits,
        "close_correspondent": decode_close_correspondent,
        "instant_transfer": decode_instant_transfer,
        "instant_credit": decode_instant_credit_msg,
        "instant_claim": decode_instant_claim,
        "instant_release": decode_instant_release,
    }
    msg_types = (MsgTransfer, MsgUpdateClient, MsgRecvPackets, MsgAcknowledge, MsgTimeout, MsgOpenCorrespondent,
                 MsgTopUp, MsgSetRoute, MsgSubmitMisbehaviour, MsgUnfreezeClient, MsgSetLimits, MsgCloseCorrespondent,
                 MsgInstantTransfer, MsgInstantCredit, MsgInstantClaim, MsgInstantRelease)

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Correspondents (light-client trust roots, limits, minted reserves) and routes. After genesis only
        governance (authority.GOV_AUTHORITY) opens, changes or closes them; no key is an admin."""
        section = section or {}
        if not isinstance(section, dict) or set(section) - GENESIS_KEYS:
            raise GenesisError(f"interchain must be an object with keys {sorted(GENESIS_KEYS)}")
        keeper = InterchainKeeper(store, ctx.chain_id)
        try:
            for i, c in enumerate(section.get("correspondents") or []):
                what = f"interchain.correspondents[{i}]"
                if not isinstance(c, dict) or set(c) - CORRESPONDENT_KEYS:
                    raise GenesisError(f"{what} must be an object with keys {sorted(CORRESPONDENT_KEYS)}")
                root = c.get("trust_root") or {}
                period = int(c.get("trusting_period_ns", 0))
                unbonding = int(c.get("unbonding_period_ns", 0))
                vals = validate_trust_root(parse_validators_json(root.get("validators"), f"{what}.trust_root"), period,
                                           unbonding)
                chain = str(c.get("chain_id", ""))
                reserve = parse_amount(c.get("reserve", "0"), f"{what}.reserve")
                if reserve:
                    BankKeeper(store).process_mint(keys.compute_correspondent_account(chain), reserve)
                keeper.process_open_correspondent(chain, _limits_json(c.get("limits") or {}, f"{what}.limits"),
                                                  int(root.get("height", 0)), int(root.get("time_ns", 0)), vals, period,
                                                  unbonding)
            if "instant_credit" in section:
                keeper.apply_instant_limits(parse_instant_limits(section["instant_credit"], "interchain.instant_credit"))
            for i, r in enumerate(section.get("routes") or []):
                if not isinstance(r, dict):
                    raise GenesisError(f"interchain.routes[{i}] must be an object")
                keeper.apply_route(validate_route(Route(ChainId(str(r.get("chain_id", ""))), str(r.get("relay_grpc", "")),
                                                        str(r.get("comet_rpc", "")), str(r.get("via", "")),
                                                        int(r.get("max_hops", 0)))))
            keeper.apply_forward_params(ForwardParams.from_json(section.get("params")))
        except GenesisError:
            raise
        except (DistposError, TypeError, ValueError) as exc:
            raise GenesisError(f"interchain: {getattr(exc, 'message', exc)}") from None
        return []

    def process_outbound(self, store: KVStore, ctx: TxContext, msg: MsgSend) -> list[Event]:
        """bank's hook for a MsgSend to another chain: a packet with the correspondent's default timeout."""
        return InterchainKeeper(store, ctx.chain_id).process_send(msg.sender, msg.recipient, msg.amount, 0, 0, ctx.time_ns)

    app: Any = None

    def bind_app(self, app: Any) -> None:
        """Installed by the app: its chain-id (set at genesis or from state) names the chain in end_block."""
        self.app = app

    def end_block(self, store: KVStore, block: BlockInfo) -> EndBlockResult:
        """Expire the "seen" records of ordinary packets whose timeout passed (bounded work per block)."""
        keeper = InterchainKeeper(store, self.app.chain_id if self.app is not None else "")
        return EndBlockResult(keeper.process_seen_expiry(block.height, block.time_ns))

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Execute an interchain message; a client update carried by a relay message is applied first."""
        keeper = InterchainKeeper(store, ctx.chain_id)
        if isinstance(msg, MsgTransfer):
            return keeper.process_send(msg.sender, msg.recipient, msg.amount, msg.timeout_height, msg.timeout_time_ns,
                                       ctx.time_ns, msg.via, msg.min_amount_out, msg.relay_fee)
        if isinstance(msg, MsgUpdateClient):
            return keeper.process_update_client(msg.chain_id, msg.update, ctx.time_ns)
        if isinstance(msg, MsgRecvPackets):
            keeper.validate_source_not_frozen(msg.source)  # before the update: its own code, 115
            events = self._update(keeper, msg.source, msg.update, ctx)
            for p in msg.packets:
                events.extend(keeper.process_recv(msg.source, msg.proof_height, p.raw, p.proof, ctx.height, ctx.time_ns))
            return events
        if isinstance(msg, MsgAcknowledge):
            events = self._update(keeper, msg.destination, msg.update, ctx)
            relayer = Address(ctx.chain_id, ctx.signer)
            for a in msg.acks:
                events.extend(keeper.process_acknowledge(msg.destination, msg.proof_height, a.raw_packet, a.raw_ack,
                                                         a.proof, relayer))
            return events
        if isinstance(msg, MsgTimeout):
            events = self._update(keeper, msg.destination, msg.update, ctx)
            return events + keeper.process_timeout(msg.destination, msg.proof_height, msg.raw_packet, msg.proof)
        if isinstance(msg, MsgSubmitMisbehaviour):
            return keeper.process_submit_misbehaviour(msg.chain_id, msg.header_1, msg.header_2, ctx.time_ns)
        if isinstance(msg, MsgTopUp):
            return keeper.process_top_up(msg.sender, msg.chain_id, msg.amount)
        if isinstance(msg, (MsgInstantTransfer, MsgInstantCredit, MsgInstantClaim, MsgInstantRelease)):
            return self._deliver_instant(store, keeper, ctx, msg)
        return self._deliver_governance(keeper, ctx, msg)

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of the interchain params: the forwarding params (keys not named keep their value) and
        `instant_credit`, `{chain: {limit, stake_per_power, max_guarantee_blocks}}`, which replaces the whole map
        when named (name every correspondent that keeps a limit)."""
        keeper = InterchainKeeper(store, ctx.chain_id)
        current = {**json.loads(keeper.get_forward_params().encode()),
                   "instant_credit": {c: v.to_json() for c, v in keeper.get_instant_limits().items()}}
        merged = compute_params_update(json.dumps(current, sort_keys=True).encode(), raw, "interchain params")
        instant = merged.pop("instant_credit")
        try:
            params = ForwardParams.from_json(merged)
            limits = parse_instant_limits(instant, "instant_credit")
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        for chain in limits:
            keeper.require_correspondent(chain)
        keeper.apply_forward_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode()),
                *keeper.apply_instant_limits(limits)]

    # ---- instant credit

    @staticmethod
    def _decode_instant_tx(raw: bytes, chain_id: str) -> tuple[SignedTx, MsgInstantTransfer]:
        """The payer-signed instant transfer of chain_id carried in a credit or claim, verified statelessly."""
        try:
            tx = decode_tx(raw, {"instant_transfer": decode_instant_transfer})
            validate_tx_stateless(tx, chain_id)
            tx.msg.validate_basic(chain_id, tx.signer)
        except DistposError as exc:
            raise InstantMismatchError(f"the carried instant transfer: {exc.message}") from None
        return tx, tx.msg

    def _deliver_instant(self, store: KVStore, keeper: InterchainKeeper, ctx: TxContext, msg: Any) -> list[Event]:
        if isinstance(msg, MsgInstantTransfer):
            nonce = AuthKeeper(store).get_account(ctx.signer).nonce - 1  # consumed just before the message ran
            return keeper.process_instant_send(msg, nonce, ctx.time_ns)
        if isinstance(msg, MsgInstantCredit):
            keeper.validate_source_not_frozen(msg.source)
            events = self._update(keeper, msg.source, msg.update, ctx)
            tx, transfer = self._decode_instant_tx(msg.tx, msg.source)
            key = keeper.validate_instant_credit(msg.source, msg.guarantees, transfer, tx.signer, tx.nonce, tx.hash,
                                                 ctx.height, ctx.time_ns)
            return events + keeper.apply_instant_credit(msg.source, key, msg.guarantees, ctx.height)
        if isinstance(msg, MsgInstantRelease):
            events = self._update(keeper, msg.source, msg.update, ctx)
            return events + keeper.process_instant_release(msg.source, msg.proof_height, msg.key, msg.payout,
                                                           msg.proof, ctx.height)
        return self._deliver_instant_claim(store, keeper, ctx, msg)

    def _deliver_instant_claim(self, store: KVStore, keeper: InterchainKeeper, ctx: TxContext,
                               msg: MsgInstantClaim) -> list[Event]:
        """Pay the destination's reserve here when the guaranteed nonce did not deliver: from the transfer's held
        amount, else from the underwriters; with no credit given, hand a held amount back to its payer."""
        events = self._update(keeper, msg.destination, msg.update, ctx)
        tx, transfer = self._decode_instant_tx(msg.tx, ctx.chain_id)
        gs = msg.guarantees
        g = gs[0]
        validate_instant_guarantee_set(gs, ctx.chain_id, msg.destination)
        validate_instant_payment(gs, transfer, tx.signer, tx.nonce, tx.hash)
        underwriting = UnderwritingKeeper(store, ctx.chain_id)
        params = underwriting.get_params()
        if g.expiry_height - g.issued_height > params.max_guarantee_blocks:
            raise GuaranteeLifetimeError(f"guarantee lives {g.expiry_height - g.issued_height} blocks, "
                                         f"max_guarantee_blocks is {params.max_guarantee_blocks}")
        if not msg.credit:  # the payer's side: the destination never credited, give the held amount back
            return events + keeper.process_instant_return(msg.destination, msg.proof_height, msg.proof, transfer,
                                                          tx.nonce)
        key = keeper.validate_instant_claim(msg.destination, msg.proof_height, msg.credit, msg.proof, gs, transfer)
        by_operator = underwriting.validate_instant_underwriters(gs)
        auth = AuthKeeper(store)
        consumed = auth.get_account(g.payer.account).nonce > g.nonce
        source = keeper.compute_instant_owed(g, key, consumed, ctx.height, params.claim_window_blocks)
        if source == "hold":
            return events + keeper.apply_hold_to_destination(msg.destination, g.payer.account, g.nonce, key,
                                                             ctx.height)
        retire = source == "lapsed"
        if retire:
            auth.apply_lapse(g.payer.account, g.nonce)
            events.append(Event.of("nonce_retired", payer=g.payer, nonce=g.nonce))
        reserve = Address(ctx.chain_id, keys.compute_correspondent_account(msg.destination))
        reason = "instant transfer lapsed" if retire else "instant transfer not delivered"
        events += underwriting.apply_payout(by_operator, g.total, ctx.height, reason, to=reserve)
        operators = {str(u.underwriter) for u in by_operator}
        paid = sum(s.amount for s in underwriting.get_settlements(g.payer.account, g.nonce)
                   if s.outcome == PAID and s.underwriter in operators)
        return events + keeper.apply_instant_payout_record(msg.destination, key, Amount(paid), ctx.height)

    @staticmethod
    def _deliver_governance(keeper: InterchainKeeper, ctx: TxContext, msg: Any) -> list[Event]:
        """Authority-only messages: validate_basic made authority the signer; only GOV_AUTHORITY passes."""
        if isinstance(msg, MsgOpenCorrespondent):
            keeper.validate_authority(msg.authority.account, "open-correspondent")
            return keeper.process_open_correspondent(msg.chain_id, msg.limits, msg.root_height, msg.root_time_ns,
                                                     msg.root_validators, msg.trusting_period_ns,
                                                     msg.unbonding_period_ns)
        if isinstance(msg, MsgSetRoute):
            keeper.validate_authority(msg.authority.account, "set-route")
            return keeper.apply_route(msg.route)
        if isinstance(msg, MsgUnfreezeClient):
            keeper.validate_authority(msg.authority.account, "unfreeze-client")
            return keeper.process_unfreeze_client(msg.chain_id, msg.root_height, msg.root_time_ns,
                                                  msg.root_validators, msg.root_app_hash, ctx.time_ns)
        if isinstance(msg, MsgSetLimits):
            keeper.validate_authority(msg.authority.account, "set-limits")
            return keeper.process_set_limits(msg.chain_id, msg.limits)
        if isinstance(msg, MsgCloseCorrespondent):
            keeper.validate_authority(msg.authority.account, "close-correspondent")
            return keeper.process_close_correspondent(msg.chain_id)
        raise NotImplementedError(type(msg).__name__)

    @staticmethod
    def _update(keeper: InterchainKeeper, chain: str, update, ctx: TxContext) -> list[Event]:
        return [] if update is None else keeper.process_update_client(chain, update, ctx.time_ns)
