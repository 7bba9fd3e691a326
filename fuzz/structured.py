"""A protobuf-aware mutator: parse the input as the target's message, change one to three fields, re-encode.

Byte-level mutation rarely gets a nested field to an edge value: a Timestamp's nanos field inside a Header inside
a SignedHeader inside a ClientUpdate needs every enclosing length prefix fixed up at once. This mutator edits the
parsed message instead (numbers to type limits and near misses, strings and bytes resized or case-flipped,
repeated fields grown, shrunk or duplicated, sub-messages cleared or created) and lets protobuf re-encode it.
Its output is always a canonical encoding, so `atheris_main` alternates it with libFuzzer's byte-level
mutations, which produce the non-canonical inputs.
"""

from __future__ import annotations

import random

from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import DecodeError, Message

from distpos_abci.gen.distpos.v1 import interchain_pb2, tx_pb2, underwriting_pb2

_LIMITS = {
    F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1), F.TYPE_SFIXED32: (-2**31, 2**31 - 1),
    F.TYPE_INT64: (-2**63, 2**63 - 1), F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
    F.TYPE_ENUM: (-2**31, 2**31 - 1),
}
# Values of meaning to DistPOS and CometBFT: Timestamp's range and nanos, a second and a day in ns, MAX_AMOUNT.
_SPECIAL = (-62135596800, 253402300799, 253402300800, 999_999_999, 1_000_000_000, 10**9, 86_400 * 10**9, 2**53)


def _new_int(rng: random.Random, field, current: int) -> int:
    lo, hi = _LIMITS[field.type]
    choice = rng.randrange(6)
    if choice == 0:
        return rng.choice((lo, hi, lo + 1, hi - 1, 0, -1 if lo < 0 else 1))
    if choice == 1:
        return rng.choice(_SPECIAL)
    if choice == 2:
        return current + rng.choice((-1, 1, -2, 2))
    if choice == 3:
        return -current
    if choice == 4:
        return rng.randint(lo, hi)
    return current * rng.choice((2, 10, 1000))


def _new_bytes(rng: random.Random, current: bytes) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return b""
    if choice == 1:
        return rng.randbytes(rng.choice((1, 20, 31, 32, 33, 63, 64, 65)))
    if choice == 2 and current:
        i = rng.randrange(len(current))
        return current[:i] + bytes([current[i] ^ (1 << rng.randrange(8))]) + current[i + 1:]
    if choice == 3:
        return current[:-1]
    if choice == 4:
        return current + current[-1:] if current else b"\x00"
    return current * 2


def _new_string(rng: random.Random, current: str) -> str:
    choice = rng.randrange(7)
    if choice == 0:
        return ""
    if choice == 1:
        return current.lower() if current != current.lower() else current.upper()
    if choice == 2 and current:
        i = rng.randrange(len(current))
        return current[:i] + rng.choice("x0Ff \u00e9\u0000\U0001F600") + current[i + 1:]
    if choice == 3:
        return current[:-1]
    if choice == 4:
        return current + rng.choice(("x", " ", "0", "\n"))
    if choice == 5:
        return current * rng.choice((2, 30))
    return rng.choice(("e2e4", "a1b2", "c3d4", "E2E4", "e2e4x", "x", "\u00e9"))


def _leaves(msg: Message, out: list, depth: int = 0) -> None:
    """Every (message, field) a mutation may touch: fields of present messages, set or not, depth first."""
    for field in msg.DESCRIPTOR.fields:
        out.append((msg, field))
        if field.type != F.TYPE_MESSAGE or depth > 12:
            continue
        if field.is_repeated:
            for item in getattr(msg, field.name)[:4]:
                if isinstance(item, Message):
                    _leaves(item, out, depth + 1)
        elif msg.HasField(field.name):
            _leaves(getattr(msg, field.name), out, depth + 1)


