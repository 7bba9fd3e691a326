"""auth keeper: verifies and advances per-account nonces, and remembers what each nonce paid.

A guarantee is settled by what the payer's nonce did (underwriting/README.md), so for every transaction that
paid an account of this chain the keeper records (recipient, amount) under the signer's nonce.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadNonceError
from ..gen.distpos.v1 import state_pb2
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import AccountId, Amount, Nonce
from . import keys


@dataclass(frozen=True, slots=True)
class AuthRecord:
    """An account's public key (once it has signed) and next nonce."""

    pub_key: bytes
    nonce: Nonce

    @classmethod
    def decode(cls, raw: bytes | None) -> "AuthRecord":
        """Decode a stored record; absent means a fresh account at nonce 0."""
        if raw is None:
            return cls(b"", Nonce(0))
        msg = state_pb2.AuthAccount.FromString(raw)  # written by this keeper only
        return cls(msg.pub_key, Nonce(msg.nonce))

    def encode(self) -> bytes:
        """Protobuf encoding of the record."""
        return state_pb2.AuthAccount(pub_key=self.pub_key, nonce=self.nonce).SerializeToString(deterministic=True)


def validate_nonce(record: AuthRecord, nonce: int) -> None:
    """Raise BadNonceError unless nonce is the account's next one."""
    if nonce != record.nonce:
        raise BadNonceError(f"bad nonce {nonce}: account expects {record.nonce}")


class AuthKeeper:
    """Reads and writes the auth prefix."""

    def __init__(self, store: KVStore | KVReader) -> None:
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]

    def get_account(self, account: AccountId) -> AuthRecord:
        """The account's record (nonce 0 when it never signed)."""
        return AuthRecord.decode(self.store.get(keys.account_key(account)))

    def process_nonce(self, account: AccountId, pub_key: bytes, nonce: int) -> AuthRecord:
        """Check nonce is the next one, then record the key and advance the nonce."""
        record = self.get_account(account)
        validate_nonce(record, nonce)
        updated = AuthRecord(pub_key, Nonce(nonce + 1))
        self.store.set(keys.account_key(account), updated.encode())
        return updated

    def get_payment(self, account: AccountId, nonce: int) -> tuple[AccountId, Amount] | None:
        """(recipient, amount) that the account's transaction with this nonce paid on this chain, if any."""
        raw = self.store.get(keys.payment_key(account, nonce))
        if raw is None:
            return None
        return AccountId(raw[:20]), Amount(int.from_bytes(raw[20:28], "big"))

    def apply_payment(self, account: AccountId, nonce: int, recipient: AccountId, amount: Amount) -> None:
        """Record what the transaction with this nonce paid (written once, when it succeeds)."""
        self.store.set(keys.payment_key(account, nonce), recipient + amount.to_bytes(8, "big"))

    def apply_lapse(self, account: AccountId, nonce: int) -> None:
        """Make nonce unusable forever: the account's next nonce becomes nonce + 1 unless it is past it already.

        Used when a guaranteed nonce lapsed and its guarantee was paid: the payment it promised can no longer
        happen, so nobody can collect both the payout and the payment."""
        record = self.get_account(account)
        if record.nonce <= nonce:
            self.store.set(keys.account_key(account), AuthRecord(record.pub_key, Nonce(nonce + 1)).encode())
