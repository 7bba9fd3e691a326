"""Typed events emitted by state transitions; the ABCI adapter turns them into abci.Event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    """An event type with ordered (key, value) attributes, all indexed by CometBFT."""

    type: str
    attributes: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, type_: str, **attrs: object) -> "Event":
        """Build an event from keyword attributes (kept in the order given)."""
        return cls(type_, tuple((k, str(v)) for k, v in attrs.items()))
