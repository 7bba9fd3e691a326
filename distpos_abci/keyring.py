"""A directory of named ed25519 keys, one JSON file each, mode 0600; mnemonics, encryption and armor.

Keys are chain-agnostic: the same key has one address per chain-id.

Backends (how a new key is written; any key file can be read whatever the backend):
- `test`: the 32-byte ed25519 seed in clear, for localnets and tests.
- `file`: the seed encrypted with a passphrase: Argon2id (memory-hard, libsodium's `crypto_pwhash`) derives a
  32-byte key from the passphrase and a random salt; XSalsa20-Poly1305 (`SecretBox`) encrypts the seed.

Derivation: a BIP-39 mnemonic (24 English words, 256 bits of entropy) gives the 64-byte BIP-39 seed
(PBKDF2-HMAC-SHA512, 2048 rounds, empty BIP-39 passphrase); SLIP-0010 derives the ed25519 private seed from it
along `DEFAULT_HD_PATH`. DistPOS has no SLIP-44 coin type of its own, so the path uses coin type 1 ("testnet,
all coins"); SLIP-0010 ed25519 allows only hardened steps.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from mnemonic import Mnemonic
from slip10 import SLIP10, SLIP10DerivationError
from slip10 import InvalidInputError as SlipInputError

from .address import Address
from .crypto import KeyPair
from .errors import InvalidInputError, KeyringError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HD_PATH_RE = re.compile(r"^m(/[0-9]{1,10}')+$")
BACKENDS = ("test", "file")
DEFAULT_HD_PATH = "m/44'/1'/0'/0'/0'"
MNEMONIC_STRENGTH = 256  # bits: 24 words
# Argon2id cost of the `file` backend and of exports (libsodium's "interactive" level: 64 MiB, 2 passes). Stored
# with each key, so keys written with other costs stay readable.
KDF_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
KDF_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
ARMOR_BEGIN = "-----BEGIN DISTPOS PRIVATE KEY-----"
ARMOR_END = "-----END DISTPOS PRIVATE KEY-----"

Passphrase = Callable[[], str]


# ---- pure key material ---------------------------------------------------------------------------------------

def generate_mnemonic() -> str:
    """A fresh 24-word BIP-39 mnemonic (English word list)."""
    return Mnemonic("english").generate(MNEMONIC_STRENGTH)


def validate_hd_path(hd_path: str) -> str:
    """Raise InvalidInputError unless hd_path is `m/` followed by hardened steps only (SLIP-0010 ed25519)."""
    if not _HD_PATH_RE.match(hd_path) or any(int(step[:-1]) >= 1 << 31 for step in hd_path.split("/")[1:]):
        raise InvalidInputError(f"hd path {hd_path!r} must be m/N'/N'/... with every step hardened and below 2^31")
    return hd_path


def compute_keypair_from_mnemonic(mnemonic: str, hd_path: str = DEFAULT_HD_PATH) -> KeyPair:
    """The ed25519 key of a BIP-39 mnemonic at hd_path (SLIP-0010); InvalidInputError for a bad mnemonic."""
    words = " ".join(mnemonic.split()).lower()
    lang = Mnemonic("english")
    if not lang.check(words):
        raise InvalidInputError("not a valid BIP-39 mnemonic: unknown word, wrong word count or bad checksum")
    try:
        node = SLIP10.from_seed(Mnemonic.to_seed(words, passphrase=""), curve_name="ed25519")
        return KeyPair(node.get_privkey_from_path(validate_hd_path(hd_path)))
    except (SLIP10DerivationError, SlipInputError) as exc:
        raise InvalidInputError(f"cannot derive {hd_path}: {exc}") from None


def encrypt_seed(seed: bytes, passphrase: str, opslimit: int = KDF_OPSLIMIT, memlimit: int = KDF_MEMLIMIT) -> dict:
    """The seed sealed under passphrase: Argon2id parameters, salt and the SecretBox ciphertext (base64)."""
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt,
                                   opslimit=opslimit, memlimit=memlimit)
    return {"kdf": "argon2id", "opslimit": opslimit, "memlimit": memlimit, "salt": salt.hex(),
            "cipher": "xsalsa20-poly1305", "ciphertext": base64.b64encode(bytes(nacl.secret.SecretBox(key).encrypt(seed))).decode()}


def decrypt_seed(sealed: dict, passphrase: str) -> bytes:
    """The seed encrypt_seed sealed; KeyringError for a wrong passphrase or a damaged record."""
    try:
        if sealed["kdf"] != "argon2id" or sealed["cipher"] != "xsalsa20-poly1305":
            raise ValueError("unknown kdf or cipher")
        opslimit, memlimit = int(sealed["opslimit"]), int(sealed["memlimit"])
        if not (nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
                and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE):
            raise ValueError("kdf cost out of range")
        key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(),
                                       bytes.fromhex(sealed["salt"]), opslimit=opslimit, memlimit=memlimit)
        seed = nacl.secret.SecretBox(key).decrypt(base64.b64decode(sealed["ciphertext"], validate=True))
    except nacl.exceptions.CryptoError:
        raise KeyringError("wrong passphrase (or the encrypted key is damaged)") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyringError(f"encrypted key is unreadable: {exc}") from None
    if len(seed) != 32:
        raise KeyringError("encrypted key does not hold a 32-byte ed25519 seed")
    return seed


def compute_armor(name: str, keypair: KeyPair, passphrase: str) -> str:
    """The key as armored text, its seed encrypted under passphrase (for `keys export`)."""
    sealed = encrypt_seed(keypair.seed, passphrase)
    headers = {"name": name, "type": "ed25519", "pub_key": keypair.pub_key.hex(),
               **{k: str(v) for k, v in sealed.items() if k != "ciphertext"}}
    body = sealed["ciphertext"]
    lines = [ARMOR_BEGIN, *(f"{k}: {v}" for k, v in headers.items()), ""]
    lines += [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([*lines, ARMOR_END]) + "\n"


def parse_armor(text: str, passphrase: str) -> tuple[str, KeyPair]:
    """(name, key) of armored text; InvalidInputError when it is not an armored key, KeyringError for a wrong
    passphrase."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END or "" not in lines:
        raise InvalidInputError(f"not an armored DistPOS key: want {ARMOR_BEGIN} ... {ARMOR_END}")
    blank = lines.index("")
    headers = dict(line.split(": ", 1) for line in lines[1:blank] if ": " in line)
    sealed = {**headers, "ciphertext": "".join(lines[blank + 1:-1])}
    keypair = KeyPair(decrypt_seed(sealed, passphrase))
    if headers.get("pub_key") and headers["pub_key"] != keypair.pub_key.hex():
        raise KeyringError("armored key's pub_key header does not match its key")
    return headers.get("name", ""), keypair


