"""The short pass of `make fuzz` in `make test`: every fuzz target on a few thousand deterministic inputs
(its valid seeds, then seeded mutants of them; fuzz/mutate.py), failing on any finding.

The full coverage-guided runs are `make fuzz` (atheris, a million inputs per target); fuzz/README.md says how
to reproduce what they find. The vectors at the end are the findings of those runs, pinned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache

import pytest

from distpos_abci.errors import DistposError, InvalidInterchainMsgError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain.msgs import decode_update_client
from distpos_abci.tx import decode_tx, validate_tx_stateless
from fuzz import fixtures
from fuzz.mutate import generate_inputs
from fuzz.targets import DECODERS, TARGETS, Finding, probe

INPUTS_PER_TARGET = 4000

@cache
def findings(name: str) -> tuple[Finding, ...]:
    target = TARGETS[name]
    inputs = generate_inputs(fixtures.seeds(name), INPUTS_PER_TARGET, seed=0, target=name)
    return tuple(f for f in (probe(target, data) for data in inputs) if f is not None)


def describe(found: list[Finding]) -> str:
    first = found[0]
    return (f"{len(found)} findings, e.g. {first.signature} on input {first.data.hex()}:\n{first.detail}\n"
            f"reproduce: python -m fuzz.repro {first.target} {first.data.hex()}")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_raises_only_its_documented_error(name):
    bad = [f for f in findings(name) if f.kind != "noncanonical"]
    assert not bad, describe(bad)


@pytest.mark.parametrize("name", sorted(t.name for t in TARGETS.values() if t.canonical))
def test_accepted_input_is_canonical(name):
    bad = [f for f in findings(name) if f.kind == "noncanonical"]
    assert not bad, describe(bad)


def test_seeds_are_accepted():
    """The corpora start from valid objects, so the mutants start deep inside each decoder."""
    for raw in fixtures.tx_seeds():
        validate_tx_stateless(decode_tx(raw, DECODERS), fixtures.CHAIN)


# ---- findings of `make fuzz`, pinned -----------------------------------------------------------------------

def _malleated_txs() -> list[bytes]:
    raw = fixtures.tx_seeds()[0]  # Tx{body = 1, signature = 2}; the signature is the last 66 bytes
    body_field, sig_field = raw[:-66], raw[-66:]
    return [raw + b"\x78\x01",              # an unknown field appended
            raw + sig_field,               # the signature field twice (the last one wins)
            sig_field + body_field]        # the fields in the other order


@pytest.mark.parametrize("variant", range(3))
def test_invalid_tx_re_encoded_around_a_valid_signature(variant):
    """Three byte strings of one signed body, each with its own hash: a transaction's hash would not identify it
    (receipts, duplicate detection and guarantees key on that hash)."""
    raw = _malleated_txs()[variant]
    with pytest.raises(DistposError):
        validate_tx_stateless(decode_tx(raw, DECODERS), fixtures.CHAIN)


def test_invalid_ack_with_a_non_canonical_bool():
    # found by `make fuzz`: 0x08 0x08 is success=true written as 8; the canonical byte is 0x01
    assert probe(TARGETS["ack"], bytes.fromhex("0808")) is None


def test_invalid_guarantee_with_a_lowercase_address():
    g = fixtures.guarantees()[0].to_proto()
    g.underwriter = g.underwriter.lower()
    assert probe(TARGETS["guarantee"], g.SerializeToString(deterministic=True)) is None


def test_atheris_harness_runs(tmp_path):
    """The coverage-guided driver of `make fuzz` starts, runs and reports (the ack target finds its known bug)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, data in enumerate(fixtures.seeds("ack")):
        (corpus / str(i)).write_bytes(data)
    env = {**os.environ, "FUZZ_FINDINGS_DIR": str(tmp_path / "findings"),
           "PYTHONPATH": os.pathsep.join([str(fixtures.VECTORS.parents[3]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "fuzz.atheris_main", "ack", "-runs=3000", "-seed=1", str(corpus)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=fixtures.VECTORS.parents[3])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done 3000 runs" in proc.stderr


def _update_with_time(where: str, seconds: int, nanos: int) -> bytes:
    seed = fixtures.lightclient_seeds()[0]  # selector 0 (synthetic chain) + a valid adjacent update
    m = interchain_pb2.MsgUpdateClient.FromString(seed[1:])
    ts = m.update.signed_header.header.time if where == "header" else m.update.signed_header.commit.signatures[0].timestamp
    ts.seconds, ts.nanos = seconds, nanos
    return seed[:1] + m.SerializeToString()


@pytest.mark.parametrize("where", ["header", "commit signature"])
@pytest.mark.parametrize("seconds, nanos", [(2**63 - 1, 2**31 - 1), (-2**63, -1), (253402300800, 0), (0, 10**9),
                                            (0, -1)])
def test_invalid_update_with_a_time_outside_the_timestamp_range(where, seconds, nanos):
    """Found by `make fuzz` (structured mutator): such a time made validate_light_block raise ValueError (an
    internal error, code 1, in FinalizeBlock) instead of refusing the update."""
    data = _update_with_time(where, seconds, nanos)
    assert probe(TARGETS["lightclient"], data) is None
    with pytest.raises(InvalidInterchainMsgError, match="out of range"):
        decode_update_client(interchain_pb2.MsgUpdateClient.FromString(data[1:]))
