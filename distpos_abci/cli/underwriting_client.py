"""The client of a validator's underwriting service, shared by `tx bank send --underwrite` and the
`underwriting` commands (a plain module, not a command file)."""

from __future__ import annotations

import json
import pathlib
import time

from ..errors import DistposError, InvalidInputError, NodeUnreachableError
from ..gen.distpos.v1 import underwriting_pb2, underwriting_pb2_grpc
from ..underwriting import Guarantee, decode_guarantee
from .client import GRPC_TIMEOUT, grpc_call


def call_underwriting(grpc_addr: str, method: str, request, timeout: float = GRPC_TIMEOUT):
    """One Underwriting call."""
    return grpc_call(grpc_addr, underwriting_pb2_grpc.UnderwritingStub, method, request, timeout)


def request_guarantee(grpc_addr: str, raw_tx: bytes, *, co_underwrite: bool = True,
                      client_carries: bool = False) -> tuple[list[Guarantee], float, int]:
    """Ask a validator to underwrite raw_tx: (guarantees, round-trip ms, node-side µs)."""
    started = time.perf_counter()
    r = call_underwriting(grpc_addr, "Underwrite", underwriting_pb2.UnderwriteRequest(
        tx=raw_tx, no_co_underwriting=not co_underwrite, client_carries=client_carries))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return [decode_guarantee(g) for g in r.guarantees], elapsed_ms, r.elapsed_us


def request_quote(grpc_addr: str, amount: int, underwriter: str = ""):
    """A validator's announced premium and its price for guaranteeing amount (QuoteResponse)."""
    return call_underwriting(grpc_addr, "Quote", underwriting_pb2.QuoteRequest(amount=amount, underwriter=underwriter))


def wait_for_settlement(grpc_addr: str, payer: str, nonce: int, timeout: float) -> list:
    """Poll the node until the chain settled the guarantees of the payer's nonce; returns the settled shares."""
    deadline = time.monotonic() + timeout
    while True:
        r = call_underwriting(grpc_addr, "Settlement", underwriting_pb2.SettlementRequest(payer=payer, nonce=nonce))
        if r.settled:
            return list(r.settlements)
        if time.monotonic() > deadline:
            raise NodeUnreachableError(f"guarantees of {payer} nonce {nonce} not settled within {timeout:.0f}s")
        time.sleep(0.1)


def settlement_json(shares) -> dict:
    """The settled shares of one guaranteed payment as JSON."""
    first = shares[0]
    return {"payer": first.payer, "nonce": first.nonce, "beneficiary": first.beneficiary,
            "tx_hash": first.tx_hash.hex().upper(), "height": first.height,
            "outcome": "paid" if any(s.outcome == 2 for s in shares) else "released",
            "amount": str(sum(s.amount for s in shares)),
            "shares": [{"underwriter": s.underwriter, "outcome": {1: "released", 2: "paid"}.get(s.outcome, "?"),
                        "amount": str(s.amount), "from_collateral": str(s.from_collateral),
                        "from_stake": str(s.from_stake)} for s in shares]}


def load_guarantees(path: pathlib.Path) -> tuple[list[Guarantee], bytes]:
    """Guarantees and the guaranteed transaction from a JSON object with `guarantees` and `tx` (hex), as
    `tx bank send --underwrite -o json` (or `tx interchain instant-send -o json`) prints them."""
    try:
        data = json.loads(path.read_text())
        items = data["guarantees"]
        guaranteed_tx = bytes.fromhex(data["tx"])
        gs = [decode_guarantee(underwriting_pb2.Guarantee(
            tx_hash=bytes.fromhex(g["tx_hash"]), amount=int(g["amount"]), total=int(g["total"]),
            beneficiary=g["beneficiary"], underwriter=g["underwriter"], chain_id=g["chain_id"],
            expiry_height=int(g["expiry_height"]), issued_height=int(g["issued_height"]),
            payer=g["payer"], nonce=int(g["nonce"]), signature=bytes.fromhex(g["signature"]))) for g in items]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DistposError):
        gs, guaranteed_tx = [], b""
    if not gs or not guaranteed_tx:
        raise InvalidInputError(f"cannot read guarantees from {path}: want the JSON `tx bank send --underwrite -o json` "
                                f"prints (an object with `guarantees` and the signed payment `tx` in hex)")
    return gs, guaranteed_tx
