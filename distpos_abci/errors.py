"""The one exception tree of DistPOS.

Every error a user can cause is a subclass of `DistposError` carrying a codespace
and a code that is unique across the tree (operators grep for the code alone). Boundaries translate them in one place each:
ABCI codes in `abci_adapter.py`, gRPC statuses in `grpc_service/`, CLI exit codes in
`cli/main.py`. Code 1 is reserved for "internal"; 0 is success.

Code ranges: tx/auth 2-19, bank 20-29, query 30-39, genesis/config/client/keyring 40-59, staking 60-79,
underwriting 80-99, 150-159 and 235, interchain 100-129, 170-179, 210-219 (multi-hop) and 220-229 (instant
credit), lightclient 130-139, relay 140-149 and 180-189, gov 160-169, fees and distribution 190-199.
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


class NonCanonicalEncodingError(InvalidInputError):
    """Bytes that parse but are not the canonical encoding (codec.decode_canonical): one meaning, one encoding."""

    code = 13


# ---- state-dependent rejections ---------------------------------------------------

class BadNonceError(DistposError):
    codespace = "auth"
    code = 11
    grpc_status = "FAILED_PRECONDITION"


class DuplicateTxError(DistposError):
    """Retired (issue 8): no longer raised. Receipts left the state; a replay fails on its nonce (auth:11). The
    code stays reserved."""

    codespace = "auth"
    code = 12
    grpc_status = "ALREADY_EXISTS"


class TxSimulationError(DistposError):
    """A transaction the chain would refuse, found by running it against the mempool state (no state changed).
    Keeps the refusal's own codespace and code for the caller."""

    codespace = "auth"
    code = 14
    grpc_status = "FAILED_PRECONDITION"

    def __init__(self, remote_codespace: str, remote_code: int, log: str) -> None:
        super().__init__(f"the chain would refuse it: {log}")
        self.remote_codespace = remote_codespace
        self.remote_code = remote_code


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


class InvalidPageKeyError(InvalidInputError):
    """A list query's page_key that this query never hands out (not the text of one of its natural keys)."""

    codespace = "query"
    code = 33


class PageLimitTooLargeError(InvalidInputError):
    """A list query's limit above pagination.MAX_LIMIT."""

    codespace = "query"
    code = 34


class ProofUnavailableError(InvalidInputError):
    """A proof the node cannot give: receipts are kept outside the Merkle state (a local index), so the app hash
    does not commit to them."""

    codespace = "query"
    code = 35
    grpc_status = "UNIMPLEMENTED"


class ReceiptsIndexDisabledError(DistposError):
    """This node keeps no receipts index ([store] index_receipts = false): ask CometBFT's /tx instead."""

    codespace = "query"
    code = 36
    grpc_status = "UNIMPLEMENTED"


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


