"""The relay's gRPC boundary: strict decoding both ways, bounds answered with their status and relay code,
never UNKNOWN; the same checks as the in-process core (a real server on a free port, mock chains behind it)."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from distpos_abci.errors import InvalidPeerResponseError, PeerRefusedError
from distpos_abci.gen.distpos.v1 import interchain_pb2, relay_pb2
from distpos_abci.interchain import keys
from distpos_abci.relay import LocalPeer
from distpos_abci.relay.limits import RelayLimits
from distpos_abci.relay.queue import IN
from distpos_abci.relay.service import GrpcPeer, build_server
from tests.interchain.helpers import ALICE, BOB, addr, open_chain

from .test_relay import Clock, make_relayer


@pytest.fixture
def served(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    clock = Clock()
    peers: dict = {}
    limits = RelayLimits(max_proof_keys=4, max_inbound_packets=2, max_request_packets=8)
    re_ = make_relayer(tmp_path, e, "e", peers, clock)
    ra = make_relayer(tmp_path, a, "a", peers, clock, limits=limits)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    server = build_server(ra.core, limits, workers=2)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield e, a, ra, f"127.0.0.1:{port}"
    server.stop(grace=None)


def transfers(e, a, n: int) -> list[bytes]:
    for i in range(n):
        m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                       amount=10 + i, timeout_height=a.app.last_height + 50)
        assert e.tx(ALICE, "transfer", m).ok
    e.block()
    return [e.view.get_outbox("a1b2", s) for s in range(1, n + 1)]


def raw_call(address: str, method: str, payload: bytes) -> grpc.RpcError:
    with grpc.insecure_channel(address) as ch:
        call = ch.unary_unary(f"/distpos.v1.Relay/{method}", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as info:
            call(payload, timeout=10)
    return info.value


def test_genuine_packets_over_grpc_are_held_and_forged_ones_refused_with_144(served):
    e, a, ra, address = served
    real = transfers(e, a, 1)[0]
    forged = interchain_pb2.Packet.FromString(real)
    forged.amount = 999_999
    res = GrpcPeer("a1b2", address).submit_packets("e2e4", [real, forged.SerializeToString()])
    assert res.accepted == 1 and res.held == (1,)
    assert [(r.sequence, r.code) for r in res.refused] == [(1, 144)]  # the forged twin, judged on its own
    assert ra.queue.count(IN) == 1


def test_invalid_overlong_getproof_is_invalid_argument_146(served):
    _, _, _, address = served
    with pytest.raises(PeerRefusedError) as info:
        GrpcPeer("a1b2", address).get_proofs([keys.full_inbox_key("e2e4", 1)] * 5, 0)
    assert (info.value.status, info.value.remote_codespace, info.value.remote_code) == ("INVALID_ARGUMENT", "relay", 146)


def test_invalid_full_queue_is_resource_exhausted_145_and_changes_nothing(served):
    e, a, ra, address = served
    raws = transfers(e, a, 3)
    with pytest.raises(PeerRefusedError) as info:
        GrpcPeer("a1b2", address).submit_packets("e2e4", raws)
    assert (info.value.status, info.value.remote_code) == ("RESOURCE_EXHAUSTED", 145)
    assert ra.queue.count(IN) == 0


def test_invalid_undecodable_and_non_canonical_requests_are_invalid_argument(served):
    _, _, _, address = served
    assert raw_call(address, "GetProof", b"\x0a\xff").code() == grpc.StatusCode.INVALID_ARGUMENT
    # height given twice (the last would win in a lenient parser): one meaning, two encodings
    twice = relay_pb2.GetProofRequest(height=1).SerializeToString() * 2
    err = raw_call(address, "GetProof", twice)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "canonical" in err.details()
    assert raw_call(address, "GetHeaders", relay_pb2.GetHeadersRequest(height=-1).SerializeToString()).code() \
        == grpc.StatusCode.INVALID_ARGUMENT


def test_invalid_impossible_height_is_out_of_range_not_retryable(served):
    """Issue 10: a height the chain has not committed was answered UNAVAILABLE (retry!); it is OUT_OF_RANGE."""
    _, _, _, address = served
    for method, request in (("GetHeaders", relay_pb2.GetHeadersRequest(height=10**9)),
                            ("GetProof", relay_pb2.GetProofRequest(height=10**9))):
        err = raw_call(address, method, request.SerializeToString())
        assert err.code() == grpc.StatusCode.OUT_OF_RANGE and err.details().startswith("relay:187:")


def test_unexpected_failure_is_internal_never_unknown(served):
    _, _, ra, address = served

    def broken():
        raise RuntimeError("disk on fire")

    ra.core.endpoint.latest = broken
    err = raw_call(address, "Status", b"")
    assert err.code() == grpc.StatusCode.INTERNAL and "disk on fire" not in err.details()


def test_invalid_non_canonical_answer_from_a_peer_is_refused():
    def status(raw, context):
        return relay_pb2.RelayStatusResponse(latest_height=5).SerializeToString() * 2  # field repeated

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    handler = grpc.unary_unary_rpc_method_handler(status, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("distpos.v1.Relay", {"Status": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(InvalidPeerResponseError):
            GrpcPeer("a1b2", f"127.0.0.1:{port}").latest_height()
    finally:
        server.stop(grace=None)


def test_invalid_oversized_request_is_resource_exhausted(served):
    _, _, ra, _ = served
    server = build_server(ra.core, RelayLimits(max_request_bytes=65536), workers=1)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        big = relay_pb2.GetProofRequest(keys=[b"k" * 1000] * 80).SerializeToString()
        assert raw_call(f"127.0.0.1:{port}", "GetProof", big).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        server.stop(grace=None)
