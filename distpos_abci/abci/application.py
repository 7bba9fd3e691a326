"""Base class of an ABCI 2.0 application: one synchronous method per request type."""

from __future__ import annotations

from distpos_abci.gen.tendermint.abci import types_pb2 as abci

__all__ = ["Application", "REQUEST_TYPES", "tx_size_in_block"]

# Request oneof names that reach the application (Flush is answered by the server).
REQUEST_TYPES = (
    "echo",
    "info",
    "init_chain",
    "query",
    "check_tx",
    "commit",
    "list_snapshots",
    "offer_snapshot",
    "load_snapshot_chunk",
    "apply_snapshot_chunk",
    "prepare_proposal",
    "process_proposal",
    "extend_vote",
    "verify_vote_extension",
    "finalize_block",
)


def tx_size_in_block(tx: bytes) -> int:
    """Bytes a tx takes in the block's Data message: tag, length prefix, payload."""
    n = len(tx)
    prefix = 1
    while n >= 0x80:
        n >>= 7
        prefix += 1
    return 1 + prefix + len(tx)


class Application:
    """Do-nothing ABCI application; subclasses override the methods they need.

    Methods run synchronously on the server's event loop, one request at a
    time, so they must not block for long. Raising is treated as a bug: the
    server logs it and drops the connection, which makes CometBFT stop. Turn
    bad input into a non-zero ``code`` instead.
    """

    def echo(self, req: abci.RequestEcho) -> abci.ResponseEcho:
        """Return the request's message unchanged."""
        return abci.ResponseEcho(message=req.message)

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Report the app's last committed height and app hash (here: nothing)."""
        return abci.ResponseInfo()

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Accept genesis as given."""
        return abci.ResponseInitChain()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """Answer a query (here: empty, code 0)."""
        return abci.ResponseQuery(code=0)

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Admit every tx to the mempool."""
        return abci.ResponseCheckTx(code=0)

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist the state of the last finalized block."""
        return abci.ResponseCommit()

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """Offer no snapshots."""
        return abci.ResponseListSnapshots()

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Refuse state sync."""
        return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.ABORT)

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """Serve no chunk."""
        return abci.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Refuse state sync."""
        return abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Propose the mempool's txs in order, stopping before max_tx_bytes is exceeded."""
        # CometBFT rejects our proposal when the txs' size *as encoded in the
        # block* (types.Txs.Validate) exceeds max_tx_bytes, so count that, not
        # the raw lengths. With block max_bytes = -1 the request may carry more.
        budget = req.max_tx_bytes
        total = 0
        txs = []
        for tx in req.txs:
            total += tx_size_in_block(tx)
            if total > budget:
                break
            txs.append(tx)
        return abci.ResponsePrepareProposal(txs=txs)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Accept every proposal."""
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """Add no vote extension."""
        return abci.ResponseExtendVote()

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """Accept every vote extension."""
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute the block: every tx succeeds, the app hash stays empty."""
        return abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult(code=0) for _ in req.txs])
