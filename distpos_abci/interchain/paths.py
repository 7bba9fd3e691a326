"""Multi-hop paths: pure rules on chain-id sequences (no state, no records).

A path names every chain a transfer passes through, origin first, final destination last: e2e4 -> a1b2 -> c3d4
is ("e2e4", "a1b2", "c3d4"), two hops. A direct (one-hop) transfer carries no path at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..address import validate_chain_id
from ..errors import HopLimitExceededError, InvalidAddressError, InvalidPathError, NoCorrespondentError, RoutingLoopError
from ..types import ChainId

# Hard bound on any path, whatever governance sets: it bounds packet size and the work of building a path.
MAX_HOPS_CAP = 8


def validate_path(path: Sequence[str], max_hops: int = MAX_HOPS_CAP) -> tuple[ChainId, ...]:
    """Raise unless path is a multi-hop path: valid chain-ids, at least 3 chains, none twice, at most
    max_hops hops (and never more than MAX_HOPS_CAP)."""
    chains: list[ChainId] = []
    for c in path:
        try:
            chains.append(validate_chain_id(c))
        except InvalidAddressError as exc:
            raise InvalidPathError(f"path: {exc.message}") from None
    if len(chains) < 3:
        raise InvalidPathError(f"a multi-hop path names at least 3 chains, got {len(chains)}")
    seen: set[str] = set()
    for c in chains:
        if c in seen:
            raise RoutingLoopError(f"path {'->'.join(chains)} visits {c} twice")
        seen.add(c)
    limit = min(max_hops, MAX_HOPS_CAP)
    if len(chains) - 1 > limit:
        raise HopLimitExceededError(f"path {'->'.join(chains)} takes {len(chains) - 1} hops; at most {limit} allowed")
    return tuple(chains)


def validate_packet_path(path: Sequence[str], hop: int, source: str, destination: str, final: str) -> None:
    """Raise unless a packet's (path, hop) agree with its source, destination and recipient chain (final)."""
    chains = validate_path(path)
    if not 0 <= hop < len(chains) - 1:
        raise InvalidPathError(f"hop {hop} is outside the path of {len(chains)} chains")
    if (chains[hop], chains[hop + 1], chains[-1]) != (source, destination, final):
        raise InvalidPathError(
            f"packet {source}->{destination} for a recipient on {final} does not match hop {hop} of "
            f"{'->'.join(chains)}")


def compute_route_path(source: str, destination: str, is_neighbour: Callable[[str], bool],
                       next_via: Callable[[str], tuple[str, int] | None], default_max_hops: int) -> tuple[ChainId, ...]:
    """The path from source to destination built from the routing table: while the chain reached is not a
    neighbour (a correspondent of source), its routing entry says through which chain it is reached.

    next_via(chain) is (via, max_hops) of chain's routing entry, or None when it has none; the destination's
    own entry's max_hops (0 = default_max_hops) bounds the whole path. Raise NoCorrespondentError when a chain
    on the way has no via entry, RoutingLoopError on a cycle, HopLimitExceededError past the limit."""
    entry = next_via(destination)
    if entry is None:
        raise NoCorrespondentError(f"chain {source} has no correspondent account for chain {destination} "
                                   "and no route through another chain")
    limit = entry[1] or default_max_hops
    reversed_path = [destination]
    current = destination
    while not is_neighbour(current):
        via = next_via(current)
        if via is None:
            raise NoCorrespondentError(f"chain {source} cannot reach {current} (on the way to {destination}): "
                                       "no correspondent and no route through another chain")
        nxt = via[0]
        if nxt == source or nxt in reversed_path:
            raise RoutingLoopError(f"the routing table of {source} loops: {current} via {nxt}")
        reversed_path.append(nxt)
        if len(reversed_path) > MAX_HOPS_CAP:
            break  # validate_path refuses it below with the hop limit
        current = nxt
    return validate_path([source, *reversed(reversed_path)], limit)
