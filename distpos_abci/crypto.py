"""ed25519 signing keys (PyNaCl) and the domain-separated sign bytes."""

from __future__ import annotations

from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

TX_SIGN_DOMAIN = b"distpos/tx/v1\x00"


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair; `seed` is the 32-byte private seed."""

    seed: bytes

    @classmethod
    def generate(cls) -> "KeyPair":
        """A fresh random key pair."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def pub_key(self) -> bytes:
        """The 32-byte public key."""
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of message."""
        return nacl.signing.SigningKey(self.seed).sign(message).signature


def verify_signature(pub_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when signature is pub_key's ed25519 signature of message; never raises."""
    if len(pub_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(pub_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True
