"""The fuzz targets: each feeds arbitrary bytes to one public decode or verify entry point and checks its property.

Property of every target: on any input it returns a value or raises the documented error of its layer
(`DistposError` for the state machine's decoders, `FramingError` for the ABCI frame reader, `False` for the
Merkle verifiers, which never raise). Decoders of signed or proven input also promise one encoding: bytes they
accept re-encode to exactly those bytes (`NonCanonical`). A target returns normally when the property holds and
raises `PropertyViolation` when it does not; any other exception escaping a target is itself a finding.

Targets never catch `Exception` broadly: only the documented error is swallowed, so anything else surfaces.
"""

from __future__ import annotations

import tempfile

import asyncio
import hashlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from distpos_abci.abci.framing import FrameDecoder, MAX_UVARINT_LEN, FramingError, decode_uvarint, read_frame
from distpos_abci.app import DistposApp, default_modules
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.codec import decode_canonical, encode_canonical
from distpos_abci.errors import DistposError, InvalidProofError
from distpos_abci.gen.distpos.v1 import interchain_pb2, state_pb2, tx_pb2, underwriting_pb2
from distpos_abci.interchain.msgs import decode_update_client
from distpos_abci.interchain.records import decode_ack, decode_packet
from distpos_abci.lightclient.verifier import validate_light_block
from distpos_abci.store import merkle
from distpos_abci.address import compute_account_id
from distpos_abci.tx import compute_sign_bytes, decode_tx, validate_tx_stateless
from distpos_abci.underwriting.guarantee import decode_guarantee, verify_guarantee_signature

from . import fixtures


class PropertyViolation(Exception):
    """The target's property does not hold for this input; `kind` names which one."""

    kind = "property"


class NonCanonical(PropertyViolation):
    """Accepted bytes that are not the canonical encoding of what was decoded."""

    kind = "noncanonical"


# The decoders of a real app (gov decodes proposal messages through the app it is bound to), on a scratch store.
_APP = DistposApp(StateStore(Database(tempfile.mkdtemp(prefix="distpos-fuzz-"))), default_modules())
DECODERS = dict(_APP.decoders)
MSG_FIELDS = sorted(DECODERS)  # selector byte -> TxBody oneof field, for the msgs target
_MSG_CLASSES = {f: tx_pb2.TxBody.DESCRIPTOR.fields_by_name[f].message_type._concrete_class for f in MSG_FIELDS}
_SIGNER = compute_account_id(fixtures.ALICE.pub_key)


def _require_canonical(raw: bytes, reencoded: bytes, what: str) -> None:
    if reencoded != raw:
        raise NonCanonical(f"{what}: accepted {raw.hex()} but it re-encodes to {reencoded.hex()}")


# ---- transactions and messages ----------------------------------------------------------------------------

def check_tx(data: bytes) -> None:
    """decode_tx with the app's decoders, then the stateless checks; accepted bytes are canonical (Tx and body)."""
    try:
        tx = decode_tx(data, DECODERS)
    except DistposError:
        return
    try:
        validate_tx_stateless(tx, fixtures.CHAIN)
    except DistposError:
        pass
    # decode_tx accepted the bytes, so both layers parse; the canonical form drops unknown fields.
    outer = tx_pb2.Tx.FromString(data)
    outer.DiscardUnknownFields()
    _require_canonical(data, encode_canonical(outer), "Tx")
    body = tx_pb2.TxBody.FromString(tx.body)
    body.DiscardUnknownFields()
    _require_canonical(tx.body, encode_canonical(body), "TxBody")


_FIXTURE_KEYS = {k.pub_key: k for k in (fixtures.ALICE, fixtures.BOB, fixtures.OPERATOR, fixtures.CONSENSUS)}


def check_signed_body(data: bytes) -> None:
    """The input is a TxBody, signed here (by the fixture key it names, else Alice's) and wrapped in a canonical Tx,
    so mutants get past the signature into the message decoders and validate_basic; an accepted body is canonical."""
    try:
        signer = _FIXTURE_KEYS.get(tx_pb2.TxBody.FromString(data).signer_pub_key, fixtures.ALICE)
    except DecodeError:
        signer = fixtures.ALICE
    tx = tx_pb2.Tx(body=data, signature=signer.sign(compute_sign_bytes(data)))
    raw = encode_canonical(tx)
    try:
        decoded = decode_tx(raw, DECODERS, max_bytes=len(raw))
        validate_tx_stateless(decoded, fixtures.CHAIN)
    except DistposError:
        return
    body = tx_pb2.TxBody.FromString(data)
    body.DiscardUnknownFields()
    _require_canonical(data, encode_canonical(body), "TxBody")


