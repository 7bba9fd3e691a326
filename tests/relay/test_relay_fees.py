"""Relay fees through the relay worker (issue 12): the acknowledging relay's signer is paid, a relay leaves packets
below its min_relay_fee to other relays (logged, counted), and forwards what it earned to its fee_recipient."""

from __future__ import annotations

import pytest

from distpos_abci.errors import RelayConfigError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import keys
from distpos_abci.relay import LocalPeer
from distpos_abci.relay.config import load_config
from distpos_abci.relay.queue import OUT
from tests.interchain.helpers import ALICE, BOB, CAROL, RELAYER, addr, key

from .test_relay import Clock, make_relayer, net, run  # noqa: F401  (the net fixture)

CHEAP_RELAY = key(6)


def transfer(e, amount, fee):
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=amount, relay_fee=fee, timeout_height=10_000)
    assert e.tx(ALICE, "transfer", m).ok


def pair(tmp, e, a, clock, name="e", signer=RELAYER, **kw):
    peers: dict = {}
    re_ = make_relayer(tmp, e, name, peers, clock, signer=signer, **kw)
    ra = make_relayer(tmp, a, name + "a", peers, clock)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    return re_, ra


def test_acknowledging_relay_is_paid_and_forwards_to_its_fee_recipient(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra = pair(tmp, e, a, clock, fee_recipient=str(addr(CAROL, "e2e4")))
    supply = e.supply()
    transfer(e, 100, 7)
    transfer(e, 200, 8)
    run(re_, ra, rounds=8, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 300 and e.view.list_outbox("a1b2") == []
    assert e.balance(CAROL) == 1_000_000 + 15 and e.balance(RELAYER) == 0  # earned by the signer, then forwarded
    assert e.balance(keys.ESCROW) == 0 and e.supply() == supply
    assert sum(re_.metrics.fees.values.values()) == 15


def test_packets_below_min_relay_fee_are_left_to_other_relays(net):
    tmp, e, a = net
    clock = Clock()
    picky, ra = pair(tmp, e, a, clock, min_relay_fee=10)
    transfer(e, 100, 3)
    transfer(e, 100, 10)
    run(picky, ra, rounds=8, clock=clock)
    assert [p.sequence for p in e.view.list_outbox("a1b2")] == [1]  # the cheap packet waits
    assert e.balance(RELAYER) == 10 and picky.queue.count(OUT) == 0
    assert sum(picky.metrics.below_fee.values.values()) == 1
    cheap, ra2 = pair(tmp, e, a, clock, name="c", signer=CHEAP_RELAY)
    run(cheap, ra2, rounds=8, clock=clock)
    assert e.view.list_outbox("a1b2") == [] and e.balance(CHEAP_RELAY) == 3


@pytest.mark.parametrize("line, message", [
    ("min_relay_fee = -1", "min_relay_fee"),
    ('fee_recipient = "nonsense"', "fee_recipient"),
    (f'fee_recipient = "{addr(CAROL, "a1b2")}"', "not an account of e2e4"),
])
def test_invalid_fee_config(tmp_path, line, message):
    p = tmp_path / "relay.toml"
    p.write_text(f'chain_id="e2e4"\ncomet_rpc="http://x"\nlisten="127.0.0.1:1"\nkey_file="k"\ndb_dir="d"\n{line}\n')
    with pytest.raises(RelayConfigError, match=message):
        load_config(p)
