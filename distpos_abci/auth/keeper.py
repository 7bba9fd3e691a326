"""auth keeper: verifies and advances per-account nonces."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadNonceError
from ..gen.distpos.v1 import state_pb2
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import AccountId, Nonce
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
        msg = state_pb2.AuthAccount.FromString(raw)
        return cls(msg.pub_key, Nonce(msg.nonce))

    def encode(self) -> bytes:
        """Protobuf encoding of the record."""
        return state_pb2.AuthAccount(pub_key=self.pub_key, nonce=self.nonce).SerializeToString()


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
