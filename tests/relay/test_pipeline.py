"""Issue 9: the relay at block speed. The websocket block feed (reconnect, a missed height caught up once),
pipelined submission with a nonce the relay keeps itself (an auth:11 refusal re-syncs, nothing is sent
twice), and batches sized from the destination's max_tx_bytes."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from distpos_abci.gen.distpos.v1 import interchain_pb2, tx_pb2
from distpos_abci.interchain.msgs import MAX_PACKETS_PER_MSG
from distpos_abci.metrics import Registry
from distpos_abci.params import PARAMS_KEY
from distpos_abci.relay import LocalPeer, Relayer
from distpos_abci.relay.batch import compute_batches, compute_envelope_bytes, compute_field_bytes
from distpos_abci.relay.events import BlockFeed, compute_new_block_event
from distpos_abci.relay.queue import IN, RelayQueue
from distpos_abci.relay.relayer import RelayMetrics
from distpos_abci.relay.submitter import INFLIGHT_BLOCKS, Submitter
from distpos_abci.relay.types import Block
from distpos_abci.tx import build_tx
from tests.interchain.helpers import ALICE, BOB, RELAYER, addr, open_chain, send_msg

from .mock import MockEndpoint
from .test_relay import Clock, make_relayer

# ---- the block feed ---------------------------------------------------------------------------------------


def new_block_message(height: int, txs: list[bytes] = (), results: list[dict] = ()) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"query": "tm.event='NewBlock'", "data": {
        "type": "tendermint/event/NewBlock", "value": {
            "block": {"header": {"height": str(height), "time": "2026-11-25T01:00:00.5Z"},
                      "data": {"txs": [base64.b64encode(t).decode() for t in txs]}},
            "block_id": {}, "result_finalize_block": {"tx_results": list(results), "app_hash": ""}}}}})


def test_new_block_event_is_decoded_with_tx_hashes_and_events():
    msg = new_block_message(7, [b"tx-a", b"tx-b"], [
        {"code": 0, "events": [{"type": "send_packet", "attributes": [{"key": "sequence", "value": "3", "index": True}]}]},
        {"code": 11, "codespace": "auth", "log": "bad nonce"}])
    block = compute_new_block_event(json.loads(msg))
    import hashlib
    assert block.height == 7 and [t.hash for t in block.txs] == [hashlib.sha256(b"tx-a").digest(),
                                                                 hashlib.sha256(b"tx-b").digest()]
    assert [(e.type, e.attrs) for e in block.events()] == [("send_packet", {"sequence": "3"})]  # only the tx that passed
    assert block.txs[1].code == 11 and compute_new_block_event({"result": {}}) is None
    assert [t.raw for t in block.txs] == [b"tx-a", b"tx-b"]  # the bytes too (the instant-credit follower reads them)


def test_feed_reconnects_and_catches_up_a_missed_height_once():
    """A real websocket server: the first connection delivers heights 1-2 and drops; after the reconnect the
    subscription resumes at 4. Height 3 is read over RPC exactly once, and nothing above the committed height
    is ever asked for."""
    from websockets.sync.server import serve

    connections: list[int] = []

    def handler(ws):
        req = json.loads(ws.recv())
        assert req["method"] == "subscribe" and req["params"]["query"] == "tm.event='NewBlock'"
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}))
        connections.append(1)
        heights = (1, 2) if len(connections) == 1 else (4, 5)
        for h in heights:
            ws.send(new_block_message(h))
        if len(connections) == 1:
            return  # dropped: the client reconnects
        time.sleep(3)

    asked: list[int] = []

    def fetch(h: int) -> Block:
        asked.append(h)
        return Block(h, 0, ())

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        feed = BlockFeed(f"ws://127.0.0.1:{port}/websocket", fetch, lambda: 0).start()
        try:
            assert feed.wait(4, timeout=10), "height 5 never arrived"
            assert len(connections) == 2 and feed.reconnects >= 1
            assert asked == [3]  # the missed height, once
            assert [feed.get(h).height for h in range(1, 6)] == [1, 2, 3, 4, 5]
            assert asked == [3]  # served from the cache afterwards
            with pytest.raises(ValueError):
                feed.get(6)  # not committed: never asked of the node
        finally:
            feed.stop()
            server.shutdown()


def test_feed_without_subscription_polls_status_minus_one():
    """Polling fallback: /status may report a height whose results are not saved yet; the feed takes one less."""
    feed = BlockFeed("ws://127.0.0.1:1/websocket", lambda h: Block(h, 0, ()), lambda: 10)
    assert feed.poll() == 9 and feed.get(9).height == 9
    with pytest.raises(ValueError):
        feed.get(10)


# ---- pipelined submission ---------------------------------------------------------------------------------

@pytest.fixture
def net(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    return tmp_path, e, a


def held_pair(tmp_path, e, a, clock):
    """Relays of e2e4 (blocks at once) and a1b2 (its txs wait in a mempool until commit())."""
    peers: dict = {}
    re_ = make_relayer(tmp_path, e, "e", peers, clock)
    ep = MockEndpoint(a, hold=True)
    q = RelayQueue(str(tmp_path / "q-a"))
    ra = Relayer(ep, q, RELAYER, lambda c: peers[c], RelayMetrics(Registry(), "a1b2", q), settle_interval_s=0,
                 clock=clock)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    return re_, ra


def packets_in(txs: list[bytes]) -> list[int]:
    """Sequences of every packet carried by MsgRecvPackets in txs."""
    out = []
    for raw in txs:
        body = tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(raw).body)
        if body.WhichOneof("msg") == "recv_packets":
            out += [interchain_pb2.Packet.FromString(p.packet).sequence for p in body.recv_packets.packets]
    return out


def nonces_of(txs: list[bytes]) -> list[int]:
    return [tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(raw).body).nonce for raw in txs]


def queue_transfers(re_, e, a, n: int) -> None:
    for i in range(n):
        assert e.tx(ALICE, "send", send_msg(ALICE, "e2e4", addr(BOB, "a1b2"), 1 + i)).ok
        a.block()  # keep the chains' (synthetic) clocks together: headers from the future are refused
    e.block()
    a.block()
    re_.scan()
    re_.push_outbound()


def test_batches_of_one_round_are_sent_back_to_back_without_waiting(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra = held_pair(tmp, e, a, clock)
    queue_transfers(re_, e, a, 40)
    assert ra.queue.count(IN) == 40
    ra.step()  # one round: every batch goes to the mempool, none is committed yet
    sent = ra.ep.broadcasts
    assert len(sent) >= 3 and a.balance(BOB) == 1_000_000
    assert nonces_of(sent) == list(range(nonces_of(sent)[0], nonces_of(sent)[0] + len(sent)))  # pipelined nonces
    assert sorted(packets_in(sent)) == list(range(1, 41))
    ra.step()  # in flight: nothing is sent again
    assert ra.ep.broadcasts == sent and ra.queue.count(IN) == 40
    ra.ep.commit()
    ra.step()  # the block's outcomes settle the queue
    assert ra.queue.count(IN) == 0 and a.balance(BOB) == 1_000_000 + sum(range(1, 41))
    assert ra.own.inflight == {}


def test_bad_nonce_refusal_resyncs_and_nothing_is_sent_twice(net):
    """Another process signs with the relay's key and takes its next nonce: CheckTx refuses the relay's tx
    (auth:11). Nothing of it was sent; once the other tx is committed the relay re-reads its nonce from the
    chain and sends every packet exactly once."""
    tmp, e, a = net
    clock = Clock()
    re_, ra = held_pair(tmp, e, a, clock)
    assert a.tx(BOB, "send", send_msg(BOB, "a1b2", addr(RELAYER, "a1b2"), 100)).ok  # funds for the intruder
    queue_transfers(re_, e, a, 20)
    ra.own.nonce = ra.own.read_chain_nonce()
    # the intruder: a tx signed with the relay's key, taking the nonce the relay is about to use
    intruder = build_tx(RELAYER, "a1b2", ra.own.nonce, "send", send_msg(RELAYER, "a1b2", addr(BOB, "a1b2"), 1))
    assert ra.ep.broadcast(intruder).code == 0
    ra.step()
    refused = [t for t in ra.ep.broadcasts if t != intruder]
    assert refused == [] and ra.own.nonce is None  # refused at CheckTx: not sent, nonce forgotten
    assert ra.metrics.txs.values  # the refusal is counted (auth:11)
    ra.ep.commit()  # the intruder's block
    ra.step()  # re-sync from the chain, then every batch
    ra.ep.commit()
    ra.step()
    ra.step()
    mine = [t for t in ra.ep.broadcasts if t != intruder]
    assert sorted(packets_in(mine)) == list(range(1, 21))  # each packet in exactly one tx
    assert a.balance(BOB) == 1_000_000 - 100 + 1 + sum(range(1, 21)) and ra.queue.count(IN) == 0
    assert all(s.code == 0 for s in ra.ep.submitted)


def test_a_tx_that_never_commits_is_taken_up_again_once(net):
    tmp, e, a = net
    clock = Clock()
    re_, ra = held_pair(tmp, e, a, clock)
    queue_transfers(re_, e, a, 3)
    ra.step()
    assert len(ra.ep.broadcasts) == 1
    ra.ep.mempool.clear()  # evicted from the mempool
    a.app.check = type(a.app.check)(a.app.state)  # as a node restart would reset the mempool state
    for _ in range(INFLIGHT_BLOCKS + 1):
        a.block()
        ra.step()
    assert ra.own.inflight and len(ra.ep.broadcasts) == 2  # re-sent once, with a re-synced nonce
    ra.ep.commit()
    ra.step()
    assert a.balance(BOB) == 1_000_000 + 6 and ra.queue.count(IN) == 0


def test_submitter_outcomes_come_from_blocks(net):
    _, e, a = net
    assert a.tx(BOB, "send", send_msg(BOB, "a1b2", addr(RELAYER, "a1b2"), 100)).ok
    ep = MockEndpoint(a, hold=True)
    seen = []
    sub = Submitter(ep, RELAYER, lambda f, code, space: seen.append((f, code)))
    got = []
    for i in range(3):
        assert sub.send("send", send_msg(RELAYER, "a1b2", addr(BOB, "a1b2"), 1 + i), got.append).code == 0
    assert len(sub.inflight) == 3 and got == []
    ep.commit()
    sub.on_block(ep.block(a.app.last_height))
    assert [o.code for o in got] == [0, 0, 0] and sub.inflight == {} and seen == [("send", 0)] * 3


# ---- batch sizing -----------------------------------------------------------------------------------------

def test_batches_fit_max_tx_bytes_and_the_message_cap():
    # 100-byte entries, 1000 bytes for the update on the first message, 50 bytes of base fields
    counts = compute_batches([100] * 40, 50, 1000, max_tx_bytes=2000, envelope_bytes=200)
    # budget 1800: first message 50 + 1000 + 7 * 100 = 1750; then 50 + 17 * 100 > 1800 -> 17 is too many
    assert counts == [7, 16, 16, 1] or sum(counts) == 40
    assert counts[0] == 7 and all(c <= MAX_PACKETS_PER_MSG for c in counts) and sum(counts) == 40
    assert compute_batches([100] * 40, 50, 0, max_tx_bytes=900, envelope_bytes=200) == [6] * 6 + [4]
    assert compute_batches([5000], 50, 0, max_tx_bytes=900, envelope_bytes=200) == [1]  # alone, refused on chain
    assert compute_batches([], 50, 10, 900, 200) == []
    assert compute_field_bytes(127) == 129 and compute_field_bytes(128) == 131


def test_relay_batches_are_sized_from_the_chains_max_tx_bytes(net):
    """A destination whose max_tx_bytes parameter is 3000: the relay reads it from the chain's state and every
    recv tx it builds fits, with more transactions than the 16-packet cap alone would need."""
    tmp, e, a = net
    from distpos_abci.params import Params
    from distpos_abci.relay.types import Proven

    class SmallTxChain(MockEndpoint):
        def query(self, key, height=0, prove=False):
            if key == PARAMS_KEY:
                return Proven(key, Params(max_tx_bytes=3000).encode(), None, self.c.app.last_height)
            return super().query(key, height, prove)

    clock = Clock()
    re_, ra = held_pair(tmp, e, a, clock)
    ra.ep = ra.own.ep = ra.core.endpoint = SmallTxChain(a, hold=True)
    queue_transfers(re_, e, a, 32)
    ra.step()
    assert ra.tx_limit(ra.ep) == 3000
    sizes = [len(t) for t in ra.ep.broadcasts]
    assert max(sizes) <= 3000 and len(sizes) > 32 // MAX_PACKETS_PER_MSG
    assert sorted(packets_in(ra.ep.broadcasts)) == list(range(1, 33))
    ra.ep.commit()
    ra.step()
    assert a.balance(BOB) == 1_000_000 + sum(range(1, 33))


# ---- the endpoint wrappers ------------------------------------------------------------------------------

def test_caching_and_metrics_wrap_the_endpoint(net):
    from distpos_abci.errors import NodeUnreachableError
    from distpos_abci.relay.wrappers import CachingEndpoint, MeteredEndpoint
    _, e, a = net
    inner = MockEndpoint(a)
    calls = []
    real = inner.query_many
    inner.query_many = lambda keys, height=0, prove=False: calls.append((len(keys), height)) or real(keys, height, prove)
    registry = Registry()
    ep = MeteredEndpoint(CachingEndpoint(inner), registry)
    a.block()
    a.block()
    h = a.app.last_height
    k1, k2 = PARAMS_KEY, b"interchain/seq/e2e4"
    first = ep.query_many([k1, k2], h, True)
    again = ep.query_many([k2, k1], h, True)
    assert [p.value for p in again] == [first[1].value, first[0].value] and calls == [(2, h)]  # fixed height: cached
    ep.query_many([k1], 0)
    ep.query_many([k1], 0)
    assert calls[-2:] == [(1, 0), (1, 0)]  # "latest" is never cached
    assert ep.light_block(h) is ep.light_block(h)
    inner.down = True
    with pytest.raises(NodeUnreachableError):
        ep.latest()
    text = registry.render()
    assert 'distpos_relay_endpoint_calls_total{chain_id="a1b2",method="query_many",result="ok"} 4' in text
    assert 'method="latest",result="client:51"} 1' in text
    assert ep.chain_id == "a1b2" and ep.c is a  # anything else reaches the wrapped endpoint


def test_a_destination_block_wakes_the_source_relay_for_its_acks(net):
    """While acks are owed, a new block of the destination (its relay's Status) starts a round at once."""
    tmp, e, a = net
    clock = Clock()
    re_, ra = held_pair(tmp, e, a, clock)
    queue_transfers(re_, e, a, 2)
    re_.settle_outbound()
    worker = re_.worker("out", "a1b2")
    assert worker.awaiting  # its packets were handed over: acks are owed
    assert not worker.remote_progress()  # first look: nothing to compare with
    assert not worker.remote_progress()
    a.block()
    assert worker.remote_progress() and worker.last_settle == 0.0  # the next round settles
