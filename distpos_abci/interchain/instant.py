"""Instant cross-chain credit: records, limits, pure rules and messages (TxBody 52-55). No state access here.

The source's underwriters sign ordinary v2 guarantees (underwriting/guarantee.py) whose beneficiary is the recipient
on the destination chain, and whose `underwriter` is the validator's CometBFT (consensus) address on the source
chain. That is what the destination can check: its light client of the source holds the source's validator set
(ed25519 consensus keys and voting powers) as verified headers announced it, so a guarantee verifies when its
underwriter address is a validator of that set and the signature is that validator's key's.

The payer signs a MsgInstantTransfer on the source. Its packet is fully fixed by the signed transaction (sender,
recipient, amount and an explicit timeout; only the sequence is assigned later), so both chains name the transfer
by one **instant key**: sha256 of a domain tag and the packet encoded with sequence 0. The destination keeps its
credit under that key; a proven packet with the same key settles the credit instead of paying again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

from ..address import Address, parse_address, validate_chain_id
from ..codec import decode_canonical, encode_canonical
from ..errors import (
    ExpiredInstantGuaranteeError,
    ForgedInstantGuaranteeError,
    GenesisError,
    InstantMismatchError,
    InstantStakeError,
    InvalidAddressError,
    InvalidInterchainMsgError,
)
from ..gen.distpos.v1 import interchain_pb2
from ..lightclient.types import LightBlock, ValidatorSet
from ..store.merkle import MerkleProof
from ..tx import validate_signer
from ..types import MAX_AMOUNT, AccountId, Amount, ChainId, Height, Nonce, TxHash
from ..underwriting.guarantee import MAX_GUARANTEES_PER_TX, Guarantee, decode_guarantee, verify_guarantee_signature
from .records import Packet

INSTANT_KEY_DOMAIN = b"distpos/instant/v1\x00"

# InstantCredit.status (destination)
CREDITED, SETTLED, PAID_OUT, SEEN = 1, 2, 3, 4
CREDIT_STATUS = {CREDITED: "credited", SETTLED: "settled", PAID_OUT: "paid_out", SEEN: "seen"}
# InstantSend.status (source). An instant packet refused or timed out is not refunded to the payer at once: its
# amount is HELD for the key until the destination proves its credit (the hold pays its reserve) or proves, past
# the packet's timeout, that it never credited and never will (the hold goes back to the payer).
IN_FLIGHT, DELIVERED, HELD, HOLD_PAID, HOLD_RETURNED = 1, 2, 3, 4, 5
SEND_STATUS = {IN_FLIGHT: "in_flight", DELIVERED: "delivered", HELD: "held", HOLD_PAID: "hold_paid",
               HOLD_RETURNED: "hold_returned"}


def compute_instant_key(source: str, destination: str, sender: Address, recipient: Address, amount: int,
                        timeout_height: int, timeout_time_ns: int) -> bytes:
    """The 32-byte name of an instant transfer on both chains: its packet without the sequence, hashed."""
    blank = Packet(0, ChainId(source), ChainId(destination), sender, recipient, Amount(amount),
                   Height(timeout_height), timeout_time_ns)
    return hashlib.sha256(INSTANT_KEY_DOMAIN + blank.encode()).digest()


def compute_transfer_instant_key(source: str, t: "MsgInstantTransfer") -> bytes:
    """The instant key of a signed instant transfer of the source chain."""
    return compute_instant_key(source, t.recipient.chain_id, t.sender, t.recipient, t.amount, t.timeout_height,
                               t.timeout_time_ns)


def compute_packet_instant_key(p: Packet) -> bytes:
    """The instant key a received packet would settle."""
    return compute_instant_key(p.source_chain, p.destination_chain, p.sender, p.recipient, p.amount,
                               p.timeout_height, p.timeout_time_ns)


def compute_instant_timeout_ns(now_ns: int, seconds: int, nonce: int) -> int:
    """A timeout `seconds` after now whose sub-second part is the payer's nonce (mod 10^9): two otherwise equal
    instant transfers of one payer get different instant keys (an equal key is refused as a replay, 225)."""
    whole = (now_ns // 1_000_000_000 + seconds) * 1_000_000_000
    return whole + nonce % 1_000_000_000


# ---- records -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstantCredit:
    """Destination record of one instant transfer (or of its packet, when that came first: SEEN)."""

    status: int
    payer: str = ""
    nonce: Nonce = Nonce(0)
    recipient: str = ""
    amount: Amount = Amount(0)
    tx_hash: bytes = b""
    expiry_height: Height = Height(0)
    height: Height = Height(0)

    def encode(self) -> bytes:
        """Canonical bytes (state, proven to the source)."""
        return encode_canonical(interchain_pb2.InstantCredit(
            status=self.status, payer=self.payer, nonce=self.nonce, recipient=self.recipient, amount=self.amount,
            tx_hash=self.tx_hash, expiry_height=self.expiry_height, height=self.height))

    def evolve(self, status: int, height: int) -> "InstantCredit":
        return InstantCredit(status, self.payer, self.nonce, self.recipient, self.amount, self.tx_hash,
                             self.expiry_height, Height(height))


def decode_instant_credit(raw: bytes) -> InstantCredit:
    """An InstantCredit from its stored or proven bytes."""
    m = decode_canonical(interchain_pb2.InstantCredit, raw, "instant credit", InstantMismatchError)
    if m.status not in CREDIT_STATUS:
        raise InstantMismatchError(f"instant credit: unknown status {m.status}")
    return InstantCredit(m.status, m.payer, Nonce(m.nonce), m.recipient, Amount(m.amount), m.tx_hash,
                         Height(m.expiry_height), Height(m.height))


@dataclass(frozen=True, slots=True)
class InstantSend:
    """Source record: what the payer's nonce did as an instant transfer."""

    status: int
    destination_chain: ChainId
    sequence: int
    amount: Amount
    key: bytes

    def encode(self) -> bytes:
        return encode_canonical(interchain_pb2.InstantSend(
            status=self.status, destination_chain=self.destination_chain, sequence=self.sequence,
            amount=self.amount, key=self.key))

    def evolve(self, status: int) -> "InstantSend":
        return InstantSend(status, self.destination_chain, self.sequence, self.amount, self.key)


