"""The CLI's own settings: `client.toml` in the CLI home (like a Cosmos SDK `appd` client.toml).

A value given on the command line wins, then its environment variable, then client.toml, then the built-in
default. The chain-id in particular is only ever taken from the operator (flag or client.toml), never from
the node's `/status`: a hostile RPC endpoint must not choose what a key signs for.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import tomlkit
import tomlkit.exceptions

from ..address import validate_chain_id
from ..errors import ConfigError, InvalidInputError

DEFAULT_HOME = pathlib.Path(os.path.expanduser("~/.distpos"))
CLIENT_TOML = "client.toml"
KEYRING_BACKENDS = ("test", "file")
OUTPUTS = ("text", "json")

_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,253}:[0-9]{1,5}$")


def validate_node_url(value: str) -> str:
    """A CometBFT RPC URL: http(s):// or tcp:// followed by host:port."""
    rest = re.sub(r"^(https?|tcp)://", "", value)
    if rest == value and "://" in value or not _HOST_PORT_RE.match(rest.rstrip("/")):
        raise InvalidInputError(f"node {value!r} must be http://HOST:PORT (or https://, tcp://)")
    return value


def validate_grpc_addr(value: str) -> str:
    """A gRPC address host:port."""
    if not _HOST_PORT_RE.match(value) or not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise InvalidInputError(f"grpc {value!r} must be HOST:PORT")
    return value


def _choice(name: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise InvalidInputError(f"{name} {value!r} must be one of {', '.join(allowed)}")
        return value
    return check


def _keyring_dir(value: str) -> str:
    if not value or "\0" in value:
        raise InvalidInputError("keyring-dir must be a directory path")
    return value


# key -> (meaning, default, validator). The README's client.toml section documents the same keys.
CLIENT_KEYS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "chain-id": ("chain whose transactions this CLI signs (required by every tx command)", "",
                 lambda v: str(validate_chain_id(v))),
    "node": ("CometBFT RPC endpoint", "http://127.0.0.1:26657", validate_node_url),
    "grpc": ("DistPOS gRPC endpoint", "127.0.0.1:9090", validate_grpc_addr),
    "output": ("text or json", "text", _choice("output", OUTPUTS)),
    "keyring-backend": ("how new keys are stored: test (clear, 0600) or file (passphrase, Argon2id)", "test",
                        _choice("keyring-backend", KEYRING_BACKENDS)),
    "keyring-dir": ("key directory (default: HOME/keyring)", "", _keyring_dir),
}


@dataclass(frozen=True)
class ClientConfig:
    """The settings read from one CLI home."""

    home: pathlib.Path
    values: dict[str, str]

    def get(self, key: str) -> str:
        """The configured value of key, or its built-in default."""
        return self.values.get(key) or CLIENT_KEYS[key][1]

    @property
    def path(self) -> pathlib.Path:
        """Where client.toml lives."""
        return self.home / CLIENT_TOML


def validate_client_key(key: str) -> str:
    """Raise InvalidInputError unless key is a client.toml key."""
    if key not in CLIENT_KEYS:
        raise InvalidInputError(f"unknown client config key {key!r}: use one of {', '.join(CLIENT_KEYS)}")
    return key


def validate_client_value(key: str, value: str) -> str:
    """Raise InvalidInputError unless key is a client.toml key and value is valid for it."""
    return CLIENT_KEYS[validate_client_key(key)][2](value)


def _read_document(path: pathlib.Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text())
    except FileNotFoundError:
        return tomlkit.document()
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def load_client_config(home: pathlib.Path) -> ClientConfig:
    """The client.toml of home (missing file: every default); a bad key or value names the file and the key."""
    path = home / CLIENT_TOML
    doc = _read_document(path)
    values: dict[str, str] = {}
    for key, value in doc.unwrap().items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, got {type(value).__name__}")
        try:
            values[key] = validate_client_value(key, value)
        except InvalidInputError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
    return ClientConfig(home, values)


def save_client_value(home: pathlib.Path, key: str, value: str) -> pathlib.Path:
    """Set key in home's client.toml, keeping the file's other keys and comments; returns the file."""
    value = validate_client_value(key, value)
    path = home / CLIENT_TOML
    doc = _read_document(path)
    if not doc:
        doc.add(tomlkit.comment("DistPOS CLI settings (distpos config set KEY VALUE); flags and env vars win."))
    doc[key] = value
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(tomlkit.dumps(doc))
    return path
