"""Light client against real CometBFT v0.38.25 headers and commits, plus synthetic chains for the skipping rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.crypto import KeyPair
from distpos_abci.errors import (
    ForgedSignatureError, HeaderMismatchError, InsufficientVotingPowerError, TrustingPeriodExpiredError,
    ValidatorSetMismatchError,
)
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.lightclient.encoding import (
    compute_header_hash, compute_merkle_root, compute_split_point, compute_validator_set_hash,
)
from distpos_abci.abci.framing import encode_uvarint
from distpos_abci.lightclient.rpc_json import parse_rfc3339_ns, signed_header_from_json, validator_set_from_json
from distpos_abci.lightclient.types import (
    BlockID, ClientState, Header, PartSetHeader, header_from_proto, header_to_proto, light_block_from_proto,
    light_block_to_proto,
)
from distpos_abci.lightclient.verifier import compute_client_after, validate_light_block

from .helpers import DAY, NS, client_before, load_vectors, make_light_block, make_set, real_light_block, with_signature


# ---- real vectors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("height", range(1, 7))
def test_real_header_hash_and_validator_set_hash(height):
    v = load_vectors()[height]
    sh = signed_header_from_json(v["commit"])
    assert compute_header_hash(sh.header) == sh.commit.block_id.hash
    assert compute_validator_set_hash(validator_set_from_json(v["validators"])) == sh.header.validators_hash


def test_real_chain_links_by_last_block_id():
    vs = load_vectors()
    for h in range(2, 7):
        assert signed_header_from_json(vs[h]["commit"]).header.last_block_id == \
            signed_header_from_json(vs[h - 1]["commit"]).commit.block_id


@pytest.mark.parametrize("height", range(2, 7))
def test_real_adjacent_update_verifies(height):
    lb = real_light_block(height)
    client = client_before(lb)
    validate_light_block(client, lb, lb.signed_header.header.time_ns + NS)
    new, cons = compute_client_after(client, lb)
    assert new.latest_height == height and cons.app_hash == lb.signed_header.header.app_hash


def test_real_skipping_update_from_genesis_root_verifies():
    lb = real_light_block(6)
    root = ClientState("e2e4", 0, lb.signed_header.header.time_ns - 60 * NS, DAY, lb.validator_set)
    validate_light_block(root, lb, lb.signed_header.header.time_ns + NS)


def test_real_update_survives_proto_round_trip():
    lb = real_light_block(3)  # has an absent signature
    msg = interchain_pb2.ClientUpdate()
    light_block_to_proto(lb, msg)
    again = light_block_from_proto(interchain_pb2.ClientUpdate.FromString(msg.SerializeToString()))
    assert again == lb
    validate_light_block(client_before(again), again, lb.signed_header.header.time_ns + NS)


def test_invalid_forged_signature_real():
    lb = real_light_block(4)
    sig = lb.signed_header.commit.signatures[1].signature
    forged = with_signature(lb, 1, bytes([sig[0] ^ 1]) + sig[1:])
    with pytest.raises(ForgedSignatureError) as exc:
        validate_light_block(client_before(lb), forged, lb.signed_header.header.time_ns + NS)
    assert exc.value.code == 131


def test_invalid_mismatched_validator_set_real():
    lb = real_light_block(4)
    other = make_set([KeyPair(bytes([i]) * 32) for i in range(4)])
    with pytest.raises(ValidatorSetMismatchError):
        validate_light_block(client_before(lb), replace(lb, validator_set=other), lb.signed_header.header.time_ns + NS)
    # adjacent header whose set is not the trusted next set
    with pytest.raises(ValidatorSetMismatchError):
        validate_light_block(replace(client_before(lb), next_validator_set=other), lb, lb.signed_header.header.time_ns + NS)


def test_invalid_tampered_header_real():
    lb = real_light_block(5)
    bad = replace(lb, signed_header=replace(lb.signed_header, header=replace(lb.signed_header.header, app_hash=b"\x99" * 32)))
    with pytest.raises(HeaderMismatchError):
        validate_light_block(client_before(lb), bad, lb.signed_header.header.time_ns + NS)


def test_invalid_expired_trusting_period_real():
    lb = real_light_block(5)
    client = client_before(lb, period=10 * NS)
    with pytest.raises(TrustingPeriodExpiredError):
        validate_light_block(client, lb, lb.signed_header.header.time_ns + 20 * NS)


def test_invalid_wrong_chain_and_old_height_real():
    lb = real_light_block(5)
    with pytest.raises(HeaderMismatchError):
        validate_light_block(replace(client_before(lb), chain_id="a1b2"), lb, lb.signed_header.header.time_ns + NS)
    with pytest.raises(HeaderMismatchError):
        validate_light_block(client_before(lb, height=5), lb, lb.signed_header.header.time_ns + NS)


# ---- synthetic chains: skipping across validator-set changes --------------------------------------------

KEYS = [KeyPair(bytes([i + 1]) * 32) for i in range(6)]
T0 = 1_800_000_000 * NS


def test_skipping_with_one_third_overlap_verifies():
    old = make_set(KEYS[:3])
    new = make_set(KEYS[2:6])  # one of three old validators remains: 1/3 exactly is not enough
    client = ClientState("c", 10, T0, DAY, old)
    lb = make_light_block("c", 20, T0 + NS, KEYS, new, new)
    with pytest.raises(InsufficientVotingPowerError):
        validate_light_block(client, lb, T0 + 2 * NS)
    new2 = make_set(KEYS[1:5])  # two of three old validators sign: more than 1/3
    lb2 = make_light_block("c", 20, T0 + NS, KEYS, new2, new2)
    validate_light_block(client, lb2, T0 + 2 * NS)


def test_invalid_two_thirds_not_reached():
    vals = make_set(KEYS[:4])
    client = ClientState("c", 10, T0, DAY, vals)
    three = {v.address for v in vals.validators[:3]}
    validate_light_block(client, make_light_block("c", 11, T0 + NS, KEYS, vals, vals, three), T0 + 2 * NS)
    one = {v.address for v in vals.validators[:2]}  # exactly 2/3 of the power is not more than 2/3
    with pytest.raises(InsufficientVotingPowerError) as exc:
        validate_light_block(client, make_light_block("c", 11, T0 + NS, KEYS, vals, vals, one), T0 + 2 * NS)
    assert exc.value.code == 133


def test_invalid_header_from_the_future():
    vals = make_set(KEYS[:3])
    client = ClientState("c", 10, T0, DAY, vals)
    with pytest.raises(HeaderMismatchError):
        validate_light_block(client, make_light_block("c", 11, T0 + 60 * NS, KEYS, vals, vals), T0 + NS)


# ---- encodings (property tests) ---------------------------------------------------------------------------

@given(st.integers(min_value=2, max_value=10_000))
def test_split_point_is_largest_power_of_two_below(n):
    k = compute_split_point(n)
    assert k < n <= 2 * k and k & (k - 1) == 0


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_merkle_root_changes_with_any_item(items):
    root = compute_merkle_root(items)
    assert len(root) == 32
    if items:
        assert compute_merkle_root(items[:-1] + [items[-1] + b"x"]) != root


@given(st.integers(min_value=0, max_value=2**63))
def test_uvarint_matches_protobuf(n):
    from google.protobuf.internal import encoder
    out = []
    encoder._VarintEncoder()(out.append, n)
    assert encode_uvarint(n) == b"".join(out)


@given(st.integers(min_value=-62135596800, max_value=253402300799), st.integers(min_value=0, max_value=999_999_999))
def test_rfc3339_parse_round_trips(seconds, nanos):
    import time
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) if seconds >= 0 else None
    if text is None:
        return
    assert parse_rfc3339_ns(f"{text}.{nanos:09d}Z") == seconds * NS + nanos


hashes = st.one_of(st.just(b""), st.binary(min_size=32, max_size=32))


@settings(max_examples=50)
@given(st.integers(1, 2**62), st.integers(-2**40, 2**40), hashes, hashes, st.text(min_size=1, max_size=16))
def test_header_proto_round_trip_keeps_hash(height, t, h1, h2, chain):
    hdr = Header(11, 1, chain, height, t, BlockID(h1, PartSetHeader(1 if h1 else 0, h2)), h1, h2, h1, h2, h1, h2,
                 h1, h2, h1[:20])
    again = header_from_proto(type(header_to_proto(hdr)).FromString(header_to_proto(hdr).SerializeToString()))
    assert again == hdr and compute_header_hash(again) == compute_header_hash(hdr)