def decode_instant_send(raw: bytes) -> InstantSend:
    m = decode_canonical(interchain_pb2.InstantSend, raw, "instant send", InstantMismatchError)
    return InstantSend(m.status, ChainId(m.destination_chain), m.sequence, Amount(m.amount), m.key)


@dataclass(frozen=True, slots=True)
class InstantPayout:
    """Source record: the underwriters paid the destination's reserve for this instant key."""

    amount: Amount
    height: Height

    def encode(self) -> bytes:
        return encode_canonical(interchain_pb2.InstantPayout(amount=self.amount, height=self.height))


def decode_instant_payout(raw: bytes) -> InstantPayout:
    m = decode_canonical(interchain_pb2.InstantPayout, raw, "instant payout", InstantMismatchError)
    return InstantPayout(Amount(m.amount), Height(m.height))


# ---- limits set by governance ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstantLimit:
    """How much instant credit a correspondent may have outstanding here; the source's stake per unit of voting
    power (its staking power_reduction), which turns the light client's powers into stake; and the source's
    max_guarantee_blocks (a longer-lived guarantee could not be claimed there)."""

    limit: int = 0
    stake_per_power: int = 1
    max_guarantee_blocks: int = 20

    def to_json(self) -> dict:
        return {"limit": self.limit, "stake_per_power": self.stake_per_power,
                "max_guarantee_blocks": self.max_guarantee_blocks}


