"""The localnet tooling's exception, part of the one DistPOS error tree.

These are operator and test-harness failures (a port in use, a node that never produced a block),
never errors a transaction can cause.
"""

from __future__ import annotations

from ..errors import (
    LinkControlError,
    LocalnetError,
    NetnsCommandError,
    NetnsPermissionError,
    NetnsPlanError,
    NetnsToolMissingError,
)

__all__ = [
    "LinkControlError",
    "LocalnetError",
    "NetnsCommandError",
    "NetnsPermissionError",
    "NetnsPlanError",
    "NetnsToolMissingError",
]
