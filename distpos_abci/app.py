"""The DistPOS state machine, with typed calls; it knows nothing of ABCI or sockets.

Three views of state:
  committed  the StateStore (last Commit);
  check      a CacheKV over committed, for the mempool, reset at every Commit;
  block      a CacheKV over committed, holding the block being finalized.
Each transaction's message runs in its own CacheKV over the block and is written through
only if it succeeds; a failed message still consumes its nonce (the signature was valid),
so nobody can replay it.

A signature is verified once per node: CheckTx keeps what it decoded and verified in a
`VerifiedTxCache`, which FinalizeBlock and RECHECK take back (txcache.py).

Receipts are not state: a transaction's bytes bind its signer and nonce, and the nonce is strict, so a
replay fails on its nonce. The node keeps them in its local index (receipts/), outside the app hash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from . import __version__
from .address import Address, parse_address
from .auth import AuthKeeper, AuthRecord
from .auth.keeper import compute_new_payments, validate_nonce
from .auth.keys import full_account_key
from .authority import GOV_AUTHORITY
from .bank import BankKeeper, BankModule, MsgSend
from .bank.keeper import decode_amount
from .bank.keys import full_balance_key
from .distribution import DistributionKeeper, DistributionModule, validate_fee_funds
from .errors import (
    DistposError,
    FeeBelowChainMinimumError,
    FeeBelowNodeMinimumError,
    InvalidAddressError,
    NotFoundError,
    ProofUnavailableError,
    ReceiptsIndexDisabledError,
    TxSimulationError,
    UnknownMessageError,
)
from .fees import compute_fee, compute_gas
from .events import Event
from .genesis import parse_genesis
from .gov import GovModule
from .module import BlockInfo, GenesisContext, Module, TxContext, ValidatorUpdate
from .params import Params, apply_params, get_params
from .receipts import Receipt, ReceiptKeeper
from .staking import StakingModule
from .interchain import InterchainModule
from .underwriting import UnderwritingKeeper, UnderwritingModule
from .store import merkle
from .store.kv import CacheKV, KVStore
from .store.state import PendingCommit, StateStore
from .tx import Msg, SignedTx, compute_tx_hash, decode_tx, validate_tx_stateless
from .txcache import DEFAULT_CAPACITY, VerifiedTxCache
from .types import AppHash, ChainId, Height, TxHash

log = logging.getLogger("distpos.app")

APP_VERSION = 1
BLOCK_TIME_KEY = b"core/block_time"  # owned by the app: last block's consensus time, u64 ns


def compute_retain_height(last_height: int, min_retain_blocks: int, keep_recent: int) -> Height:
    """ResponseCommit.retain_height: the lowest block CometBFT must keep (0 = keep every block).

    min_retain_blocks is the operator's choice (0 = keep all). It never goes below what others read from this
    node's blocks: a state proof at height H verifies against header H+1, and a relay catching up reads the blocks
    whose state the app still proves, so the last keep_recent + 1 blocks stay; an archive app (keep_recent = 0)
    proves every height, so it keeps every block. (CometBFT keeps headers and commits inside the evidence max age
    on its own, for misbehaviour reports.)"""
    if min_retain_blocks == 0 or keep_recent == 0:
        return Height(0)
    keep = max(min_retain_blocks, keep_recent + 1)
    return Height(max(0, last_height - keep + 1))


def default_modules() -> list[Module]:
    """The state areas of a DistPOS chain, in the order their hooks run."""
    bank, interchain = BankModule(), InterchainModule()
    bank.outbound = interchain.process_outbound  # a MsgSend to another chain's address becomes a packet
    # distribution right after staking: its begin_block sees this block's jailings; gov last: it runs the others
    return [bank, StakingModule(), DistributionModule(), UnderwritingModule(), interchain, GovModule()]


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of one transaction in CheckTx or FinalizeBlock."""

    code: int = 0
    codespace: str = ""
    log: str = ""
    events: tuple[Event, ...] = ()

    @classmethod
    def failure(cls, err: DistposError) -> "TxResult":
        """The result reporting err."""
        return cls(code=err.code, codespace=err.codespace, log=err.log)

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True, slots=True)
class BlockResult:
    """Outcome of FinalizeBlock."""

    tx_results: tuple[TxResult, ...]
    events: tuple[Event, ...]
    app_hash: AppHash
    validator_updates: tuple[ValidatorUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class StateProofView:
    """A key's value at a height, with its Merkle proof."""

    key: bytes
    value: bytes | None
    proof: merkle.MerkleProof | None


@dataclass(frozen=True, slots=True)
class AccountView:
    address: Address
    balance: int
    nonce: int
    pub_key: bytes
    height: Height
    proofs: tuple[StateProofView, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusView:
    chain_id: str
    height: Height
    app_hash: AppHash
    app_version: str
    total_supply: int


@dataclass(frozen=True, slots=True)
class SimulationView:
    """What a transaction would cost and what CheckTx would answer if it paid the node's minimum."""

    gas: int
    fee: int
    chain_min_fee: int
    node_min_fee: int
    result: "TxResult"


@dataclass(frozen=True, slots=True)
class TxView:
    hash: TxHash
    receipt: Receipt
    height: Height


class DistposApp:
    """The state machine behind the ABCI adapter, the gRPC service and the tests."""

    def __init__(self, state: StateStore, modules: list[Module] | None = None,
                 verified_cache_size: int = DEFAULT_CAPACITY, index_receipts: bool = True,
                 min_retain_blocks: int = 0, min_gas_price: int = 0) -> None:
        """index_receipts: keep every transaction's receipt in the node's local index for `query tx` (never part
        of the app hash: nodes with and without it agree). min_retain_blocks: app.toml's [store] setting, see
        compute_retain_height. min_gas_price: this node's own minimum gas price ([fees] in app.toml), CheckTx
        only, never consensus."""
        self.state = state
        self.index_receipts = index_receipts
        self.min_retain_blocks = min_retain_blocks
        self.node_min_gas_price = min_gas_price
        self.verified = VerifiedTxCache(verified_cache_size)
        self.modules = modules if modules is not None else default_modules()
        self.decoders = {k: v for m in self.modules for k, v in m.decoders.items()}
        self.handlers = {t: m for m in self.modules for t in m.msg_types}
        for module in self.modules:
            bind = getattr(module, "bind_app", None)  # underwriting runs transactions carried in its messages
            if bind is not None:
                bind(self)
        self.chain_id = ChainId(state.chain_id)
        self.params: Params = get_params(state)
        self.check = CacheKV(state)
        # The block time the mempool state holds, read once per mempool state (only FinalizeBlock writes it).
        self._check_time: tuple[CacheKV, int] | None = None
        self._genesis: CacheKV | None = None
        self._pending: PendingCommit | None = None

    # ---- lifecycle -----------------------------------------------------------------

    @property
    def last_height(self) -> Height:
        return self.state.last_height

    @property
    def last_app_hash(self) -> AppHash:
        return self.state.last_app_hash

    def init_chain(
        self, chain_id: str, app_state: bytes, validators: tuple[ValidatorUpdate, ...] = ()
    ) -> tuple[AppHash, tuple[ValidatorUpdate, ...]]:
        """Apply genesis (committed with the first block); returns the app hash and any validator set."""
        genesis = parse_genesis(app_state, chain_id, tuple(m.name for m in self.modules))
        self.chain_id = ChainId(chain_id)
        self.verified.clear()  # entries were checked against the old chain-id
        store = CacheKV(self.state)
        apply_params(store, genesis.params)
        sections = {**genesis.sections, "bank": genesis.accounts}
        ctx = GenesisContext(self.chain_id, tuple(validators))
        initial: list[ValidatorUpdate] = []
        for module in self.modules:
            initial.extend(module.init_genesis(store, sections.get(module.name), ctx))
        self.params = genesis.params
        self._genesis = store
        self.check = CacheKV(store)  # so the mempool sees genesis balances before block 1 commits
        root = self.state.prepare_commit(Height(0), store.writes, chain_id).root
        log.info(
            "chain=%s genesis applied: %d accounts, supply %d",
            chain_id, len(genesis.accounts), BankKeeper(store).get_supply(),
        )
        return AppHash(root), tuple(initial)

    def check_tx(self, raw: bytes, recheck: bool = False) -> TxResult:
        """Validate raw against the mempool state and apply it there if valid.

        A RECHECK (after Commit) of bytes this CheckTx accepted re-runs only the stateful checks."""
        tx_hash = compute_tx_hash(raw)
        try:
            tx = self._take_verified(tx_hash, raw, keep=True) if recheck else None
            if tx is None:
                tx = self.decode_verified_tx(raw, tx_hash)
            # A refused transaction leaves the mempool, so it must not consume its nonce there either:
            # run it in its own cache and keep the writes only when CometBFT will keep the tx.
            pending = CacheKV(self.check)
            result = self._run_tx(pending, tx, self._check_context(tx), disposable=True)
            if result.ok:
                pending.write()
                self.verified.put(tx)
            else:
                self.verified.discard(tx_hash)
            return result
        except DistposError as err:
            self.verified.discard(tx_hash)
            return TxResult.failure(err)
        except Exception as exc:  # a bug must not take the node down through CheckTx
            self.verified.discard(tx_hash)
            log.exception("chain=%s internal error in CheckTx", self.chain_id)
            return TxResult(code=1, codespace="distpos", log=f"distpos:1: internal error: {exc!r}")

    def finalize_block(self, block: BlockInfo | int, txs: list[bytes]) -> BlockResult:
        """Execute a decided block and return per-tx results, validator updates and the new app hash."""
        if isinstance(block, int):  # tests and tools may pass just a height
            block = BlockInfo(Height(block), 0, b"")
        height = block.height
        parent = self._genesis if self._genesis is not None else self.state
        store = CacheKV(parent)
        store.set(BLOCK_TIME_KEY, block.time_ns.to_bytes(8, "big"))
        events: list[Event] = []
        for module in self.modules:
            events.extend(module.begin_block(store, block))
        local = CacheKV(self.state.local)
        receipts = ReceiptKeeper(local) if self.index_receipts else None
        results = []
        for index, raw in enumerate(txs):
            tx_hash = compute_tx_hash(raw)
            result = self._deliver(store, tx_hash, raw, block)
            results.append(result)
            if receipts is not None:
                receipts.apply_receipt(tx_hash, Receipt(height, index, result.code, result.codespace))
        updates: list[ValidatorUpdate] = []
        for module in self.modules:
            end = module.end_block(store, block)
            events.extend(end.events)
            updates.extend(end.validator_updates)
        # What this block's nonces paid is listed for expiry; records past every settlement's reach are deleted.
        UnderwritingKeeper(store, self.chain_id).process_payment_expiry(height, compute_new_payments(store.writes))
        writes = dict(store.writes)
        if self._genesis is not None:
            writes = {**self._genesis.writes, **writes}
        self._pending = self.state.prepare_commit(height, writes, self.chain_id, local.writes)
        ok = sum(1 for r in results if r.ok)
        log.info(
            "chain=%s height=%d finalized %d txs (%d ok) app_hash=%s",
            self.chain_id, height, len(txs), ok, self._pending.root.hex()[:16],
        )
        return BlockResult(tuple(results), tuple(events), AppHash(self._pending.root), tuple(updates))

    def commit(self) -> Height:
        """Persist the finalized block atomically and reset the mempool state; return the retain height for
        CometBFT (compute_retain_height)."""
        if self._pending is None:
            raise RuntimeError("Commit without a finalized block")
        self.state.commit(self._pending)
        self._pending = None
        self._genesis = None
        self.check = CacheKV(self.state)
        self.params = get_params(self.state)  # a passed proposal may have changed them
        return compute_retain_height(self.last_height, self.min_retain_blocks, self.state.keep_recent)

    # ---- transactions --------------------------------------------------------------

    def _check_time_ns(self) -> int:
        """The last block's time as the mempool state holds it; read once per mempool state, which only
        Commit (or genesis) replaces and no transaction writes."""
        cached = self._check_time
        if cached is None or cached[0] is not self.check:
            raw_time = self.check.get(BLOCK_TIME_KEY)
            cached = self._check_time = (self.check, int.from_bytes(raw_time, "big") if raw_time else 0)
        return cached[1]

    def _check_context(self, tx: SignedTx) -> TxContext:
        return TxContext(
            self.chain_id, Height(self.last_height + 1), self._check_time_ns(),
            tx.signer, tx.pub_key, tx.hash, check=True,
        )

    def _take_verified(self, tx_hash: TxHash, raw: bytes, keep: bool) -> SignedTx | None:
        """What CheckTx verified for these bytes, or None when they must be verified here. A cached entry
        passed every stateless check; only the size limit can change since (a params proposal)."""
        if len(raw) > self.params.max_tx_bytes:
            return None
        return self.verified.get(tx_hash, raw) if keep else self.verified.pop(tx_hash, raw)

    def _deliver(self, store: CacheKV, tx_hash: TxHash, raw: bytes, block: BlockInfo) -> TxResult:
        try:
            tx = self._take_verified(tx_hash, raw, keep=False) or self.decode_verified_tx(raw, tx_hash)
            ctx = TxContext(self.chain_id, block.height, block.time_ns, tx.signer, tx.pub_key, tx.hash, check=False)
            return self._run_tx(store, tx, ctx)
        except DistposError as err:
            return TxResult.failure(err)
        except Exception as exc:  # deterministic bugs give the same code everywhere
            log.exception("chain=%s height=%d internal error in FinalizeBlock", self.chain_id, block.height)
            return TxResult(code=1, codespace="distpos", log=f"distpos:1: internal error: {type(exc).__name__}")

    def validate_fee(self, tx: SignedTx, check: bool) -> None:
        """Raise unless tx's fee pays its gas at the chain's minimum price (fees:191) and, in CheckTx, at this
        node's own (fees:192). Reads no state but the params."""
        gas = compute_gas(tx)
        chain_min = compute_fee(gas, self.params.min_gas_price)
        if tx.fee < chain_min:
            raise FeeBelowChainMinimumError(
                f"fee {tx.fee} is below the chain's minimum {chain_min} ({gas} gas at {self.params.min_gas_price} "
                f"milli-units per gas)")
        if check and self.node_min_gas_price > self.params.min_gas_price:
            node_min = compute_fee(gas, self.node_min_gas_price)
            if tx.fee < node_min:
                raise FeeBelowNodeMinimumError(
                    f"fee {tx.fee} is below this node's minimum {node_min} ({gas} gas at {self.node_min_gas_price} "
                    f"milli-units per gas); the chain's minimum is {chain_min}")

    def _run_tx(self, store: KVStore, tx: SignedTx, ctx: TxContext, min_fees: bool = True,
                disposable: bool = False) -> TxResult:
        """Fee minimum, nonce and fee funds checked before anything is written; then the nonce is consumed and
        the fee paid (both kept even if the message fails); then the message in its own cache.

        disposable: the caller keeps store's writes only when the result is ok (CheckTx, simulations); the
        message then runs in store itself, since a failure discards everything anyway (one cache layer less)."""
        module = self.handlers.get(type(tx.msg))
        if module is None:
            raise UnknownMessageError(f"no module handles {type(tx.msg).__name__}")
        if min_fees:
            self.validate_fee(tx, ctx.check)
        auth = AuthKeeper(store)
        record = auth.get_account(tx.signer)  # read once: the checks below and the nonce write share it
        balance = None
        if tx.fee:
            validate_nonce(record, tx.nonce)  # a bad nonce (a replay too) is reported as such
            balance = BankKeeper(store).get_balance(tx.signer)
            validate_fee_funds(balance, tx.fee)
        # The nonce alone refuses a replay: the signed bytes bind signer and nonce (no receipt is consulted).
        auth.process_nonce(tx.signer, tx.pub_key, tx.nonce, record)  # checks before it writes: no cache
        tx_event = Event.of("tx", signer=Address(self.chain_id, tx.signer), nonce=tx.nonce)
        paid = (tx_event, *DistributionKeeper(store, self.chain_id).process_fee(tx.signer, tx.fee, balance))
        msg_store = store if disposable else CacheKV(store)
        try:
            events = module.deliver(msg_store, ctx, tx.msg)
        except DistposError as err:
            return TxResult(code=err.code, codespace=err.codespace, log=err.log, events=paid)
        msg = tx.msg
        if isinstance(msg, MsgSend) and msg.recipient.chain_id == self.chain_id:
            # What this nonce paid, for settling guarantees by the payer's nonce rather than by bytes.
            AuthKeeper(msg_store).apply_payment(tx.signer, tx.nonce, msg.recipient.account, msg.amount)
        if msg_store is not store:
            msg_store.write()  # type: ignore[union-attr]
        return TxResult(events=(*paid, *events))

    def decode_verified_tx(self, raw: bytes, tx_hash: TxHash | None = None) -> SignedTx:
        """Decode raw and run every check that needs no state: size, chain-id, signature, message rules.
        tx_hash: compute_tx_hash(raw) when the caller has it already."""
        tx = decode_tx(raw, self.decoders, self.params.max_tx_bytes, tx_hash)
        validate_tx_stateless(tx, self.chain_id)
        return tx

    def simulate_tx(self, raw: bytes) -> SignedTx:
        """Decode, verify and run raw against the mempool state without keeping anything; raise the
        DistposError CheckTx would report. The one place off-chain services ask "would the chain take it?"."""
        try:
            tx = self._take_verified(compute_tx_hash(raw), raw, keep=True) or self.decode_verified_tx(raw)
            result = self._run_tx(CacheKV(self.check), tx, self._check_context(tx), disposable=True)
        except DistposError as err:
            raise TxSimulationError(err.codespace, err.code, err.log) from None
        if not result.ok:
            raise TxSimulationError(result.codespace, result.code, result.log)
        return tx

    def simulate_fees(self, raw: bytes) -> SimulationView:
        """Gas, fee and the minimum fees of raw, and what CheckTx would answer if it paid this node's minimum:
        run against the mempool state with no fee minimum enforced, nothing kept. Bytes that do not decode or
        verify raise their DistposError."""
        tx = self._take_verified(compute_tx_hash(raw), raw, keep=True) or self.decode_verified_tx(raw)
        gas = compute_gas(tx)
        chain_min = compute_fee(gas, self.params.min_gas_price)
        node_min = compute_fee(gas, max(self.params.min_gas_price, self.node_min_gas_price))
        try:
            result = self._run_tx(CacheKV(self.check), replace(tx, fee=max(tx.fee, node_min)),
                                  self._check_context(tx), min_fees=False, disposable=True)
        except DistposError as err:
            result = TxResult.failure(err)
        return SimulationView(gas, tx.fee, chain_min, node_min, result)

    def run_inner_tx(self, store: KVStore, raw: bytes, ctx: TxContext) -> TxResult:
        """Run a carried transaction in store with block semantics (nonce kept if the message fails)."""
        try:
            tx = self.decode_verified_tx(raw)
            inner = replace(ctx, signer=tx.signer, signer_pub_key=tx.pub_key, tx_hash=tx.hash)
            return self._run_tx(store, tx, inner)
        except DistposError as err:
            return TxResult.failure(err)

    def run_as_authority(self, store: KVStore, msgs: Sequence[Msg], ctx: TxContext) -> list[Event]:
        """Run msgs through their modules' handlers with the gov authority as signer, in one cached write set:
        all of them are written, or (raising the first failure) none."""
        auth = replace(ctx, signer=GOV_AUTHORITY, signer_pub_key=b"")
        cache = CacheKV(store)
        events: list[Event] = []
        for msg in msgs:
            module = self.handlers.get(type(msg))
            if module is None:
                raise UnknownMessageError(f"no module handles {type(msg).__name__}")
            msg.validate_basic(self.chain_id, GOV_AUTHORITY)
            events.extend(module.deliver(cache, auth, msg))
        cache.write()
        return events

    # ---- queries ---------------------------------------------------------------------

    def _proof(self, key: bytes, height: Height) -> StateProofView:
        value, proof = self.state.get_proof(key, height)
        return StateProofView(key, value, proof)

    def local_address(self, text: str) -> Address:
        """Parse an address of this chain; raise InvalidAddressError for another chain's or a malformed one."""
        address = parse_address(text)
        if address.chain_id != self.chain_id:
            raise InvalidAddressError(f"address {text} is on chain {address.chain_id}; this node serves {self.chain_id}")
        return address

    def query_account(self, address: str, height: int = 0, prove: bool = False) -> AccountView:
        """Balance, nonce and key of a local account at height (0 = latest)."""
        addr = self.local_address(address)
        h = self.state.resolve_height(height)
        bal_key, auth_key = full_balance_key(addr.account), full_account_key(addr.account)
        if prove:
            proofs = (self._proof(bal_key, h), self._proof(auth_key, h))
            raw_bal, raw_auth = proofs[0].value, proofs[1].value
        else:
            proofs = ()
            raw_bal, raw_auth = self.state.get_at(bal_key, h), self.state.get_at(auth_key, h)
        record = AuthRecord.decode(raw_auth)
        return AccountView(addr, decode_amount(raw_bal), record.nonce, record.pub_key, h, proofs)

    def query_status(self) -> StatusView:
        """Chain-id, last committed height and app hash, total supply."""
        return StatusView(
            self.chain_id, self.last_height, self.last_app_hash, __version__, BankKeeper(self.state).get_supply()
        )

    def query_tx(self, tx_hash: bytes, height: int = 0, prove: bool = False) -> TxView:
        """The receipt of an included transaction, from the node's local index (never provable: receipts are not
        in the Merkle state; CometBFT's LastResultsHash of header height+1 commits to code, data and gas)."""
        if prove:
            raise ProofUnavailableError(
                "receipts are not in the Merkle state, so the app hash cannot prove one; the transaction's code is "
                "committed by LastResultsHash of the next header (`distpos query tx HASH --prove` checks it)")
        if not self.index_receipts:
            raise ReceiptsIndexDisabledError(
                "this node keeps no receipts index ([store] index_receipts = false); ask CometBFT's /tx?hash=0x...")
        h = self.state.resolve_height(height)
        receipt = ReceiptKeeper(self.state.local).get(TxHash(tx_hash))
        if receipt is None or receipt.height > h:
            raise NotFoundError(
                f"no transaction {tx_hash.hex()} included by height {h} in this node's receipts index "
                f"(kept from height {self.state.oldest_height})")
        return TxView(TxHash(tx_hash), receipt, h)

    def query_store(self, key: bytes, height: int = 0, prove: bool = False) -> StateProofView:
        """A raw state key at height, with a proof when asked (for light clients)."""
        h = self.state.resolve_height(height)
        if prove:
            return self._proof(key, h)
        return StateProofView(key, self.state.get_at(key, h), None)