def parse_instant_limits(data: object, what: str) -> dict[str, InstantLimit]:
    """`{"<chain>": {"limit": N, "stake_per_power": M, "max_guarantee_blocks": B}, ...}`; raise GenesisError
    when malformed."""
    if not isinstance(data, dict):
        raise GenesisError(f"{what} must be an object of chain-id -> {{limit, stake_per_power}}")
    out: dict[str, InstantLimit] = {}
    for chain in sorted(data):
        entry = data[chain]
        if not isinstance(entry, dict) or set(entry) - set(InstantLimit.__dataclass_fields__):
            raise GenesisError(f"{what}.{chain} must be an object with keys limit, stake_per_power, "
                               "max_guarantee_blocks")
        values = {**InstantLimit().to_json(), **entry}
        for name, v in sorted(values.items()):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_AMOUNT:
                raise GenesisError(f"{what}.{chain}.{name} must be an integer between 0 and {MAX_AMOUNT}")
        if values["stake_per_power"] < 1 or values["max_guarantee_blocks"] < 1:
            raise GenesisError(f"{what}.{chain}: stake_per_power and max_guarantee_blocks must be at least 1")
        try:
            validate_chain_id(chain)
        except InvalidAddressError as exc:
            raise GenesisError(f"{what}: {exc.message}") from None
        out[chain] = InstantLimit(**values)
    return out


def encode_instant_limits(limits: dict[str, InstantLimit]) -> bytes:
    """Canonical JSON of the instant limits (the interchain params)."""
    return json.dumps({"instant_credit": {c: limits[c].to_json() for c in sorted(limits)}}, sort_keys=True,
                      separators=(",", ":")).encode()


# ---- pure rules -----------------------------------------------------------------------------------------


def validate_instant_guarantee_set(gs: tuple[Guarantee, ...], source: str, destination: str) -> None:
    """Raise unless gs are shares of one cross-chain promise: signed for the source chain, payer there,
    beneficiary here, same payment fields, distinct underwriters on the source, shares adding up to the total."""
    first = gs[0]
    for g in gs:
        if g.chain_id != source or g.underwriter.chain_id != source:
            raise InstantMismatchError(f"instant guarantees must be signed on the source chain {source}")
        if (g.payer, g.nonce, g.tx_hash, g.total, g.beneficiary, g.expiry_height) != (
                first.payer, first.nonce, first.tx_hash, first.total, first.beneficiary, first.expiry_height):
            raise InstantMismatchError("guarantees disagree on payer, nonce, transaction, total, recipient or expiry")
    if first.payer.chain_id != source or first.beneficiary.chain_id != destination:
        raise InstantMismatchError(f"the payer must be on {source} and the recipient on {destination}")
    if len({g.underwriter.account for g in gs}) != len(gs):
        raise InstantMismatchError("two guarantees from the same underwriter")
    if sum(g.amount for g in gs) != first.total:
        raise InstantMismatchError(f"shares add up to {sum(g.amount for g in gs)}, not the total {first.total}")


def validate_instant_signatures(gs: tuple[Guarantee, ...], validators: ValidatorSet) -> int:
    """Raise unless every underwriter is a validator of the trusted set and signed with its key; return their
    combined voting power."""
    by_address = {v.address: v for v in validators.validators}
    power = 0
    for g in gs:
        v = by_address.get(g.underwriter.account)
        if v is None:
            raise ForgedInstantGuaranteeError(f"underwriter {g.underwriter} is not a validator of {g.chain_id} as "
                                              "this chain's light client trusts it")
        if not verify_guarantee_signature(v.pub_key, g):
            raise ForgedInstantGuaranteeError(f"guarantee signature does not verify for underwriter {g.underwriter}")
        power += v.power
    return power


def validate_stake_covers(power: int, limit: InstantLimit, total: int) -> None:
    """Raise unless the underwriters' stake (voting power x stake per power) covers total."""
    if power * limit.stake_per_power < total:
        raise InstantStakeError(
            f"underwriters' stake {power * limit.stake_per_power} (power {power} x {limit.stake_per_power}) "
            f"does not cover {total}")


def validate_lifetime(gs: tuple[Guarantee, ...], limit: InstantLimit) -> None:
    """Raise when the guarantee lives longer than the source accepts claims for (its max_guarantee_blocks)."""
    if any(g.expiry_height - g.issued_height > limit.max_guarantee_blocks for g in gs):
        raise InstantMismatchError(f"a guarantee lives longer than the source's max_guarantee_blocks "
                                   f"({limit.max_guarantee_blocks}): the source could not pay a claim on it")