def check_msgs(data: bytes) -> None:
    """First byte picks a message decoder (MSG_FIELDS); the rest is that message. Decode, then validate_basic."""
    if not data:
        return
    field = MSG_FIELDS[data[0] % len(MSG_FIELDS)]
    try:
        m = _MSG_CLASSES[field].FromString(data[1:])
    except DecodeError:
        return  # not a message at all: the transaction layer refuses it before any message decoder runs
    try:
        msg = DECODERS[field](m)
        msg.validate_basic(fixtures.CHAIN, _SIGNER)
    except DistposError:
        return


# ---- interchain records and guarantees ---------------------------------------------------------------------

def check_packet(data: bytes) -> None:
    """decode_packet; an accepted packet re-encodes to the same bytes."""
    try:
        packet = decode_packet(data)
    except DistposError:
        return
    _require_canonical(data, packet.encode(), "Packet")


def check_ack(data: bytes) -> None:
    """decode_ack; an accepted ack re-encodes to the same bytes."""
    try:
        ack = decode_ack(data)
    except DistposError:
        return
    _require_canonical(data, ack.encode(), "Ack")


_GUARANTOR = fixtures.CONSENSUS.pub_key


def check_guarantee(data: bytes) -> None:
    """Strict parse (codec), decode_guarantee, signature check; the typed guarantee re-encodes to the same bytes."""
    try:
        m = decode_canonical(underwriting_pb2.Guarantee, data, "guarantee")
        g = decode_guarantee(m)
    except DistposError:
        return
    ok = verify_guarantee_signature(_GUARANTOR, g)
    if ok is not True and ok is not False:
        raise PropertyViolation(f"verify_guarantee_signature returned {ok!r}")
    _require_canonical(data, encode_canonical(g.to_proto()), "Guarantee")


# ---- Merkle proofs ------------------------------------------------------------------------------------------

def _split_merkle_input(data: bytes) -> tuple[bool, bytes, bytes, bytes, bytes] | None:
    if len(data) < 2:
        return None
    membership = data[0] % 2 == 0
    pos = 2 + data[1]
    key = data[2:pos]
    if pos >= len(data):
        return None
    value_end = pos + 1 + data[pos]
    value = data[pos + 1:value_end]
    root = data[value_end:value_end + 32]
    return membership, key, value, root, data[value_end + 32:]


def check_merkle(data: bytes) -> None:
    """Strict proof decode, then verify_membership / verify_non_membership: a bool, never an exception.

    Against the fixture trie's root a verified proof must also be true: membership of a key with exactly that
    value, non-membership of a key the trie does not hold (soundness). A proof that verifies is canonical.
    """
    parts = _split_merkle_input(data)
    if parts is None:
        return
    membership, key, value, root, raw_proof = parts
    try:
        proof = merkle.MerkleProof.from_proto(
            decode_canonical(state_pb2.MerkleProof, raw_proof, "proof", InvalidProofError))
    except DistposError:
        return
    if membership:
        ok = merkle.verify_membership(root, key, value, proof)
    else:
        ok = merkle.verify_non_membership(root, key, proof)
    if ok is not True and ok is not False:
        raise PropertyViolation(f"verifier returned {ok!r}")
    if not ok:
        return
    fixture_root, _ = fixtures.trie()
    if root == fixture_root:
        held = fixtures.TRIE_ENTRIES.get(key)
        if membership and held != value:
            raise PropertyViolation(f"membership of {key!r}={value!r} verified; the trie holds {held!r}")
        if not membership and held is not None:
            raise PropertyViolation(f"non-membership of {key!r} verified; the trie holds it")
    _require_canonical(raw_proof, encode_canonical(proof.to_proto()), "MerkleProof")


# ---- light client -------------------------------------------------------------------------------------------

_SYNTHETIC = (fixtures.synthetic_client(), fixtures.NOW_NS)
_REAL = fixtures.real_client()


def check_lightclient(data: bytes) -> None:
    """First byte picks the trusted client (synthetic, recorded CometBFT chain); the rest is a MsgUpdateClient,
    decoded as the app does and validated against that client."""
    if not data:
        return
    client, now_ns = _SYNTHETIC if data[0] % 2 == 0 else _REAL
    try:
        m = interchain_pb2.MsgUpdateClient.FromString(data[1:])
    except DecodeError:
        return
    try:
        update = decode_update_client(m).update
        validate_light_block(client, update, now_ns)
    except DistposError:
        return


# ---- ABCI frames --------------------------------------------------------------------------------------------

_MAX_FRAME = 1 << 16
_loop = asyncio.new_event_loop()


async def _read_all(data: bytes) -> tuple[list[bytes], bool]:
    reader = asyncio.StreamReader(limit=_MAX_FRAME * 2, loop=_loop)
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while True:
        try:
            frame = await read_frame(reader, _MAX_FRAME)
        except FramingError:
            return frames, True
        if frame is None:
            return frames, False
        frames.append(frame)


