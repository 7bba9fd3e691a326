"""ABCIServer over real sockets, driven by a raw asyncio client."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket

import pytest

from distpos_abci.abci import ABCIServer, Application, encode_frame, encode_uvarint, parse_address, read_frame
from distpos_abci.abci.application import tx_size_in_block
from distpos_abci.gen.tendermint.abci import types_pb2 as abci

pytestmark = pytest.mark.timeout(60)

LOGGER = "distpos_abci.abci.server"


def run(coro, timeout: float = 30):
    """Run a coroutine to completion under a deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(address: str):
    scheme, host, port = parse_address(address)
    if scheme == "unix":
        return await asyncio.open_unix_connection(host)
    return await asyncio.open_connection(host, port)


def frame(req: abci.Request) -> bytes:
    return encode_frame(req.SerializeToString())


async def read_responses(reader: asyncio.StreamReader, n: int) -> list[tuple[bytes, abci.Response]]:
    """Read n framed Responses; keep the raw bytes to compare encodings."""
    out = []
    for _ in range(n):
        raw = await read_frame(reader)
        assert raw is not None, f"connection closed after {len(out)} of {n} responses"
        resp = abci.Response()
        resp.ParseFromString(raw)
        out.append((raw, resp))
    return out


async def assert_closed(reader: asyncio.StreamReader) -> None:
    """The server closed the connection: EOF (or a reset) before any further response."""
    try:
        rest = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return
    assert rest == b""


PIPELINE = [
    abci.Request(echo=abci.RequestEcho(message="hello")),
    abci.Request(info=abci.RequestInfo(version="0.38.25")),
    abci.Request(check_tx=abci.RequestCheckTx(tx=b"\x00")),
    abci.Request(check_tx=abci.RequestCheckTx(tx=b"bad")),
    abci.Request(check_tx=abci.RequestCheckTx(tx=b"\x01")),
    abci.Request(query=abci.RequestQuery(path="/x", data=b"k")),
    abci.Request(init_chain=abci.RequestInitChain(chain_id="c")),
    abci.Request(prepare_proposal=abci.RequestPrepareProposal(max_tx_bytes=1000, txs=[b"a", b"b"])),
    abci.Request(process_proposal=abci.RequestProcessProposal(txs=[b"a"])),
    abci.Request(extend_vote=abci.RequestExtendVote(height=1)),
    abci.Request(verify_vote_extension=abci.RequestVerifyVoteExtension(height=1)),
    abci.Request(finalize_block=abci.RequestFinalizeBlock(height=1, txs=[b"a", b"b", b"c"])),
    abci.Request(commit=abci.RequestCommit()),
    abci.Request(list_snapshots=abci.RequestListSnapshots()),
    abci.Request(offer_snapshot=abci.RequestOfferSnapshot()),
    abci.Request(load_snapshot_chunk=abci.RequestLoadSnapshotChunk()),
    abci.Request(apply_snapshot_chunk=abci.RequestApplySnapshotChunk()),
    abci.Request(flush=abci.RequestFlush()),
]


def check_pipeline_responses(got: list[tuple[bytes, abci.Response]]) -> None:
    kinds = [r.WhichOneof("value") for _, r in got]
    assert kinds == [r.WhichOneof("value") for r in PIPELINE]
    by_index = [r for _, r in got]
    assert by_index[0].echo.message == "hello"
    assert by_index[1].info.data == "counter"
    assert by_index[2].check_tx.code == 0 and by_index[2].check_tx.data == (1).to_bytes(8, "big")
    assert by_index[3].check_tx.code == 1 and by_index[3].check_tx.log == "bad tx"
    assert by_index[4].check_tx.code == 0 and by_index[4].check_tx.data == (2).to_bytes(8, "big")
    assert list(by_index[7].prepare_proposal.txs) == [b"a", b"b"]
    assert by_index[8].process_proposal.status == abci.ResponseProcessProposal.ACCEPT
    assert by_index[10].verify_vote_extension.status == abci.ResponseVerifyVoteExtension.ACCEPT
    assert [t.code for t in by_index[11].finalize_block.tx_results] == [0, 0, 0]
    assert by_index[14].offer_snapshot.result == abci.ResponseOfferSnapshot.ABORT
    assert by_index[16].apply_snapshot_chunk.result == abci.ResponseApplySnapshotChunk.ABORT
    # The hand-made encoding is byte-for-byte what protobuf itself produces.
    for raw, resp in got:
        assert raw == resp.SerializeToString()


