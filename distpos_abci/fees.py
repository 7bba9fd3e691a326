"""Gas and fees: the one table and the pure rules every node, the CLI, the relay and the services share.

Gas is not metered while a message runs (no EVM-style meter): it is computed from the transaction alone,

    gas = GAS_BASE + GAS_PER_BYTE * len(raw tx) + GAS_WEIGHTS[message type]

so a client knows it before signing and every node gets the same number. A price is an integer number of
milli-units of the chain token per unit of gas (sub-unit prices without floats); the fee a price asks is

    fee = ceil(gas * price / 1000)

The chain's minimum price is the chain param `min_gas_price` (FinalizeBlock refuses less, fees:191); a node
may ask more in its app.toml `[fees] min_gas_price` (its CheckTx refuses less, fees:192).

The fee is part of the signed body (TxBody.fee), so its size counts: `build_paid_tx` signs a transaction with
the smallest fee that covers its own gas at a price (a fixed point reached in two or three rounds).
"""

from __future__ import annotations

from typing import Protocol

from .codec import decode_canonical, encode_canonical
from .crypto import TX_SIGN_DOMAIN
from .errors import InvalidFeeOptionError
from .gen.distpos.v1 import tx_pb2
from .types import MAX_AMOUNT

GAS_BASE = 1_000  # signature verification, nonce and receipt writes: what every transaction costs
GAS_PER_BYTE = 10  # per byte of the raw transaction (mempool, block space, gossip)
DEFAULT_GAS_WEIGHT = 2_000  # a message type missing from the table below

# Per message type (TxBody oneof field name): a rough measure of the state it reads and writes and of the
# verification it needs. Proof-carrying interchain messages verify Merkle proofs and signatures, so they weigh most.
GAS_WEIGHTS: dict[str, int] = {
    "send": 1_000,
    "create_validator": 5_000,
    "bond": 2_000,
    "unbond": 2_000,
    "withdraw": 2_000,
    "unjail": 2_000,
    "underwritten": 10_000,
    "claim": 10_000,
    "capacity_evidence": 5_000,
    "deposit_collateral": 2_000,
    "unlock_collateral": 2_000,
    "withdraw_collateral": 2_000,
    "set_premium": 2_000,
    "transfer": 3_000,
    "update_client": 20_000,
    "recv_packets": 20_000,
    "acknowledge": 15_000,
    "timeout": 15_000,
    "open_correspondent": 5_000,
    "top_up": 2_000,
    "set_route": 2_000,
    "submit_misbehaviour": 20_000,
    "unfreeze_client": 2_000,
    "set_limits": 2_000,
    "close_correspondent": 5_000,
    "instant_transfer": 3_000,
    "instant_credit": 20_000,
    "instant_claim": 15_000,
    "instant_release": 10_000,
    "submit_proposal": 5_000,
    "vote": 1_000,
    "update_params": 2_000,
    "withdraw_rewards": 2_000,
}

MILLI = 1_000  # a price is in milli-units per gas
MAX_GAS_PRICE = 10**12  # keeps gas * price far inside uint64 for any transaction a chain accepts


class Signer(Protocol):
    """What build_paid_tx needs of a key: its public key and ed25519 signing."""

    pub_key: bytes

    def sign(self, message: bytes) -> bytes: ...


def compute_gas_for(kind: str, size: int) -> int:
    """Gas of a transaction of `size` raw bytes carrying a message of TxBody oneof field `kind`."""
    return GAS_BASE + GAS_PER_BYTE * size + GAS_WEIGHTS.get(kind, DEFAULT_GAS_WEIGHT)


def compute_gas(tx) -> int:
    """Gas of a decoded transaction (tx.SignedTx: its raw bytes and message kind)."""
    return compute_gas_for(tx.kind, len(tx.raw))


def compute_fee(gas: int, gas_price: int) -> int:
    """The fee a price (milli-units per gas) asks for gas: ceil(gas * price / 1000), exact integers."""
    return -(-gas * gas_price // MILLI)


def is_fee_enough(fee: int, gas: int, gas_price: int) -> bool:
    """True when fee pays for gas at gas_price."""
    return fee >= compute_fee(gas, gas_price)


def _sign(key: Signer, body: tx_pb2.TxBody) -> bytes:
    raw_body = encode_canonical(body)
    return encode_canonical(tx_pb2.Tx(body=raw_body, signature=key.sign(TX_SIGN_DOMAIN + raw_body)))


def build_paid_tx(key: Signer, raw: bytes, *, gas_price: int = 0, fee: int | None = None) -> bytes:
    """Re-sign the transaction raw (any fee, any signature: e.g. a builder's output) with key, carrying `fee`
    when given, else the smallest fee that pays for its own gas at gas_price. The one fee helper of the CLI,
    the relay, the services and the tests."""
    tx = decode_canonical(tx_pb2.Tx, raw, "transaction")
    body = decode_canonical(tx_pb2.TxBody, tx.body, "transaction body")
    kind = body.WhichOneof("msg") or ""
    if fee is not None:
        body.fee = fee
        return _sign(key, body)
    body.fee = 0
    while True:
        signed = _sign(key, body)
        need = compute_fee(compute_gas_for(kind, len(signed)), gas_price)
        if need <= body.fee:
            return signed
        if need > MAX_AMOUNT:
            raise InvalidFeeOptionError(f"gas price {gas_price} asks a fee beyond 2^64-1")
        body.fee = need


def read_fee(raw: bytes) -> tuple[str, int]:
    """(message kind, fee) of a signed transaction, for reports (malformed input raises MalformedTxError)."""
    tx = decode_canonical(tx_pb2.Tx, raw, "transaction")
    body = decode_canonical(tx_pb2.TxBody, tx.body, "transaction body")
    return body.WhichOneof("msg") or "", body.fee
