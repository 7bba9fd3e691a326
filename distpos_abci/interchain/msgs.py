"""interchain messages: TxBody fields transfer (40), update_client (41), recv_packets (42), acknowledge (43),
timeout (44), open_correspondent (45), top_up (46), set_route (47), submit_misbehaviour (48),
unfreeze_client (49), set_limits (50), close_correspondent (51); the instant-credit messages instant_transfer (52),
instant_credit (53), instant_claim (54) and instant_release (55) are decoded here too (their rules: instant.py).

Relayer messages (update, recv, acknowledge, timeout) and misbehaviour may be signed by anyone: the proofs
carry the trust. open_correspondent, set_route, unfreeze_client, set_limits and close_correspondent carry an
`authority` that must be the signer, and the keeper accepts only the governance authority (a module account
no key controls: the gov module executes passed proposals with it as signer).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..address import Address, parse_address, validate_chain_id
from ..crypto import KeyPair
from ..errors import (
    HopLimitExceededError,
    InstantMismatchError,
    InvalidAddressError,
    InvalidPathError,
    RoutingLoopError,
    InvalidAmountError,
    InvalidInterchainMsgError,
    InvalidMisbehaviourError,
    InvalidRelayFeeError,
    TrustingPeriodTooLongError,
)
from ..gen.distpos.v1 import interchain_pb2, tx_pb2
from ..lightclient.types import (
    LightBlock,
    Validator,
    ValidatorSet,
    light_block_from_proto,
    light_block_to_proto,
    validator_set_from_proto,
)
from ..store.merkle import MerkleProof
from ..tx import build_tx, validate_signer
from ..types import MAX_AMOUNT, AccountId, Amount, ChainId
from .paths import MAX_HOPS_CAP, validate_path
from .instant import MsgInstantClaim, MsgInstantCredit, MsgInstantRelease, instant_guarantees
from .records import Limits, Route

MAX_PACKETS_PER_MSG = 16
MAX_ENDPOINT = 200


def _chain(text: str, what: str) -> ChainId:
    try:
        return validate_chain_id(text)
    except InvalidAddressError as exc:
        raise InvalidInterchainMsgError(f"{what}: {exc.message}") from None


def _address(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"{what}: {exc.message}") from None


def _amount(value: int, what: str) -> Amount:
    if not 0 < value <= MAX_AMOUNT:
        raise InvalidAmountError(f"{what}: amount must be a positive integer")
    return Amount(value)


def _update(m, has: bool) -> LightBlock | None:
    if not has:
        return None
    try:
        lb = light_block_from_proto(m)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInterchainMsgError("malformed client update: a header, commit or validator field is out of range") from None
    if lb.height <= 0:
        raise InvalidInterchainMsgError(f"client update header height {lb.height} must be positive")
    return lb


@dataclass(frozen=True, slots=True)
class MsgTransfer:
    """Send amount to an address on another chain, with an explicit timeout on the destination."""

    sender: Address
    recipient: Address
    amount: Amount
    timeout_height: int
    timeout_time_ns: int
    via: tuple[ChainId, ...] = ()  # multi-hop: the intermediate chains (empty: direct or the routing table)
    min_amount_out: Amount = Amount(0)
    relay_fee: Amount = Amount(0)  # paid to the relay that delivers the proof of receipt (MsgAcknowledge signer)

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.sender, chain_id, signer, "transfer")
        if self.recipient.chain_id == chain_id:
            raise InvalidInterchainMsgError("transfer: recipient is on this chain; use send")
        if self.via:
            validate_path([chain_id, *self.via, self.recipient.chain_id])
        if self.min_amount_out > self.amount:
            raise InvalidAmountError("transfer: min_amount_out is above the amount")
        if self.amount + self.relay_fee > MAX_AMOUNT:
            raise InvalidRelayFeeError(f"transfer: amount plus relay fee exceeds the largest amount {MAX_AMOUNT}")


@dataclass(frozen=True, slots=True)
class MsgUpdateClient:
    chain_id: ChainId
    update: LightBlock

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may relay a header."""


@dataclass(frozen=True, slots=True)
class ProvenPacket:
    raw: bytes
    proof: MerkleProof


