"""Property: an outbox commitment proves exactly its own bytes at its own key, and an absent inbox key proves
absence only while it is absent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.interchain import keys
from distpos_abci.store import merkle


def build(entries: dict[bytes, bytes]):
    root, nodes = merkle.compute_updated_root({}, merkle.EMPTY_HASH, entries.items())
    return root, nodes


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(1, 10_000), st.binary(min_size=1, max_size=64), min_size=1, max_size=30),
       st.data())
def test_outbox_proofs_bind_key_and_value(packets, data):
    entries = {keys.full_outbox_key("a1b2", seq): raw for seq, raw in packets.items()}
    root, nodes = build(entries)
    seq = data.draw(st.sampled_from(sorted(packets)))
    key = keys.full_outbox_key("a1b2", seq)
    value, proof = merkle.get_proof(nodes, root, key)
    assert value == packets[seq] and merkle.verify_membership(root, key, value, proof)
    flip = data.draw(st.integers(0, len(value) * 8 - 1))
    tampered = bytearray(value)
    tampered[flip // 8] ^= 1 << (flip % 8)
    assert not merkle.verify_membership(root, key, bytes(tampered), proof)
    assert not merkle.verify_membership(root, keys.full_outbox_key("c3d4", seq), value, proof)
    # the inbox key of that sequence is absent, and provably so
    inbox = keys.full_inbox_key("e2e4", seq)
    none, absence = merkle.get_proof(nodes, root, inbox)
    assert none is None and merkle.verify_non_membership(root, inbox, absence)
    assert not merkle.verify_non_membership(root, key, proof)
