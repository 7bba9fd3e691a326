"""The underwriting service a validator node runs next to its app (off chain: wall-clock deadlines are fine here).

A client sends a signed MsgSend transaction. The node runs it against its latest (check) state through the app's
one simulation path (`DistposApp.simulate_tx`, the same checks CheckTx makes) and, when the amount fits, signs a
Guarantee at once: no consensus round. What fits is the payer's collateral held for this validator that its
outstanding guarantees have not promised yet, plus the credit the operator chooses to extend at its own risk
(`credit_limit`, default 0, bounded by the stake not already backing credit). Every reservation is taken
synchronously on the event loop before any await, so concurrent requests cannot overcommit the node.

Above its capacity the node co-underwrites: phase 1 reserves shares at other validators (endpoints from their
on-chain records) within a deadline; only when the shares cover the amount does phase 2 have them sign. Otherwise
every reservation is released and the client gets InsufficientCapacityError: nothing stays locked anywhere, and no
signature was handed out for a refused request.

Then the node broadcasts a MsgUnderwrittenTx carrying the client's transaction and the guarantees, signed with
its consensus key as an ordinary account (sign domain "distpos/tx/v1", distinct from guarantees and votes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..address import Address, parse_address
from ..auth import AuthKeeper
from ..bank import MsgSend
from ..crypto import KeyPair, verify_signature
from ..errors import (
    BadNonceError,
    DistposError,
    InsufficientCapacityError,
    InsufficientCollateralError,
    PremiumBelowPriceError,
    TxSimulationError,
    TxRejectedError,
    UnauthorizedCoordinatorError,
    UnderwritableTxError,
    UnderwritingDisabledError,
    UnknownReservationError,
    GuaranteeLifetimeError,
)
from ..staking import StakingKeeper, ValidatorRecord, compute_consensus_address
from ..types import AccountId, Amount, ChainId, Height, Nonce, TxHash
from .guarantee import Guarantee, sign_guarantee, verify_guarantee_signature
from .journal import GuaranteeJournal
from ..fees import build_paid_tx
from .keeper import PremiumRate, UnderwritingKeeper, compute_premium
from .msgs import build_underwritten_tx

log = logging.getLogger("distpos.underwriting")

# Unsigned reservations (co-underwriting phase 1) lapse after this many seconds without a confirm.
RESERVATION_TTL = 10.0


class App(Protocol):
    """What the service reads from the node's app."""

    chain_id: ChainId
    check: object
    state: object

    @property
    def last_height(self) -> Height: ...

    def decode_verified_tx(self, raw: bytes): ...

    def simulate_tx(self, raw: bytes): ...


class PeerClient(Protocol):
    """Calls to other validators' underwriting services."""

    async def reserve(self, endpoint: str, tx: bytes, amount: int, expiry: int, auth: "CoordinatorAuth",
                      timeout: float) -> int: ...

    async def confirm(self, endpoint: str, tx_hash: bytes, auth: "CoordinatorAuth", timeout: float) -> Guarantee: ...

    async def release(self, endpoint: str, tx_hash: bytes, auth: "CoordinatorAuth", timeout: float) -> None: ...


Carrier = Callable[[bytes, list[Guarantee]], Awaitable[None]]

COORDINATION_DOMAIN = b"distpos/co-underwrite/v1\x00"
RESERVE, CONFIRM, RELEASE = b"R", b"C", b"X"


@dataclass(frozen=True)
class CoordinatorAuth:
    """Who coordinates a co-underwriting step, and its consensus-key signature over that step."""

    coordinator: str
    signature: bytes


def compute_coordination_sign_bytes(step: bytes, chain_id: str, tx_hash: bytes, amount: int, expiry: int,
                                    coordinator: str) -> bytes:
    """What a coordinator signs for Reserve (R, with amount and expiry), Confirm (C) and Release (X, both 0)."""
    return b"".join((COORDINATION_DOMAIN, step, bytes([len(chain_id)]), chain_id.encode(), tx_hash,
                     amount.to_bytes(8, "big"), expiry.to_bytes(8, "big", signed=True), coordinator.encode()))


@dataclass
class Reservation:
    """Capacity this node holds for one transaction: unsigned (phase 1) or signed (a guarantee). `credit` is the
    part of `amount` not covered by the payer's collateral: only that part is at the validator's own risk."""

    tx_hash: TxHash
    tx: bytes
    amount: Amount
    total: Amount
    beneficiary: Address
    expiry_height: Height
    payer: Address
    nonce: Nonce
    credit: Amount = Amount(0)
    created: float = field(default_factory=time.monotonic)
    guarantee: Guarantee | None = None
    coordinator: str = ""  # operator address of the validator this share was reserved for ("" = our own)


