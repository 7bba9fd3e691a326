"""The relay worker between two in-process chains through mock endpoints: both directions, batching,
crash and restart from the durable queue, redundant relays, timeouts, the backoff policy, metrics."""

from __future__ import annotations

import pytest

from distpos_abci.errors import RelayConfigError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import keys
from distpos_abci.metrics import Registry
from distpos_abci.relay import LocalPeer, Relayer, exponential_backoff
from distpos_abci.relay.backoff import compute_handover_delay, is_direct_due
from distpos_abci.relay.config import load_config
from distpos_abci.relay.limits import RelayLimits
from distpos_abci.relay.queue import IN, OUT, RelayQueue
from distpos_abci.relay.relayer import RelayMetrics
from tests.interchain.helpers import ALICE, BOB, RELAYER, addr, key, open_chain, send_msg

from .mock import MockEndpoint


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def net(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    return tmp_path, e, a


def make_relayer(tmp_path, chain, name, peers, clock, signer=RELAYER, **kw):
    ep = MockEndpoint(chain)
    q = RelayQueue(str(tmp_path / f"q-{name}"))
    r = Relayer(ep, q, signer, lambda c: peers[c], RelayMetrics(Registry(), chain.chain_id, q), settle_interval_s=0,
                clock=clock, **kw)
    return r


def wire(tmp_path, e, a, clock):
    peers: dict = {}
    re_ = make_relayer(tmp_path, e, "e", peers, clock)
    ra = make_relayer(tmp_path, a, "a", peers, clock)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    return re_, ra, peers


def run(*relayers, rounds=6, clock=None):
    """Rounds of every relay, each chain making an (empty) block per round as CometBFT does."""
    for _ in range(rounds):
        for r in relayers:
            r.ep.c.block()
            r.step()
            if clock:
                clock.t += 1


def test_backoff_policy_delays_are_pinned():
    assert [exponential_backoff(n) for n in range(0, 10)] == [0.0, 0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_handover_schedule_is_pinned():
    """Defaults (resend_after 20 s, direct after 3): a relay refusing or unreachable costs 0.5 + 1 + 2 s before the
    source delivers itself; one that takes packets and drops them costs 3 x 20 s."""
    refused = [compute_handover_delay(n, False, 20.0) for n in (1, 2, 3)]
    taken = [compute_handover_delay(n, True, 20.0) for n in (1, 2, 3)]
    assert refused == [0.5, 1, 2] and taken == [20.0, 20.0, 20.0]
    assert [is_direct_due(n, 3, True) for n in range(5)] == [False, False, False, True, True]
    assert not is_direct_due(9, 3, False) and not is_direct_due(9, 0, True)


def test_both_directions_settle_and_supply_is_conserved(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, _ = wire(tmp, e, a, clock)
    supplies = (e.supply(), a.supply())
    for amount in (100, 200, 300):
        assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), amount)).ok
    assert a.tx(BOB, "send", send_msg(BOB, "a1b2", addr(ALICE, "e2e4"), 50)).ok
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 600 - 50 and e.balance(ALICE) == 1_000_000 - 600 + 50
    assert e.view.list_outbox("a1b2") == [] and a.view.list_outbox("e2e4") == []
    assert e.balance(keys.ESCROW) == 0 and a.balance(keys.ESCROW) == 0
    assert e.reserve("a1b2") == 1_000_000 + 600 - 50 and a.reserve("e2e4") == 1_000_000 - 600 + 50
    assert (e.supply(), a.supply()) == supplies
    assert re_.queue.count(OUT) == 0 and ra.queue.count(IN) == 0
    # three packets went in one destination transaction
    recv = [s for s in ra.ep.submitted if s.code == 0]
    assert len([1 for ev in a.results.values() for r in ev.tx_results for x in r.events if x.type == "recv_packet"]) == 3
    assert len(recv) <= 3  # one recv (3 packets), one ack for b->e, maybe one client refresh: never 3 recvs
    text = re_.metrics.latency  # latency observed for each settled packet
    assert sum(s[-1] for s in text.series.values()) == 3


