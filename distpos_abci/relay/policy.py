"""Operator-written relay rules: a Python file defining `allow(packet) -> bool | str`.

They run in the relay of the destination chain, on the proven packet bytes, when a packet is handed over
and again before it is submitted (off-chain, so they may read anything). A refusal (False or a reason string,
relay code 180) means this relay does not carry the packet. It does not make the packet time out: after
`direct_after_attempts` hand-overs the source's relay delivers it itself. A rule meant to refuse a chain for
good belongs on chain (suspension, failure rate, limits: distpos_abci/interchain/policy.py, deterministic),
where the refusal is an error ack and a refund.

    # policy.py
    def allow(packet):
        return packet.amount <= 1_000_000 or "amount above the operator's limit"
"""

from __future__ import annotations

import runpy
from collections.abc import Callable

from ..errors import RelayConfigError
from ..interchain import Packet

Rule = Callable[[Packet], "bool | str"]


def allow_all(packet: Packet) -> bool:
    """The default rule."""
    return True


def load_policy(path: str) -> Rule:
    """The `allow` function of the file at path (allow_all when path is empty)."""
    if not path:
        return allow_all
    try:
        ns = runpy.run_path(path)
    except Exception as exc:  # an operator's file: report any failure as a config error
        raise RelayConfigError(f"cannot load relay policy {path}: {exc!r}") from None
    rule = ns.get("allow")
    if not callable(rule):
        raise RelayConfigError(f"relay policy {path} defines no allow(packet) function")
    return rule


def compute_policy_refusal(rule: Rule, packet: Packet) -> str | None:
    """Why rule refuses packet, or None; a rule that raises refuses."""
    try:
        verdict = rule(packet)
    except Exception as exc:
        return f"policy raised {exc!r}"
    if verdict is True:
        return None
    return verdict if isinstance(verdict, str) and verdict else "refused by operator policy"