# ---- the directory -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyInfo:
    """A named key of the keyring."""

    name: str
    keypair: KeyPair

    def address(self, chain_id: str) -> Address:
        """This key's address on chain_id."""
        return Address.from_pub_key(chain_id, self.keypair.pub_key)


@dataclass(frozen=True)
class KeyEntry:
    """What a key file says without decrypting it."""

    name: str
    pub_key: bytes
    encrypted: bool


def _no_passphrase() -> str:
    raise KeyringError("this key is encrypted (keyring backend `file`): a passphrase is needed")


class Keyring:
    """Named keys in one directory; `backend` decides how new keys are written, `passphrase` supplies the
    passphrase of the `file` backend when one is needed."""

    def __init__(self, directory: str | os.PathLike[str], backend: str = "test",
                 passphrase: Passphrase = _no_passphrase) -> None:
        if backend not in BACKENDS:
            raise KeyringError(f"unknown keyring backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.dir = pathlib.Path(directory)
        self.backend = backend
        self.passphrase = passphrase

    def _path(self, name: str) -> pathlib.Path:
        if not _NAME_RE.match(name):
            raise KeyringError(f"invalid key name {name!r}: use 1-64 of [A-Za-z0-9_.-]")
        return self.dir / f"{name}.key.json"

    def add(self, name: str, keypair: KeyPair | None = None, hd_path: str = "") -> KeyInfo:
        """Store a new (or the given) key under name with this keyring's backend; refuse to overwrite."""
        path = self._path(name)
        keypair = keypair or KeyPair.generate()
        record: dict = {"name": name, "type": "ed25519", "pub_key": keypair.pub_key.hex()}
        if hd_path:
            record["hd_path"] = hd_path
        if self.backend == "file":
            record["encrypted"] = encrypt_seed(keypair.seed, self.passphrase())
        else:
            record["seed"] = keypair.seed.hex()
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyringError(f"key {name!r} already exists in {self.dir}") from None
        except OSError as exc:
            raise KeyringError(f"cannot write key {name!r} in {self.dir}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record) + "\n")
        return KeyInfo(name, keypair)

    def _read(self, name: str) -> dict:
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyringError(f"no key {name!r} in {self.dir}") from None
        except OSError as exc:
            raise KeyringError(f"cannot read key {name!r} in {self.dir}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise KeyringError(f"key file {path} is unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise KeyringError(f"key file {path} is unreadable: not a JSON object")
        return data

    def entry(self, name: str) -> KeyEntry:
        """The name, public key and whether it is encrypted, without asking for a passphrase."""
        data = self._read(name)
        try:
            return KeyEntry(name, bytes.fromhex(data["pub_key"]), "encrypted" in data)
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyringError(f"key file of {name!r} is unreadable: {exc}") from None

    def get(self, name: str) -> KeyInfo:
        """The key called name (asking for the passphrase when it is encrypted)."""
        data = self._read(name)
        try:
            seed = (decrypt_seed(data["encrypted"], self.passphrase()) if "encrypted" in data
                    else bytes.fromhex(data["seed"]))
            if len(seed) != 32:
                raise ValueError("seed must be 32 bytes")
            return KeyInfo(name, KeyPair(seed))
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"key file of {name!r} is unreadable: {exc}") from None

    def delete(self, name: str) -> None:
        """Remove the key called name."""
        self._read(name)
        try:
            self._path(name).unlink()
        except OSError as exc:
            raise KeyringError(f"cannot delete key {name!r}: {exc.strerror or exc}") from None

    def names(self) -> list[str]:
        """Every key name, sorted."""
        try:
            if not self.dir.is_dir():
                return []
            return [p.name[: -len(".key.json")] for p in sorted(self.dir.glob("*.key.json"))]
        except OSError as exc:
            raise KeyringError(f"cannot list {self.dir}: {exc.strerror or exc}") from None

    def list(self) -> list[KeyInfo]:
        """Every key, sorted by name (encrypted keys ask for the passphrase: use entries() to avoid that)."""
        return [self.get(name) for name in self.names()]

    def entries(self) -> list[KeyEntry]:
        """Every key's name and public key, sorted by name, without decrypting anything."""
        return [self.entry(name) for name in self.names()]
