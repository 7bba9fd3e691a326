"""receipts keeper: one receipt per included transaction, in the node's local index (not in the Merkle state);
the first inclusion wins.

Receipts are not consensus state: a transaction's bytes bind its signer and nonce, and nonces are strict, so
nothing needs a receipt to refuse a replay. The keeper writes into a cache over the node's `LocalIndex`, which
Commit persists with the block, and reads from that index."""

from __future__ import annotations

from dataclasses import dataclass

from ..gen.distpos.v1 import state_pb2
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import Height, TxHash
from . import keys


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where and how a transaction executed."""

    height: Height
    index: int
    code: int
    codespace: str

    def encode(self) -> bytes:
        """Canonical protobuf encoding. No log text: the receipt holds only codes the project defines (the log is
        in CometBFT's block results)."""
        return state_pb2.TxReceipt(
            height=self.height, index=self.index, code=self.code, codespace=self.codespace
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> "Receipt":
        """Decode a stored receipt."""
        m = state_pb2.TxReceipt.FromString(raw)
        return cls(Height(m.height), m.index, m.code, m.codespace)


class ReceiptKeeper:
    """Reads and writes the receipts prefix of the local index (a CacheKV over StateStore.local to write)."""

    def __init__(self, store: KVStore | KVReader) -> None:
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]

    def get(self, tx_hash: TxHash) -> Receipt | None:
        """The receipt of tx_hash, if it was included."""
        raw = self.store.get(tx_hash)
        return Receipt.decode(raw) if raw is not None else None

    def apply_receipt(self, tx_hash: TxHash, receipt: Receipt) -> None:
        """Record a receipt unless the same bytes were already included (a duplicate keeps the first)."""
        if self.store.get(tx_hash) is None:
            self.store.set(tx_hash, receipt.encode())
