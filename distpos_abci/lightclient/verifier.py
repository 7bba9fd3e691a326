"""Light-client verification by CometBFT's rules (light/verifier.go), pure: no I/O, no clock.

`validate_*` raise a LightClientError and change nothing; `compute_*` return new records. Time is the
verifying chain's consensus time, passed in as `now_ns`.

Rules for an update (untrusted light block U) against a client state T:
  - U is for T's chain, newer than T (height and time), not from the future (now + MAX_CLOCK_DRIFT);
  - T is within its trusting period: T.latest_time + trusting_period > now;
  - U's validator sets hash to U's header fields, U's commit is for U's header;
  - adjacent (U.height == T.latest_height + 1): U.validators_hash equals the hash of T's next set;
    non-adjacent (skipping): validators of T's next set with more than TRUST_LEVEL of its power signed U;
  - in both cases more than 2/3 of U's own set signed U.
Every COMMIT signature counted is verified; a bad one anywhere rejects the update.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from fractions import Fraction

from ..crypto import verify_signature
from ..errors import (
    ForgedSignatureError,
    HeaderMismatchError,
    InsufficientVotingPowerError,
    InvalidHeaderError,
    TrustingPeriodExpiredError,
    ValidatorSetMismatchError,
)
from .encoding import compute_commit_sign_bytes, compute_header_hash, compute_validator_set_hash
from .types import FLAG_ABSENT, FLAG_COMMIT, FLAG_NIL, ClientState, Commit, ConsensusState, LightBlock, ValidatorSet

TRUST_LEVEL = (1, 3)  # numerator, denominator: CometBFT's default
MAX_CLOCK_DRIFT_NS = 10 * 1_000_000_000


def _validate_sigs_shape(commit: Commit) -> None:
    for s in commit.signatures:
        if s.flag not in (FLAG_ABSENT, FLAG_COMMIT, FLAG_NIL):
            raise InvalidHeaderError(f"commit signature has unknown block_id_flag {s.flag}")


def compute_tally_commit(chain_id: str, vals: ValidatorSet, commit: Commit) -> int:
    """Power of vals that signed commit, by position (CometBFT's VerifyCommitLight); raises on a bad signature."""
    if len(commit.signatures) != len(vals.validators):
        raise ValidatorSetMismatchError(
            f"commit has {len(commit.signatures)} signatures, validator set has {len(vals.validators)} validators"
        )
    _validate_sigs_shape(commit)
    tally = 0
    for i, (sig, val) in enumerate(zip(commit.signatures, vals.validators)):
        if sig.flag != FLAG_COMMIT:
            continue
        if sig.validator_address != val.address:
            raise ValidatorSetMismatchError(
                f"commit signature {i} is by {sig.validator_address.hex()}, set position {i} is {val.address.hex()}"
            )
        if not verify_signature(val.pub_key, compute_commit_sign_bytes(chain_id, commit, i), sig.signature):
            raise ForgedSignatureError(f"commit signature {i} by {val.address.hex()} does not verify")
        tally += val.power
    return tally


def compute_tally_trusting(chain_id: str, trusted: ValidatorSet, commit: Commit) -> int:
    """Power of the trusted set that signed commit, validators looked up by address (VerifyCommitLightTrusting)."""
    _validate_sigs_shape(commit)
    by_address = {v.address: v for v in trusted.validators}
    seen: set[bytes] = set()
    tally = 0
    for i, sig in enumerate(commit.signatures):
        if sig.flag != FLAG_COMMIT:
            continue
        val = by_address.get(sig.validator_address)
        if val is None:
            continue
        if sig.validator_address in seen:
            raise InvalidHeaderError(f"validator {sig.validator_address.hex()} signed the commit twice")
        seen.add(sig.validator_address)
        if not verify_signature(val.pub_key, compute_commit_sign_bytes(chain_id, commit, i), sig.signature):
            raise ForgedSignatureError(f"commit signature {i} by {val.address.hex()} does not verify")
        tally += val.power
    return tally


def is_power_over(tally: int, total: int, num: int, den: int) -> bool:
    """tally > floor(total * num / den), CometBFT's threshold test."""
    return tally > total * num // den


def validate_light_block_basic(chain_id: str, lb: LightBlock) -> None:
    """The block is internally consistent: sets hash to the header, the commit is for this header."""
    h, c = lb.signed_header.header, lb.signed_header.commit
    if h.chain_id != chain_id:
        raise HeaderMismatchError(f"header is for chain {h.chain_id!r}, client tracks {chain_id!r}")
    if h.height <= 0 or c.height != h.height:
        raise HeaderMismatchError(f"commit height {c.height} does not match header height {h.height}")
    if not lb.validator_set.validators or any(v.power <= 0 for v in lb.validator_set.validators):
        raise ValidatorSetMismatchError("validator set is empty or has a non-positive power")
    if compute_validator_set_hash(lb.validator_set) != h.validators_hash:
        raise ValidatorSetMismatchError(f"validator set does not hash to header {h.height}'s validators_hash")
    if compute_validator_set_hash(lb.next_validator_set) != h.next_validators_hash:
        raise ValidatorSetMismatchError(f"next validator set does not hash to header {h.height}'s next_validators_hash")
    if c.block_id.hash != compute_header_hash(h):
        raise HeaderMismatchError(f"commit at height {h.height} signs another block than this header")


def validate_light_block(client: ClientState, lb: LightBlock, now_ns: int) -> None:
    """Raise unless lb may advance client at consensus time now_ns (CometBFT's adjacent and skipping rules)."""
    validate_light_block_basic(client.chain_id, lb)
    h = lb.signed_header.header
    if h.height <= client.latest_height:
        raise HeaderMismatchError(f"header {h.height} is not newer than the trusted height {client.latest_height}")
    if h.time_ns <= client.latest_time_ns:
        raise HeaderMismatchError(f"header {h.height} time is not after the trusted header's time")
    if client.latest_time_ns + client.trusting_period_ns <= now_ns:
        raise TrustingPeriodExpiredError(
            f"trusted header of {client.chain_id} at height {client.latest_height} is past its trusting period"
        )
    if h.time_ns >= now_ns + MAX_CLOCK_DRIFT_NS:
        raise HeaderMismatchError(f"header {h.height} time is in the future of this chain's consensus time")
    commit = lb.signed_header.commit
    if h.height == client.latest_height + 1:
        if h.validators_hash != compute_validator_set_hash(client.next_validator_set):
            raise ValidatorSetMismatchError(
                f"adjacent header {h.height} has validators other than the trusted next validator set"
            )
    else:
        trusted = client.next_validator_set
        num, den = TRUST_LEVEL
        if not is_power_over(compute_tally_trusting(client.chain_id, trusted, commit), trusted.total_power, num, den):
            raise InsufficientVotingPowerError(
                f"less than {Fraction(num, den)} of the trusted validators signed header {h.height}"
            )
    if not is_power_over(compute_tally_commit(client.chain_id, lb.validator_set, commit),
                         lb.validator_set.total_power, 2, 3):
        raise InsufficientVotingPowerError(f"not more than 2/3 of the validators signed header {h.height}")


def compute_client_after(client: ClientState, lb: LightBlock) -> tuple[ClientState, ConsensusState]:
    """The client state and the new consensus state once lb has been validated (checks nothing)."""
    h = lb.signed_header.header
    new = replace(client, latest_height=h.height, latest_time_ns=h.time_ns, next_validator_set=lb.next_validator_set)
    return new, ConsensusState(h.app_hash, h.time_ns)


MAX_BISECTION_STEPS = 32


def compute_update_path(client: ClientState, target: LightBlock, fetch, now_ns: int) -> list[LightBlock]:
    """Light blocks taking client to target, each verifiable after the previous one (CometBFT's bisection).

    `fetch(height)` returns the remote light block at a height. When the trusted set no longer holds 1/3 of
    the power signing target, the midpoint between the trusted height and target is tried first, recursively.
    """
    path: list[LightBlock] = []
    trusted = client
    pending = [target]
    while pending:
        lb = pending[-1]
        try:
            validate_light_block(trusted, lb, now_ns)
        except InsufficientVotingPowerError:
            if lb.height - trusted.latest_height <= 1 or len(path) + len(pending) > MAX_BISECTION_STEPS:
                raise
            pending.append(fetch((trusted.latest_height + lb.height) // 2))
            continue
        pending.pop()
        path.append(lb)
        trusted, _ = compute_client_after(trusted, lb)
    return path


def validate_conflicting_block(client: ClientState, lb: LightBlock, now_ns: int) -> None:
    """Raise unless lb would convince client, at any height: evidence, not progress.

    lb must be internally consistent, inside the client's trusting period, not from the future, signed by more
    than 2/3 of its own set and either be adjacent with the trusted next set or be signed by more than 1/3 of
    the trusted set. Unlike an update it may be at or below the trusted height: honest validators never sign
    two blocks at one height, so two such blocks prove that validators holding more than 1/3 of the trusted
    power misbehaved (or, past the unbonding period, could no longer be slashed: hence the trusting period).
    """
    validate_light_block_basic(client.chain_id, lb)
    h = lb.signed_header.header
    if client.latest_time_ns + client.trusting_period_ns <= now_ns:
        raise TrustingPeriodExpiredError(
            f"trusted header of {client.chain_id} at height {client.latest_height} is past its trusting period"
        )
    if h.time_ns >= now_ns + MAX_CLOCK_DRIFT_NS:
        raise HeaderMismatchError(f"header {h.height} time is in the future of this chain's consensus time")
    commit = lb.signed_header.commit
    trusted = client.next_validator_set
    adjacent = h.height == client.latest_height + 1 and h.validators_hash == compute_validator_set_hash(trusted)
    if not adjacent:
        num, den = TRUST_LEVEL
        if not is_power_over(compute_tally_trusting(client.chain_id, trusted, commit), trusted.total_power, num, den):
            raise InsufficientVotingPowerError(
                f"less than {Fraction(num, den)} of the trusted validators signed header {h.height}"
            )
    if not is_power_over(compute_tally_commit(client.chain_id, lb.validator_set, commit),
                         lb.validator_set.total_power, 2, 3):
        raise InsufficientVotingPowerError(f"not more than 2/3 of the validators signed header {h.height}")


def compute_evidence_hash(*lbs: LightBlock) -> bytes:
    """sha256 of the submitted headers' hashes in ascending byte order (the same evidence, either order)."""
    return hashlib.sha256(b"".join(sorted(compute_header_hash(lb.signed_header.header) for lb in lbs))).digest()
