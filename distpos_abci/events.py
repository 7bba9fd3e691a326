"""Typed events emitted by state transitions; the ABCI adapter turns them into abci.Event.

Attribute text is an edge: a transition records the typed values (an `Address`, an int), and their text (an
address with its checksum, a decimal) is rendered only when something reads `attributes`, once per event.
The text is exactly `str(value)`, as it always was. Values must be immutable (str, int, Address, other frozen
records), so rendering later gives the same text as rendering at once, on every node.
"""

from __future__ import annotations


class Event:
    """An event type with ordered (key, value) attributes, all indexed by CometBFT."""

    __slots__ = ("type", "_values", "_text")

    def __init__(self, type_: str, attributes: tuple[tuple[str, str], ...] = ()) -> None:
        self.type = type_
        self._values: tuple[tuple[str, object], ...] = tuple(attributes)
        self._text: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of(cls, type_: str, **attrs: object) -> "Event":
        """Build an event from keyword attributes (kept in the order given)."""
        event = object.__new__(cls)  # the fields set directly: every transaction builds several events
        event.type = type_
        event._values = tuple(attrs.items())  # immutable values only; rendered by `attributes`
        event._text = None
        return event

    @property
    def attributes(self) -> tuple[tuple[str, str], ...]:
        """The (key, text) pairs, rendered on first use."""
        if self._text is None:
            self._text = tuple((k, v if type(v) is str else str(v)) for k, v in self._values)
        return self._text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.type == other.type and self.attributes == other.attributes

    def __hash__(self) -> int:
        return hash((self.type, self.attributes))

    def __repr__(self) -> str:
        return f"Event(type={self.type!r}, attributes={self.attributes!r})"
