"""The client's part of instant cross-chain credit, shared by `distpos tx interchain instant-send`, the bench and
the tests: ask a source validator for cross-chain guarantees, hand them with the payer's signed transfer to the
destination at once (MsgInstantCredit), then broadcast the transfer on the source, whose packet settles the credit."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..address import Address
from ..crypto import KeyPair
from ..errors import TxRejectedError
from ..interchain.msgs import build_instant_credit_tx
from ..rpc_client import CometRPC, Committed
from ..tx import compute_tx_hash
from ..underwriting.guarantee import Guarantee
from .client import get_next_nonce
from .underwriting_client import request_guarantee


@dataclass(frozen=True)
class InstantResult:
    """How an instant transfer went: the guarantees, how long they took, and the destination block that credited."""

    guarantees: list[Guarantee]
    guarantee_ms: float
    issued_dest_height: int  # the destination's last committed height when the guarantees came back
    credit: Committed
    credited_s: float  # from asking for the guarantee to the destination's commit of the credit

    @property
    def dest_blocks(self) -> int:
        """Destination blocks from the guarantee's issue to the credit (1 = the very next block)."""
        return self.credit.height - self.issued_dest_height


def submit_instant_credit(dest: CometRPC, dest_chain: str, submitter: KeyPair, source: str,
                          guarantees: list[Guarantee], raw: bytes, timeout: float) -> Committed:
    """Broadcast MsgInstantCredit to the destination (signed by submitter's account there) and wait for its block;
    TxRejectedError when CheckTx or the block refused it."""
    nonce = get_next_nonce(dest, str(Address.from_pub_key(dest_chain, submitter.pub_key)))
    credit_tx = build_instant_credit_tx(submitter, dest_chain, nonce, source, guarantees, raw)
    dest.broadcast_tx_sync(credit_tx)
    committed = dest.wait_for_tx(compute_tx_hash(credit_tx), timeout)
    if committed.code != 0:
        raise TxRejectedError(f"instant credit included at height {committed.height} but refused: {committed.log}",
                              remote_codespace=committed.codespace, remote_code=committed.code)
    return committed


def send_instant(source_grpc: str, source: CometRPC, source_chain: str, dest: CometRPC, dest_chain: str,
                 submitter: KeyPair, raw: bytes, timeout: float, co_underwrite: bool = True) -> InstantResult:
    """Guarantee raw (a signed MsgInstantTransfer) at source_grpc, have the destination credit it, then broadcast
    raw on the source (its packet, relayed as usual, settles the credit)."""
    started = time.monotonic()
    guarantees, ms, _ = request_guarantee(source_grpc, raw, co_underwrite=co_underwrite, client_carries=True)
    issued = int(dest.status()["sync_info"]["latest_block_height"])
    credit = submit_instant_credit(dest, dest_chain, submitter, source_chain, guarantees, raw, timeout)
    credited_s = time.monotonic() - started
    source.broadcast_tx_sync(raw)
    return InstantResult(guarantees, ms, issued, credit, credited_s)