def test_relay_killed_and_restarted_delivers_exactly_once(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, peers = wire(tmp, e, a, clock)
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 1234)).ok
    e.block()  # the header after the packet's block: from now on the packet is provable, and handed over
    re_.scan()
    re_.push_outbound()
    assert ra.queue.count(IN) == 1
    # the destination relay dies after submitting (its queue entry survives: deletion happens after commit)
    worker = ra.worker("in", "e2e4")
    worker._submit_recv = lambda batch, entries: ra.submit_and_wait("recv_packets", batch)  # commit, then "crash"
    ra.deliver_inbound()
    assert a.balance(BOB) == 1_000_000 + 1234
    ra.queue.close()
    ra2 = make_relayer(tmp, a, "a", peers, clock)  # same queue directory: restarted
    peers["a1b2"] = LocalPeer(ra2.core)
    assert ra2.queue.count(IN) == 1
    run(re_, ra2, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 1234  # once, not twice
    assert ra2.queue.count(IN) == 0 and re_.queue.count(OUT) == 0
    assert e.balance(keys.ESCROW) == 0


def test_source_relay_restart_resends_pending(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, peers = wire(tmp, e, a, clock)
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 77)).ok
    re_.scan()  # queued, never pushed: killed here
    re_.queue.close()
    re2 = make_relayer(tmp, e, "e", peers, clock)
    peers["e2e4"] = LocalPeer(re2.core)
    run(re2, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 77 and re2.queue.count(OUT) == 0


def test_redundant_relays_deliver_once(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, peers = wire(tmp, e, a, clock)
    ra_b = make_relayer(tmp, a, "a-b", peers, clock, signer=key(9))
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 10)).ok
    e.block()
    re_.scan()
    re_.push_outbound()
    ra_b.core.accept_packets("e2e4", [e.view.get_outbox("a1b2", 1)])  # both relays of a1b2 hold it
    ra.deliver_inbound()
    ra_b.deliver_inbound()
    assert a.balance(BOB) == 1_000_000 + 10
    assert ra_b.queue.count(IN) == 0  # dropped after seeing the receipt, never submitted


def test_unreachable_peer_backs_off_then_delivers(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, peers = wire(tmp, e, a, clock)
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 5)).ok
    ra.ep.down = True
    re_.step()  # push works (relay core answers), settle fails: a1b2 down
    ra.step()
    assert ra.metrics.errors.values  # errors counted by kind
    ra.ep.down = False
    clock.t += 60
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 5


def test_timed_out_packet_is_refunded_by_the_relay(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, _ = wire(tmp, e, a, clock)
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=999, timeout_height=a.app.last_height + 2)
    assert e.tx(ALICE, "transfer", m).ok
    re_.scan()
    re_.push_outbound()
    for _ in range(3):
        a.block()  # the destination passes the timeout before its relay delivers
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 and e.balance(ALICE) == 1_000_000
    assert e.view.list_outbox("a1b2") == [] and re_.queue.count(OUT) == 0


def test_relay_policy_refusal_leads_to_timeout_refund_without_direct_delivery(net):
    tmp, e, a = net
    clock = Clock()
    peers: dict = {}
    re_ = make_relayer(tmp, e, "e", peers, clock)
    ra = make_relayer(tmp, a, "a", peers, clock, policy=lambda p: p.amount < 100 or "too big for this operator")
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=500, timeout_height=a.app.last_height + 4)
    assert e.tx(ALICE, "transfer", m).ok
    run(re_, ra, rounds=8, clock=clock)
    assert a.balance(BOB) == 1_000_000 and e.balance(ALICE) == 1_000_000