def _run_to_end(coro):
    # Every byte is fed and EOF is set before reading, so read_frame never has to wait: drive the coroutine
    # directly instead of through an event loop (ten times faster). If it ever waits, that is a finding.
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise PropertyViolation("read_frame waited for data on a stream already fed and closed")


def _walk_frames(stream: bytes) -> tuple[list[bytes], bool, int]:
    """The stream cut frame by frame with decode_uvarint: (frames, refused, bytes left over)."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(stream):
        prefix = stream[pos:pos + MAX_UVARINT_LEN]
        if len(prefix) < MAX_UVARINT_LEN and all(b >= 0x80 for b in prefix):
            break  # the length prefix itself is cut short: wait for more bytes
        try:
            size, start = decode_uvarint(stream, pos)
        except FramingError:
            return frames, True, len(stream) - pos
        if size > _MAX_FRAME:
            return frames, True, len(stream) - pos
        if start + size > len(stream):
            break
        frames.append(stream[start:start + size])
        pos = start + size
    return frames, False, len(stream) - pos


def check_framing(data: bytes) -> None:
    """First byte is a chunk size (0 = everything at once). FrameDecoder fed in chunks, read_frame on a stream and
    decode_uvarint walking the stream must agree: the same frames, the same refusal (FramingError), the same
    bytes held back."""
    if not data:
        return
    chunk, stream = data[0], data[1:]
    walked, refused, left = _walk_frames(stream)
    decoder = FrameDecoder(_MAX_FRAME)
    frames: list[bytes] = []
    failed = False
    step = chunk or max(1, len(stream))
    try:
        for i in range(0, len(stream), step):
            frames += decoder.feed(stream[i:i + step])
    except FramingError:
        failed = True  # frames completed by the failing feed call are lost with it
    if failed != refused:
        raise PropertyViolation(f"FrameDecoder {'refused' if failed else 'accepted'} the stream, the walk did not")
    if frames != walked[:len(frames)] or (not failed and len(frames) != len(walked)):
        raise PropertyViolation("FrameDecoder and decode_uvarint disagree on the frames")
    if not failed and decoder.buffered != left:
        raise PropertyViolation(f"decoder holds {decoder.buffered} bytes back, {left} are unconsumed")
    read, read_failed = _run_to_end(_read_all(stream))
    if read != walked:
        raise PropertyViolation("read_frame and decode_uvarint disagree on the frames")
    if read_failed != (refused or left > 0):
        raise PropertyViolation("read_frame's FramingError does not match a refused or cut-short stream")


# ---- registry -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    check: Callable[[bytes], None]
    canonical: bool  # whether the target checks the one-encoding property
    doc: str


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("tx", check_tx, True, "tx.decode_tx with default_modules() decoders, validate_tx_stateless"),
    Target("txbody", check_signed_body, True, "a TxBody signed by the fixture key through decode_tx, validate_tx_stateless"),
    Target("msgs", check_msgs, False, "every message decoder of default_modules(), then validate_basic"),
    Target("packet", check_packet, True, "interchain.records.decode_packet"),
    Target("ack", check_ack, True, "interchain.records.decode_ack"),
    Target("guarantee", check_guarantee, True, "underwriting.guarantee.decode_guarantee, verify_guarantee_signature"),
    Target("merkle", check_merkle, True, "MerkleProof decode, store.merkle.verify_membership/verify_non_membership"),
    Target("lightclient", check_lightclient, False, "interchain decode_update_client, lightclient.validate_light_block"),
    Target("framing", check_framing, False, "abci.framing.FrameDecoder.feed and read_frame"),
)}


@dataclass(frozen=True)
class Finding:
    """One input that broke a target: the kind, a signature that identifies the bug, the details."""

    target: str
    kind: str  # "exception", "property", "noncanonical"
    signature: str
    detail: str
    data: bytes

    @property
    def input_id(self) -> str:
        return hashlib.sha1(self.data).hexdigest()[:16]


def probe(target: Target, data: bytes) -> Finding | None:
    """Run target on data; the Finding it produced, or None when the property held."""
    try:
        target.check(data)
    except PropertyViolation as exc:
        return Finding(target.name, exc.kind, f"{exc.kind}:{type(exc).__name__}:{str(exc).split(':')[0]}",
                       str(exc), data)
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - anything else is the finding itself
        tb = traceback.extract_tb(exc.__traceback__)
        frame = next((f for f in reversed(tb) if "distpos_abci" in f.filename), tb[-1])
        where = f"{frame.filename.rsplit('distpos_abci/', 1)[-1]}:{frame.lineno}"
        return Finding(target.name, "exception", f"exception:{type(exc).__name__}@{where}",
                       "".join(traceback.format_exception(exc)), data)
    return None
