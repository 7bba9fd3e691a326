"""staking messages: TxBody fields create_validator (20), bond (21), unbond (22), withdraw (23), unjail (24)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..address import Address, parse_address
from ..crypto import KeyPair
from ..errors import InvalidAddressError, InvalidStakingMsgError
from ..gen.distpos.v1 import staking_pb2
from ..tx import build_tx, validate_signer
from ..types import MAX_AMOUNT, AccountId, Amount

# host:port, host a DNS name, IPv4 or bracketed IPv6; an empty endpoint means "does not underwrite".
ENDPOINT_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,100}):[0-9]{1,5}$")
MAX_MONIKER = 64


def validate_endpoint(endpoint: str) -> None:
    """Raise unless endpoint is empty or host:port with a port in 1-65535."""
    if endpoint == "":
        return
    if not ENDPOINT_RE.match(endpoint) or not 0 < int(endpoint.rsplit(":", 1)[1]) <= 65535:
        raise InvalidStakingMsgError(f"endpoint {endpoint!r} must be host:port")


@dataclass(frozen=True, slots=True)
class MsgCreateValidator:
    """Register a validator bonding self_stake, with its consensus key and underwriting endpoint."""

    operator: Address
    consensus_pub_key: bytes
    self_stake: Amount
    endpoint: str
    moniker: str

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer; key, endpoint and moniker are well formed."""
        validate_signer(self.operator, chain_id, signer, "create-validator")


@dataclass(frozen=True, slots=True)
class MsgBond:
    """Bond amount more of the operator's balance."""

    operator: Address
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer."""
        validate_signer(self.operator, chain_id, signer, "bond")


@dataclass(frozen=True, slots=True)
class MsgUnbond:
    """Start unbonding amount of the operator's bonded stake."""

    operator: Address
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer."""
        validate_signer(self.operator, chain_id, signer, "unbond")


@dataclass(frozen=True, slots=True)
class MsgWithdraw:
    """Pay out every matured unbonding entry."""

    operator: Address

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer."""
        validate_signer(self.operator, chain_id, signer, "withdraw")


@dataclass(frozen=True, slots=True)
class MsgUnjail:
    """Leave jail once the term has passed."""

    operator: Address

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer."""
        validate_signer(self.operator, chain_id, signer, "unjail")


def _operator(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"{what}: {exc.message}") from None


def _amount(value: int, what: str) -> Amount:
    if not 0 < value <= MAX_AMOUNT:
        raise InvalidStakingMsgError(f"{what}: amount must be a positive integer")
    return Amount(value)


def decode_create_validator(m: staking_pb2.MsgCreateValidator) -> MsgCreateValidator:
    """Typed MsgCreateValidator; raise on a bad key, amount, endpoint or moniker."""
    if len(m.consensus_pub_key) != 32:
        raise InvalidStakingMsgError(
            f"create-validator: consensus key must be 32 bytes of ed25519, got {len(m.consensus_pub_key)}"
        )
    validate_endpoint(m.endpoint)
    if len(m.moniker) > MAX_MONIKER or not m.moniker.isprintable():
        raise InvalidStakingMsgError(f"create-validator: moniker must be at most {MAX_MONIKER} printable characters")
    return MsgCreateValidator(
        _operator(m.operator_address, "create-validator"), m.consensus_pub_key,
        _amount(m.self_stake, "create-validator"), m.endpoint, m.moniker,
    )


def decode_bond(m: staking_pb2.MsgBond) -> MsgBond:
    """Typed MsgBond."""
    return MsgBond(_operator(m.operator_address, "bond"), _amount(m.amount, "bond"))


def decode_unbond(m: staking_pb2.MsgUnbond) -> MsgUnbond:
    """Typed MsgUnbond."""
    return MsgUnbond(_operator(m.operator_address, "unbond"), _amount(m.amount, "unbond"))


def decode_withdraw(m: staking_pb2.MsgWithdraw) -> MsgWithdraw:
    """Typed MsgWithdraw."""
    return MsgWithdraw(_operator(m.operator_address, "withdraw"))


def decode_unjail(m: staking_pb2.MsgUnjail) -> MsgUnjail:
    """Typed MsgUnjail."""
    return MsgUnjail(_operator(m.operator_address, "unjail"))


# ---- client helpers ------------------------------------------------------------------------------


def _me(key: KeyPair, chain_id: str) -> str:
    return str(Address.from_pub_key(chain_id, key.pub_key))


def build_create_validator_tx(key: KeyPair, chain_id: str, nonce: int, consensus_pub_key: bytes, self_stake: int,
                              endpoint: str = "", moniker: str = "") -> bytes:
    """Encode and sign a MsgCreateValidator from key's account."""
    msg = staking_pb2.MsgCreateValidator(operator_address=_me(key, chain_id), consensus_pub_key=consensus_pub_key,
                                         self_stake=self_stake, endpoint=endpoint, moniker=moniker)
    return build_tx(key, chain_id, nonce, "create_validator", msg)


def build_bond_tx(key: KeyPair, chain_id: str, nonce: int, amount: int) -> bytes:
    """Encode and sign a MsgBond."""
    return build_tx(key, chain_id, nonce, "bond", staking_pb2.MsgBond(operator_address=_me(key, chain_id), amount=amount))


def build_unbond_tx(key: KeyPair, chain_id: str, nonce: int, amount: int) -> bytes:
    """Encode and sign a MsgUnbond."""
    msg = staking_pb2.MsgUnbond(operator_address=_me(key, chain_id), amount=amount)
    return build_tx(key, chain_id, nonce, "unbond", msg)


def build_withdraw_tx(key: KeyPair, chain_id: str, nonce: int) -> bytes:
    """Encode and sign a MsgWithdraw."""
    return build_tx(key, chain_id, nonce, "withdraw", staking_pb2.MsgWithdraw(operator_address=_me(key, chain_id)))


def build_unjail_tx(key: KeyPair, chain_id: str, nonce: int) -> bytes:
    """Encode and sign a MsgUnjail."""
    return build_tx(key, chain_id, nonce, "unjail", staking_pb2.MsgUnjail(operator_address=_me(key, chain_id)))