def _mutate_field(rng: random.Random, msg: Message, field) -> None:
    name = field.name
    if field.is_repeated:
        items = getattr(msg, name)
        choice = rng.randrange(4)
        if choice == 0 and len(items):
            del items[rng.randrange(len(items))]
        elif choice == 1 and len(items):
            if field.type == F.TYPE_MESSAGE:
                items.add().CopyFrom(items[rng.randrange(len(items))])
            else:
                items.append(items[rng.randrange(len(items))])
        elif choice == 2 and len(items) > 1:
            i, j = rng.randrange(len(items)), rng.randrange(len(items))
            if field.type == F.TYPE_MESSAGE:
                a, b = type(items[i])(), type(items[j])()
                a.CopyFrom(items[i])
                b.CopyFrom(items[j])
                items[i].CopyFrom(b)
                items[j].CopyFrom(a)
            else:
                items[i], items[j] = items[j], items[i]
        elif field.type == F.TYPE_MESSAGE:
            items.add()
        elif field.type in _LIMITS:
            items.append(_new_int(rng, field, 0))
        return
    if field.type == F.TYPE_MESSAGE:
        if msg.HasField(name) and rng.randrange(2):
            msg.ClearField(name)
        else:
            getattr(msg, name).SetInParent()
    elif field.type == F.TYPE_BOOL:
        setattr(msg, name, not getattr(msg, name))
    elif field.type == F.TYPE_STRING:
        setattr(msg, name, _new_string(rng, getattr(msg, name)))
    elif field.type == F.TYPE_BYTES:
        setattr(msg, name, _new_bytes(rng, getattr(msg, name)))
    elif field.type in _LIMITS:
        lo, hi = _LIMITS[field.type]
        setattr(msg, name, min(hi, max(lo, _new_int(rng, field, getattr(msg, name)))))


def mutate_message(msg: Message, rng: random.Random) -> None:
    """Apply one to three field mutations to msg in place."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        leaves: list = []
        _leaves(msg, leaves)
        if not leaves:
            return
        parent, field = rng.choice(leaves)
        try:
            _mutate_field(rng, parent, field)
        except (ValueError, TypeError):
            pass  # a value the field cannot hold (e.g. a surrogate in a string): try another next time


# target -> (selector bytes kept in front, message class of the rest); a callable picks the class from the
# selector. Targets absent here (merkle's own layout, framing's byte streams) mutate bytes only.
def _msgs_class(selector: int):
    from .targets import MSG_FIELDS, _MSG_CLASSES
    return _MSG_CLASSES[MSG_FIELDS[selector % len(MSG_FIELDS)]]


LAYOUTS = {
    "tx": (0, lambda _: tx_pb2.Tx),
    "txbody": (0, lambda _: tx_pb2.TxBody),
    "msgs": (1, _msgs_class),
    "packet": (0, lambda _: interchain_pb2.Packet),
    "ack": (0, lambda _: interchain_pb2.Ack),
    "guarantee": (0, lambda _: underwriting_pb2.Guarantee),
    "lightclient": (1, lambda _: interchain_pb2.MsgUpdateClient),
}


def mutate(target: str, data: bytes, rng: random.Random) -> bytes | None:
    """data with its message mutated, or None when the target has no layout or data does not parse."""
    layout = LAYOUTS.get(target)
    if layout is None:
        return None
    head, cls_of = layout
    if len(data) < head:
        return None
    prefix = data[:head]
    try:
        msg = cls_of(prefix[0] if head else 0).FromString(data[head:])
    except DecodeError:
        return None
    if target == "tx" and rng.randrange(2):
        # the signed body is bytes inside Tx: mutate it as a TxBody (the signature then fails, which is the point)
        try:
            body = tx_pb2.TxBody.FromString(msg.body)
        except DecodeError:
            body = None
        if body is not None:
            mutate_message(body, rng)
            msg.body = body.SerializeToString(deterministic=True)
            return prefix + msg.SerializeToString(deterministic=True)
    mutate_message(msg, rng)
    return prefix + msg.SerializeToString(deterministic=True)