class RpcCallError(DistposError):
    """A CometBFT node answered a JSON-RPC call with an error object (the same call will fail again)."""

    codespace = "client"
    code = 56

    def __init__(self, message: str, *, method: str = "", rpc_code: int = 0, rpc_data: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.rpc_code = rpc_code
        self.rpc_data = rpc_data


class RpcResponseError(DistposError):
    """A CometBFT endpoint's answer is not a JSON-RPC response, or is larger than the client accepts."""

    codespace = "client"
    code = 57


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
    """A share of this guaranteed payment (payer, nonce, underwriter) was already released or paid out."""

    code = 83


class GuaranteeMismatchError(UnderwritingError):
    """Guarantees that do not match the transaction (hash, beneficiary, amount, chain) or each other."""

    code = 85
    grpc_status = "INVALID_ARGUMENT"


class NotClaimableError(UnderwritingError):
    """The guaranteed nonce paid the beneficiary in full, or may still do so (expiry not passed)."""

    code = 86


class ClaimWindowClosedError(UnderwritingError):
    code = 87


class PaymentRecordExpiredError(UnderwritingError):
    """The guaranteed nonce was used so long ago that the record of what it paid has expired (auth keeps it for
    max_guarantee_blocks + claim_window_blocks + 2 blocks): the chain can no longer tell what is owed, so it
    pays nothing rather than guess."""

    code = 235


class InvalidEvidenceError(UnderwritingError):
    code = 88
    grpc_status = "INVALID_ARGUMENT"


class InsufficientCollateralError(UnderwritingError):
    """Service: the payer's collateral held for this validator, not yet promised, plus the credit the node
    extends at its own risk, does not cover the amount (gRPC RESOURCE_EXHAUSTED)."""

    code = 96
    grpc_status = "RESOURCE_EXHAUSTED"


class CollateralLockedError(UnderwritingError):
    """Unlocking more collateral than is locked, or withdrawing before the unlock height."""

    code = 97
    grpc_status = "FAILED_PRECONDITION"


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


class UnauthorizedCoordinatorError(UnderwritingError):
    """A co-underwriting call not signed by the registered validator it names as coordinator."""

    code = 94
    grpc_status = "PERMISSION_DENIED"


class UnderwritableTxError(UnderwritingError):
    """A transaction the service will not guarantee (not a local MsgSend, bad nonce, balance too low)."""

    code = 93
    grpc_status = "INVALID_ARGUMENT"


# ---- premiums and relay fees (issue 12, codes 200-209) ---------------------------------------

class PremiumBelowPriceError(UnderwritingError):
    """Service: the premium the payer signed (its share of it, for a co-underwriter) is below this validator's
    announced price for the amount."""

    code = 200
    grpc_status = "FAILED_PRECONDITION"


class InvalidPremiumError(InvalidInputError):
    """A MsgSetPremium with a rate above 1,000,000 ppm (100%)."""

    codespace = "underwriting"
    code = 201


class InvalidRelayFeeError(InvalidInputError):
    """A transfer whose relay fee, added to its amount, exceeds the largest amount the chain carries."""

    codespace = "interchain"
    code = 202


class RelayFeeBelowMinimumError(DistposError):
    """Relay: a packet's relay fee is below this relay's `min_relay_fee`; it is left to other relays."""

    codespace = "relay"
    code = 203
    grpc_status = "FAILED_PRECONDITION"


class LocalnetError(DistposError):
    """A localnet could not be generated, started, stopped or queried."""

    codespace = "localnet"
    code = 54


# ---- interchain (codespace "interchain", codes 100-129) ------------------------------------------

class InterchainError(DistposError):
    """A cross-chain message that the current state does not allow."""

    codespace = "interchain"
    code = 100
    grpc_status = "FAILED_PRECONDITION"


class NoCorrespondentError(InterchainError):
    """No correspondent account (and so no light client) for that chain."""

    code = 101
    grpc_status = "NOT_FOUND"


class ReplayedPacketError(InterchainError):
    """The packet was already received (a duplicate delivery); nothing changes."""

    code = 102


class InvalidPacketError(InterchainError):
    """A packet that can never be valid here (undecodable, wrong chains, bad addresses, zero amount)."""

    code = 103
    grpc_status = "INVALID_ARGUMENT"


class InvalidProofError(InterchainError):
    """A Merkle proof that does not verify against the light client's app hash."""

    code = 104
    grpc_status = "INVALID_ARGUMENT"


class PacketTimedOutError(InterchainError):
    """The packet reached the destination at or past its timeout; the source refunds it with a proof."""

    code = 105


class TimeoutNotReachedError(InterchainError):
    """A timeout claim at a destination height/time that has not passed the packet's timeout."""

    code = 106


class UnknownPacketError(InterchainError):
    """An ack or timeout for a packet not in the outbox (already settled, or never sent)."""

    code = 107
    grpc_status = "NOT_FOUND"


class UnauthorizedError(InterchainError):
    """A governance message (open/close correspondent, set route or limits, unfreeze) whose signer is not the
    governance authority (authority.GOV_AUTHORITY)."""

    code = 108
    grpc_status = "PERMISSION_DENIED"


class CorrespondentExistsError(InterchainError):
    code = 109


class NoRouteError(InterchainError):
    code = 110
    grpc_status = "NOT_FOUND"


class ConsensusStateMissingError(InterchainError):
    """No verified remote header at the proof height (send a client update with it)."""

    code = 111
    grpc_status = "NOT_FOUND"


class InvalidInterchainMsgError(InvalidInputError):
    """An interchain message that can never be valid (missing fields, too many packets, bad limits)."""

    codespace = "interchain"
    code = 112


# Reasons carried in error acks (the packet is refunded on its source chain).

class CorrespondentSuspendedError(InterchainError):
    code = 120


class InsufficientReservesError(InterchainError):
    """The source chain's reserve here cannot cover the packet."""

    code = 121


class PacketOverLimitError(InterchainError):
    """Larger than the correspondent's per-packet maximum."""

    code = 122


class RateLimitedError(InterchainError):
    code = 123


class PolicyRejectedError(InterchainError):
    """The on-chain policy refused the sending chain (failure rate above its limit)."""

    code = 124


class RecipientRejectedError(InterchainError):
    """The recipient cannot be credited (balance would overflow)."""

    code = 125


# Light clients frozen by misbehaviour, governance of correspondents (codes 113-119, 126-129).

class ConflictingHeaderError(InterchainError):
    """A client update for a height whose verified header differs: submit both as MsgSubmitMisbehaviour."""

    code = 113


class ClientFrozenError(InterchainError):
    """The light client of that chain is frozen by misbehaviour: no update, ack or timeout through it."""

    code = 114


class FrozenSourceError(InterchainError):
    """Packets from a chain whose light client is frozen are refused (their senders are refunded by timeout)."""

    code = 115


class FrozenDestinationError(InterchainError):
    """No packet is sent to a chain whose light client is frozen: nothing could prove its ack or timeout."""

    code = 116


class InvalidTrustRootError(InterchainError):
    """A trust root for an unfreeze in this chain's future, or not above the height the client was frozen at."""

    code = 128
    grpc_status = "INVALID_ARGUMENT"


class MisbehaviourNotProvenError(InterchainError):
    """The submitted headers do not conflict (same header, or no stored consensus state they contradict)."""

    code = 117
    grpc_status = "INVALID_ARGUMENT"


class ClientNotFrozenError(InterchainError):
    """MsgUnfreezeClient for a client that is not frozen."""

    code = 118


class CorrespondentClosedError(InterchainError):
    """The correspondent was closed by governance: no packet is sent to it or paid from it (also an ack reason)."""

    code = 119


class TrustingPeriodTooLongError(InvalidInputError):
    """A trust root whose trusting period is not strictly shorter than the remote chain's unbonding period:
    validators could unbond, escape slashing and then sign conflicting headers the client still trusts."""

    codespace = "interchain"
    code = 126


class InvalidMisbehaviourError(InvalidInputError):
    """A misbehaviour message that can never be valid (headers of different heights or chains, none given)."""

    codespace = "interchain"
    code = 127


# ---- interchain multi-hop (codespace "interchain", codes 210-219) -------------------------------------------

class InvalidPathError(InvalidInputError):
    """A multi-hop path that can never be valid: a bad chain-id, this chain or the destination inside it, or a
    first hop without a correspondent."""

    codespace = "interchain"
    code = 210


class RoutingLoopError(InvalidInputError):
    """A path (given or built from the routing table) that visits a chain twice."""

    codespace = "interchain"
    code = 211


class HopLimitExceededError(InterchainError):
    """A path longer than its route's max_hops or the chain's forwarding max_hops."""

    code = 212


class ForwardPendingError(InterchainError):
    """The marker of a middle hop's pending ack (it forwarded the packet and waits for the downstream outcome);
    an acknowledge carrying it is refused: the final ack follows."""

    code = 213


class ForwardTimeoutError(InterchainError):
    """A multi-hop packet without a timeout time, or with too little time left for the next hop after the
    forwarding margin (also an error-ack reason at a middle hop)."""

    code = 214


class ForwardFeeError(InterchainError):
    """The middle hop's fee takes the whole amount, or leaves the recipient less than min_amount_out (an
    error-ack reason)."""

    code = 215


# ---- instant cross-chain credit (codespace "interchain", codes 220-229) -----------------------------

class InstantCreditError(InterchainError):
    """Family root of instant cross-chain credit: a guarantee-backed credit the destination refuses."""

    code = 220


class ForgedInstantGuaranteeError(InstantCreditError):
    """A cross-chain guarantee whose underwriter is not in the trusted validator set of the source, or whose
    signature does not verify against that validator's consensus key."""

    code = 221
    grpc_status = "INVALID_ARGUMENT"


class ExpiredInstantGuaranteeError(InstantCreditError):
    """The destination's light client already trusts a source height past the guarantee's expiry."""

    code = 222


class InstantLimitError(InstantCreditError):
    """The credit would take the correspondent's outstanding instant credit above the limit governance set
    (0 when none is set), or its reserve cannot cover it."""

    code = 223
    grpc_status = "RESOURCE_EXHAUSTED"


class InstantStakeError(InstantCreditError):
    """The underwriters' combined stake, as the light client's voting powers show it, does not cover the amount."""

    code = 224
    grpc_status = "RESOURCE_EXHAUSTED"


class ReplayedInstantCreditError(InstantCreditError):
    """This instant transfer was already credited, settled, or its packet already arrived."""

    code = 225
    grpc_status = "ALREADY_EXISTS"


class InstantMismatchError(InstantCreditError):
    """Guarantees and the payer-signed instant transfer disagree, or are malformed, or name the wrong chains."""

    code = 226
    grpc_status = "INVALID_ARGUMENT"


class InstantNotClaimableError(InstantCreditError):
    """Nothing is owed to the destination (yet): the instant transfer was delivered, is still in flight, or the
    payer's nonce may still pay before the guarantee's expiry."""

    code = 227


class UnknownInstantCreditError(InstantCreditError):
    """A claim or release names an instant credit the proven state does not hold as credited or paid out."""

    code = 228


class InstantClaimWindowClosedError(InstantCreditError):
    """A claim after the guarantee's expiry plus the source's claim window."""

    code = 229


# ---- light client (codespace "lightclient", codes 130-139) ----------------------------------------

class LightClientError(DistposError):
    """A header update that the light client refuses."""

    codespace = "lightclient"
    code = 130
    grpc_status = "INVALID_ARGUMENT"


class ForgedSignatureError(LightClientError):
    code = 131


class ValidatorSetMismatchError(LightClientError):
    code = 132


class InsufficientVotingPowerError(LightClientError):
    code = 133


class TrustingPeriodExpiredError(LightClientError):
    code = 134
    grpc_status = "FAILED_PRECONDITION"


class HeaderMismatchError(LightClientError):
    """Wrong chain, height or time, or a commit for another block."""

    code = 135


class InvalidHeaderError(LightClientError):
    code = 136


# ---- gov (codespace "gov", codes 160-169) ----------------------------------------------------------

class GovError(DistposError):
    """A governance message that the current state does not allow."""

    codespace = "gov"
    code = 160
    grpc_status = "FAILED_PRECONDITION"


class UnknownProposalError(GovError):
    code = 161
    grpc_status = "NOT_FOUND"


class NotAValidatorError(GovError):
    """A vote from an account that operates no bonded, non-jailed validator."""

    code = 162
    grpc_status = "PERMISSION_DENIED"


class VotingClosedError(GovError):
    """A vote on a proposal that passed, was rejected or failed."""

    code = 163


class InvalidProposalError(InvalidInputError):
    """A proposal that can never be valid: structure, unknown or non-governance message type, a message that
    does not decode or fails its own checks with the governance authority as signer."""

    codespace = "gov"
    code = 164


class DepositTooLowError(GovError):
    code = 165


class TooManyProposalsError(GovError):
    """params.max_active_proposals proposals are already open for votes."""

    code = 166
    grpc_status = "RESOURCE_EXHAUSTED"


class InvalidParamsError(InvalidInputError):
    """A parameter change naming an unknown module or key, or values that fail that module's checks."""

    codespace = "gov"
    code = 167


class InvalidVoteError(InvalidInputError):
    """A vote without a proposal id or with an option other than yes, no, abstain."""

    codespace = "gov"
    code = 168


class NotGovAuthorityError(InvalidInputError):
    """A governance-only message whose authority is not the governance module account."""

    codespace = "gov"
    code = 169
    grpc_status = "PERMISSION_DENIED"


# ---- relay (codespace "relay", codes 140-149 and 180-189) -------------------------------------------------------

class RelayError(DistposError):
    """A relay operation that failed; `retryable` tells the relay whether a retry may help."""

    codespace = "relay"
    code = 140
    grpc_status = "UNAVAILABLE"
    retryable = True

    def __init__(self, message: str, *, chain_id: str = "", sequence: int = 0) -> None:
        super().__init__(message)
        self.chain_id = chain_id
        self.sequence = sequence


class PeerUnreachableError(RelayError):
    code = 141


class RelayConfigError(RelayError):
    code = 142
    grpc_status = "INVALID_ARGUMENT"
    retryable = False


class SubmitRejectedError(RelayError):
    """The relay's own chain refused a transaction it built."""

    code = 143
    grpc_status = "FAILED_PRECONDITION"


class PacketNotProvenError(RelayError):
    """A packet handed to SubmitPacket that the source chain's verified state does not hold with these bytes
    (forged, or not committed yet): not queued."""

    code = 144
    grpc_status = "FAILED_PRECONDITION"
    retryable = False


class InboundQueueFullError(RelayError):
    """The relay's inbound queue would exceed `max_inbound_packets`: the request is refused whole."""

    code = 145
    grpc_status = "RESOURCE_EXHAUSTED"


class TooManyProofKeysError(RelayError):
    """A GetProof request with more keys than `max_proof_keys`."""

    code = 146
    grpc_status = "INVALID_ARGUMENT"
    retryable = False


class TooManyPacketsError(RelayError):
    """A SubmitPacket request with more packets than `max_request_packets`."""

    code = 147
    grpc_status = "INVALID_ARGUMENT"
    retryable = False


class PacketTooLargeError(RelayError):
    """A packet longer than any packet a chain commits (MAX_PACKET_BYTES)."""

    code = 148
    grpc_status = "INVALID_ARGUMENT"
    retryable = False


class SourceHeaderUnverifiedError(RelayError):
    """The source chain's header, needed to check a packet, does not pass this chain's light client."""

    code = 149
    grpc_status = "FAILED_PRECONDITION"


class RelayPolicyRefusedError(RelayError):
    """The operator's relay policy (policy_file) refuses the packet; this relay does not carry it."""

    code = 180
    grpc_status = "FAILED_PRECONDITION"
    retryable = False


class ProvenBytesMismatchError(RelayError):
    """A queued packet whose proven bytes differ from the queued ones; the proven bytes are what counts."""

    code = 181
    grpc_status = "FAILED_PRECONDITION"


class HandoffRefusedError(RelayError):
    """The destination's relay did not take a packet handed to it; the source relay re-sends it."""

    code = 182


class InvalidPeerResponseError(RelayError):
    """Another relay answered with bytes that do not decode canonically, or with proofs of other keys."""

    code = 183


class OutboundQueueFullError(RelayError):
    """The outbound queue holds `max_outbound_packets`: the scan pauses (the packets wait on chain)."""

    code = 184
    grpc_status = "RESOURCE_EXHAUSTED"


class PeerRefusedError(RelayError):
    """Another relay answered with an error status (carried in remote_codespace/remote_code)."""

    code = 185
    grpc_status = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, chain_id: str = "", sequence: int = 0, remote_codespace: str = "",
                 remote_code: int = 0, status: str = "") -> None:
        super().__init__(message, chain_id=chain_id, sequence=sequence)
        self.remote_codespace, self.remote_code, self.status = remote_codespace, remote_code, status


