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


# ---- staking (codespace "staking", codes 60-79) ------------------------------------------

class StakingError(DistposError):
    """A staking message that the current state does not allow."""

    codespace = "staking"
    code = 60
    grpc_status = "FAILED_PRECONDITION"


class ValidatorExistsError(StakingError):
    code = 61


class UnknownValidatorError(StakingError):
    code = 62
    grpc_status = "NOT_FOUND"


class InsufficientStakeError(StakingError):
    code = 63


class NothingToWithdrawError(StakingError):
    code = 64


class ValidatorJailedError(StakingError):
    code = 65


class StillJailedError(StakingError):
    code = 66


class ConsensusKeyInUseError(StakingError):
    code = 67


class InvalidStakingMsgError(InvalidInputError):
    """A staking message that can never be valid (bad key, endpoint, moniker, amount)."""

    codespace = "staking"
    code = 68


class NotJailedError(StakingError):
    code = 69


# ---- underwriting (codespace "underwriting", codes 80-99) ------------------------------------

class UnderwritingError(DistposError):
    """A guarantee or underwriting request that cannot be honoured."""

    codespace = "underwriting"
    code = 80
    grpc_status = "FAILED_PRECONDITION"


class ForgedGuaranteeError(UnderwritingError):
    """The signature is not the named underwriter's consensus key over these fields."""

    code = 81
    grpc_status = "INVALID_ARGUMENT"


class ExpiredGuaranteeError(UnderwritingError):
    code = 82


class ReplayedGuaranteeError(UnderwritingError):
    """The transaction's guarantees were already released or paid out."""

    code = 83


class OverCapacityGuaranteeError(UnderwritingError):
    """A guarantee share larger than the underwriter's backing stake."""

    code = 84


class GuaranteeMismatchError(UnderwritingError):
    """Guarantees that do not match the transaction (hash, beneficiary, amount, chain) or each other."""

    code = 85
    grpc_status = "INVALID_ARGUMENT"


class NotClaimableError(UnderwritingError):
    """The guaranteed transaction succeeded, or may still execute (expiry not passed)."""

    code = 86


class ClaimWindowClosedError(UnderwritingError):
    code = 87


class InvalidEvidenceError(UnderwritingError):
    code = 88
    grpc_status = "INVALID_ARGUMENT"


class InsufficientCapacityError(UnderwritingError):
    """The service cannot guarantee the amount, alone or with co-underwriters; nothing stays reserved."""

    code = 89
    grpc_status = "RESOURCE_EXHAUSTED"


class UnderwritingDisabledError(UnderwritingError):
    code = 90
    grpc_status = "UNAVAILABLE"


class GuaranteeLifetimeError(UnderwritingError):
    """Expiry beyond the chain's max_guarantee_blocks after the issue height."""

    code = 91
    grpc_status = "INVALID_ARGUMENT"


class UnknownReservationError(UnderwritingError):
    code = 92
    grpc_status = "NOT_FOUND"


class UnderwritableTxError(UnderwritingError):
    """A transaction the service will not guarantee (not a local MsgSend, bad nonce, balance too low)."""

    code = 93
    grpc_status = "INVALID_ARGUMENT"


class LocalnetError(DistposError):
    """A localnet could not be generated, started, stopped or queried."""

    codespace = "localnet"
    code = 54


def all_error_classes() -> list[type[DistposError]]:
    """Every concrete error class, for the uniqueness test and the docs table."""
    out: list[type[DistposError]] = []
    stack: list[type[DistposError]] = [DistposError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(sorted(cls.__subclasses__(), key=lambda c: c.__name__))
    return out