@dataclass(frozen=True)
class CapacityView:
    """This node's stake and commitments."""

    operator: Address | None
    bonded: int
    outstanding: int
    reserved: int
    free: int
    height: int
    guarantees: tuple[Guarantee, ...]


def compute_free_capacity(bonded: int, committed: int) -> int:
    """Capacity left for new guarantees."""
    return max(0, bonded - committed)


def compute_credit_free(credit_limit: int, bonded: int, credit_used: int) -> int:
    """Credit a node may still extend: within its credit_limit and the stake not already backing credit."""
    return max(0, min(credit_limit - credit_used, compute_free_capacity(bonded, credit_used)))


def compute_premium_offered(premium: int, total: int, share: int) -> int:
    """The least part of a payer-signed premium a share of `share` out of `total` is paid on chain (the floor of
    its pro-rata part; the remainder rule may add one unit)."""
    return premium * share // total


def compute_cover(amount: int, collateral_free: int, credit_free: int) -> tuple[int, int]:
    """How much of amount this node can take: (covered by the payer's collateral, on credit). Collateral first."""
    covered = min(amount, max(0, collateral_free))
    return covered, min(amount - covered, max(0, credit_free))


class UnderwritingService:
    """Guarantees, co-underwriting and the local ledger of what this node has promised."""

    def __init__(self, app: App, consensus_key: KeyPair, *, peers: PeerClient | None = None,
                 carrier: Carrier | None = None, guarantee_blocks: int = 10, co_deadline: float = 2.0,
                 enabled: bool = True, journal: GuaranteeJournal | None = None, credit_limit: int = 0) -> None:
        self.app = app
        self.key = consensus_key
        self.cons_address = compute_consensus_address(consensus_key.pub_key)
        self.peers = peers
        self.carrier = carrier
        self.guarantee_blocks = guarantee_blocks
        self.co_deadline = co_deadline
        self.enabled = enabled
        self.credit_limit = credit_limit
        self.reservations: dict[bytes, Reservation] = {}
        self.journal = journal
        for g in journal.load() if journal is not None else ():
            # What this node promised before a restart still binds the payer's collateral (and, for the part
            # beyond it, this node's stake) until the chain settles it. Counting it all as credit is the safe side.
            self.reservations[g.tx_hash] = Reservation(g.tx_hash, b"", g.amount, g.total, g.beneficiary,
                                                       g.expiry_height, g.payer, g.nonce, credit=Amount(0),
                                                       guarantee=g)

    # ---- views

    def _staking(self) -> StakingKeeper:
        return StakingKeeper(self.app.check, self.app.chain_id)  # type: ignore[arg-type]

    def _validator(self) -> ValidatorRecord:
        if not self.enabled:
            raise UnderwritingDisabledError("underwriting is disabled on this node")
        staking = self._staking()
        operator = staking.get_operator_by_consensus(self.cons_address)
        v = staking.get_validator(operator) if operator is not None else None
        if v is None:
            raise UnderwritingDisabledError("this node's consensus key is not a registered validator")
        if v.is_jailed:
            raise UnderwritingDisabledError(f"validator {v.operator} is jailed")
        return v

    def _stake(self, v: ValidatorRecord) -> int:
        """Bonded stake that backs new guarantees: the lower of the committed and the mempool view, so a bond
        still in the mempool (which may never commit) adds nothing, and a pending unbond already counts."""
        committed = StakingKeeper(self.app.state, self.app.chain_id).get_validator(v.operator.account)  # type: ignore[arg-type]
        return min(v.bonded, committed.bonded) if committed is not None else 0

    def _prune(self) -> None:
        """Forget reservations the chain settled, whose claims closed, or that were never confirmed."""
        settled = UnderwritingKeeper(self.app.state, self.app.chain_id)  # type: ignore[arg-type]
        window = settled.get_params().claim_window_blocks
        height, now = self.app.last_height, time.monotonic()
        dropped = 0
        for h, r in list(self.reservations.items()):
            if r.guarantee is None:
                done = now - r.created > RESERVATION_TTL
            else:
                g = r.guarantee
                outcome = settled.get_nonce_outcome(g)
                done = (settled.get_settlement(g.payer.account, g.nonce, g.underwriter.account) is not None
                        or (outcome.consumed and outcome.paid >= g.total) or outcome.forgotten
                        or height > r.expiry_height + window)
                dropped += done
            if done:
                del self.reservations[h]
        if dropped and self.journal is not None:
            self.journal.note_dropped([r.guarantee for r in self.reservations.values() if r.guarantee], dropped)

    def committed(self) -> int:
        """Sum of outstanding guarantees and reservations."""
        self._prune()
        return sum(r.amount for r in self.reservations.values())

    def credit_used(self) -> int:
        """The part of outstanding guarantees and reservations that only this node's stake backs."""
        return sum(r.credit for r in self.reservations.values())

    def promised(self, payer: AccountId) -> int:
        """What this node's outstanding guarantees and reservations promise against payer's collateral."""
        return sum(r.amount - r.credit for r in self.reservations.values() if r.payer.account == payer)

    def collateral_free(self, v: ValidatorRecord, payer: AccountId) -> int:
        """The payer's locked collateral for this validator (the lower of the committed and the mempool view,
        so an unlock waiting in the mempool already counts) not yet promised."""
        locked = min(UnderwritingKeeper(view, self.app.chain_id).get_collateral(payer, v.operator.account).locked  # type: ignore[arg-type]
                     for view in (self.app.state, self.app.check))
        return locked - self.promised(payer)

    def credit_free(self, v: ValidatorRecord) -> int:
        """Credit this node may still extend: within credit_limit and the stake not already backing credit."""
        return compute_credit_free(self.credit_limit, self._stake(v), self.credit_used())

    def capacity(self) -> CapacityView:
        """Bonded stake, what is promised, what is free."""
        try:
            v = self._validator()
            operator, bonded = v.operator, self._stake(v)
        except UnderwritingDisabledError:
            operator, bonded = None, 0
        committed = self.committed()
        signed = tuple(r.guarantee for r in self.reservations.values() if r.guarantee is not None)
        reserved = sum(r.amount for r in self.reservations.values() if r.guarantee is None)
        free = compute_credit_free(self.credit_limit, bonded, self.credit_used())
        return CapacityView(operator, bonded, committed - reserved, reserved, free, self.app.last_height, signed)

    # ---- checks

    def validate_client_tx(self, raw: bytes) -> tuple[object, MsgSend]:
        """The signed transaction must be a local MsgSend to another account, or a cross-chain instant transfer
        (a message whose class says `cross_chain_guaranteeable`), that the chain would accept now: asked of the
        app's check state through the same path as CheckTx, so the two can never disagree."""
        try:
            tx = self.app.simulate_tx(raw)
        except TxSimulationError as exc:
            raise UnderwritableTxError(exc.message) from None
        send = tx.msg
        cross_chain = getattr(type(send), "cross_chain_guaranteeable", False)
        if not isinstance(send, MsgSend) and not cross_chain:
            raise UnderwritableTxError(f"only a send or an instant transfer can be underwritten, not {type(send).__name__}")
        if not cross_chain and send.recipient.chain_id != self.app.chain_id:
            raise UnderwritableTxError("a transfer to another chain is underwritten as an instant transfer")
        if cross_chain and send.recipient.chain_id == self.app.chain_id:
            raise UnderwritableTxError("an instant transfer must go to another chain")
        if send.recipient.account == tx.signer and not cross_chain:
            raise UnderwritableTxError("a payment to the payer itself needs no guarantee")
        for r in self.reservations.values():
            if (r.payer.account, r.nonce) == (tx.signer, tx.nonce) and r.tx_hash != tx.hash:
                raise UnderwritableTxError(
                    f"another transaction of this account with nonce {tx.nonce} is already guaranteed"
                )
        return tx, send

    def _lifetime(self) -> int:
        max_blocks = UnderwritingKeeper(self.app.check, self.app.chain_id).get_params().max_guarantee_blocks  # type: ignore[arg-type]
        # Two blocks of slack: co-underwriters may be a block behind when they stamp issued_height.
        return max(1, min(self.guarantee_blocks, max_blocks - 2))

    def premium_rate(self, v: ValidatorRecord) -> PremiumRate:
        """This validator's announced premium: the higher of the committed and the mempool view, so a raise
        waiting in the mempool already counts."""
        rates = [UnderwritingKeeper(view, self.app.chain_id).get_premium_rate(v.operator.account)  # type: ignore[arg-type]
                 for view in (self.app.state, self.app.check)]
        return max(rates, key=lambda r: (r.rate_ppm, r.minimum))

    def validate_premium(self, v: ValidatorRecord, tx, total: int, share: int) -> None:
        """Refuse a share whose part of the premium the payer signed is below this validator's price for it."""
        asked = compute_premium(self.premium_rate(v), share)
        offered = compute_premium_offered(tx.premium, total, share)
        if offered < asked:
            raise PremiumBelowPriceError(
                f"validator {v.operator} asks a premium of {asked} to guarantee {share}; the payer signed "
                f"{tx.premium} for {total}, {offered} for this share")

    def available(self, payer: AccountId) -> int:
        """What this node can guarantee for payer now: unpromised collateral plus free credit."""
        v = self._validator()
        self._prune()
        covered, credit = compute_cover(1 << 64, self.collateral_free(v, payer), self.credit_free(v))
        return covered + credit

    def _hold(self, tx, send: MsgSend, amount: int, expiry: int, raw: bytes) -> Reservation:
        """Take amount for tx, collateral first then credit, synchronously (no await between check and write)."""
        v = self._validator()
        self._prune()
        covered, credit = compute_cover(amount, self.collateral_free(v, tx.signer), self.credit_free(v))
        if covered + credit < amount:
            raise InsufficientCollateralError(
                f"{amount} exceeds what this validator can guarantee for {send.sender}: {covered} of unpromised "
                f"collateral and {credit} of credit")
        r = Reservation(tx.hash, raw, Amount(amount), send.amount, send.recipient, Height(expiry), send.sender,
                        tx.nonce, credit=Amount(credit))
        self.reservations[tx.hash] = r
        return r

    def _sign(self, r: Reservation) -> Guarantee:
        v = self._validator()
        # A cross-chain guarantee names the underwriter by its consensus address: the destination knows the
        # source's validators only as its light client does (consensus keys and voting powers).
        underwriter = v.operator if r.beneficiary.chain_id == self.app.chain_id else Address(
            self.app.chain_id, self.cons_address)
        g = Guarantee(r.tx_hash, r.amount, r.total, r.beneficiary, underwriter, self.app.chain_id, r.expiry_height,
                      Height(max(1, self.app.last_height)), r.payer, r.nonce)
        signed = sign_guarantee(self.key, g)
        if self.journal is not None:
            self.journal.append(signed)  # durable before anyone sees it
        r.guarantee = signed
        return signed

    # ---- the calls

    async def underwrite(self, raw: bytes, co_underwrite: bool = True, carry: bool = True) -> list[Guarantee]:
        """Guarantee raw: alone if it fits, else with co-underwriters; then carry it to the chain."""
        tx, send = self.validate_client_tx(raw)
        existing = self.reservations.get(tx.hash)
        if existing is not None:
            if existing.guarantee is not None and existing.amount == send.amount and not existing.coordinator:
                return [existing.guarantee]  # idempotent retry of a single-underwriter request
            # One guarantee per payment and validator: a share already held or signed for this payment (here, or
            # for another coordinator) is never doubled by a second guarantee of the same nonce.
            raise UnderwritableTxError(f"{tx.hash.hex()} is already guaranteed or reserved by this validator")
        expiry = self.app.last_height + self._lifetime()
        free = self.available(tx.signer)
        own = min(free, send.amount)
        if own > 0:
            self.validate_premium(self._validator(), tx, send.amount, own)
        if send.amount <= free:
            guarantees = [self._sign(self._hold(tx, send, send.amount, expiry, raw))]
        elif not co_underwrite or self.peers is None:
            raise InsufficientCollateralError(
                f"amount {send.amount} exceeds what this validator can guarantee for {send.sender}: {free}")
        else:
            guarantees = await self._co_underwrite(tx, send, raw, free, expiry)
        if carry and self.carrier is not None:
            self.carrier(raw, guarantees)
        return guarantees

    async def _co_underwrite(self, tx, send: MsgSend, raw: bytes, free: int, expiry: int) -> list[Guarantee]:
        deadline = time.monotonic() + self.co_deadline
        own = self._hold(tx, send, free, expiry, raw) if free > 0 else None
        remaining = send.amount - free
        granted: list[tuple[ValidatorRecord, int]] = []
        me = self.cons_address
        coordinator = str(self._validator().operator)

        def auth(step: bytes, amount: int = 0, exp: int = 0) -> CoordinatorAuth:
            sb = compute_coordination_sign_bytes(step, self.app.chain_id, tx.hash, amount, exp, coordinator)
            return CoordinatorAuth(coordinator, self.key.sign(sb))

        try:
            # Ask first the validators holding the most of this payer's collateral: their shares cost them nothing.
            held = UnderwritingKeeper(self.app.state, self.app.chain_id)  # type: ignore[arg-type]
            peers = sorted((p for p in self._staking().get_validators()
                            if p.endpoint and not p.is_jailed and p.consensus_address != me and p.bonded > 0),
                           key=lambda p: (-held.get_collateral(tx.signer, p.operator.account).locked, -p.bonded,
                                          p.operator.account))
            for peer in peers:
                left = deadline - time.monotonic()
                if remaining == 0 or left <= 0:
                    break
                try:
                    ask = remaining
                    got = await self.peers.reserve(peer.endpoint, raw, ask, expiry,  # type: ignore[union-attr]
                                                   auth(RESERVE, ask, expiry), left)
                except DistposError as exc:
                    log.info("co-underwriter %s refused: %s", peer.operator, exc.message)
                    continue
                if 0 < got <= ask:
                    granted.append((peer, got))
                    remaining -= got
                else:  # a share we did not ask for is not used: let the peer free it
                    await self._release_peer(peer.endpoint, tx.hash, auth(RELEASE))
            if remaining > 0:
                raise InsufficientCapacityError(
                    f"amount {send.amount} not covered: {free} here and {send.amount - free - remaining} from "
                    f"{len(granted)} co-underwriter(s) within {self.co_deadline:.1f}s"
                )
            shares = []
            for peer, amount in granted:
                g = await self.peers.confirm(peer.endpoint, tx.hash, auth(CONFIRM),  # type: ignore[union-attr]
                                             max(0.1, deadline - time.monotonic()))
                named = peer.operator.account if send.recipient.chain_id == self.app.chain_id else peer.consensus_address
                if (g.underwriter.account != named or g.amount != amount or g.tx_hash != tx.hash
                        or g.total != send.amount or not verify_guarantee_signature(peer.consensus_pub_key, g)):
                    raise InsufficientCapacityError(f"co-underwriter {peer.operator} returned an invalid guarantee")
                shares.append(g)
            if own is not None:
                shares.insert(0, self._sign(own))
            return shares
        except BaseException:
            if own is not None:
                self.reservations.pop(tx.hash, None)
            await asyncio.gather(*(self._release_peer(p.endpoint, tx.hash, auth(RELEASE)) for p, _ in granted))
            raise

    async def _release_peer(self, endpoint: str, tx_hash: bytes, auth: CoordinatorAuth) -> None:
        try:
            await self.peers.release(endpoint, tx_hash, auth, 2.0)  # type: ignore[union-attr]
        except DistposError as exc:  # the peer's reservation lapses after RESERVATION_TTL anyway
            log.warning("release at %s failed: %s", endpoint, exc.message)

    def validate_coordinator(self, step: bytes, tx_hash: bytes, amount: int, expiry: int,
                             auth: CoordinatorAuth) -> None:
        """The step must be signed by the consensus key of the registered validator it names."""
        try:
            account = parse_address(auth.coordinator).account
        except DistposError:
            raise UnauthorizedCoordinatorError(f"coordinator {auth.coordinator!r} is not an address") from None
        v = self._staking().get_validator(account)
        sb = compute_coordination_sign_bytes(step, self.app.chain_id, tx_hash, amount, expiry, auth.coordinator)
        if v is None or not verify_signature(v.consensus_pub_key, sb, auth.signature):
            raise UnauthorizedCoordinatorError(f"request not signed by validator {auth.coordinator}")

    def reserve(self, raw: bytes, amount: int, expiry: int, auth: CoordinatorAuth) -> int:
        """Phase 1 for a coordinator: hold up to amount of free capacity; returns what is held."""
        tx, send = self.validate_client_tx(raw)
        self.validate_coordinator(RESERVE, tx.hash, amount, expiry, auth)
        height = self.app.last_height
        max_blocks = UnderwritingKeeper(self.app.check, self.app.chain_id).get_params().max_guarantee_blocks  # type: ignore[arg-type]
        if not height < expiry <= height + max_blocks - 1:
            raise GuaranteeLifetimeError(f"expiry {expiry} must be within {max_blocks - 1} blocks after {height}")
        if not 0 < amount <= send.amount:
            raise UnderwritableTxError(f"share {amount} must be positive and at most the amount {send.amount}")
        existing = self.reservations.get(tx.hash)
        if existing is not None:
            if existing.coordinator != auth.coordinator:  # ours, or held for another coordinator: not for this one
                raise UnderwritableTxError(f"{tx.hash.hex()} is already guaranteed or reserved by this validator")
            return existing.amount
        share = min(amount, self.available(tx.signer))
        if share <= 0:
            raise InsufficientCollateralError(f"nothing left to guarantee for {send.sender}")
        self.validate_premium(self._validator(), tx, send.amount, share)
        self._hold(tx, send, share, expiry, raw).coordinator = auth.coordinator
        log.info("reserved %d of %s for coordinator %s", share, tx.hash.hex()[:12], auth.coordinator)
        return share

    def _reservation_of(self, tx_hash: bytes, auth: CoordinatorAuth) -> Reservation | None:
        r = self.reservations.get(tx_hash)
        if r is not None and r.coordinator != auth.coordinator:
            raise UnauthorizedCoordinatorError(f"the reservation of {tx_hash.hex()} belongs to another coordinator")
        return r

    def confirm(self, tx_hash: bytes, auth: CoordinatorAuth) -> Guarantee:
        """Phase 2: sign the reserved share."""
        self.validate_coordinator(CONFIRM, tx_hash, 0, 0, auth)
        self._prune()
        r = self._reservation_of(tx_hash, auth)
        if r is None:
            raise UnknownReservationError(f"no reservation for {tx_hash.hex()} (released or lapsed)")
        return r.guarantee or self._sign(r)

    def release(self, tx_hash: bytes, auth: CoordinatorAuth) -> bool:
        """Abort: drop an unsigned reservation (a signed guarantee stays outstanding until the chain settles it)."""
        self.validate_coordinator(RELEASE, tx_hash, 0, 0, auth)
        r = self._reservation_of(tx_hash, auth)
        if r is None or r.guarantee is not None:
            return False
        del self.reservations[tx_hash]
        return True