class InvalidRelayRequestError(RelayError):
    """A relay request that does not decode (or carries a negative height)."""

    code = 186
    grpc_status = "INVALID_ARGUMENT"
    retryable = False


class HeightOutOfRangeError(RelayError):
    """GetProof or GetHeaders for a height this relay's chain has not committed (or below 1): asking again
    will not help until the chain gets there."""

    code = 187
    grpc_status = "OUT_OF_RANGE"
    retryable = False


class QueryRefusedError(RelayError):
    """A chain's node answered a state query with a refusal (a pruned or future height, a bad path): the node is
    reachable, and the same query will be refused again."""

    code = 188
    grpc_status = "FAILED_PRECONDITION"
    retryable = False


# ---- fees (codespace "fees") and distribution (codespace "distribution") --------------------------------------

class FeeError(DistposError):
    """A transaction refused for its fee: nothing written, the nonce stays usable."""

    codespace = "fees"
    code = 190
    grpc_status = "FAILED_PRECONDITION"


class FeeBelowChainMinimumError(FeeError):
    """The fee is below ceil(gas * chain min_gas_price / 1000): refused by CheckTx and FinalizeBlock alike."""

    code = 191


class FeeBelowNodeMinimumError(FeeError):
    """The fee meets the chain's minimum but not this node's own ([fees] min_gas_price in app.toml): CheckTx only."""

    code = 192


