"""What CometBFT commits to about a block's transactions and their results (pure, no I/O).

Header H's `data_hash` is the simple Merkle root of sha256 of each transaction of block H, and header H+1's
`last_results_hash` is the simple Merkle root of each transaction's deterministic ExecTxResult of block H: the
protobuf of only `code`, `data`, `gas_wanted` and `gas_used` (CometBFT `types.NewResults`; log, info, events and
codespace are left out because they may differ between nodes). Header H+1 also names header H by hash
(`last_block_id`). So a light client that verified header H+1 can prove, for a transaction of block H, its index
and its result code, without trusting the node that served the block and its results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import InvalidProofError
from ..gen.tendermint.abci import types_pb2 as abci
from .encoding import compute_header_hash, compute_merkle_root
from .types import Header


@dataclass(frozen=True, slots=True)
class ExecResult:
    """The part of a transaction's ExecTxResult that CometBFT hashes into LastResultsHash."""

    code: int
    data: bytes = b""
    gas_wanted: int = 0
    gas_used: int = 0

    def encode(self) -> bytes:
        """The deterministic protobuf CometBFT hashes (zero fields omitted, as Go's encoder does)."""
        return abci.ExecTxResult(code=self.code, data=self.data, gas_wanted=self.gas_wanted,
                                 gas_used=self.gas_used).SerializeToString(deterministic=True)


def compute_data_hash(txs: list[bytes]) -> bytes:
    """Header.data_hash of a block holding txs."""
    return compute_merkle_root([hashlib.sha256(tx).digest() for tx in txs])


def compute_results_hash(results: list[ExecResult]) -> bytes:
    """Header.last_results_hash of the next header, for a block whose transactions had these results."""
    return compute_merkle_root([r.encode() for r in results])


def verify_tx_result(header: Header, next_header: Header, txs: list[bytes], results: list[ExecResult],
                     tx_hash: bytes, index: int) -> ExecResult:
    """The result of transaction tx_hash at index of block `header`, proven by next_header (which the caller
    verified); InvalidProofError when the block, its results or the index do not match what the headers commit."""
    if next_header.height != header.height + 1 or compute_header_hash(header) != next_header.last_block_id.hash:
        raise InvalidProofError(f"header {header.height} is not the one verified header {next_header.height} names")
    if compute_data_hash(txs) != header.data_hash:
        raise InvalidProofError(f"the transactions served for block {header.height} do not match its data hash")
    if not 0 <= index < len(txs) or hashlib.sha256(txs[index]).digest() != tx_hash:
        raise InvalidProofError(f"transaction {tx_hash.hex().upper()} is not at index {index} of block {header.height}")
    if len(results) != len(txs) or compute_results_hash(results) != next_header.last_results_hash:
        raise InvalidProofError(
            f"the results served for block {header.height} do not match LastResultsHash of header {next_header.height}")
    return results[index]