@dataclass(frozen=True, slots=True)
class MsgRecvPackets:
    source: ChainId
    update: LightBlock | None
    proof_height: int
    packets: tuple[ProvenPacket, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may relay packets."""


@dataclass(frozen=True, slots=True)
class ProvenAck:
    raw_packet: bytes
    raw_ack: bytes
    proof: MerkleProof


@dataclass(frozen=True, slots=True)
class MsgAcknowledge:
    destination: ChainId
    update: LightBlock | None
    proof_height: int
    acks: tuple[ProvenAck, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may relay acks."""


@dataclass(frozen=True, slots=True)
class MsgTimeout:
    destination: ChainId
    update: LightBlock | None
    proof_height: int
    raw_packet: bytes
    proof: MerkleProof

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may relay a timeout proof."""


@dataclass(frozen=True, slots=True)
class MsgOpenCorrespondent:
    authority: Address
    chain_id: ChainId
    limits: Limits
    root_height: int
    root_time_ns: int
    root_validators: ValidatorSet
    trusting_period_ns: int
    unbonding_period_ns: int

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.authority, chain_id, signer, "open-correspondent")


@dataclass(frozen=True, slots=True)
class MsgSubmitMisbehaviour:
    """Two conflicting blocks of chain_id at one height (or one contradicting a stored consensus state)."""

    chain_id: ChainId
    header_1: LightBlock
    header_2: LightBlock | None

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may submit evidence: the signatures carry the trust."""


@dataclass(frozen=True, slots=True)
class MsgUnfreezeClient:
    authority: Address
    chain_id: ChainId
    root_height: int
    root_time_ns: int
    root_validators: ValidatorSet
    root_app_hash: bytes

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.authority, chain_id, signer, "unfreeze-client")


@dataclass(frozen=True, slots=True)
class MsgSetLimits:
    authority: Address
    chain_id: ChainId
    limits: Limits

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.authority, chain_id, signer, "set-limits")


@dataclass(frozen=True, slots=True)
class MsgCloseCorrespondent:
    authority: Address
    chain_id: ChainId

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.authority, chain_id, signer, "close-correspondent")


@dataclass(frozen=True, slots=True)
class MsgTopUp:
    sender: Address
    chain_id: ChainId
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.sender, chain_id, signer, "top-up")


@dataclass(frozen=True, slots=True)
class MsgSetRoute:
    authority: Address
    route: Route

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.authority, chain_id, signer, "set-route")


# ---- decoders -------------------------------------------------------------------------------------------

def decode_transfer(m: interchain_pb2.MsgTransfer) -> MsgTransfer:
    if len(m.path) > MAX_HOPS_CAP:
        raise HopLimitExceededError(f"transfer: {len(m.path)} intermediate chains; at most {MAX_HOPS_CAP - 1}")
    via = tuple(_path_chain(c) for c in m.path)
    return MsgTransfer(_address(m.from_address, "transfer"), _address(m.to_address, "transfer"),
                       _amount(m.amount, "transfer"), m.timeout_height, m.timeout_time_ns, via,
                       Amount(m.min_amount_out), Amount(m.relay_fee))


def _path_chain(text: str) -> ChainId:
    try:
        return validate_chain_id(text)
    except InvalidAddressError as exc:
        raise InvalidPathError(f"transfer path: {exc.message}") from None


def _proof_height(h: int) -> int:
    if h <= 0:
        raise InvalidInterchainMsgError("proof_height must be positive")
    return h


def decode_update_client(m: interchain_pb2.MsgUpdateClient) -> MsgUpdateClient:
    update = _update(m.update, m.HasField("update"))
    if update is None:
        raise InvalidInterchainMsgError("update-client carries no update")
    return MsgUpdateClient(_chain(m.chain_id, "update-client"), update)


def decode_recv_packets(m: interchain_pb2.MsgRecvPackets) -> MsgRecvPackets:
    if not 0 < len(m.packets) <= MAX_PACKETS_PER_MSG:
        raise InvalidInterchainMsgError(f"recv-packets carries 1 to {MAX_PACKETS_PER_MSG} packets")
    return MsgRecvPackets(
        _chain(m.source_chain, "recv-packets"), _update(m.update, m.HasField("update")), _proof_height(m.proof_height),
        tuple(ProvenPacket(bytes(p.packet), MerkleProof.from_proto(p.proof)) for p in m.packets),
    )


def decode_acknowledge(m: interchain_pb2.MsgAcknowledge) -> MsgAcknowledge:
    if not 0 < len(m.acks) <= MAX_PACKETS_PER_MSG:
        raise InvalidInterchainMsgError(f"acknowledge carries 1 to {MAX_PACKETS_PER_MSG} acks")
    return MsgAcknowledge(
        _chain(m.destination_chain, "acknowledge"), _update(m.update, m.HasField("update")),
        _proof_height(m.proof_height),
        tuple(ProvenAck(bytes(a.packet), bytes(a.ack), MerkleProof.from_proto(a.proof)) for a in m.acks),
    )


def decode_timeout(m: interchain_pb2.MsgTimeout) -> MsgTimeout:
    return MsgTimeout(_chain(m.destination_chain, "timeout"), _update(m.update, m.HasField("update")),
                      _proof_height(m.proof_height), bytes(m.packet), MerkleProof.from_proto(m.proof))


