"""Keys: BIP-39 mnemonics and SLIP-0010 derivation (pinned vectors), the `test` and `file` backends, delete,
armored passphrase-encrypted export and import."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from distpos_abci.cli.main import cli
from distpos_abci.errors import InvalidInputError, KeyringError
from distpos_abci.keyring import (
    Keyring,
    compute_armor,
    compute_keypair_from_mnemonic,
    decrypt_seed,
    encrypt_seed,
    parse_armor,
    validate_hd_path,
)

# BIP-39's all-zero-entropy 24-word phrase; the public key below pins DistPOS's derivation (SLIP-0010 ed25519 at
# m/44'/1'/0'/0'/0' of the BIP-39 seed with an empty passphrase): change it and every recovered key changes.
MNEMONIC = "abandon " * 23 + "art"
PUB_KEY = "811b322f9c28877bf9f543a8e8db1f3c4fd45a6ccc6cadf315499893d49b8299"
ENV = {"DISTPOS_KEYRING_DIR": None, "DISTPOS_KEYRING_BACKEND": None, "DISTPOS_KEYRING_PASSPHRASE": None}


def run(home, *args, input=None, **env):
    return CliRunner().invoke(cli, ["--home", str(home), *args], input=input, env={**ENV, **env})


def test_slip10_derivation_vector():
    # SLIP-0010 test vector 1 (ed25519) runs through the same library: seed 000102...0f, path m/0'.
    from slip10 import SLIP10
    node = SLIP10.from_seed(bytes.fromhex("000102030405060708090a0b0c0d0e0f"), curve_name="ed25519")
    assert node.get_privkey_from_path("m/0'").hex() == \
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"


def test_distpos_derivation_is_pinned():
    assert compute_keypair_from_mnemonic(MNEMONIC).pub_key.hex() == PUB_KEY
    assert compute_keypair_from_mnemonic("  " + MNEMONIC.upper().replace(" ", "   ") + "\n").pub_key.hex() == PUB_KEY


def test_keys_add_prints_a_mnemonic_and_recover_restores_the_key(tmp_path):
    added = json.loads(run(tmp_path, "keys", "add", "alice", "-o", "json").stdout)
    assert len(added["mnemonic"].split()) == 24 and added["hd_path"] == "m/44'/1'/0'/0'/0'"
    recovered = run(tmp_path, "keys", "add", "alice2", "--recover", "-o", "json", input=added["mnemonic"] + "\n")
    assert recovered.exit_code == 0, recovered.stderr
    assert json.loads(recovered.stdout)["pub_key"] == added["pub_key"] and "mnemonic" not in recovered.stdout
    pinned = run(tmp_path, "keys", "add", "carol", "--recover", "-o", "json", input=MNEMONIC + "\n")
    assert json.loads(pinned.stdout)["pub_key"] == PUB_KEY
    other = run(tmp_path, "keys", "add", "dave", "--recover", "--hd-path", "m/44'/1'/0'/0'/1'", "-o", "json",
                input=MNEMONIC + "\n")
    assert json.loads(other.stdout)["pub_key"] != PUB_KEY


@pytest.mark.parametrize("phrase", ["abandon " * 24, "not a mnemonic", MNEMONIC.replace("art", "zoo")])
def test_invalid_mnemonic_is_refused(tmp_path, phrase):
    res = run(tmp_path, "keys", "add", "x", "--recover", input=phrase + "\n")
    assert res.exit_code == 2 and "BIP-39" in res.stderr.splitlines()[-1]
    assert not (tmp_path / "keyring" / "x.key.json").exists()


@pytest.mark.parametrize("path", ["m/44/1'", "m", "44'/1'", "m/44'/2147483648'", "m/-1'"])
def test_invalid_hd_path(path):
    with pytest.raises(InvalidInputError):
        validate_hd_path(path)


def test_file_backend_encrypts_and_signs_with_the_passphrase(tmp_path):
    res = run(tmp_path, "keys", "add", "alice", "--keyring-backend", "file", "-o", "json",
              DISTPOS_KEYRING_PASSPHRASE="correct horse")
    assert res.exit_code == 0, res.stderr
    text = (tmp_path / "keyring" / "alice.key.json").read_text()
    record = json.loads(text)
    assert "seed" not in record and record["encrypted"]["kdf"] == "argon2id"
    assert stat.S_IMODE((tmp_path / "keyring" / "alice.key.json").stat().st_mode) == 0o600
    shown = json.loads(run(tmp_path, "keys", "show", "alice", "-o", "json").stdout)  # no passphrase needed
    assert shown["encrypted"] is True and shown["pub_key"] == json.loads(res.stdout)["pub_key"]
    kr = Keyring(tmp_path / "keyring", passphrase=lambda: "correct horse")
    assert kr.get("alice").keypair.pub_key.hex() == shown["pub_key"]
    with pytest.raises(KeyringError, match="wrong passphrase"):
        Keyring(tmp_path / "keyring", passphrase=lambda: "wrong").get("alice")


def test_client_toml_chooses_the_backend(tmp_path):
    run(tmp_path, "config", "set", "keyring-backend", "file")
    res = run(tmp_path, "keys", "add", "alice", input="secret-pass\n")  # prompted for the passphrase
    assert res.exit_code == 0, res.stderr
    assert "encrypted" in json.loads((tmp_path / "keyring" / "alice.key.json").read_text())


def test_export_import_round_trip_through_armor(tmp_path):
    run(tmp_path, "keys", "add", "alice", "--recover", input=MNEMONIC + "\n")
    exported = run(tmp_path, "keys", "export", "alice", input="export-pass\nexport-pass\n")
    assert exported.exit_code == 0, exported.stderr
    assert exported.stdout.startswith("-----BEGIN DISTPOS PRIVATE KEY-----\n") and "kdf: argon2id" in exported.stdout
    (tmp_path / "alice.armor").write_text(exported.stdout)
    wrong = run(tmp_path, "keys", "import", "bob", str(tmp_path / "alice.armor"), input="nope\n")
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.stderr
    imported = run(tmp_path, "keys", "import", "bob", str(tmp_path / "alice.armor"), "-o", "json",
                   input="export-pass\n")
    assert imported.exit_code == 0 and json.loads(imported.stdout)["pub_key"] == PUB_KEY


def test_invalid_export_passphrase_too_short_or_mismatched(tmp_path):
    run(tmp_path, "keys", "add", "alice")
    short = run(tmp_path, "keys", "export", "alice", input="short\nshort\n")
    assert short.exit_code == 2 and "at least 8" in short.stderr
    assert "BEGIN" not in short.stdout


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN DISTPOS PRIVATE KEY-----\n-----END DISTPOS PRIVATE KEY-----"])
def test_invalid_armor(text):
    with pytest.raises(InvalidInputError, match="not an armored"):
        parse_armor(text, "x")


def test_armor_and_sealing_are_pure_round_trips():
    from distpos_abci.crypto import KeyPair
    kp = KeyPair(bytes(range(32)))
    assert parse_armor(compute_armor("k", kp, "pass-word"), "pass-word") == ("k", kp)
    sealed = encrypt_seed(kp.seed, "pw")
    assert decrypt_seed(sealed, "pw") == kp.seed
    with pytest.raises(KeyringError):
        decrypt_seed({**sealed, "opslimit": 10**9}, "pw")  # a hostile cost is refused before any work


def test_delete_asks_and_removes(tmp_path):
    run(tmp_path, "keys", "add", "alice")
    refused = run(tmp_path, "keys", "delete", "alice", input="n\n")
    assert refused.exit_code == 1 and (tmp_path / "keyring" / "alice.key.json").exists()
    assert run(tmp_path, "keys", "delete", "alice", "-y").exit_code == 0
    assert not (tmp_path / "keyring" / "alice.key.json").exists()
    missing = run(tmp_path, "keys", "delete", "alice", "-y")
    assert missing.exit_code == 1 and "no key 'alice'" in missing.stderr