class NodeCarrier:
    """Broadcasts carriers through the node's own CometBFT RPC, one at a time so nonces stay in order."""

    def __init__(self, app: App, key: KeyPair, broadcast_sync: Callable[[bytes], dict]) -> None:
        self.app = app
        self.key = key
        self.broadcast_sync = broadcast_sync
        self.account = Address.from_pub_key(app.chain_id or "x", key.pub_key).account
        self.next_nonce = 0
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    def __call__(self, raw: bytes, guarantees: list[Guarantee]) -> None:
        """Schedule the broadcast; the guarantee is already with the client."""
        task = asyncio.get_running_loop().create_task(self._submit(raw, guarantees))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _submit(self, raw: bytes, guarantees: list[Guarantee]) -> None:
        loop = asyncio.get_running_loop()
        if guarantees[0].beneficiary.chain_id != self.app.chain_id:
            # An instant transfer: the payer's own transaction goes to the chain as it is. Its packet settles the
            # destination's credit; a claim from the destination, not a carrier here, handles a failure.
            try:
                await loop.run_in_executor(None, self.broadcast_sync, raw)
            except DistposError as exc:
                log.warning("instant transfer %s not broadcast: %s", guarantees[0].tx_hash.hex()[:12], exc.message)
            return
        async with self.lock:
            for attempt in range(3):
                chain_nonce = AuthKeeper(self.app.check).get_account(self.account).nonce  # type: ignore[arg-type]
                nonce = max(self.next_nonce, chain_nonce) if attempt == 0 else chain_nonce
                price = max(self.app.params.min_gas_price, self.app.node_min_gas_price)  # its own CheckTx's minimum
                envelope = build_paid_tx(self.key, build_underwritten_tx(self.key, self.app.chain_id, nonce, raw,
                                                                         guarantees), gas_price=price)
                try:
                    await loop.run_in_executor(None, self.broadcast_sync, envelope)
                    self.next_nonce = nonce + 1
                    return
                except TxRejectedError as exc:
                    if exc.remote_code != BadNonceError.code:
                        log.warning("carrier of %s rejected: %s", guarantees[0].tx_hash.hex()[:12], exc.message)
                        return
                except DistposError as exc:
                    log.warning("carrier of %s not broadcast: %s", guarantees[0].tx_hash.hex()[:12], exc.message)
                    return
            log.warning("carrier of %s gave up after nonce conflicts", guarantees[0].tx_hash.hex()[:12])