class InsufficientFeeFundsError(FeeError):
    """The signer's balance cannot pay the fee."""

    code = 193


class InvalidFeeOptionError(InvalidInputError):
    """A client's --fees / --gas-prices that cannot be used (both given, not an integer)."""

    codespace = "fees"
    code = 194


class DistributionError(DistposError):
    codespace = "distribution"
    code = 195
    grpc_status = "FAILED_PRECONDITION"


class NoRewardsError(DistributionError):
    """A withdrawal of rewards by a validator that has accrued none."""

    code = 196


# ---- localnet network namespaces (codespace "localnet", codes 230-234) ---------------------------------

class NetnsPermissionError(LocalnetError):
    """Network namespaces, veth pairs and bridges need root (CAP_NET_ADMIN); the process does not have it."""

    code = 230
    grpc_status = "PERMISSION_DENIED"


class NetnsToolMissingError(LocalnetError):
    """The `ip` command of iproute2, which the tooling drives, is not installed or not on PATH."""

    code = 231
    grpc_status = "FAILED_PRECONDITION"


class NetnsCommandError(LocalnetError):
    """An `ip` command the tooling ran to make, change or remove a namespace, link, address or route failed."""

    code = 232


class NetnsPlanError(LocalnetError):
    """The namespace plan cannot be made or used: too many members for one subnet, no free subnet, or the
    planned subnet is already taken by another interface of this host."""

    code = 233
    grpc_status = "INVALID_ARGUMENT"


class LinkControlError(LocalnetError):
    """A cut or heal names no namespace of this localnet (unknown chain or node, a network without --netns,
    or the same member on both sides)."""

    code = 234
    grpc_status = "INVALID_ARGUMENT"


def all_error_classes() -> list[type[DistposError]]:
    """Every concrete error class, for the uniqueness test and the docs table."""
    out: list[type[DistposError]] = []
    stack: list[type[DistposError]] = [DistposError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(sorted(cls.__subclasses__(), key=lambda c: c.__name__))
    return out


def compute_codespace_of(code: int) -> str:
    """The codespace of a DistPOS result code (codes are unique across the tree); "" for 0 or an unknown code."""
    if code == 1:
        return DistposError.codespace
    todo: list[type[DistposError]] = [DistposError]
    while todo:
        cls = todo.pop()
        if cls.code == code and code != 1:
            return cls.codespace
        todo.extend(cls.__subclasses__())
    return ""
