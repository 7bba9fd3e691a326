"""The client's part of instant cross-chain credit, shared by `distpos tx interchain instant-send`, the bench and
the tests: ask a source validator for cross-chain guarantees, hand them with the payer's signed transfer to the
destination at once (MsgInstantCredit), then broadcast the transfer on the source, whose packet settles the credit."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..address import Address
from ..crypto import KeyPair
from ..errors import InvalidInputError, TxRejectedError
from ..fees import build_paid_tx
from ..gen.distpos.v1 import interchain_pb2
from ..interchain import keys
from ..interchain.instant import compute_transfer_instant_key, decode_instant_transfer
from ..interchain.msgs import build_instant_credit_tx
from ..lightclient.types import light_block_to_proto
from ..relay.endpoint import CometEndpoint
from ..rpc_client import CometRPC, Committed
from ..tx import compute_tx_hash, decode_tx
from ..underwriting.guarantee import Guarantee
from .client import get_gas_price, get_next_nonce
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
    """Broadcast MsgInstantCredit to the destination (signed by submitter's account there, paying the destination's
    minimum fee) and wait for its block;
    TxRejectedError when CheckTx or the block refused it."""
    nonce = get_next_nonce(dest, str(Address.from_pub_key(dest_chain, submitter.pub_key)))
    credit_tx = build_paid_tx(submitter, build_instant_credit_tx(submitter, dest_chain, nonce, source, guarantees, raw),
                              gas_price=get_gas_price(dest))  # the destination's minimum
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


def compute_instant_key_of(raw: bytes) -> tuple[str, bytes]:
    """(source chain, instant key) of a signed MsgInstantTransfer; InvalidInputError when raw is not one."""
    try:
        tx = decode_tx(raw, {"instant_transfer": decode_instant_transfer})
    except Exception as exc:  # any decoding failure is the user's file
        raise InvalidInputError(f"the `tx` is not a signed instant transfer: {getattr(exc, 'message', exc)}") from None
    return tx.chain_id, compute_transfer_instant_key(tx.chain_id, tx.msg)


def build_instant_claim(dest: CometEndpoint, guarantees: list[Guarantee], raw: bytes) -> interchain_pb2.MsgInstantClaim:
    """A MsgInstantClaim for the source: the destination's credit record proven at its latest height, with the
    header that proves it."""
    source, key = compute_instant_key_of(raw)
    height, _ = dest.latest()
    proven = dest.query(keys.full_instant_credit_key(source, key), height - 1, prove=True)
    if proven.value is None:
        raise InvalidInputError(f"{dest.chain_id} holds no provable instant credit of this transfer (nothing to claim, "
                                "or the crediting block is the latest: try again after the next one)")
    m = interchain_pb2.MsgInstantClaim(destination_chain=dest.chain_id, proof_height=height,
                                       guarantees=[g.to_proto() for g in guarantees], tx=raw, credit=proven.value,
                                       proof=proven.proof.to_proto())
    light_block_to_proto(dest.light_block(height), m.update)
    return m


def build_instant_return(dest: CometEndpoint, guarantees: list[Guarantee], raw: bytes) -> interchain_pb2.MsgInstantClaim:
    """The payer's MsgInstantClaim for a held transfer: the destination's credit record proven absent at its latest
    height (refused on the source unless that height is past the packet's timeout)."""
    source, key = compute_instant_key_of(raw)
    height, _ = dest.latest()
    proven = dest.query(keys.full_instant_credit_key(source, key), height - 1, prove=True)
    if proven.value is not None:
        raise InvalidInputError(f"{dest.chain_id} credited this transfer: its held amount is the destination's")
    m = interchain_pb2.MsgInstantClaim(destination_chain=dest.chain_id, proof_height=height,
                                       guarantees=[g.to_proto() for g in guarantees], tx=raw,
                                       proof=proven.proof.to_proto())
    light_block_to_proto(dest.light_block(height), m.update)
    return m


def build_instant_release(source: CometEndpoint, dest_chain: str, raw: bytes) -> interchain_pb2.MsgInstantRelease:
    """A MsgInstantRelease for the destination: the source's payout record proven at its latest height."""
    _, key = compute_instant_key_of(raw)
    height, _ = source.latest()
    proven = source.query(keys.full_instant_paid_key(dest_chain, key), height - 1, prove=True)
    if proven.value is None:
        raise InvalidInputError(f"{source.chain_id} has paid out no claim of this transfer (nothing to release)")
    m = interchain_pb2.MsgInstantRelease(source_chain=source.chain_id, proof_height=height, key=key,
                                         payout=proven.value, proof=proven.proof.to_proto())
    light_block_to_proto(source.light_block(height), m.update)
    return m
