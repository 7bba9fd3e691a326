"""Where every process of a `--netns` localnet lives: its network namespace, veth pair and address.

Pure description, no system calls (netns.py makes and removes what this plans, and cuts links).

One localnet gets one prefix, `dp` + 6 hex digits of the SHA-256 of its run directory, on every name it creates,
so two localnets on one host never touch each other's namespaces or links:

    bridge            <prefix>br                  on the host, holds the subnet's first address (the host's side)
    namespace         <prefix>-<chain-id>-node<j> one per node (its CometBFT and its app process)
                      <prefix>-<chain-id>-relay   one per relay
    veth, host end    <prefix>v<k>                k = the member's index; enslaved to the bridge
    veth, inner end   eth0                        inside the member's namespace, with the member's address

Interface names stay within Linux's 15 characters (`dp1a2b3cv252` is 12). The subnet is a /24 out of
10.128.0.0/9, the first one from a start derived from the prefix that overlaps nothing on the host; members get
.2, .3, ... in order (every node of every chain, chain by chain, then every relay), the bridge .1.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import LinkControlError, NetnsPlanError

PREFIX_TAG = "dp"
PREFIX_HEX = 6
SUBNET_POOL = ipaddress.IPv4Network("10.128.0.0/9")
SUBNET_PREFIXLEN = 24
# .0 is the network, .255 broadcast, .1 the bridge: 253 members per localnet.
MAX_MEMBERS = 2 ** (32 - SUBNET_PREFIXLEN) - 3
INNER_IFNAME = "eth0"
IFNAMSIZ = 15
RELAY_NAME = "relay"


def compute_netns_prefix(run_dir: str) -> str:
    """The name prefix of the localnet in run_dir (an absolute path): "dp" + 6 hex digits of its SHA-256."""
    return PREFIX_TAG + hashlib.sha256(run_dir.encode()).hexdigest()[:PREFIX_HEX]


def compute_bridge_name(prefix: str) -> str:
    """The host's bridge of the localnet with this prefix."""
    return f"{prefix}br"


def compute_subnet_candidates(prefix: str) -> Iterator[ipaddress.IPv4Network]:
    """Every /24 of the pool once, starting at one derived from the prefix, so localnets rarely probe alike."""
    count = 2 ** (SUBNET_PREFIXLEN - SUBNET_POOL.prefixlen)
    size = 2 ** (32 - SUBNET_PREFIXLEN)
    base = int(SUBNET_POOL.network_address)
    start = int(hashlib.sha256(prefix.encode()).hexdigest(), 16) % count
    for k in range(count):
        yield ipaddress.IPv4Network((base + ((start + k) % count) * size, SUBNET_PREFIXLEN))


def choose_subnet(prefix: str, used: Iterable[ipaddress.IPv4Network | str]) -> str:
    """The first candidate subnet of prefix that overlaps none of the networks already used on the host."""
    taken = [ipaddress.IPv4Network(u, strict=False) for u in used]
    for candidate in compute_subnet_candidates(prefix):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise NetnsPlanError(f"no free /{SUBNET_PREFIXLEN} left in {SUBNET_POOL} for the localnet's namespaces")


@dataclass(frozen=True)
class NetnsMember:
    """One namespace: a node (its CometBFT and app) or a relay."""

    label: str  # "<chain-id>/node<j>" or "<chain-id>/relay", as Node.label
    chain_id: str
    namespace: str
    veth: str  # host end of the veth pair; the inner end is eth0
    address: str


