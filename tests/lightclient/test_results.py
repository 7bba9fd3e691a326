"""A transaction's result proven by the next header's LastResultsHash (receipts are not in the app state)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from distpos_abci.errors import InvalidProofError, compute_codespace_of
from distpos_abci.lightclient.encoding import compute_header_hash
from distpos_abci.lightclient.results import ExecResult, compute_data_hash, compute_results_hash, verify_tx_result
from distpos_abci.lightclient.rpc_json import block_from_json, exec_results_from_json
from distpos_abci.lightclient.types import BlockID, PartSetHeader
from tests.lightclient.helpers import real_light_block

TXS = [b"tx-zero", b"tx-one", b"tx-two"]
RESULTS = [ExecResult(0), ExecResult(11), ExecResult(20)]


def headers(txs=TXS, results=RESULTS):
    """Header 2 holding txs and header 3 committing to their results, linked by hash (from a real header)."""
    h2 = dataclasses.replace(real_light_block(2).signed_header.header, data_hash=compute_data_hash(txs))
    h3 = dataclasses.replace(real_light_block(3).signed_header.header, last_results_hash=compute_results_hash(results),
                             last_block_id=BlockID(compute_header_hash(h2), PartSetHeader(1, b"\x07" * 32)))
    return h2, h3


def test_real_headers_commit_to_their_empty_blocks_and_link_by_hash():
    h2, h3 = real_light_block(2).signed_header.header, real_light_block(3).signed_header.header
    assert compute_data_hash([]) == h2.data_hash and compute_results_hash([]) == h3.last_results_hash
    assert compute_header_hash(h2) == h3.last_block_id.hash


def test_a_result_is_proven_by_the_next_header():
    h2, h3 = headers()
    assert verify_tx_result(h2, h3, TXS, RESULTS, hashlib.sha256(b"tx-one").digest(), 1) == ExecResult(11)
    assert compute_codespace_of(11) == "auth" and compute_codespace_of(20) == "bank" and compute_codespace_of(0) == ""


@pytest.mark.parametrize("change", [
    lambda a: {**a, "results": [ExecResult(0), ExecResult(0), ExecResult(20)]},  # a failed tx reported as success
    lambda a: {**a, "index": 2},  # another transaction's result
    lambda a: {**a, "txs": [b"tx-zero", b"tx-forged", b"tx-two"]},  # the tx was never in the block
    lambda a: {**a, "results": RESULTS[:2]},
    lambda a: {**a, "header": dataclasses.replace(a["header"], height=a["header"].height + 7)},  # not the named one
])
def test_attack_a_node_lying_about_a_result_is_caught(change):
    h2, h3 = headers()
    args = {"header": h2, "next_header": h3, "txs": TXS, "results": RESULTS,
            "tx_hash": hashlib.sha256(b"tx-one").digest(), "index": 1}
    with pytest.raises(InvalidProofError):
        verify_tx_result(**change(args))


def test_rpc_json_of_a_block_and_its_results():
    import base64
    block = {"block": {"header": _header_json(),
                       "data": {"txs": [base64.b64encode(t).decode() for t in TXS]}}}
    header, txs = block_from_json(block)
    assert txs == TXS and header.height == 2
    results = exec_results_from_json({"txs_results": [
        {"code": 0, "data": None, "log": "", "gas_wanted": "0", "gas_used": "0", "codespace": ""},
        {"code": 11, "data": base64.b64encode(b"d").decode(), "log": "auth:11: bad nonce", "codespace": "auth"}]})
    assert results == [ExecResult(0), ExecResult(11, b"d")]
    assert exec_results_from_json({"txs_results": None}) == []
    assert ExecResult(0).encode() == b""  # Go omits zero fields: an all-zero result hashes as empty bytes


def _header_json():
    from tests.lightclient.helpers import load_vectors
    return load_vectors()[2]["commit"]["signed_header"]["header"]
