"""auth: account public keys and nonces (replay protection)."""

from .keeper import AuthKeeper, AuthRecord

__all__ = ["AuthKeeper", "AuthRecord"]
