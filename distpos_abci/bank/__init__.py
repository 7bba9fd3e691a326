"""bank: balances, total supply and MsgSend."""

from .keeper import BankKeeper
from .module import BankModule
from .msgs import MsgSend, build_send_tx

__all__ = ["BankKeeper", "BankModule", "MsgSend", "build_send_tx"]
