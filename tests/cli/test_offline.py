"""The offline flow: `--generate-only` needs only the public key, `tx sign` signs only for the named chain and
the body's own signer, `tx broadcast` sends what was signed, `tx encode|decode` round-trip."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from distpos_abci.cli.main import cli
from distpos_abci.crypto import KeyPair, verify_signature
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.keyring import Keyring
from distpos_abci.tx import compute_sign_bytes
from tests.cli.test_client_config import HostileNode, hostile_node  # noqa: F401 (fixture)

ADDRESS = "e2e4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"
ENV = {"DISTPOS_KEYRING_DIR": None, "DISTPOS_NODE": None, "DISTPOS_CHAIN_ID": None, "DISTPOS_KEYRING_PASSPHRASE": None,
       "DISTPOS_KEYRING_BACKEND": None}


@pytest.fixture
def home(tmp_path):
    Keyring(tmp_path / "keyring", "file", lambda: "the passphrase").add("alice", KeyPair(bytes(range(32))))
    Keyring(tmp_path / "keyring").add("bob", KeyPair(bytes(32)))
    return tmp_path


def run(home, *args, input=None, **env):
    return CliRunner().invoke(cli, ["--home", str(home), *args], input=input, env={**ENV, **env})


def _generate(home) -> dict:
    res = run(home, "tx", "bank", "send", "alice", ADDRESS, "5", "--chain-id", "e2e4", "--nonce", "3",
              "--generate-only", "--fees", "7", "--node", "http://127.0.0.1:1", "-o", "json")
    assert res.exit_code == 0, res.stderr  # no node asked (nonce and fee given), no passphrase asked
    return json.loads(res.stdout)


def test_generate_sign_decode_encode(home):
    unsigned = _generate(home)
    assert (unsigned["nonce"], unsigned["message_type"], unsigned["message"]["amount"]) == (3, "send", "5")
    assert unsigned["fee"] == 7 and tx_pb2.TxBody.FromString(base64.b64decode(unsigned["body"])).fee == 7
    (home / "unsigned.json").write_text(json.dumps(unsigned))
    signed = run(home, "tx", "sign", str(home / "unsigned.json"), "--from", "alice", "--chain-id", "e2e4", "-o", "json",
                 DISTPOS_KEYRING_PASSPHRASE="the passphrase")
    assert signed.exit_code == 0, signed.stderr
    data = json.loads(signed.stdout)
    tx = tx_pb2.Tx.FromString(base64.b64decode(data["tx"]))
    assert verify_signature(KeyPair(bytes(range(32))).pub_key, compute_sign_bytes(tx.body), tx.signature)
    decoded = json.loads(run(home, "tx", "decode", data["tx"], "-o", "json").stdout)
    assert decoded == data
    (home / "decoded.json").write_text(json.dumps(decoded))
    assert run(home, "tx", "encode", str(home / "decoded.json")).stdout.strip() == data["tx"]


def test_invalid_sign_for_another_chain_or_key(home):
    (home / "unsigned.json").write_text(json.dumps(_generate(home)))
    other_chain = run(home, "tx", "sign", str(home / "unsigned.json"), "--from", "alice", "--chain-id", "a1b2")
    assert other_chain.exit_code == 2 and "not 'a1b2'" in other_chain.stderr
    other_key = run(home, "tx", "sign", str(home / "unsigned.json"), "--from", "bob", "--chain-id", "e2e4")
    assert other_key.exit_code == 2 and "not the transaction's signer" in other_key.stderr


def test_broadcast_sends_the_signed_bytes(home, hostile_node):  # noqa: F811
    (home / "unsigned.json").write_text(json.dumps(_generate(home)))
    signed = run(home, "tx", "sign", str(home / "unsigned.json"), "--from", "alice", "--chain-id", "e2e4", "-o", "json",
                 DISTPOS_KEYRING_PASSPHRASE="the passphrase")
    (home / "signed.json").write_text(signed.stdout)
    res = run(home, "tx", "broadcast", str(home / "signed.json"), "--node", hostile_node, "-o", "json")
    assert res.exit_code == 0, res.stderr
    assert base64.b64encode(HostileNode.received[0]).decode() == json.loads(signed.stdout)["tx"]


def test_invalid_broadcast_of_an_unsigned_body(home):
    unsigned = _generate(home)
    raw = base64.b64encode(tx_pb2.Tx(body=base64.b64decode(unsigned["body"]),
                                                   signature=bytes(64)).SerializeToString()).decode()
    res = run(home, "tx", "broadcast", raw, "--node", "http://127.0.0.1:1")
    assert res.exit_code == 2 and "does not verify" in res.stderr
