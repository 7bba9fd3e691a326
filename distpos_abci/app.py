"""The DistPOS state machine, with typed calls; it knows nothing of ABCI or sockets.

Three views of state:
  committed  the StateStore (last Commit);
  check      a CacheKV over committed, for the mempool, reset at every Commit;
  block      a CacheKV over committed, holding the block being finalized.
Each transaction runs in its own CacheKV over the block and is written through only
if it succeeds; a failed message still consumes its nonce (the signature was valid),
so nobody can replay it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import __version__
from .address import Address, parse_address
from .auth import AuthKeeper, AuthRecord
from .auth.keys import full_account_key
from .bank import BankKeeper
from .bank.keeper import decode_amount
from .bank.keys import full_balance_key
from .errors import DistposError, ForeignAddressError, InvalidAddressError, NotFoundError
from .events import Event
from .genesis import parse_genesis
from .params import Params, apply_params, get_params
from .receipts import Receipt, ReceiptKeeper
from .receipts.keys import full_receipt_key
from .store import merkle
from .store.kv import CacheKV, KVStore
from .store.state import PendingCommit, StateStore
from .tx import MsgSend, SignedTx, compute_tx_hash, decode_tx, validate_tx_stateless
from .types import AppHash, ChainId, Height, TxHash

log = logging.getLogger("distpos.app")

APP_VERSION = 1


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
class TxView:
    hash: TxHash
    receipt: Receipt
    height: Height
    proof: StateProofView | None = None


@dataclass
class _Block:
    height: Height
    store: CacheKV
    events: list[Event] = field(default_factory=list)


class DistposApp:
    """The state machine behind the ABCI adapter, the gRPC service and the tests."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.chain_id = ChainId(state.chain_id)
        self.params: Params = get_params(state)
        self.check = CacheKV(state)
        self._genesis: CacheKV | None = None
        self._block: _Block | None = None
        self._pending: PendingCommit | None = None

    # ---- lifecycle -----------------------------------------------------------------

    @property
    def last_height(self) -> Height:
        return self.state.last_height

    @property
    def last_app_hash(self) -> AppHash:
        return self.state.last_app_hash

    def init_chain(self, chain_id: str, app_state: bytes) -> AppHash:
        """Apply genesis; the writes are committed with the first block."""
        genesis = parse_genesis(app_state, chain_id)
        self.chain_id = ChainId(chain_id)
        store = CacheKV(self.state)
        apply_params(store, genesis.params)
        bank = BankKeeper(store)
        for acct in genesis.accounts:
            bank.process_mint(acct.address.account, acct.balance)
        self.params = genesis.params
        self._genesis = store
        self.check = CacheKV(store)  # so the mempool sees genesis balances before block 1 commits
        root = self.state.prepare_commit(Height(0), store.writes, chain_id).root
        log.info("chain=%s genesis applied: %d accounts, supply %d", chain_id, len(genesis.accounts), bank.get_supply())
        return AppHash(root)

    def check_tx(self, raw: bytes, recheck: bool = False) -> TxResult:
        """Validate raw against the mempool state and apply it there if valid."""
        try:
            tx = decode_tx(raw, self.params.max_tx_bytes)
            validate_tx_stateless(tx, self.chain_id)
            return self._run_tx(self.check, tx)
        except DistposError as err:
            return TxResult.failure(err)
        except Exception as exc:  # a bug must not take the node down through CheckTx
            log.exception("chain=%s internal error in CheckTx", self.chain_id)
            return TxResult(code=1, codespace="distpos", log=f"distpos:1: internal error: {exc!r}")

    def finalize_block(self, height: int, txs: list[bytes]) -> BlockResult:
        """Execute a decided block and return per-tx results and the new app hash."""
        parent = self._genesis if self._genesis is not None else self.state
        self._block = block = _Block(Height(height), CacheKV(parent))
        receipts = ReceiptKeeper(block.store)
        results = []
        for index, raw in enumerate(txs):
            result = self._deliver(block.store, raw)
            results.append(result)
            receipts.apply_receipt(
                compute_tx_hash(raw),
                Receipt(Height(height), index, result.code, result.codespace, result.log),
            )
        writes = dict(block.store.writes)
        if self._genesis is not None:
            writes = {**self._genesis.writes, **writes}
        self._pending = self.state.prepare_commit(Height(height), writes, self.chain_id)
        ok = sum(1 for r in results if r.ok)
        log.info(
            "chain=%s height=%d finalized %d txs (%d ok) app_hash=%s",
            self.chain_id, height, len(txs), ok, self._pending.root.hex()[:16],
        )
        return BlockResult(tuple(results), tuple(block.events), AppHash(self._pending.root))

    def commit(self) -> None:
        """Persist the finalized block atomically and reset the mempool state."""
        if self._pending is None:
            raise RuntimeError("Commit without a finalized block")
        self.state.commit(self._pending)
        self._pending = None
        self._block = None
        self._genesis = None
        self.check = CacheKV(self.state)

    # ---- transactions --------------------------------------------------------------

    def _deliver(self, store: CacheKV, raw: bytes) -> TxResult:
        try:
            tx = decode_tx(raw, self.params.max_tx_bytes)
            validate_tx_stateless(tx, self.chain_id)
            return self._run_tx(store, tx)
        except DistposError as err:
            return TxResult.failure(err)
        except Exception as exc:  # deterministic bugs give the same code everywhere
            log.exception("chain=%s internal error in FinalizeBlock", self.chain_id)
            return TxResult(code=1, codespace="distpos", log=f"distpos:1: internal error: {type(exc).__name__}")

    def _run_tx(self, store: KVStore, tx: SignedTx) -> TxResult:
        """Nonce first (kept even if the message fails), then the message in its own cache."""
        ante = CacheKV(store)
        AuthKeeper(ante).process_nonce(tx.signer, tx.pub_key, tx.nonce)
        ante.write()
        tx_event = Event.of("tx", signer=Address(self.chain_id, tx.signer), nonce=tx.nonce)
        msg_store = CacheKV(store)
        try:
            events = self._run_msg(msg_store, tx)
        except DistposError as err:
            return TxResult(code=err.code, codespace=err.codespace, log=err.log, events=(tx_event,))
        msg_store.write()
        return TxResult(events=(tx_event, *events))

    def _run_msg(self, store: KVStore, tx: SignedTx) -> list[Event]:
        msg = tx.msg
        if isinstance(msg, MsgSend):
            if msg.recipient.chain_id != self.chain_id:
                raise ForeignAddressError(
                    f"recipient {msg.recipient} is on chain {msg.recipient.chain_id}; cross-chain transfers are not enabled"
                )
            return BankKeeper(store).process_send(msg.sender, msg.recipient, msg.amount)
        raise AssertionError(f"unhandled message {type(msg).__name__}")  # decode_tx rejects unknown kinds

    # ---- queries ---------------------------------------------------------------------

    def _proof(self, key: bytes, height: Height) -> StateProofView:
        value, proof = self.state.get_proof(key, height)
        return StateProofView(key, value, proof)

    def _local_address(self, text: str) -> Address:
        address = parse_address(text)
        if address.chain_id != self.chain_id:
            raise InvalidAddressError(f"address {text} is on chain {address.chain_id}; this node serves {self.chain_id}")
        return address

    def query_account(self, address: str, height: int = 0, prove: bool = False) -> AccountView:
        """Balance, nonce and key of a local account at height (0 = latest)."""
        addr = self._local_address(address)
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
        """The receipt of an included transaction, optionally with its proof."""
        h = self.state.resolve_height(height)
        key = full_receipt_key(tx_hash)
        proof = self._proof(key, h) if prove else None
        raw = proof.value if proof else self.state.get_at(key, h)
        if raw is None:
            raise NotFoundError(f"no transaction {tx_hash.hex()} included by height {h}")
        return TxView(TxHash(tx_hash), Receipt.decode(raw), h, proof)

    def query_store(self, key: bytes, height: int = 0, prove: bool = False) -> StateProofView:
        """A raw state key at height, with a proof when asked (for light clients)."""
        h = self.state.resolve_height(height)
        if prove:
            return self._proof(key, h)
        return StateProofView(key, self.state.get_at(key, h), None)
