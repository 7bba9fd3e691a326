"""The records the relay's chain boundary speaks in (shared by the endpoint, the event feed and the worker)."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.merkle import MerkleProof


@dataclass(frozen=True)
class ChainEvent:
    type: str
    attrs: dict[str, str]


@dataclass(frozen=True)
class Proven:
    key: bytes
    value: bytes | None
    proof: MerkleProof | None
    height: int  # state height; verifies against header height + 1


@dataclass(frozen=True)
class Submitted:
    """A transaction's result: after CheckTx only (height 0) or once committed (its height)."""

    code: int
    codespace: str
    log: str
    height: int


@dataclass(frozen=True)
class TxOutcome:
    """One transaction of a committed block and its result."""

    hash: bytes
    code: int
    codespace: str
    log: str
    events: tuple[ChainEvent, ...] = ()
    raw: bytes = b""  # the transaction's bytes (the instant-credit follower reads its message)


@dataclass(frozen=True)
class Block:
    """A committed block: its height, time and transactions with their results."""

    height: int
    time_ns: int
    txs: tuple[TxOutcome, ...]

    def events(self) -> list[ChainEvent]:
        """Events of the successful transactions, in block order."""
        return [ev for tx in self.txs if tx.code == 0 for ev in tx.events]