@dataclass(frozen=True)
class NetnsPlan:
    """Every namespace of one localnet, its bridge and its subnet (stored under "netns" in network.json)."""

    prefix: str
    subnet: str
    members: tuple[NetnsMember, ...]

    @property
    def bridge(self) -> str:
        """The host's bridge joining every member's veth."""
        return compute_bridge_name(self.prefix)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        """The bridge's (the host's) address in the subnet."""
        return str(self.network.network_address + 1)

    def member(self, label: str) -> NetnsMember:
        """The member with this label."""
        for m in self.members:
            if m.label == label:
                return m
        raise LinkControlError(f"no namespace for {label!r} in this localnet (have {[m.label for m in self.members]})")

    def resolve(self, names: Sequence[str]) -> tuple[NetnsMember, ...]:
        """The members named: a chain-id stands for all of that chain's namespaces (nodes and relay)."""
        out: list[NetnsMember] = []
        for name in names:
            found = [m for m in self.members if m.chain_id == name] if "/" not in name else [self.member(name)]
            if not found:
                raise LinkControlError(f"{name!r} names no chain or member of this localnet "
                                       f"(chains {sorted({m.chain_id for m in self.members})})")
            out.extend(m for m in found if m not in out)
        return tuple(out)

    def others(self, names: Sequence[str]) -> tuple[NetnsMember, ...]:
        """Every member not named."""
        named = set(self.resolve(names))
        return tuple(m for m in self.members if m not in named)

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "subnet": self.subnet, "bridge": self.bridge,
                "members": [asdict(m) for m in self.members]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NetnsPlan":
        return cls(data["prefix"], data["subnet"], tuple(NetnsMember(**m) for m in data["members"]))


def compute_member_labels(chain_ids: Sequence[str], validators_per_chain: int,
                          with_relays: bool) -> list[tuple[str, str]]:
    """(chain-id, name) of every member in address order: all nodes chain by chain, then one relay per chain."""
    labels = [(c, f"node{j}") for c in chain_ids for j in range(validators_per_chain)]
    if with_relays:
        labels.extend((c, RELAY_NAME) for c in chain_ids)
    return labels


def compute_netns_plan(prefix: str, subnet: str, members: Sequence[tuple[str, str]]) -> NetnsPlan:
    """Namespace, host-side veth and address of every (chain-id, name) member, in order."""
    network = ipaddress.IPv4Network(subnet)
    if network.prefixlen != SUBNET_PREFIXLEN:
        raise NetnsPlanError(f"the namespace subnet must be a /{SUBNET_PREFIXLEN}, got {subnet}")
    if len(members) > MAX_MEMBERS:
        raise NetnsPlanError(f"{len(members)} namespaces do not fit in one /{SUBNET_PREFIXLEN} "
                             f"(at most {MAX_MEMBERS} nodes and relays)")
    if len(set(members)) != len(members):
        raise NetnsPlanError("every namespace member must be named once")
    out = []
    for k, (chain_id, name) in enumerate(members):
        veth = f"{prefix}v{k}"
        if len(veth) > IFNAMSIZ:
            raise NetnsPlanError(f"interface name {veth!r} is longer than {IFNAMSIZ} characters")
        out.append(NetnsMember(label=f"{chain_id}/{name}", chain_id=chain_id, namespace=f"{prefix}-{chain_id}-{name}",
                               veth=veth, address=str(network.network_address + 2 + k)))
    return NetnsPlan(prefix, str(network), tuple(out))


def compute_cut_routes(plan: NetnsPlan, side_a: Sequence[str],
                       side_b: Sequence[str]) -> list[tuple[str, str]]:
    """(namespace, address) of every blackhole route that separates side A from side B, both ways: each
    namespace of one side drops what it would send to each address of the other."""
    a, b = plan.resolve(side_a), plan.resolve(side_b)
    both = set(a) & set(b)
    if both:
        raise LinkControlError(f"{sorted(m.label for m in both)} on both sides of the cut")
    if not a or not b:
        raise LinkControlError("a cut needs at least one namespace on each side")
    return [(x.namespace, y.address) for x in a for y in b] + [(y.namespace, x.address) for y in b for x in a]


def compute_exec_prefix(plan: NetnsPlan | None, label: str) -> list[str]:
    """The argv prefix that runs a command in member label's namespace; empty without namespaces."""
    if plan is None:
        return []
    return ["ip", "netns", "exec", plan.member(label).namespace]
