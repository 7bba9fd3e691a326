"""Make, remove and cut the network namespaces of a `--netns` localnet, with iproute2's `ip` command.

netplan.py says what exists (names, addresses); this module makes it so and undoes it:

    require_netns_support()       root and `ip`, or NetnsPermissionError (230) / NetnsToolMissingError (231)
    setup_netns(plan)             bridge, namespaces, veth pairs, addresses; only what is missing (idempotent)
    teardown_netns(prefix)        every namespace and link whose name carries the prefix (idempotent)
    cut_links(plan, a, b)         blackhole routes both ways between two groups of namespaces
    heal_links(plan, a, b)        remove them again; heal_all(plan) removes every cut
    isolate(plan, label)          cut one member from every other member
    partitioned(plan, a, b)       cut for the duration of a `with` block, healed whatever happens

On a host where br_netfilter sends bridged frames through iptables (bridge-nf-call-iptables = 1, as with Docker,
whose FORWARD policy is DROP), setup also inserts `iptables -I FORWARD -i <bridge> -o <bridge> -j ACCEPT` and
teardown deletes it; nothing else on the host is touched.

Groups are chain-ids (every namespace of that chain: its nodes and its relay) or member labels (`e2e4/node3`,
`e2e4/relay`). A cut is a route of type blackhole to each address of the other side, in each namespace of one
side: packets between the sides are dropped on output, new connections fail and established ones stall, while
each side's own traffic and the host's (the bridge address) still flow, so a test can watch both sides.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pathlib
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence

from .errors import LinkControlError, NetnsCommandError, NetnsPermissionError, NetnsPlanError, NetnsToolMissingError
from .netplan import INNER_IFNAME, NetnsPlan, compute_bridge_name, compute_cut_routes

IP = "ip"
IPTABLES = "iptables"
# Present (and 1) when br_netfilter passes bridged frames through iptables, as Docker hosts do: with Docker's FORWARD
# policy DROP the namespaces on our bridge could not reach one another.
BRIDGE_NF_SYSCTL = pathlib.Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
IP_TIMEOUT = 30.0
ROOT_MESSAGE = "network namespaces need root (CAP_NET_ADMIN)"
MISSING_IP_MESSAGE = "the `ip` command is missing: install iproute2 (apt-get install iproute2)"


def require_netns_support(geteuid: Callable[[], int] | None = None,
                          which: Callable[[str], str | None] | None = None) -> None:
    """Raise NetnsPermissionError unless the process runs as root, NetnsToolMissingError unless `ip` exists.
    geteuid and which default to os.geteuid and shutil.which (tests inject others)."""
    geteuid = geteuid or os.geteuid
    which = which or shutil.which
    if geteuid() != 0:
        raise NetnsPermissionError(f"{ROOT_MESSAGE}: run as root (as CI does), or without --netns")
    if which(IP) is None:
        raise NetnsToolMissingError(MISSING_IP_MESSAGE)


def run_ip(args: Sequence[str], *, missing_ok: bool = False) -> str:
    """Run `ip ARGS`; its stdout. A failure raises NetnsCommandError, unless missing_ok and the object named is
    already gone (what makes removal idempotent)."""
    try:
        proc = subprocess.run([IP, *args], capture_output=True, text=True, timeout=IP_TIMEOUT)
    except FileNotFoundError:
        raise NetnsToolMissingError(MISSING_IP_MESSAGE) from None
    if proc.returncode != 0:
        err = proc.stderr.strip()
        gone = ("Cannot find device", "No such process", "No such file or directory", "does not exist")
        if missing_ok and any(g in err for g in gone):
            return ""
        raise NetnsCommandError(f"`ip {' '.join(args)}` failed ({proc.returncode}): {err}")
    return proc.stdout


def list_namespaces() -> list[str]:
    """Names of the host's named network namespaces (`ip netns list`)."""
    # Lines are "name" or "name (id: N)".
    return [line.split()[0] for line in run_ip(["netns", "list"]).splitlines() if line.strip()]