def validate_not_expired(gs: tuple[Guarantee, ...], trusted_height: int) -> None:
    """Raise when the light client already trusts a source height past the guarantee's expiry."""
    if trusted_height > gs[0].expiry_height:
        raise ExpiredInstantGuaranteeError(
            f"guarantee expired at source height {gs[0].expiry_height}; the source is trusted at {trusted_height}")


def validate_instant_payment(gs: tuple[Guarantee, ...], transfer: "MsgInstantTransfer", signer: AccountId,
                             nonce: int, tx_hash: bytes) -> None:
    """Raise unless the payer-signed transfer is the payment the guarantees cover: hash, signer, nonce,
    recipient and amount."""
    g = gs[0]
    if g.tx_hash != tx_hash:
        raise InstantMismatchError("guarantees name another transaction than the one given")
    if (signer, nonce) != (g.payer.account, g.nonce):
        raise InstantMismatchError(f"guarantees cover nonce {g.nonce} of {g.payer}; the transaction is another's")
    if transfer.recipient != g.beneficiary or transfer.amount != g.total:
        raise InstantMismatchError(f"guarantees cover {g.total} to {g.beneficiary}; the transfer pays "
                                   f"{transfer.amount} to {transfer.recipient}")


# ---- messages -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MsgInstantTransfer:
    """Source: send amount to recipient's chain as an instant transfer (timeout required)."""

    # The underwriting service guarantees it with a cross-chain guarantee (the narrow interface it reads).
    cross_chain_guaranteeable: ClassVar[bool] = True

    sender: Address
    recipient: Address
    amount: Amount
    timeout_height: int
    timeout_time_ns: int

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        validate_signer(self.sender, chain_id, signer, "instant transfer")
        if self.recipient.chain_id == chain_id:
            raise InvalidInterchainMsgError("instant transfer: recipient is on this chain")


@dataclass(frozen=True, slots=True)
class MsgInstantCredit:
    """Destination: credit the recipient now on the source underwriters' guarantees."""

    source: ChainId
    update: LightBlock | None
    guarantees: tuple[Guarantee, ...]
    tx: bytes

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may submit: the guarantees and the payer's transaction carry their own signatures."""


@dataclass(frozen=True, slots=True)
class MsgInstantClaim:
    """Source: the destination proves it credited; pay its reserve from the underwriters if the nonce did not."""

    destination: ChainId
    update: LightBlock | None
    proof_height: int
    guarantees: tuple[Guarantee, ...]
    tx: bytes
    credit: bytes
    proof: MerkleProof

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may submit; the destination's reserve is paid."""


@dataclass(frozen=True, slots=True)
class MsgInstantRelease:
    """Destination: the source proves it paid the credit out; release the outstanding amount."""

    source: ChainId
    update: LightBlock | None
    proof_height: int
    key: bytes
    payout: bytes
    proof: MerkleProof

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may submit."""


def _addr(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"{what}: {exc.message}") from None


def instant_guarantees(items, what: str) -> tuple[Guarantee, ...]:
    if not 1 <= len(items) <= MAX_GUARANTEES_PER_TX:
        raise InstantMismatchError(f"{what}: carry between 1 and {MAX_GUARANTEES_PER_TX} guarantees")
    return tuple(decode_guarantee(g) for g in items)


def decode_instant_transfer(m: interchain_pb2.MsgInstantTransfer) -> MsgInstantTransfer:
    """Typed MsgInstantTransfer; a timeout is required."""
    if not 0 < m.amount <= MAX_AMOUNT:
        raise InvalidInterchainMsgError("instant transfer: amount must be a positive integer")
    if not m.timeout_height and not m.timeout_time_ns:
        raise InvalidInterchainMsgError("instant transfer: a timeout (height or time on the destination) is required")
    return MsgInstantTransfer(_addr(m.from_address, "instant transfer"), _addr(m.to_address, "instant transfer"),
                              Amount(m.amount), m.timeout_height, m.timeout_time_ns)