def test_relay_policy_refusal_only_means_this_relay_does_not_carry_it(net):
    """With direct delivery (always on in `serve`), the source relay delivers what the operator policy refused:
    the policy decides what this relay carries; refusing a chain for good is the on-chain policy's job."""
    tmp, e, a = net
    clock = Clock()
    peers: dict = {}
    re_ = make_relayer(tmp, e, "e", peers, clock, direct=lambda c: MockEndpoint(a))
    ra = make_relayer(tmp, a, "a", peers, clock, policy=lambda p: p.amount < 100 or "too big for this operator")
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=500, timeout_height=a.app.last_height + 40)
    assert e.tx(ALICE, "transfer", m).ok
    run(re_, ra, rounds=10, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 500 and ra.queue.count(IN) == 0


def test_config_documents_required_keys(tmp_path):
    p = tmp_path / "relay.toml"
    p.write_text('chain_id = "e2e4"\n')
    with pytest.raises(RelayConfigError, match="missing required keys"):
        load_config(p)
    p.write_text('chain_id="e2e4"\ncomet_rpc="http://x"\nlisten="127.0.0.1:1"\nkey_file="k"\ndb_dir="d"\nbogus=1\n')
    with pytest.raises(RelayConfigError, match="unknown keys bogus"):
        load_config(p)


def test_light_client_refreshed_before_trusting_period_ends(tmp_path):
    from tests.interchain.helpers import NS
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}}, trusting_period=20 * NS)
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}}, trusting_period=20 * NS)
    clock = Clock()
    peers: dict = {}
    re_ = make_relayer(tmp_path, e, "e", peers, clock, clients=("a1b2",))
    ra = make_relayer(tmp_path, a, "a", peers, clock, clients=("e2e4",))
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    for _ in range(40):  # 40 blocks of 1 s each on both chains: twice the trusting period
        run(re_, ra, rounds=1, clock=clock)
        for c, peer in ((e, "a1b2"), (a, "e2e4")):
            client = c.view.get_client(peer)
            now = c.times[c.app.last_height]
            assert now - client.latest_time_ns < 20 * NS, "client expired: the relay did not refresh it in time"
    assert e.view.get_client("a1b2").latest_height > 10
    # and a transfer still verifies at the end
    assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 3)).ok
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 3


def test_example_config_loads(tmp_path):
    import pathlib
    import shutil
    example = pathlib.Path(__file__).parents[2] / "distpos_abci" / "relay" / "relay.example.toml"
    shutil.copy(example, tmp_path / "relay.toml")
    cfg = load_config(tmp_path / "relay.toml")
    assert cfg.chain_id == "e2e4" and cfg.clients == ("a1b2", "c3d4")
    assert cfg.db_dir == str(tmp_path / "relay.db")
    assert cfg.limits() == RelayLimits()  # the example documents the defaults


@pytest.mark.parametrize("line", ["max_proof_keys = 0", "max_inbound_packets = -1", "resend_after_ms = 0",
                                  "direct_after_attempts = -1", "max_request_bytes = 10", "max_request_packets = 1.5"])
def test_invalid_bounds_are_config_errors(tmp_path, line):
    p = tmp_path / "relay.toml"
    p.write_text(f'chain_id="e2e4"\ncomet_rpc="http://x"\nlisten="127.0.0.1:1"\nkey_file="k"\ndb_dir="d"\n{line}\n')
    with pytest.raises(RelayConfigError):
        load_config(p)


def test_many_packets_are_cut_into_transactions_that_fit(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra, _ = wire(tmp, e, a, clock)
    for i in range(20):
        assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 1 + i)).ok
        a.block()  # keep the chains' (synthetic) clocks together: headers from the future are refused
    run(re_, ra, rounds=8, clock=clock)
    assert a.balance(BOB) == 1_000_000 + sum(range(1, 21))
    recv_txs = [r for res in a.results.values() for r in res.tx_results
                if any(ev.type == "recv_packet" for ev in r.events)]
    assert 2 <= len(recv_txs) < 20  # batched, and each within max_tx_bytes
    assert e.view.list_outbox("a1b2") == []
