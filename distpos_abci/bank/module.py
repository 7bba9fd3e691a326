"""bank as an app module: genesis accounts and MsgSend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ForeignAddressError
from ..events import Event
from ..module import GenesisContext, Module, TxContext, ValidatorUpdate
from ..store.kv import KVStore
from .keeper import BankKeeper
from .msgs import MsgSend, decode_send

# Handler for a MsgSend whose recipient is on another chain (installed by interchain).
OutboundHandler = Callable[[KVStore, TxContext, MsgSend], list[Event]]


class BankModule(Module):
    """Balances and local transfers."""

    name = "bank"
    decoders = {"send": decode_send}
    msg_types = (MsgSend,)

    def __init__(self) -> None:
        self.outbound: OutboundHandler | None = None

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Mint the genesis accounts (parsed and validated by genesis.parse_genesis)."""
        bank = BankKeeper(store)
        for acct in section or ():
            bank.process_mint(acct.address.account, acct.balance)
        return []

    def deliver(self, store: KVStore, ctx: TxContext, msg: MsgSend) -> list[Event]:
        """A local transfer, or hand a foreign one to the outbound handler."""
        if msg.recipient.chain_id != ctx.chain_id:
            if self.outbound is None:
                raise ForeignAddressError(
                    f"recipient {msg.recipient} is on chain {msg.recipient.chain_id}; cross-chain transfers are not enabled"
                )
            return self.outbound(store, ctx, msg)
        return BankKeeper(store).process_send(msg.sender, msg.recipient, msg.amount)
