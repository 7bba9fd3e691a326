"""Multi-hop forwarding: parameters, fees, nested timeouts and the pending ack. Pure rules, integers only.

A middle hop that forwards a packet writes a *pending* ack under the incoming packet's inbox key at once: the
key's presence is the receipt (so the upstream chain can never prove a timeout of a packet that was forwarded),
and its value tells relays and the upstream chain that the outcome is not known yet. When the forwarded packet
is acknowledged or times out downstream, the middle hop overwrites it with the final ack.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..errors import DistposError, ForwardFeeError, ForwardPendingError, ForwardTimeoutError, GenesisError
from ..types import Amount
from .paths import MAX_HOPS_CAP
from .records import Ack, decode_ack

NS = 1_000_000_000
BPS = 10_000  # fee_bps is in basis points: 25 = 0.25 %


@dataclass(frozen=True, slots=True)
class ForwardParams:
    """Governance-set forwarding parameters of this chain (interchain module params)."""

    # Fee a middle hop keeps per forwarded packet, plus amount * forward_fee_bps // 10000.
    forward_fee_fixed: int = 0
    forward_fee_bps: int = 0
    # The forwarded packet's timeout time is the incoming one's minus this margin (consensus time, ns), and a
    # packet is forwarded only when that still lies in the future.
    forward_timeout_margin_ns: int = 60 * NS
    # Longest path (in hops) a transfer from this chain may take, when its route does not say.
    max_hops: int = 3

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): identical bytes on every node."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "ForwardParams":
        """Validate a params object; unknown keys, floats and out-of-range values are errors."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("interchain.params must be an object")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise GenesisError(f"unknown interchain.params: {', '.join(unknown)}")
        values = {}
        for name in names:
            value = data.get(name, getattr(cls(), name))
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 1 << 62:
                raise GenesisError(f"interchain.params.{name} must be a non-negative integer, got {value!r}")
            values[name] = value
        params = cls(**values)
        if params.forward_fee_bps > BPS:
            raise GenesisError(f"interchain.params.forward_fee_bps must be at most {BPS}")
        if params.forward_timeout_margin_ns <= 0:
            raise GenesisError("interchain.params.forward_timeout_margin_ns must be positive")
        if not 2 <= params.max_hops <= MAX_HOPS_CAP:
            raise GenesisError(f"interchain.params.max_hops must be 2 to {MAX_HOPS_CAP}")
        return params


def compute_forward_fee(params: ForwardParams, amount: Amount, min_amount_out: Amount) -> Amount:
    """The fee this hop keeps on amount; raise ForwardFeeError when it leaves nothing, or less than the
    sender's min_amount_out, to send on."""
    fee = params.forward_fee_fixed + amount * params.forward_fee_bps // BPS
    if fee >= amount:
        raise ForwardFeeError(f"the forwarding fee {fee} takes the whole amount {amount}")
    if amount - fee < min_amount_out:
        raise ForwardFeeError(f"after the forwarding fee {fee} only {amount - fee} is left, below min_amount_out "
                              f"{min_amount_out}")
    return Amount(fee)


def compute_forward_timeout(params: ForwardParams, incoming_timeout_ns: int, now_ns: int) -> int:
    """The forwarded packet's timeout time: strictly earlier than the incoming one by the margin, and still
    in the future; raise ForwardTimeoutError otherwise."""
    if not incoming_timeout_ns:
        raise ForwardTimeoutError("a multi-hop packet needs a timeout time (heights do not carry across chains)")
    timeout = incoming_timeout_ns - params.forward_timeout_margin_ns
    if timeout <= now_ns:
        raise ForwardTimeoutError(f"the packet's timeout {incoming_timeout_ns} leaves no time past the forwarding "
                                  f"margin of {params.forward_timeout_margin_ns} ns at {now_ns}")
    return timeout


def compute_origin_timeout(params: ForwardParams, timeout_height: int, timeout_time_ns: int, default_timeout_ns: int,
                           hops: int, now_ns: int) -> int:
    """The first packet's timeout time for a transfer of `hops` hops: the given one, or the first
    correspondent's default plus one margin per forward. Raise ForwardTimeoutError when only a height is given
    or the given time cannot survive every forward's margin."""
    forwards = hops - 1
    if not timeout_time_ns:
        if timeout_height:
            raise ForwardTimeoutError("a multi-hop transfer needs a timeout time, not only a height")
        return now_ns + default_timeout_ns + forwards * params.forward_timeout_margin_ns
    if timeout_time_ns - forwards * params.forward_timeout_margin_ns <= now_ns:
        raise ForwardTimeoutError(f"timeout {timeout_time_ns} cannot survive {forwards} forwards of "
                                  f"{params.forward_timeout_margin_ns} ns from {now_ns}")
    return timeout_time_ns


def compute_pending_ack(next_chain: str, next_sequence: int) -> Ack:
    """The ack a middle hop writes when it forwards: the receipt, not yet the outcome."""
    return Ack(False, ForwardPendingError.code,
               f"forwarded to {next_chain} as sequence {next_sequence}; the final ack follows its outcome")


def is_pending_ack(ack: Ack) -> bool:
    """True for a middle hop's pending ack (never settle on it)."""
    return not ack.success and ack.error_code == ForwardPendingError.code


def is_final_ack_bytes(raw: bytes) -> bool:
    """True unless raw is a pending ack (relays carry only final acks; bytes that do not decode are left for
    the chain to refuse)."""
    try:
        return not is_pending_ack(decode_ack(raw))
    except DistposError:
        return True
