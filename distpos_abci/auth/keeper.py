"""auth keeper: verifies and advances per-account nonces, and remembers for a while what each nonce paid.

A guarantee is settled by what the payer's nonce did (underwriting/README.md), so for every transaction that
paid an account of this chain the keeper records (recipient, amount) under the signer's nonce. A settlement can
only read that record for a bounded number of blocks (guarantee lifetime + claim window), so records expire:
each block's new records are listed under its height (`pexp/`), and the end of a later block deletes the lists
that are old enough, oldest first, a bounded number per block. Deleting a record raises its account's floor
(`pfloor/`): below the floor, an absent record may mean "expired" rather than "paid nothing", and a settlement
must not guess (`is_payment_record_kept`).
"""

from __future__ import annotations

from collections.abc import Mapping
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


# Records deleted per block at least; a block that wrote n new records may delete 2n more, so a backlog left by
# a burst is worked off while the work per block stays proportional to the block's own.
EXPIRY_BASE_PER_BLOCK = 1024


def compute_new_payments(writes: Mapping[bytes, bytes | None]) -> list[bytes]:
    """The payment records a block's write set created, as <account 20><nonce u64> entries in key order.
    A nonce pays at most once, so every record in a block's writes is new in that block."""
    prefix = keys.full_payment_prefix()
    n = len(prefix)
    return sorted(k[n:] for k, v in writes.items() if v is not None and k.startswith(prefix))


def compute_expiry_bar(height: int, keep_blocks: int) -> int:
    """The newest height whose payment records may be deleted at the end of block `height`: a record written at
    height c stays readable by every transaction up to height c + keep_blocks."""
    return height - keep_blocks


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

    def process_nonce(self, account: AccountId, pub_key: bytes, nonce: int,
                      record: AuthRecord | None = None) -> AuthRecord:
        """Check nonce is the next one, then record the key and advance the nonce. record: the account's record
        in this store when the caller has just read it (saves reading and decoding it again)."""
        if record is None:
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
        """Record what the transaction with this nonce paid (written once, when it succeeds; it expires with the
        block's list, see process_payment_expiry)."""
        self.store.set(keys.payment_key(account, nonce), recipient + amount.to_bytes(8, "big"))

    def get_payment_floor(self, account: AccountId) -> Nonce:
        """The account's lowest nonce whose payment record, if one was written, is certainly still kept."""
        raw = self.store.get(keys.payment_floor_key(account))
        return Nonce(int.from_bytes(raw, "big") if raw else 0)

    def is_payment_record_kept(self, account: AccountId, nonce: int) -> bool:
        """True when get_payment's answer for this nonce is final: an absent record means it paid nothing here.
        False when the record may have expired (the nonce is below the account's floor)."""
        return nonce >= self.get_payment_floor(account)

    def process_payment_expiry(self, height: int, keep_blocks: int, new_entries: list[bytes]) -> int:
        """End of block `height`: list new_entries (compute_new_payments of this block) under the height, then
        delete the records of the oldest listed heights up to compute_expiry_bar, at most
        EXPIRY_BASE_PER_BLOCK + 2 * len(new_entries) records, in key order, raising each account's floor past
        the nonces deleted. keep_blocks is read by the caller at every block, so a parameter change applies to
        every record still listed. Returns the number of records deleted."""
        if new_entries:
            self.store.set(keys.payment_expiry_key(height), b"".join(new_entries))
        bar = compute_expiry_bar(height, keep_blocks)
        budget = EXPIRY_BASE_PER_BLOCK + 2 * len(new_entries)
        due: list[tuple[bytes, bytes]] = []
        listed = 0
        for key, entries in self.store.iter_prefix(keys.PAID_EXPIRY):
            if int.from_bytes(key[len(keys.PAID_EXPIRY):], "big") > bar or listed >= budget:
                break
            due.append((key, entries))
            listed += len(entries) // keys.PAID_ENTRY_LEN
        floors: dict[bytes, int] = {}
        deleted = 0
        size = keys.PAID_ENTRY_LEN
        for key, entries in due:
            take = min(len(entries) // size, budget - deleted)
            for i in range(take):
                entry = entries[i * size:(i + 1) * size]
                account, nonce = entry[:20], int.from_bytes(entry[20:], "big")
                self.store.delete(keys.PAID + entry)
                if nonce + 1 > floors.get(account, 0):
                    floors[account] = nonce + 1
            deleted += take
            rest = entries[take * size:]
            if rest:
                self.store.set(key, rest)
            else:
                self.store.delete(key)
        for account in sorted(floors):
            if floors[account] > self.get_payment_floor(AccountId(account)):
                self.store.set(keys.payment_floor_key(account), floors[account].to_bytes(8, "big"))
        return deleted

    def apply_lapse(self, account: AccountId, nonce: int) -> None:
        """Make nonce unusable forever: the account's next nonce becomes nonce + 1 unless it is past it already.

        Used when a guaranteed nonce lapsed and its guarantee was paid: the payment it promised can no longer
        happen, so nobody can collect both the payout and the payment."""
        record = self.get_account(account)
        if record.nonce <= nonce:
            self.store.set(keys.account_key(account), AuthRecord(record.pub_key, Nonce(nonce + 1)).encode())
