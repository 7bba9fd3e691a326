"""The one exception tree of DistPOS.

Every error a user can cause is a subclass of `DistposError` carrying a codespace
and a code that is unique across the tree (operators grep for the code alone). Boundaries translate them in one place each:
ABCI codes in `abci_adapter.py`, gRPC statuses in `grpc_service/`, CLI exit codes in
`cli/main.py`. Code 1 is reserved for "internal"; 0 is success.
"""

from __future__ import annotations

from typing import ClassVar


class DistposError(Exception):
    """Root of every error DistPOS reports to a user."""

    codespace: ClassVar[str] = "distpos"
    code: ClassVar[int] = 1
    # gRPC status name the query service maps this family to.
    grpc_status: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def log(self) -> str:
        """The readable ABCI log line: codespace, code and message."""
        return f"{self.codespace}:{self.code}: {self.message}"


# ---- decoding and validation of user input (codespace "tx") --------------------

class InvalidInputError(DistposError):
    """Input that can never become valid, whatever the state."""

    codespace = "tx"
    code = 2
    grpc_status = "INVALID_ARGUMENT"


class MalformedTxError(InvalidInputError):
    code = 3


class TxTooLargeError(InvalidInputError):
    code = 4


class InvalidSignatureError(InvalidInputError):
    code = 5


class WrongChainError(InvalidInputError):
    code = 6


class InvalidAddressError(InvalidInputError):
    code = 7


class InvalidAmountError(InvalidInputError):
    code = 8


class UnknownMessageError(InvalidInputError):
    code = 9


class SignerMismatchError(InvalidInputError):
    code = 10


# ---- state-dependent rejections ---------------------------------------------------

class BadNonceError(DistposError):
    codespace = "auth"
    code = 11
    grpc_status = "FAILED_PRECONDITION"


class InsufficientFundsError(DistposError):
    codespace = "bank"
    code = 20
    grpc_status = "FAILED_PRECONDITION"


class ForeignAddressError(DistposError):
    """A transfer to another chain's address before the interchain module handles it."""

    codespace = "bank"
    code = 21
    grpc_status = "FAILED_PRECONDITION"


# ---- queries -------------------------------------------------------------------------

class NotFoundError(DistposError):
    codespace = "query"
    code = 30
    grpc_status = "NOT_FOUND"


class UnknownQueryPathError(DistposError):
    codespace = "query"
    code = 31
    grpc_status = "INVALID_ARGUMENT"


class HeightUnavailableError(DistposError):
    codespace = "query"
    code = 32
    grpc_status = "OUT_OF_RANGE"


# ---- genesis and configuration (operator errors; never reach a user tx) --------------

class GenesisError(DistposError):
    codespace = "genesis"
    code = 40
    grpc_status = "FAILED_PRECONDITION"


class ConfigError(DistposError):
    codespace = "config"
    code = 41


# ---- client side ------------------------------------------------------------------------

class KeyringError(DistposError):
    codespace = "keyring"
    code = 50


class NodeUnreachableError(DistposError):
    """A CometBFT RPC or gRPC endpoint did not answer; retrying may help."""

    codespace = "client"
    code = 51
    grpc_status = "UNAVAILABLE"


class TxRejectedError(DistposError):
    """The chain answered a broadcast with a non-zero code."""

    codespace = "client"
    code = 52

    def __init__(self, message: str, *, remote_codespace: str = "", remote_code: int = 0) -> None:
        super().__init__(message)
        self.remote_codespace = remote_codespace
        self.remote_code = remote_code


class RemoteQueryError(DistposError):
    """A node's gRPC service answered with an error status."""

    codespace = "client"
    code = 53


def all_error_classes() -> list[type[DistposError]]:
    """Every concrete error class, for the uniqueness test and the docs table."""
    out: list[type[DistposError]] = []
    stack: list[type[DistposError]] = [DistposError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(sorted(cls.__subclasses__(), key=lambda c: c.__name__))
    return out