def validate_limits(limits: Limits) -> Limits:
    """Raise unless the limits are consistent."""
    if limits.rate_limit and limits.rate_window_blocks <= 0:
        raise InvalidInterchainMsgError("a rate limit needs rate_window_blocks > 0")
    if limits.max_failure_pct > 100 or limits.default_timeout_ns <= 0:
        raise InvalidInterchainMsgError("max_failure_pct must be 0-100 and default_timeout_ns positive")
    if limits.max_failure_pct and limits.failure_window_blocks <= 0:
        raise InvalidInterchainMsgError("a max_failure_pct needs failure_window_blocks > 0 (the breaker's window)")
    return limits


def validate_trust_root(vals: ValidatorSet, trusting_period_ns: int, unbonding_period_ns: int) -> ValidatorSet:
    """Raise unless the trust root is usable and backed by slashable stake: 0 < trusting < remote unbonding."""
    if not vals.validators or any(len(v.pub_key) != 32 or v.power <= 0 for v in vals.validators):
        raise InvalidInterchainMsgError("trust root needs validators with 32-byte ed25519 keys and positive power")
    if trusting_period_ns <= 0:
        raise InvalidInterchainMsgError("trusting_period_ns must be positive")
    if trusting_period_ns >= unbonding_period_ns:
        raise TrustingPeriodTooLongError(
            f"trusting period {trusting_period_ns} ns must be strictly shorter than the remote chain's unbonding "
            f"period {unbonding_period_ns} ns, or its validators could sign conflicting headers without stake at risk"
        )
    return vals


def decode_open_correspondent(m: interchain_pb2.MsgOpenCorrespondent) -> MsgOpenCorrespondent:
    vals = validate_trust_root(validator_set_from_proto(m.trust_root.next_validator_set), m.trusting_period_ns,
                               m.unbonding_period_ns)
    return MsgOpenCorrespondent(
        _address(m.authority, "open-correspondent"), _chain(m.chain_id, "open-correspondent"),
        validate_limits(Limits.from_proto(m.limits)), m.trust_root.height, m.trust_root.time_ns, vals,
        m.trusting_period_ns, m.unbonding_period_ns,
    )


def decode_submit_misbehaviour(m: interchain_pb2.MsgSubmitMisbehaviour) -> MsgSubmitMisbehaviour:
    chain = _chain(m.chain_id, "submit-misbehaviour")
    h1 = _update(m.header_1, m.HasField("header_1"))
    h2 = _update(m.header_2, m.HasField("header_2"))
    if h1 is None:
        raise InvalidMisbehaviourError("submit-misbehaviour carries no header_1")
    if h2 is not None and h2.height != h1.height:
        raise InvalidMisbehaviourError(f"misbehaviour headers are at heights {h1.height} and {h2.height}, not one")
    return MsgSubmitMisbehaviour(chain, h1, h2)


def decode_unfreeze_client(m: interchain_pb2.MsgUnfreezeClient) -> MsgUnfreezeClient:
    vals = validator_set_from_proto(m.trust_root.next_validator_set)
    if not vals.validators or any(len(v.pub_key) != 32 or v.power <= 0 for v in vals.validators):
        raise InvalidInterchainMsgError("trust root needs validators with 32-byte ed25519 keys and positive power")
    if m.trust_root.height < 0:
        raise InvalidInterchainMsgError("trust root height must not be negative")
    return MsgUnfreezeClient(_address(m.authority, "unfreeze-client"), _chain(m.chain_id, "unfreeze-client"),
                             m.trust_root.height, m.trust_root.time_ns, vals, bytes(m.trust_root.app_hash))


def decode_set_limits(m: interchain_pb2.MsgSetLimits) -> MsgSetLimits:
    return MsgSetLimits(_address(m.authority, "set-limits"), _chain(m.chain_id, "set-limits"),
                        validate_limits(Limits.from_proto(m.limits)))


def decode_close_correspondent(m: interchain_pb2.MsgCloseCorrespondent) -> MsgCloseCorrespondent:
    return MsgCloseCorrespondent(_address(m.authority, "close-correspondent"), _chain(m.chain_id, "close-correspondent"))


def decode_top_up(m: interchain_pb2.MsgTopUp) -> MsgTopUp:
    return MsgTopUp(_address(m.from_address, "top-up"), _chain(m.chain_id, "top-up"), _amount(m.amount, "top-up"))


