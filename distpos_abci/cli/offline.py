"""`distpos tx sign|broadcast|encode|decode`: the offline flow. Any tx command with `--generate-only` prints an
unsigned transaction (no secret needed); `tx sign` signs it on the machine holding the key; `tx broadcast`
sends it from one that can reach a node."""

from __future__ import annotations

import base64
import binascii
import json
import pathlib

import click
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from ..address import Address
from ..codec import decode_canonical, encode_canonical
from ..crypto import verify_signature
from ..errors import InvalidInputError
from ..gen.distpos.v1 import tx_pb2
from ..rpc_client import CometRPC
from ..tx import compute_sign_bytes, compute_tx_hash
from .client import SignedTx, broadcast_and_wait, describe_body, report_simulation
from .common import FILE, TxSettings, chain_id_option, keyring_option, node_option, open_keyring, output_option
from .output import emit


def _read_json(path: pathlib.Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what} {path} must be a JSON object")
    return data


def _b64(data: dict, key: str, what: str) -> bytes:
    try:
        return base64.b64decode(str(data[key]), validate=True)
    except (KeyError, ValueError, binascii.Error):
        raise InvalidInputError(f"{what}: `{key}` must be base64") from None


def _decode_body(raw: bytes) -> tx_pb2.TxBody:
    body = decode_canonical(tx_pb2.TxBody, raw, "transaction body")
    if body.WhichOneof("msg") is None or len(body.signer_pub_key) != 32:
        raise InvalidInputError("transaction body carries no message or no 32-byte signer key")
    return body


def _decode_tx(raw: bytes) -> tuple[tx_pb2.Tx, tx_pb2.TxBody]:
    tx = decode_canonical(tx_pb2.Tx, raw, "transaction")
    return tx, _decode_body(tx.body)


def tx_json(tx: tx_pb2.Tx, body: tx_pb2.TxBody) -> dict:
    """A signed transaction as JSON: its body as protobuf JSON, the signature, the hash and the raw base64."""
    raw = encode_canonical(tx)
    return {"body": MessageToDict(body, preserving_proto_field_name=True),
            "signature": base64.b64encode(tx.signature).decode(), "hash": compute_tx_hash(raw).hex().upper(),
            "tx": base64.b64encode(raw).decode()}


@click.command("sign")
@click.argument("unsigned_file", metavar="UNSIGNED_JSON", type=FILE)
@click.option("--from", "from_key", required=True, help="Key that signs (it must be the body's signer).")
@keyring_option
@chain_id_option
@output_option
def sign(unsigned_file, from_key, keyring_dir, chain_id, output) -> None:
    """Sign the transaction that `--generate-only` printed into UNSIGNED_JSON (prints the signed transaction)."""
    body_raw = _b64(_read_json(unsigned_file, "unsigned transaction"), "body", str(unsigned_file))
    body = _decode_body(body_raw)
    if body.chain_id != chain_id:  # the file may come from anywhere: sign only for the chain the operator named
        raise InvalidInputError(f"the transaction is for chain {body.chain_id!r}, not {chain_id!r} (--chain-id)")
    key = open_keyring(keyring_dir).get(from_key)
    if key.keypair.pub_key != body.signer_pub_key:
        raise InvalidInputError(f"key {from_key!r} is not the transaction's signer "
                                f"{Address.from_pub_key(chain_id, body.signer_pub_key)}")
    tx = tx_pb2.Tx(body=body_raw, signature=key.keypair.sign(compute_sign_bytes(body_raw)))
    emit(tx_json(tx, body), output, text=json.dumps(tx_json(tx, body), indent=2))


def _read_signed(source: str) -> tuple[tx_pb2.Tx, tx_pb2.TxBody]:
    """A signed transaction from a file `tx sign` wrote, or base64 given directly."""
    text = source
    try:
        if "\0" not in source and pathlib.Path(source).is_file():
            text = pathlib.Path(source).read_text()
    except (OSError, UnicodeDecodeError):
        pass  # not a readable file: perhaps the base64 itself, judged below
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidInputError("signed transaction: not JSON") from None
        raw = _b64(data if isinstance(data, dict) else {}, "tx", "signed transaction")
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise InvalidInputError("want a file from `tx sign`, or the transaction in base64") from None
    return _decode_tx(raw)


@click.command("broadcast")
@click.argument("source", metavar="SIGNED_JSON|BASE64")
@node_option
@click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds to wait for the commit.")
@output_option
def broadcast(source, node, timeout, output) -> None:
    """Broadcast a signed transaction (from `tx sign`) and wait for its block."""
    tx, body = _read_signed(source)
    if not verify_signature(body.signer_pub_key, compute_sign_bytes(tx.body), tx.signature):
        raise InvalidInputError("the transaction's signature does not verify: sign it with `distpos tx sign`")
    raw = encode_canonical(tx)
    signer = str(Address.from_pub_key(body.chain_id, body.signer_pub_key))
    signed = SignedTx(raw, compute_tx_hash(raw), body.chain_id, signer, body.nonce)
    data = {"hash": signed.hash.hex().upper(), "chain_id": body.chain_id, "signer": signer, "nonce": body.nonce}
    settings = TxSettings(pathlib.Path("."), node, body.chain_id, timeout, output)
    committed = broadcast_and_wait(settings, signed, data)
    emit(data, output, text=f"committed {data['hash']} at height {committed.height}: {describe_body(body)}")


@click.command("simulate")
@click.argument("source", metavar="SIGNED_JSON|BASE64")
@node_option
@output_option
def simulate(source, node, output) -> None:
    """Report the gas, the fee and the minimum fees of a signed transaction (from `tx sign`), and what the node's
    CheckTx would answer; nothing is sent or kept. Any tx command takes --dry-run for the same report."""
    tx, body = _read_signed(source)
    raw = encode_canonical(tx)
    signer = str(Address.from_pub_key(body.chain_id, body.signer_pub_key))
    settings = TxSettings(pathlib.Path("."), node, body.chain_id, 0.0, output)
    report_simulation(settings, SignedTx(raw, compute_tx_hash(raw), body.chain_id, signer, body.nonce))


@click.command("decode")
@click.argument("source", metavar="SIGNED_JSON|BASE64")
@output_option
def decode(source, output) -> None:
    """Print a signed transaction (base64, or a `tx sign` file) as JSON."""
    tx, body = _read_signed(source)
    data = tx_json(tx, body)
    emit(data, output, text=json.dumps(data, indent=2))


@click.command("encode")
@click.argument("json_file", metavar="TX_JSON", type=FILE)
def encode(json_file) -> None:
    """Print the base64 of a transaction given as JSON (the `body` and `signature` that `tx decode` prints)."""
    data = _read_json(json_file, "transaction JSON")
    if not isinstance(data.get("body"), dict):
        raise InvalidInputError(f"{json_file}: `body` must be the transaction body as JSON")
    try:
        body = ParseDict(data["body"], tx_pb2.TxBody())
    except (ParseError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"{json_file}: body: {str(exc).splitlines()[0] if str(exc) else 'invalid'}") from None
    body_raw = encode_canonical(body)
    _decode_body(body_raw)
    signature = _b64(data, "signature", str(json_file))
    click.echo(base64.b64encode(encode_canonical(tx_pb2.Tx(body=body_raw, signature=signature))).decode())


COMMANDS = (sign, broadcast, simulate, encode, decode)

__all__ = ["COMMANDS", "tx_json"]