@pytest.fixture(params=["tcp", "unix"])
def address(request, tmp_path):
    if request.param == "tcp":
        return "tcp://127.0.0.1:0"
    return f"unix://{tmp_path}/abci.sock"


async def started(app: Application, address: str) -> ABCIServer:
    server = ABCIServer(app, address)
    await server.start()
    return server


def test_pipelined_requests_answered_in_order(counter_app, address, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def main():
        server = await started(counter_app, address)
        try:
            reader, writer = await connect(server.bound_address)
            writer.write(b"".join(frame(r) for r in PIPELINE))  # one write, many requests
            got = await read_responses(reader, len(PIPELINE))
            writer.close()
            return got, dict(server.counters)
        finally:
            await server.stop()

    got, counters = run(main())
    check_pipeline_responses(got)
    assert counters["check_tx"] == 3 and counters["flush"] == 1 and counters["echo"] == 1
    assert sum(counters.values()) == len(PIPELINE)
    messages = [r.getMessage() for r in caplog.records]
    assert any("connection opened from" in m for m in messages)
    assert any("closed" in m for m in messages)


@pytest.mark.parametrize("chunking", ["one-byte", "random"])
def test_requests_split_across_writes(counter_app, address, chunking):
    async def main():
        server = await started(counter_app, address)
        try:
            reader, writer = await connect(server.bound_address)
            stream = b"".join(frame(r) for r in PIPELINE)
            rng = random.Random(7)
            pos = 0
            while pos < len(stream):
                step = 1 if chunking == "one-byte" else rng.randint(1, 40)
                writer.write(stream[pos:pos + step])
                await writer.drain()
                await asyncio.sleep(0)  # let the server read this piece on its own
                pos += step
            got = await read_responses(reader, len(PIPELINE))
            writer.close()
            return got
        finally:
            await server.stop()

    check_pipeline_responses(run(main()))


def test_many_check_tx_and_a_large_frame_stay_in_order(counter_app):
    n = 5000
    big = b"\x07" * (3 * 1024 * 1024)  # far larger than one socket read
    txs = [b"bad" if i % 7 == 3 else i.to_bytes(4, "big") for i in range(n)]
    requests = [abci.Request(check_tx=abci.RequestCheckTx(tx=t)) for t in txs]
    requests.insert(n // 2, abci.Request(echo=abci.RequestEcho(message=big.decode())))
    requests.append(abci.Request(flush=abci.RequestFlush()))

    async def main():
        server = await started(counter_app, "tcp://127.0.0.1:0")
        try:
            reader, writer = await connect(server.bound_address)

            async def send():
                writer.write(b"".join(frame(r) for r in requests))
                await writer.drain()

            # Read while sending: the server applies back-pressure on large output.
            sender = asyncio.create_task(send())
            got = await read_responses(reader, len(requests))
            await sender
            writer.close()
            return got
        finally:
            await server.stop()

    got = [r for _, r in run(main(), timeout=50)]
    assert [r.WhichOneof("value") for r in got] == [r.WhichOneof("value") for r in requests]
    assert got[n // 2].echo.message == big.decode()
    checks = [r.check_tx for r in got if r.WhichOneof("value") == "check_tx"]
    accepted = [c.data for c in checks if c.code == 0]
    assert accepted == [i.to_bytes(8, "big") for i in range(1, len(accepted) + 1)]
    assert [c.code for c in checks] == [1 if t == b"bad" else 0 for t in txs]


GARBAGE = {
    "unparsable-protobuf": encode_frame(b"\x0a\x05ab"),  # field 1 claims 5 bytes, has 2
    "empty-request": encode_frame(b""),  # parses, but no oneof is set
    "unknown-oneof": encode_frame(encode_uvarint(99 << 3) + b"\x01"),  # only an unknown field 99
    "bad-varint": b"\xff" * 11,
    "oversize-frame": encode_uvarint(64 * 1024 * 1024 + 1),
}


@pytest.mark.parametrize("garbage", list(GARBAGE), ids=list(GARBAGE))
def test_invalid_garbage_closes_only_that_connection(counter_app, address, garbage, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    echo = frame(abci.Request(echo=abci.RequestEcho(message="still here")))
    flush = frame(abci.Request(flush=abci.RequestFlush()))

    async def main():
        server = await started(counter_app, address)
        try:
            bad_reader, bad_writer = await connect(server.bound_address)
            good_reader, good_writer = await connect(server.bound_address)
            bad_writer.write(echo + flush)
            assert len(await read_responses(bad_reader, 2)) == 2
            # Nothing after the garbage is answered: the connection just drops.
            bad_writer.write(GARBAGE[garbage] + echo + flush)
            await assert_closed(bad_reader)
            bad_writer.close()
            # The other connection, and new ones, are unaffected.
            good_writer.write(echo + flush)
            got = await read_responses(good_reader, 2)
            assert [r.WhichOneof("value") for _, r in got] == ["echo", "flush"]
            new_reader, new_writer = await connect(server.bound_address)
            new_writer.write(echo + flush)
            assert len(await read_responses(new_reader, 2)) == 2
            for w in (good_writer, new_writer):
                w.close()
        finally:
            await server.stop()

    run(main())
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize("tx", [b"boom", b"wrong-type"])
def test_invalid_handler_bug_closes_connection(counter_app, address, tx, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    ok = frame(abci.Request(check_tx=abci.RequestCheckTx(tx=b"ok")))
    buggy = frame(abci.Request(check_tx=abci.RequestCheckTx(tx=tx)))
    flush = frame(abci.Request(flush=abci.RequestFlush()))

    async def main():
        server = await started(counter_app, address)
        try:
            reader, writer = await connect(server.bound_address)
            writer.write(ok + buggy + ok + flush)
            (_, first), = await read_responses(reader, 1)
            assert first.check_tx.code == 0
            await assert_closed(reader)
            writer.close()
            reader2, writer2 = await connect(server.bound_address)
            writer2.write(ok + flush)
            assert len(await read_responses(reader2, 2)) == 2
            writer2.close()
        finally:
            await server.stop()

    run(main())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    if tx == b"boom":
        assert errors[0].exc_info is not None  # the traceback is logged


def test_stop_closes_open_connections_and_serve_forever_returns(counter_app, address):
    async def main():
        server = ABCIServer(counter_app, address)
        serving = asyncio.create_task(server.serve_forever())
        while server._server is None:  # wait for serve_forever to bind
            await asyncio.sleep(0.01)
        reader, writer = await connect(server.bound_address)
        writer.write(frame(abci.Request(echo=abci.RequestEcho(message="x"))) + frame(abci.Request(flush=abci.RequestFlush())))
        await read_responses(reader, 2)
        await server.stop()
        await asyncio.wait_for(serving, 5)
        await assert_closed(reader)
        writer.close()
        return parse_address(server.bound_address)

    scheme, host, _ = run(main())
    if scheme == "unix":
        assert not os.path.exists(host)


def test_stale_unix_socket_is_replaced(counter_app, tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # leaves the socket file behind with nobody listening
    assert path.exists()

    async def main():
        server = await started(counter_app, f"unix://{path}")
        try:
            reader, writer = await connect(server.bound_address)
            writer.write(frame(abci.Request(flush=abci.RequestFlush())))
            await read_responses(reader, 1)
            writer.close()
        finally:
            await server.stop()

    run(main())


def test_invalid_live_unix_socket_is_not_stolen(counter_app, tmp_path):
    address = f"unix://{tmp_path}/live.sock"

    async def main():
        first = await started(counter_app, address)
        try:
            with pytest.raises(OSError, match="listening"):
                await ABCIServer(counter_app, address).start()
            reader, writer = await connect(address)  # the first server still owns it
            writer.write(frame(abci.Request(flush=abci.RequestFlush())))
            await read_responses(reader, 1)
            writer.close()
        finally:
            await first.stop()

    run(main())


def test_invalid_unix_path_is_a_regular_file(counter_app, tmp_path):
    path = tmp_path / "file"
    path.write_text("not a socket")
    with pytest.raises(OSError):
        run(ABCIServer(counter_app, f"unix://{path}").start())
    assert path.read_text() == "not a socket"


def test_bare_host_port_and_bound_address(counter_app):
    async def main():
        server = await started(counter_app, "127.0.0.1:0")
        try:
            bound = server.bound_address
            reader, writer = await connect(bound)
            writer.write(frame(abci.Request(flush=abci.RequestFlush())))
            await read_responses(reader, 1)
            writer.close()
            return bound
        finally:
            await server.stop()

    bound = run(main())
    assert bound.startswith("tcp://127.0.0.1:")
    assert int(bound.rsplit(":", 1)[1]) > 0


def test_parse_address():
    assert parse_address("tcp://127.0.0.1:26658") == ("tcp", "127.0.0.1", 26658)
    assert parse_address("0.0.0.0:1") == ("tcp", "0.0.0.0", 1)
    assert parse_address("tcp://[::1]:5") == ("tcp", "::1", 5)
    assert parse_address("unix:///tmp/app.sock") == ("unix", "/tmp/app.sock", None)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1", "grpc://127.0.0.1:1", "unix://", "localhost:http"])
def test_invalid_address(counter_app, address):
    with pytest.raises(ValueError):
        ABCIServer(counter_app, address)


def test_bound_address_before_start(counter_app):
    with pytest.raises(RuntimeError):
        ABCIServer(counter_app, "tcp://127.0.0.1:0").bound_address


# ---- Application defaults ------------------------------------------------------


def test_prepare_proposal_respects_block_size_of_txs():
    app = Application()
    tx = b"x" * 10
    assert tx_size_in_block(tx) == 12  # tag + 1-byte length + payload, as CometBFT counts
    assert tx_size_in_block(b"y" * 200) == 203
    req = abci.RequestPrepareProposal(txs=[tx, tx, tx], max_tx_bytes=24)
    assert list(app.prepare_proposal(req).txs) == [tx, tx]
    req = abci.RequestPrepareProposal(txs=[tx, tx, tx], max_tx_bytes=23)
    assert list(app.prepare_proposal(req).txs) == [tx]
    # stops at the first tx that does not fit, keeping the mempool order
    req = abci.RequestPrepareProposal(txs=[tx, b"y" * 200, b"z"], max_tx_bytes=20)
    assert list(app.prepare_proposal(req).txs) == [tx]
    assert list(app.prepare_proposal(abci.RequestPrepareProposal(txs=[tx], max_tx_bytes=0)).txs) == []


def test_application_defaults():
    app = Application()
    assert app.echo(abci.RequestEcho(message="m")).message == "m"
    assert app.info(abci.RequestInfo()) == abci.ResponseInfo()
    assert app.query(abci.RequestQuery()).code == 0
    assert app.check_tx(abci.RequestCheckTx(tx=b"t")).code == 0
    assert app.commit(abci.RequestCommit()) == abci.ResponseCommit()
    assert list(app.list_snapshots(abci.RequestListSnapshots()).snapshots) == []
    assert app.offer_snapshot(abci.RequestOfferSnapshot()).result == abci.ResponseOfferSnapshot.ABORT
    assert app.load_snapshot_chunk(abci.RequestLoadSnapshotChunk()).chunk == b""
    assert app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk()).result == abci.ResponseApplySnapshotChunk.ABORT
    assert app.process_proposal(abci.RequestProcessProposal()).status == abci.ResponseProcessProposal.ACCEPT
    assert app.extend_vote(abci.RequestExtendVote()).vote_extension == b""
    status = app.verify_vote_extension(abci.RequestVerifyVoteExtension()).status
    assert status == abci.ResponseVerifyVoteExtension.ACCEPT
    res = app.finalize_block(abci.RequestFinalizeBlock(txs=[b"a", b"b"]))
    assert [r.code for r in res.tx_results] == [0, 0] and res.app_hash == b""
    assert app.init_chain(abci.RequestInitChain()) == abci.ResponseInitChain()