def validate_route(route: Route) -> Route:
    """Raise unless the entry is usable: endpoints (optional, both or none, on a multi-hop entry with `via`),
    `via` another chain, max_hops within the cap and only with `via`."""
    _chain(route.chain_id, "route")
    if route.via:
        _chain(route.via, "route via")
        if route.via == route.chain_id:
            raise RoutingLoopError(f"route to {route.chain_id} via itself")
    if route.max_hops and not route.via:
        raise InvalidInterchainMsgError(f"route to {route.chain_id}: max_hops needs a via chain")
    if not 0 <= route.max_hops <= MAX_HOPS_CAP or route.max_hops == 1:
        raise InvalidInterchainMsgError(f"route to {route.chain_id}: max_hops must be 0 (the param) or 2 to {MAX_HOPS_CAP}")
    endpoints = (route.relay_grpc, route.comet_rpc)
    if route.via and endpoints == ("", ""):
        return route
    for ep in endpoints:
        if not ep or len(ep) > MAX_ENDPOINT or any(c.isspace() for c in ep):
            raise InvalidInterchainMsgError(
                f"route endpoints of {route.chain_id} must be non-empty, without spaces, at most {MAX_ENDPOINT} characters"
            )
    return route


def decode_set_route(m: interchain_pb2.MsgSetRoute) -> MsgSetRoute:
    return MsgSetRoute(_address(m.authority, "set-route"),
                       validate_route(Route(ChainId(m.route.chain_id), m.route.relay_grpc, m.route.comet_rpc,
                                            m.route.via, m.route.max_hops)))


def parse_validators_json(entries: object, what: str) -> ValidatorSet:
    """A validator set from [{"pub_key": base64, "power": n}] in CometBFT's set order (power desc, address asc)."""
    if not isinstance(entries, list):
        raise InvalidInterchainMsgError(f"{what} must be a list")
    vals = []
    try:
        for e in entries:
            vals.append(Validator(base64.b64decode(e["pub_key"], validate=True), int(e["power"])))
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InvalidInterchainMsgError(
            f"{what}: each validator needs a base64 ed25519 \"pub_key\" and an integer \"power\""
        ) from None
    vals.sort(key=lambda v: (-v.power, v.address))
    return ValidatorSet(tuple(vals))


# ---- builders (CLI, relay, tests) ---------------------------------------------------------------------------

def build_interchain_tx(key: KeyPair, chain_id: str, nonce: int, field: str, msg, memo: str = "") -> bytes:
    """Encode and sign a transaction carrying an interchain message in TxBody field `field`."""
    return build_tx(key, chain_id, nonce, field, msg, memo)


# ---- instant cross-chain credit (TxBody 52-55; records and rules in instant.py) -------------------------


def decode_instant_credit_msg(m: interchain_pb2.MsgInstantCredit) -> MsgInstantCredit:
    """Typed MsgInstantCredit."""
    if not m.tx:
        raise InstantMismatchError("instant credit: carries no transaction (the payer-signed instant transfer)")
    return MsgInstantCredit(_chain(m.source_chain, "instant credit"), _update(m.update, m.HasField("update")),
                            instant_guarantees(m.guarantees, "instant credit"), bytes(m.tx))


def decode_instant_claim(m: interchain_pb2.MsgInstantClaim) -> MsgInstantClaim:
    """Typed MsgInstantClaim."""
    if not m.tx:
        raise InstantMismatchError("instant claim: needs the payer-signed transaction")
    return MsgInstantClaim(_chain(m.destination_chain, "instant claim"), _update(m.update, m.HasField("update")),
                           _proof_height(m.proof_height), instant_guarantees(m.guarantees, "instant claim"),
                           bytes(m.tx), bytes(m.credit), MerkleProof.from_proto(m.proof))


def decode_instant_release(m: interchain_pb2.MsgInstantRelease) -> MsgInstantRelease:
    """Typed MsgInstantRelease."""
    if len(m.key) != 32 or not m.payout:
        raise InstantMismatchError("instant release: needs the 32-byte instant key and the proven payout")
    return MsgInstantRelease(_chain(m.source_chain, "instant release"), _update(m.update, m.HasField("update")),
                             _proof_height(m.proof_height), bytes(m.key), bytes(m.payout),
                             MerkleProof.from_proto(m.proof))


def build_instant_transfer_tx(key: KeyPair, chain_id: str, nonce: int, to: str, amount: int, timeout_height: int = 0,
                              timeout_time_ns: int = 0) -> bytes:
    """Encode and sign an instant transfer from key's account."""
    sender = str(Address.from_pub_key(chain_id, key.pub_key))
    return build_tx(key, chain_id, nonce, "instant_transfer", interchain_pb2.MsgInstantTransfer(
        from_address=sender, to_address=to, amount=amount, timeout_height=timeout_height,
        timeout_time_ns=timeout_time_ns))


def build_instant_credit_tx(key: KeyPair, chain_id: str, nonce: int, source: str, guarantees, tx: bytes,
                            update: LightBlock | None = None) -> bytes:
    """Encode and sign a MsgInstantCredit for the destination chain_id (any account may submit it)."""
    m = interchain_pb2.MsgInstantCredit(source_chain=source, guarantees=[g.to_proto() for g in guarantees], tx=tx)
    if update is not None:
        light_block_to_proto(update, m.update)
    return build_tx(key, chain_id, nonce, "instant_credit", m)
