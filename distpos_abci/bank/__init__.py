"""bank: balances and total supply."""

from .keeper import BankKeeper

__all__ = ["BankKeeper"]
