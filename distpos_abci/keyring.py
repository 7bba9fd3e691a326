"""A directory of named ed25519 keys, one JSON file each, mode 0600.

Keys are chain-agnostic: the same key has one address per chain-id.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from dataclasses import dataclass

from .address import Address
from .crypto import KeyPair
from .errors import KeyringError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class KeyInfo:
    """A named key of the keyring."""

    name: str
    keypair: KeyPair

    def address(self, chain_id: str) -> Address:
        """This key's address on chain_id."""
        return Address.from_pub_key(chain_id, self.keypair.pub_key)


class Keyring:
    """Named keys in one directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = pathlib.Path(directory)

    def _path(self, name: str) -> pathlib.Path:
        if not _NAME_RE.match(name):
            raise KeyringError(f"invalid key name {name!r}: use 1-64 of [A-Za-z0-9_.-]")
        return self.dir / f"{name}.key.json"

    def add(self, name: str, keypair: KeyPair | None = None) -> KeyInfo:
        """Store a new (or the given) key under name; refuse to overwrite."""
        path = self._path(name)
        keypair = keypair or KeyPair.generate()
        body = json.dumps({"name": name, "type": "ed25519", "pub_key": keypair.pub_key.hex(), "seed": keypair.seed.hex()})
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyringError(f"key {name!r} already exists in {self.dir}") from None
        except OSError as exc:
            raise KeyringError(f"cannot write key {name!r} in {self.dir}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(body + "\n")
        return KeyInfo(name, keypair)

    def get(self, name: str) -> KeyInfo:
        """The key called name."""
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
            return KeyInfo(name, KeyPair(bytes.fromhex(data["seed"])))
        except FileNotFoundError:
            raise KeyringError(f"no key {name!r} in {self.dir}") from None
        except OSError as exc:
            raise KeyringError(f"cannot read key {name!r} in {self.dir}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"key file {path} is unreadable: {exc}") from None

    def list(self) -> list[KeyInfo]:
        """Every key, sorted by name."""
        try:
            if not self.dir.is_dir():
                return []
            paths = sorted(self.dir.glob("*.key.json"))
        except OSError as exc:
            raise KeyringError(f"cannot list {self.dir}: {exc.strerror or exc}") from None
        return [self.get(p.name[: -len(".key.json")]) for p in paths]
