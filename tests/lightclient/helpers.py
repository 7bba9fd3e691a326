"""Real CometBFT vectors and a small signer that makes synthetic chains for the light-client tests."""

from __future__ import annotations

import json
import pathlib
from dataclasses import replace

from distpos_abci.crypto import KeyPair
from distpos_abci.lightclient.encoding import compute_header_hash, compute_vote_sign_bytes, compute_validator_set_hash
from distpos_abci.lightclient.rpc_json import light_block_from_json
from distpos_abci.lightclient.types import (
    FLAG_ABSENT, FLAG_COMMIT, BlockID, ClientState, Commit, CommitSig, Header, LightBlock, PartSetHeader,
    SignedHeader, Validator, ValidatorSet,
)

VECTORS = pathlib.Path(__file__).parent / "vectors" / "kvstore_4val.json"
NS = 1_000_000_000
DAY = 86_400 * NS


def load_vectors() -> dict[int, dict]:
    return {int(h): v for h, v in json.loads(VECTORS.read_text())["heights"].items()}


def real_light_block(height: int) -> LightBlock:
    v = load_vectors()
    return light_block_from_json(v[height]["commit"], v[height]["validators"], v[height + 1]["validators"])


def client_before(lb: LightBlock, height: int | None = None, period: int = DAY) -> ClientState:
    """A client trusting lb's validator set just before lb (adjacent unless height says otherwise)."""
    h = lb.signed_header.header
    return ClientState(h.chain_id, h.height - 1 if height is None else height, h.time_ns - 1, period, lb.validator_set)


def make_set(keys: list[KeyPair], powers: list[int] | None = None) -> ValidatorSet:
    powers = powers or [10] * len(keys)
    vals = [Validator(k.pub_key, p) for k, p in zip(keys, powers)]
    vals.sort(key=lambda v: (-v.power, v.address))
    return ValidatorSet(tuple(vals))


def make_light_block(chain_id: str, height: int, time_ns: int, keys: list[KeyPair], vals: ValidatorSet,
                     next_vals: ValidatorSet, signers: set[bytes] | None = None, app_hash: bytes = b"\x11" * 32) -> LightBlock:
    """A header at height signed by the keys of vals (only those whose address is in signers, if given)."""
    header = Header(11, 1, chain_id, height, time_ns, BlockID(b"\x01" * 32, PartSetHeader(1, b"\x02" * 32)),
                    b"", b"", compute_validator_set_hash(vals), compute_validator_set_hash(next_vals), b"\x03" * 32,
                    app_hash, b"", b"", vals.validators[0].address)
    block_id = BlockID(compute_header_hash(header), PartSetHeader(1, b"\x04" * 32))
    by_addr = {k.pub_key: k for k in keys}
    sigs = []
    for v in vals.validators:
        key = by_addr.get(v.pub_key)
        if key is None or (signers is not None and v.address not in signers):
            sigs.append(CommitSig(FLAG_ABSENT, b"", -62135596800 * NS, b""))
            continue
        t = time_ns + 1
        sigs.append(CommitSig(FLAG_COMMIT, v.address, t, key.sign(compute_vote_sign_bytes(chain_id, height, 0, block_id, t))))
    return LightBlock(SignedHeader(header, Commit(height, 0, block_id, tuple(sigs))), vals, next_vals)


def with_signature(lb: LightBlock, index: int, signature: bytes) -> LightBlock:
    c = lb.signed_header.commit
    sigs = list(c.signatures)
    sigs[index] = replace(sigs[index], signature=signature)
    return replace(lb, signed_header=replace(lb.signed_header, commit=replace(c, signatures=tuple(sigs))))
