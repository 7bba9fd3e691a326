"""Conversions from the app's query views to distpos.v1 protobuf messages.

Shared by the gRPC servicer and the ABCI Query handler so both serve identical bytes.
"""

from __future__ import annotations

from .app import AccountView, SimulationView, StateProofView, StatusView, TxView
from .gen.distpos.v1 import distribution_pb2, query_pb2, state_pb2


def state_proof_to_proto(view: StateProofView) -> state_pb2.StateProof:
    """A StateProof message (proof omitted when the view has none)."""
    msg = state_pb2.StateProof(key=view.key, value=view.value or b"", exists=view.value is not None)
    if view.proof is not None:
        msg.proof.CopyFrom(view.proof.to_proto())
    return msg


def account_to_proto(view: AccountView) -> query_pb2.QueryAccountResponse:
    """QueryAccountResponse for an account view."""
    return query_pb2.QueryAccountResponse(
        address=str(view.address),
        balance=view.balance,
        nonce=view.nonce,
        pub_key=view.pub_key,
        height=view.height,
        proofs=[state_proof_to_proto(p) for p in view.proofs],
    )


def status_to_proto(view: StatusView) -> query_pb2.QueryStatusResponse:
    """QueryStatusResponse for a status view."""
    return query_pb2.QueryStatusResponse(
        chain_id=view.chain_id,
        height=view.height,
        app_hash=view.app_hash,
        app_version=view.app_version,
        total_supply=view.total_supply,
    )


def tx_to_proto(view: TxView) -> query_pb2.QueryTxResponse:
    """QueryTxResponse for a receipt view (never a proof: receipts are not in the Merkle state)."""
    r = view.receipt
    return query_pb2.QueryTxResponse(
        hash=view.hash,
        height=view.height,
        receipt=state_pb2.TxReceipt(height=r.height, index=r.index, code=r.code, codespace=r.codespace),
    )


def simulation_to_proto(view: SimulationView) -> distribution_pb2.SimulateResponse:
    """A SimulateResponse message."""
    return distribution_pb2.SimulateResponse(
        gas=view.gas, fee=view.fee, chain_min_fee=view.chain_min_fee, node_min_fee=view.node_min_fee,
        code=view.result.code, codespace=view.result.codespace, log=view.result.log)


def gas_prices_to_proto(chain: int, node: int) -> distribution_pb2.QueryGasPricesResponse:
    """A QueryGasPricesResponse message."""
    return distribution_pb2.QueryGasPricesResponse(chain_min_gas_price=chain, node_min_gas_price=node)
