"""What a localnet is: chains, their nodes and ports, serialised to `<run_dir>/network.json`.

Everything here is pure description; generate.py writes the node homes, procs.py runs the processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Protocol

from ..address import validate_chain_id
from ..errors import InvalidAddressError
from .errors import LocalnetError
from .netplan import RELAY_NAME, NetnsPlan

NETWORK_FILE = "network.json"
APP_DISTPOS = "distpos"
# CometBFT's compiled-in in-memory key-value store: lets the tooling be tested without the DistPOS app.
APP_BUILTIN_KVSTORE = "builtin-kvstore"
APPS = (APP_DISTPOS, APP_BUILTIN_KVSTORE)
LOCALHOST = "127.0.0.1"

_FIRST_CHAIN_IDS = ("e2e4", "a1b2", "c3d4")


def compute_default_chain_ids(count: int) -> list[str]:
    """The default chain-ids of a localnet of count chains: e2e4, a1b2, c3d4, then c005, c006, ..."""
    if count < 1:
        raise LocalnetError(f"a localnet needs at least one chain, got {count}")
    ids = list(_FIRST_CHAIN_IDS[:count])
    # Position k (0-based) from the fourth chain on gets c{k+2:03}: c005, c006, ... as the project names them.
    ids.extend(f"c{k + 2:03d}" for k in range(len(ids), count))
    return ids


def validate_chain_ids(chain_ids: list[str]) -> None:
    """Raise LocalnetError unless every chain-id is valid for DistPOS and unique."""
    for chain_id in chain_ids:
        try:
            validate_chain_id(chain_id)
        except InvalidAddressError as exc:
            raise LocalnetError(exc.message) from None
    if len(set(chain_ids)) != len(chain_ids):
        raise LocalnetError(f"chain-ids must be unique, got {chain_ids}")


# ---- consensus timeouts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeouts:
    """CometBFT consensus timeouts and the RPC broadcast_tx_commit wait, in milliseconds."""

    propose_ms: int
    prevote_ms: int
    precommit_ms: int
    commit_ms: int
    # CometBFT raises its global HTTP write timeout when this exceeds 10 s, so 10 s is the sensible cap;
    # it only has to cover a few block intervals of the slowest timeouts used here.
    broadcast_tx_commit_ms: int = 10_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value <= 0:
                raise LocalnetError(f"timeout {name} must be a positive number of milliseconds, got {value!r}")


# A block about every 1.5 s with 4 validators: quick enough to watch, slow enough to read the logs.
OPERATOR_TIMEOUTS = Timeouts(propose_ms=1000, prevote_ms=500, precommit_ms=500, commit_ms=500)
# Integration tests: several blocks a second, still leaving a 2-core machine some slack.
TEST_TIMEOUTS = Timeouts(propose_ms=200, prevote_ms=50, precommit_ms=50, commit_ms=100)


def format_duration(ms: int) -> str:
    """A Go duration string for CometBFT's config: 1500 -> "1500ms", 10000 -> "10s"."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# ---- ports ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePorts:
    """The TCP ports one node listens on, all on 127.0.0.1."""

    p2p: int
    rpc: int
    abci: int
    grpc: int
    prometheus: int


class PortAllocator(Protocol):
    """Hands out the ports of node `node_index` of chain `chain_index`."""

    def ports_for(self, chain_index: int, node_index: int) -> NodePorts:
        """The ports of one node."""
        ...


@dataclass(frozen=True)
class FixedPorts:
    """The operator localnet's documented ports: fixed bases plus 100 per chain and 10 per node."""

    p2p_base: int = 26656
    rpc_base: int = 26657
    abci_base: int = 26658
    prometheus_base: int = 26660
    grpc_base: int = 9090
    chain_stride: int = 100
    node_stride: int = 10

    def ports_for(self, chain_index: int, node_index: int) -> NodePorts:
        """Base + chain_stride * chain_index + node_stride * node_index for each service."""
        if node_index >= self.chain_stride // self.node_stride:
            raise LocalnetError(
                f"the fixed port scheme has room for {self.chain_stride // self.node_stride} nodes per chain"
            )
        offset = self.chain_stride * chain_index + self.node_stride * node_index
        ports = NodePorts(
            p2p=self.p2p_base + offset,
            rpc=self.rpc_base + offset,
            abci=self.abci_base + offset,
            grpc=self.grpc_base + offset,
            prometheus=self.prometheus_base + offset,
        )
        if max(asdict(ports).values()) > 65535:
            raise LocalnetError(f"chain {chain_index} node {node_index} falls outside the TCP port range")
        return ports

    def describe(self) -> str:
        """The scheme in one paragraph, printed when an operator localnet is generated."""
        return (
            f"ports for chain i (0-based), node j: offset = {self.chain_stride}*i + {self.node_stride}*j; "
            f"p2p {self.p2p_base}+offset, rpc {self.rpc_base}+offset, abci {self.abci_base}+offset, "
            f"prometheus {self.prometheus_base}+offset, grpc {self.grpc_base}+offset "
            f"(e.g. chain 0 node 1: p2p {self.p2p_base + self.node_stride}, rpc {self.rpc_base + self.node_stride})"
        )


