"""bank messages: MsgSend (TxBody field `send`, 10)."""

from __future__ import annotations

from dataclasses import dataclass

from ..address import Address, parse_address
from ..crypto import KeyPair
from ..errors import InvalidAddressError, InvalidAmountError
from ..gen.distpos.v1 import tx_pb2
from ..tx import build_tx, validate_signer
from ..types import AccountId, Amount


@dataclass(frozen=True, slots=True)
class MsgSend:
    """Move amount from the signer to recipient (an address on this or, with interchain, another chain)."""

    sender: Address
    recipient: Address
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The sender must be the signer's account on this chain."""
        validate_signer(self.sender, chain_id, signer, "send: from address")


def decode_send(m: tx_pb2.MsgSend) -> MsgSend:
    """Typed MsgSend from its protobuf form; raise on bad addresses or a zero amount."""
    try:
        sender = parse_address(m.from_address)
        recipient = parse_address(m.to_address)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"send: {exc.message}") from None
    if m.amount <= 0:
        raise InvalidAmountError("send: amount must be a positive integer")
    return MsgSend(sender, recipient, Amount(m.amount))


def build_send_tx(key: KeyPair, chain_id: str, nonce: int, recipient: str, amount: int, memo: str = "",
                  premium: int = 0) -> bytes:
    """Encode and sign a transfer from key's account on chain_id (premium: what key pays for guarantees of it)."""
    sender = Address.from_pub_key(chain_id, key.pub_key)
    msg = tx_pb2.MsgSend(from_address=str(sender), to_address=recipient, amount=amount)
    return build_tx(key, chain_id, nonce, "send", msg, memo, premium)
