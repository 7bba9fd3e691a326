"""ABCI adapter: turns ABCI protobuf requests into typed DistposApp calls and back.

This is the one place where DistPOS errors become ABCI codes: a `DistposError`
becomes its own non-zero `code`, `codespace` and readable `log`. Nothing here ever
answers with Response.exception.
"""

from __future__ import annotations

import logging
import time

from . import __version__
from .abci import Application
from .app import APP_VERSION, DistposApp, StateProofView, TxResult
from .errors import DistposError, UnknownQueryPathError
from .events import Event
from .gen.tendermint.abci import types_pb2 as abci
from .gen.tendermint.crypto import keys_pb2, proof_pb2
from .gen.tendermint.types import validator_pb2
from .metrics import AppMetrics
from .module import BlockInfo, Misbehavior, ValidatorUpdate, Vote
from .types import Height
from .query_proto import account_to_proto, gas_prices_to_proto, simulation_to_proto, status_to_proto, tx_to_proto

log = logging.getLogger("distpos.abci")

PROOF_OP_TYPE = "distpos:trie"


def event_to_abci(event: Event) -> abci.Event:
    """An abci.Event with every attribute indexed."""
    return abci.Event(
        type=event.type, attributes=[abci.EventAttribute(key=k, value=v, index=True) for k, v in event.attributes]
    )


def proof_ops(proofs: tuple[StateProofView, ...]) -> proof_pb2.ProofOps:
    """ProofOps carrying one trie proof per key."""
    return proof_pb2.ProofOps(
        ops=[proof_pb2.ProofOp(type=PROOF_OP_TYPE, key=p.key, data=p.proof.to_proto().SerializeToString())
             for p in proofs if p.proof is not None]
    )


def validator_update_to_abci(update: ValidatorUpdate) -> abci.ValidatorUpdate:
    """An ed25519 validator update."""
    return abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=update.pub_key), power=update.power)


def block_info_from_abci(req: abci.RequestFinalizeBlock) -> BlockInfo:
    """The typed block of a FinalizeBlock request."""
    return BlockInfo(
        height=Height(req.height),
        time_ns=req.time.seconds * 1_000_000_000 + req.time.nanos,
        proposer=req.proposer_address,
        votes=tuple(
            Vote(v.validator.address, v.validator.power, v.block_id_flag == validator_pb2.BLOCK_ID_FLAG_COMMIT)
            for v in req.decided_last_commit.votes
        ),
        misbehavior=tuple(
            Misbehavior(m.type, m.validator.address, m.validator.power, Height(m.height), m.total_voting_power)
            for m in req.misbehavior
        ),
    )


class DistposABCI(Application):
    """The ABCI Application CometBFT talks to."""

    def __init__(self, app: DistposApp, metrics: AppMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        return abci.ResponseInfo(
            data="distpos",
            version=__version__,
            app_version=APP_VERSION,
            last_block_height=self.app.last_height,
            last_block_app_hash=self.app.last_app_hash,
        )

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        validators = tuple(ValidatorUpdate(v.pub_key.ed25519, v.power) for v in req.validators)
        try:
            app_hash, initial = self.app.init_chain(req.chain_id, req.app_state_bytes, validators)
        except DistposError as err:
            # An operator error in genesis.json: the node cannot start; say why, loudly.
            log.critical("invalid genesis for chain %s: %s", req.chain_id, err.log)
            raise
        return abci.ResponseInitChain(app_hash=app_hash, validators=[validator_update_to_abci(v) for v in initial])

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        result = self.app.check_tx(req.tx, recheck=req.type == abci.RECHECK)
        if self.metrics:
            self.metrics.record_tx("recheck" if req.type == abci.RECHECK else "check", result)
        # No events: CometBFT neither indexes nor returns CheckTx events (broadcast_tx_* answer code, log and
        # codespace), and converting them was about a tenth of a loaded node's time.
        return abci.ResponseCheckTx(code=result.code, codespace=result.codespace, log=result.log)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        started = time.perf_counter()
        result = self.app.finalize_block(block_info_from_abci(req), list(req.txs))
        if self.metrics:
            self.metrics.record_block(time.perf_counter() - started, result.tx_results)
        return abci.ResponseFinalizeBlock(
            tx_results=[abci.ExecTxResult(**_result_fields(r)) for r in result.tx_results],
            events=[event_to_abci(e) for e in result.events],
            validator_updates=[validator_update_to_abci(v) for v in result.validator_updates],
            app_hash=result.app_hash,
        )

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        # retain_height from app.toml's [store] min_retain_blocks (0 = CometBFT keeps every block), never below
        # the blocks the app's kept state needs (app.compute_retain_height). CometBFT's other stores are bounded by
        # its own settings ([storage] discard_abci_responses, [tx_index] indexer; see README "Configuration").
        return abci.ResponseCommit(retain_height=self.app.commit())

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        try:
            return self._query(req)
        except DistposError as err:
            return abci.ResponseQuery(code=err.code, codespace=err.codespace, log=err.log)

    def _query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        path, data, height, prove = req.path, req.data, req.height, req.prove
        if path == "/account":
            view = self.app.query_account(data.decode("utf-8", "replace"), height, prove)
            return abci.ResponseQuery(
                key=data, value=account_to_proto(view).SerializeToString(), height=view.height,
                proof_ops=proof_ops(view.proofs) if prove else None,
            )
        if path == "/status":
            status = self.app.query_status()
            return abci.ResponseQuery(value=status_to_proto(status).SerializeToString(), height=status.height)
        if path == "/tx":
            tx = self.app.query_tx(data, height, prove)
            return abci.ResponseQuery(key=data, value=tx_to_proto(tx).SerializeToString(), height=tx.height)
        if path == "/store":
            h = self.app.state.resolve_height(height)
            view = self.app.query_store(data, h, prove)
            return abci.ResponseQuery(
                key=data, value=view.value or b"", height=h, proof_ops=proof_ops((view,)) if prove else None,
                info="exists" if view.value is not None else "absent",
            )
        if path == "/simulate":  # data = a signed transaction; nothing is kept
            view = self.app.simulate_fees(data)
            return abci.ResponseQuery(value=simulation_to_proto(view).SerializeToString(), height=self.app.last_height)
        if path == "/gas_prices":
            prices = gas_prices_to_proto(self.app.params.min_gas_price, self.app.node_min_gas_price)
            return abci.ResponseQuery(value=prices.SerializeToString(), height=self.app.last_height)
        raise UnknownQueryPathError(
            f"unknown query path {path!r}: use /account, /status, /tx, /store, /simulate or /gas_prices")


def _result_fields(result: TxResult) -> dict:
    return {
        "code": result.code,
        "codespace": result.codespace,
        "log": result.log,
        "events": [event_to_abci(e) for e in result.events],
    }