def list_links() -> list[str]:
    """Names of the host namespace's network interfaces (`ip -o link show`)."""
    names = []
    for line in run_ip(["-o", "link", "show"]).splitlines():
        # "7: dp1a2b3cv0@if2: <BROADCAST,...": the name, without the peer suffix.
        parts = line.split(":", 2)
        if len(parts) == 3:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def host_networks() -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, network) of every IPv4 address of the host namespace (`ip -o -4 addr show`)."""
    out = []
    for line in run_ip(["-o", "-4", "addr", "show"]).splitlines():
        # "4: eth0    inet 192.0.2.2/24 brd ... scope global eth0"
        fields = line.split()
        if "inet" in fields:
            iface = fields[1].rstrip(":")
            out.append((iface, ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network))
    return out


def compute_forward_rule(bridge: str) -> list[str]:
    """The iptables rule (chain and match) that lets frames between two ports of the localnet's bridge pass."""
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def is_bridge_filtered(sysctl_text: str | None) -> bool:
    """Whether bridged frames go through iptables (the bridge-nf-call-iptables sysctl reads 1)."""
    return (sysctl_text or "").strip() == "1"


def _read_sysctl(path: pathlib.Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _allow_bridge_forwarding(bridge: str) -> bool:
    """Insert the bridge's ACCEPT rule when iptables filters bridged frames (once); True when it is in place."""
    iptables = shutil.which(IPTABLES)
    if iptables is None or not is_bridge_filtered(_read_sysctl(BRIDGE_NF_SYSCTL)):
        return False
    rule = compute_forward_rule(bridge)
    if subprocess.run([iptables, "-C", *rule], capture_output=True, timeout=IP_TIMEOUT).returncode != 0:
        proc = subprocess.run([iptables, "-I", rule[0], "1", *rule[1:]], capture_output=True, text=True,
                              timeout=IP_TIMEOUT)
        if proc.returncode != 0:
            raise NetnsCommandError(f"`iptables -I {' '.join(rule)}` failed ({proc.returncode}): "
                                    f"{proc.stderr.strip()}")
    return True


def _remove_bridge_forwarding(bridge: str) -> None:
    """Delete every copy of the bridge's ACCEPT rule (none when iptables is absent or was never needed)."""
    iptables = shutil.which(IPTABLES)
    if iptables is None:
        return
    for _ in range(8):  # one copy per interrupted setup at most; bounded all the same
        if subprocess.run([iptables, "-D", *compute_forward_rule(bridge)], capture_output=True,
                          timeout=IP_TIMEOUT).returncode != 0:
            return


def _check_subnet_free(plan: NetnsPlan) -> None:
    clash = [(iface, str(net)) for iface, net in host_networks()
             if iface != plan.bridge and net.overlaps(plan.network)]
    if clash:
        raise NetnsPlanError(f"the localnet's subnet {plan.subnet} is already used on this host by {clash}: "
                             "remove the run directory and generate the localnet again to get another subnet")


def setup_netns(plan: NetnsPlan) -> list[str]:
    """Create the bridge and every member's namespace, veth pair and address that is not there yet; return the
    namespaces created. A member left half-made by an interrupted run is removed and made again."""
    require_netns_support()
    _check_subnet_free(plan)
    namespaces, links = set(list_namespaces()), set(list_links())
    if plan.bridge not in links:
        run_ip(["link", "add", plan.bridge, "type", "bridge"])
    run_ip(["addr", "replace", f"{plan.gateway}/{plan.network.prefixlen}", "dev", plan.bridge])
    run_ip(["link", "set", plan.bridge, "up"])
    _allow_bridge_forwarding(plan.bridge)
    created = []
    for m in plan.members:
        if m.namespace in namespaces and m.veth in links:
            continue
        run_ip(["link", "del", m.veth], missing_ok=True)
        run_ip(["netns", "del", m.namespace], missing_ok=True)
        run_ip(["netns", "add", m.namespace])
        run_ip(["link", "add", m.veth, "type", "veth", "peer", "name", INNER_IFNAME, "netns", m.namespace])
        run_ip(["link", "set", m.veth, "master", plan.bridge, "up"])
        run_ip(["-n", m.namespace, "addr", "add", f"{m.address}/{plan.network.prefixlen}", "dev", INNER_IFNAME])
        run_ip(["-n", m.namespace, "link", "set", INNER_IFNAME, "up"])
        # The app's ABCI socket and CometBFT's proxy_app meet on the namespace's own loopback.
        run_ip(["-n", m.namespace, "link", "set", "lo", "up"])
        created.append(m.namespace)
    return created


def leftovers(prefix: str) -> tuple[list[str], list[str]]:
    """(namespaces, links) on this host whose names carry the prefix."""
    return ([n for n in list_namespaces() if n.startswith(prefix + "-")],
            [link for link in list_links() if link.startswith(prefix)])


def teardown_netns(prefix: str) -> list[str]:
    """Remove every namespace and link of the localnet with this prefix; return what was removed. Run it after the
    processes inside have stopped; running it again (or on a localnet that never made any) removes nothing."""
    namespaces, links = leftovers(prefix)
    # A veth pair goes with either end; the bridge last, once nothing is enslaved to it.
    for link in sorted(links, key=lambda name: name.endswith("br")):
        run_ip(["link", "del", link], missing_ok=True)
    for ns in namespaces:
        run_ip(["netns", "del", ns], missing_ok=True)
    _remove_bridge_forwarding(compute_bridge_name(prefix))
    return namespaces + links


# ---- link control for tests ------------------------------------------------------------------------------


def require_plan(plan: NetnsPlan | None) -> NetnsPlan:
    """The plan of a --netns localnet; LinkControlError (234) for a localnet on 127.0.0.1."""
    if plan is None:
        raise LinkControlError("this localnet runs without --netns: it has no links to cut or heal")
    return plan


def cut_links(plan: NetnsPlan | None, side_a: Sequence[str], side_b: Sequence[str]) -> list[tuple[str, str]]:
    """Drop all traffic between the namespaces of side A and those of side B; return the routes added."""
    routes = compute_cut_routes(require_plan(plan), side_a, side_b)
    for namespace, address in routes:
        run_ip(["-n", namespace, "route", "replace", "blackhole", f"{address}/32"])
    return routes


def heal_links(plan: NetnsPlan | None, side_a: Sequence[str], side_b: Sequence[str]) -> list[tuple[str, str]]:
    """Undo cut_links(plan, side_a, side_b) (a route already gone is fine); return the routes removed."""
    routes = compute_cut_routes(require_plan(plan), side_a, side_b)
    for namespace, address in routes:
        run_ip(["-n", namespace, "route", "del", "blackhole", f"{address}/32"], missing_ok=True)
    return routes


def isolate(plan: NetnsPlan | None, label: str) -> list[tuple[str, str]]:
    """Cut one member (e.g. `e2e4/node3`) from every other member of the localnet."""
    return cut_links(plan, [label], [m.label for m in require_plan(plan).others([label])])


def heal_isolation(plan: NetnsPlan | None, label: str) -> list[tuple[str, str]]:
    """Undo isolate(plan, label)."""
    return heal_links(plan, [label], [m.label for m in require_plan(plan).others([label])])


def heal_all(plan: NetnsPlan | None) -> None:
    """Remove every cut in every namespace of the localnet."""
    namespaces = set(list_namespaces())
    for m in require_plan(plan).members:
        if m.namespace in namespaces:
            run_ip(["-n", m.namespace, "route", "flush", "type", "blackhole"])


@contextlib.contextmanager
def partitioned(plan: NetnsPlan | None, side_a: Sequence[str],
                side_b: Sequence[str]) -> Iterator[list[tuple[str, str]]]:
    """Side A and side B cannot reach each other inside the block; healed on leaving it, also on an error."""
    try:
        yield cut_links(plan, side_a, side_b)
    finally:
        heal_links(plan, side_a, side_b)
