"""The localnet tooling's one exception.

It is not part of the DistPOS error tree (distpos_abci.errors): these are operator and test-harness
failures (a port in use, a node that never produced a block), never errors a transaction can cause.
"""

from __future__ import annotations


class LocalnetError(RuntimeError):
    """A localnet could not be generated, started, stopped or queried."""
