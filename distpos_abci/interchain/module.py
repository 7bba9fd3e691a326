"""interchain as an app module: genesis correspondents and routes, the interchain messages, and the
outbound hook that turns a bank MsgSend to a foreign address into a packet."""

from __future__ import annotations

from typing import Any

from ..address import Address
from ..bank.keeper import BankKeeper
from ..bank.msgs import MsgSend
from ..errors import DistposError, GenesisError, InvalidParamsError
from ..events import Event
from ..genesis import parse_amount
from ..params import compute_params_update
from ..module import GenesisContext, Module, TxContext, ValidatorUpdate
from ..store.kv import KVStore
from ..types import ChainId
from . import keys
from .forwarding import ForwardParams
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

GENESIS_KEYS = {"correspondents", "routes", "params"}
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
    }
    msg_types = (MsgTransfer, MsgUpdateClient, MsgRecvPackets, MsgAcknowledge, MsgTimeout, MsgOpenCorrespondent,
                 MsgTopUp, MsgSetRoute, MsgSubmitMisbehaviour, MsgUnfreezeClient, MsgSetLimits, MsgCloseCorrespondent)

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
        return self._deliver_governance(keeper, ctx, msg)

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's change of the interchain (forwarding) params; keys not named keep their value."""
        keeper = InterchainKeeper(store, ctx.chain_id)
        merged = compute_params_update(keeper.get_forward_params().encode(), raw, "interchain params")
        try:
            params = ForwardParams.from_json(merged)
        except GenesisError as exc:
            raise InvalidParamsError(exc.message) from None
        keeper.apply_forward_params(params)
        return [Event.of("params_updated", module=self.name, params=params.encode().decode())]

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