class FreePorts:
    """Ports the OS reports free right now (bind to port 0, then release): for tests running side by side."""

    def __init__(self) -> None:
        # Never hand out the same port twice from one allocator, even if the OS would reuse a released one.
        self._given: set[int] = set()

    def _free_port(self) -> int:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOCALHOST, 0))
                port = sock.getsockname()[1]
            if port not in self._given:
                self._given.add(port)
                return port
        raise LocalnetError("could not find a free TCP port")

    def ports_for(self, chain_index: int, node_index: int) -> NodePorts:
        """Five ports free at the time of the call."""
        return NodePorts(*(self._free_port() for _ in range(5)))


def is_port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (or on all interfaces at that port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR so that connections in TIME_WAIT from a stopped node do not count as "in use",
        # just as they do not stop CometBFT or the app (Go and grpc set it too) from listening again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


# ---- the network --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One validator node: a CometBFT home that is also the app's home."""

    chain_id: str
    name: str
    home: str
    node_id: str
    p2p_port: int
    rpc_port: int
    abci_port: int
    grpc_port: int
    prometheus_port: int
    # The address the node's p2p, RPC, gRPC and metrics listen on: 127.0.0.1, or its namespace's address with
    # --netns (its ABCI socket stays on the loopback, shared only with its own CometBFT).
    host: str = LOCALHOST

    @property
    def label(self) -> str:
        """`<chain-id>/<name>`, unique within a network."""
        return f"{self.chain_id}/{self.name}"

    @property
    def rpc_url(self) -> str:
        """CometBFT's RPC endpoint."""
        return f"http://{self.host}:{self.rpc_port}"

    @property
    def grpc_address(self) -> str:
        """The DistPOS query service's host:port."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def abci_address(self) -> str:
        """Where CometBFT's proxy_app connects to the app."""
        return f"tcp://{LOCALHOST}:{self.abci_port}"

    @property
    def p2p_address(self) -> str:
        """The peer address others put in persistent_peers."""
        return f"{self.node_id}@{self.host}:{self.p2p_port}"

    def path(self, *parts: str) -> pathlib.Path:
        """A path inside the node home."""
        return pathlib.Path(self.home, *parts)

    @property
    def app_pid_file(self) -> pathlib.Path:
        """Holds the pid of the running app process."""
        return self.path("app.pid")

    @property
    def cometbft_pid_file(self) -> pathlib.Path:
        """Holds the pid of the running CometBFT process."""
        return self.path("cometbft.pid")

    @property
    def app_log(self) -> pathlib.Path:
        """The app's stdout and stderr."""
        return self.path("app.log")

    @property
    def cometbft_log(self) -> pathlib.Path:
        """CometBFT's stdout and stderr."""
        return self.path("cometbft.log")

    def pids(self) -> dict[str, int | None]:
        """The recorded pids ({"app": ..., "cometbft": ...}); None where no pid file exists."""
        return {"app": _read_pid(self.app_pid_file), "cometbft": _read_pid(self.cometbft_pid_file)}

    def to_json(self) -> dict[str, Any]:
        """The network.json form: stored fields plus derived endpoints and files for other tools to read."""
        data: dict[str, Any] = asdict(self)
        data.update(
            rpc_url=self.rpc_url,
            grpc_address=self.grpc_address,
            abci_address=self.abci_address,
            app_pid_file=str(self.app_pid_file),
            cometbft_pid_file=str(self.cometbft_pid_file),
            app_log=str(self.app_log),
            cometbft_log=str(self.cometbft_log),
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Node":
        """Read back what to_json wrote; derived keys are ignored, a missing `host` is 127.0.0.1."""
        return cls(**read_dataclass_fields(cls, data))


def read_dataclass_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The values of cls's fields in data; a field with a default may be absent (older network.json files)."""
    return {f.name: data[f.name] for f in fields(cls)
            if f.name in data or (f.default is MISSING and f.default_factory is MISSING)}


def _read_pid(path: pathlib.Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class DemoAccount:
    """A keyring key funded in a chain's genesis."""

    name: str
    address: str


@dataclass(frozen=True)
class Chain:
    """One chain of the localnet."""

    chain_id: str
    nodes: tuple[Node, ...]
    demo_accounts: tuple[DemoAccount, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The network.json form."""
        return {
            "chain_id": self.chain_id,
            "nodes": [n.to_json() for n in self.nodes],
            "demo_accounts": [asdict(a) for a in self.demo_accounts],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Chain":
        """Read back what to_json wrote."""
        return cls(
            chain_id=data["chain_id"],
            nodes=tuple(Node.from_json(n) for n in data["nodes"]),
            demo_accounts=tuple(DemoAccount(**a) for a in data.get("demo_accounts", [])),
        )


@dataclass(frozen=True)
class Relay:
    """One chain's relay process."""

    chain_id: str
    home: str
    grpc_port: int
    metrics_port: int
    comet_rpc: str
    # 127.0.0.1, or the relay's namespace address with --netns
    host: str = LOCALHOST

    @property
    def label(self) -> str:
        """`<chain-id>/relay`: its member label in a --netns localnet."""
        return f"{self.chain_id}/{RELAY_NAME}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def path(self, name: str) -> pathlib.Path:
        return pathlib.Path(self.home, name)

    @property
    def config_file(self) -> pathlib.Path:
        return self.path("relay.toml")

    @property
    def pid_file(self) -> pathlib.Path:
        return self.path("relay.pid")

    @property
    def log_file(self) -> pathlib.Path:
        return self.path("relay.log")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        data.update(grpc_address=self.grpc_address, metrics_url=f"http://{self.host}:{self.metrics_port}/metrics",
                    config_file=str(self.config_file), pid_file=str(self.pid_file), log_file=str(self.log_file))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Relay":
        return cls(**read_dataclass_fields(cls, data))


@dataclass(frozen=True)
class Network:
    """A whole localnet: what generate_network made and start_network runs."""

    run_dir: str
    keyring_dir: str
    chains: tuple[Chain, ...]
    app: str = APP_DISTPOS
    cometbft_bin: str = "cometbft"
    # The `distpos` executable; None for the builtin kvstore, which runs inside CometBFT.
    app_bin: str | None = None
    timeouts: Timeouts = field(default_factory=lambda: OPERATOR_TIMEOUTS)
    # One relay per chain when the network has several DistPOS chains (localnet/interchain.py).
    relays: tuple[Any, ...] = ()
    # With --netns: every node and relay in its own network namespace (netplan.py); None: all on 127.0.0.1.
    netns: NetnsPlan | None = None

    def host_of(self, label: str) -> str:
        """The address of node or relay `label` (`<chain-id>/node<j>`, `<chain-id>/relay`)."""
        return self.netns.member(label).address if self.netns is not None else LOCALHOST

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of every chain, in chain order."""
        return tuple(n for c in self.chains for n in c.nodes)

    @property
    def has_app_process(self) -> bool:
        """Whether each node runs a separate app process (not the builtin kvstore)."""
        return self.app != APP_BUILTIN_KVSTORE

    @property
    def network_file(self) -> pathlib.Path:
        """Where this description is saved."""
        return pathlib.Path(self.run_dir, NETWORK_FILE)

    def chain(self, chain_id: str) -> Chain:
        """The chain with this chain-id."""
        for chain in self.chains:
            if chain.chain_id == chain_id:
                return chain
        raise LocalnetError(f"no chain {chain_id!r} in {self.run_dir} (have {[c.chain_id for c in self.chains]})")

    def node(self, label: str) -> Node:
        """A node by label `<chain-id>/<name>`, or by name alone when the network has a single chain."""
        for node in self.nodes:
            if label == node.label or (len(self.chains) == 1 and label == node.name):
                return node
        raise LocalnetError(f"no node {label!r} in {self.run_dir} (have {[n.label for n in self.nodes]})")

    def to_json(self) -> dict[str, Any]:
        """The network.json document."""
        return {
            "chains": [c.to_json() for c in self.chains],
            "keyring_dir": self.keyring_dir,
            "run_dir": self.run_dir,
            "app": self.app,
            "cometbft_bin": self.cometbft_bin,
            "app_bin": self.app_bin,
            "timeouts": asdict(self.timeouts),
            "relays": [r.to_json() for r in self.relays],
            "netns": self.netns.to_json() if self.netns is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Network":
        """Read back what to_json wrote."""
        return cls(
            run_dir=data["run_dir"],
            keyring_dir=data["keyring_dir"],
            chains=tuple(Chain.from_json(c) for c in data["chains"]),
            app=data.get("app", APP_DISTPOS),
            cometbft_bin=data.get("cometbft_bin", "cometbft"),
            app_bin=data.get("app_bin"),
            timeouts=Timeouts(**data["timeouts"]) if "timeouts" in data else OPERATOR_TIMEOUTS,
            relays=_relays_from_json(data.get("relays") or []),
            netns=NetnsPlan.from_json(data["netns"]) if data.get("netns") else None,
        )

    def save(self) -> pathlib.Path:
        """Write network.json atomically (a reader never sees half a file); return its path."""
        path = self.network_file
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path


def _relays_from_json(items: list[dict[str, Any]]) -> tuple[Relay, ...]:
    return tuple(Relay.from_json(r) for r in items)


def load_network(run_dir: str | os.PathLike[str]) -> Network:
    """The network described by `<run_dir>/network.json`."""
    path = pathlib.Path(run_dir, NETWORK_FILE)
    try:
        return Network.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise LocalnetError(f"no localnet in {run_dir}: {path} does not exist (run `up` first)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalnetError(f"{path} is not a valid network description: {exc!r}") from None
