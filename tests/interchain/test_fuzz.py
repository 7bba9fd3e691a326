"""Bad input never crashes a node: random relay messages end in a DistposError code, never the internal code 1,
and change nothing but the signer's nonce."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.errors import DistposError
from distpos_abci.tx import build_tx, decode_tx, validate_tx_stateless

from .helpers import ALICE, BOB, RELAYER, addr, open_chain, recv_msg, send_msg

MUTATIONS = st.sampled_from(["packet", "siblings", "leaf", "header", "commit", "valset", "height", "garbage"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=MUTATIONS, noise=st.binary(min_size=0, max_size=80), n=st.integers(-5, 2**40))
def test_random_relay_messages_never_hit_internal_errors(tmp_path_factory, kind, noise, n):
    tmp = tmp_path_factory.mktemp("fuzz")
    e = open_chain(tmp, "e2e4", {"a1b2": {}})
    a = open_chain(tmp, "a1b2", {"e2e4": {}})
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 5)).ok
    e.block()
    m = recv_msg(e, [1], "a1b2")
    p = m.packets[0]
    if kind == "packet":
        p.packet = noise
    elif kind == "siblings":
        p.proof.siblings.append(noise)
    elif kind == "leaf":
        p.proof.leaf_value_hash = noise
    elif kind == "header":
        m.update.signed_header.header.height = n
        m.update.signed_header.header.chain_id = noise.hex()[:20]
    elif kind == "commit":
        m.update.signed_header.commit.signatures[0].signature = noise
        m.update.signed_header.commit.round = n % 2**31
    elif kind == "valset":
        m.update.validator_set.validators[0].pub_key.ed25519 = noise
        m.update.validator_set.validators[0].voting_power = n
    elif kind == "height":
        m.proof_height = n
    before = (a.balance(BOB), a.reserve("e2e4"), a.supply(), a.view.get_client("e2e4"))
    nonce = a.nonce(RELAYER)
    raw = build_tx(RELAYER, "a1b2", nonce, "recv_packets", m)
    if kind == "garbage":
        raw = raw[: len(raw) // 2] + noise
    r = a.block(raw).tx_results[0]
    assert r.code != 1, r.log
    try:
        validate_tx_stateless(decode_tx(raw, a.app.decoders), "a1b2")
        runs = True
    except DistposError:
        runs = False  # refused before it runs (undecodable, bad signature, malformed message)
    # the nonce is consumed first, whether the message then succeeds or not; a refused tx consumes nothing
    assert a.nonce(RELAYER) == nonce + runs
    if r.ok:
        # a mutation the proofs cannot tell from the real packet: delivered once, for its real amount
        assert (a.balance(BOB), a.reserve("e2e4")) == (before[0] + 5, before[1] - 5)
    else:
        assert (a.balance(BOB), a.reserve("e2e4"), a.supply(), a.view.get_client("e2e4")) == before
