"""distribution messages: TxBody field withdraw_rewards (70)."""

from __future__ import annotations

from dataclasses import dataclass

from ..address import Address, parse_address
from ..crypto import KeyPair
from ..gen.distpos.v1 import distribution_pb2
from ..tx import build_tx, validate_signer
from ..types import AccountId


@dataclass(frozen=True, slots=True)
class MsgWithdrawRewards:
    """Pay the operator's accrued validator rewards to its account."""

    operator: Address

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The operator is the signer."""
        validate_signer(self.operator, chain_id, signer, "withdraw-rewards")


def decode_withdraw_rewards(m: distribution_pb2.MsgWithdrawRewards) -> MsgWithdrawRewards:
    """The typed message (an unparsable address raises InvalidAddressError)."""
    return MsgWithdrawRewards(parse_address(m.operator_address))


def build_withdraw_rewards_tx(key: KeyPair, chain_id: str, nonce: int, fee: int = 0) -> bytes:
    """Encode and sign a MsgWithdrawRewards from key's account."""
    me = str(Address.from_pub_key(chain_id, key.pub_key))
    return build_tx(key, chain_id, nonce, "withdraw_rewards", distribution_pb2.MsgWithdrawRewards(operator_address=me),
                    fee=fee)
