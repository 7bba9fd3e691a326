"""bank keeper: integer balances with conservation of total supply."""

from __future__ import annotations

from ..address import Address
from ..errors import InsufficientFundsError, InvalidAmountError
from ..events import Event
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import MAX_AMOUNT, AccountId, Amount
from . import keys


def decode_amount(raw: bytes | None) -> Amount:
    """A stored u64 amount; absent is zero."""
    return Amount(int.from_bytes(raw, "big") if raw else 0)


def encode_amount(amount: int) -> bytes:
    """The stored form of an amount."""
    return amount.to_bytes(8, "big")


def compute_debit(balance: Amount, amount: Amount) -> Amount:
    """Balance after paying amount; raise InsufficientFundsError if it would go negative."""
    if amount > balance:
        raise InsufficientFundsError(f"insufficient funds: balance {balance}, need {amount}")
    return Amount(balance - amount)


def compute_credit(balance: Amount, amount: Amount) -> Amount:
    """Balance after receiving amount; amounts stay within u64."""
    total = balance + amount
    if total > MAX_AMOUNT:
        raise InvalidAmountError("credit would exceed the maximum balance 2^64-1")
    return Amount(total)


class BankKeeper:
    """Reads and writes the bank prefix."""

    def __init__(self, store: KVStore | KVReader) -> None:
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]

    def get_balance(self, account: AccountId) -> Amount:
        """The account's balance."""
        return decode_amount(self.store.get(keys.balance_key(account)))

    def get_supply(self) -> Amount:
        """Total supply of the chain's token."""
        return decode_amount(self.store.get(keys.SUPPLY))

    def _set_balance(self, account: AccountId, amount: Amount) -> None:
        if amount == 0:
            self.store.delete(keys.balance_key(account))
        else:
            self.store.set(keys.balance_key(account), encode_amount(amount))

    def process_send(self, sender: Address, recipient: Address, amount: Amount) -> list[Event]:
        """Move amount between two local accounts; all checks happen before any write."""
        self.process_transfer(sender.account, recipient.account, amount)
        return [Event.of("transfer", sender=sender, recipient=recipient, amount=amount)]

    def process_transfer(self, sender: AccountId, recipient: AccountId, amount: Amount,
                         sender_balance: Amount | None = None) -> None:
        """Move amount between two accounts, checks before any write, no event. sender_balance: the sender's
        balance in this store when the caller has just read it (saves reading it again)."""
        if sender_balance is None:
            sender_balance = self.get_balance(sender)
        new_sender = compute_debit(sender_balance, amount)
        if sender == recipient:
            return
        new_recipient = compute_credit(self.get_balance(recipient), amount)
        self._set_balance(sender, new_sender)
        self._set_balance(recipient, new_recipient)

    def process_mint(self, account: AccountId, amount: Amount) -> None:
        """Create amount in account (genesis only): balance and supply both grow."""
        new_balance = compute_credit(self.get_balance(account), amount)
        new_supply = compute_credit(self.get_supply(), amount)
        self._set_balance(account, new_balance)
        self.store.set(keys.SUPPLY, encode_amount(new_supply))

    def process_burn(self, account: AccountId, amount: Amount) -> list[Event]:
        """Destroy amount held by account (slashing): balance and supply both shrink."""
        new_balance = compute_debit(self.get_balance(account), amount)
        new_supply = compute_debit(self.get_supply(), amount)
        self._set_balance(account, new_balance)
        self.store.set(keys.SUPPLY, encode_amount(new_supply))
        return [Event.of("burn", account=account.hex(), amount=amount)]
