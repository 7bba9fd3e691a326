"""Create the node homes of a localnet with `cometbft testnet`, then make them runnable side by side on 127.0.0.1.

`cometbft testnet` gives every node the same ports and a `chain-XXXXXX` chain-id (not a valid DistPOS
chain-id), so each node's config.toml and genesis.json are rewritten afterwards, and app.toml is added.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace

from ..address import Address
from ..keyring import Keyring
from .errors import LocalnetError
from .interchain import add_interchain
from .netns import host_networks, require_netns_support, teardown_netns
from .netplan import NetnsPlan, choose_subnet, compute_member_labels, compute_netns_plan, compute_netns_prefix
from .plan import (
    APP_BUILTIN_KVSTORE,
    APPS,
    LOCALHOST,
    NETWORK_FILE,
    OPERATOR_TIMEOUTS,
    Chain,
    DemoAccount,
    Network,
    Node,
    PortAllocator,
    Timeouts,
    format_duration,
    validate_chain_ids,
)
from .tomledit import set_toml_values

DEMO_KEY_NAMES = ("alice", "bob", "carol")
DEMO_BALANCE = 1_000_000_000
MAX_TX_BYTES = 8192
# Every localnet and integration-test chain charges fees, so a key with no balance cannot write state there:
# 100 milli-units per gas (a plain send of ~250 bytes, 4,500 gas, pays 450 base units). See distpos_abci/fees.py.
LOCALNET_MIN_GAS_PRICE = 100
# Validator operators (the nodes' consensus-key accounts) are funded to pay the fees of what they sign:
# guarantee carriers, reward withdrawals, unjail, votes.
OPERATOR_BALANCE = 100_000_000


def find_app_bin() -> str:
    """The `distpos` console script of the running Python environment."""
    # The venv's bin directory holds both this interpreter and the console script; sys.executable is not
    # resolved through the venv's symlink, so its parent is that directory.
    candidate = pathlib.Path(sys.executable).parent / "distpos"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("distpos")
    # Fall back to the expected path so the error at start time names where it was looked for.
    return found or str(candidate)


def generate_network(
    run_dir: str | os.PathLike[str],
    *,
    chain_ids: Sequence[str],
    validators_per_chain: int = 4,
    port_allocator: PortAllocator,
    cometbft_bin: str,
    timeouts: Timeouts = OPERATOR_TIMEOUTS,
    app: str = "distpos",
    app_bin: str | None = None,
    netns: bool = False,
) -> Network:
    """Create every node home under run_dir, write network.json and return the network.

    netns=True plans a network namespace with its own address for every node and relay (netplan.py); start_network
    makes them. It needs root, checked here already."""
    chain_ids = list(chain_ids)
    validate_chain_ids(chain_ids)
    if app not in APPS:
        raise LocalnetError(f"unknown app {app!r}: choose one of {', '.join(APPS)}")
    if validators_per_chain < 1:
        raise LocalnetError(f"a chain needs at least one validator, got {validators_per_chain}")
    run_path = pathlib.Path(run_dir).resolve()
    if (run_path / NETWORK_FILE).exists():
        raise LocalnetError(f"{run_path / NETWORK_FILE} already exists: reuse it, or remove {run_path} first")
    for chain_id in chain_ids:
        if (run_path / chain_id).exists():
            raise LocalnetError(f"{run_path / chain_id} exists from an earlier attempt: remove {run_path} first")
    cometbft = _resolve_binary(cometbft_bin)
    plan = _plan_namespaces(str(run_path), chain_ids, validators_per_chain, app) if netns else None
    run_path.mkdir(parents=True, exist_ok=True)

    keyring_dir = run_path / "keyring"
    demo_keys = _ensure_demo_keys(Keyring(keyring_dir))

    chains = []
    for chain_index, chain_id in enumerate(chain_ids):
        nodes = _init_chain_homes(cometbft, run_path / chain_id, chain_id, chain_index, validators_per_chain,
                                  port_allocator, plan)
        accounts = tuple(DemoAccount(key.name, str(key.address(chain_id))) for key in demo_keys)
        for node in nodes:
            _write_config_toml(node, nodes, app, timeouts, external=plan is not None)
            if app != APP_BUILTIN_KVSTORE:
                write_app_toml(node)
        _write_genesis(nodes, chain_id, accounts)
        chains.append(Chain(chain_id, tuple(nodes), accounts))

    network = Network(
        run_dir=str(run_path),
        keyring_dir=str(keyring_dir),
        chains=tuple(chains),
        app=app,
        cometbft_bin=cometbft,
        app_bin=None if app == APP_BUILTIN_KVSTORE else (app_bin or find_app_bin()),
        timeouts=timeouts,
        netns=plan,
    )
    if app != APP_BUILTIN_KVSTORE and len(chains) > 1:
        # no admin key: after genesis, governance alone opens correspondents and sets routes
        network = replace(network, relays=add_interchain(network, port_allocator))
    network.save()
    return network


def _plan_namespaces(run_dir: str, chain_ids: list[str], validators: int, app: str) -> NetnsPlan:
    """The namespace plan of a new localnet in run_dir, on a subnet nothing on this host uses yet."""
    require_netns_support()
    prefix = compute_netns_prefix(run_dir)
    # Namespaces or links with this prefix can only be left over from an earlier localnet in the same directory,
    # removed without `down`: they would clash with the new ones.
    teardown_netns(prefix)
    subnet = choose_subnet(prefix, [net for _, net in host_networks()])
    with_relays = app != APP_BUILTIN_KVSTORE and len(chain_ids) > 1
    return compute_netns_plan(prefix, subnet, compute_member_labels(chain_ids, validators, with_relays))


def _resolve_binary(path: str) -> str:
    """An absolute path to an executable, so network.json still works from another directory."""
    found = shutil.which(path)
    if not found:
        raise LocalnetError(f"cometbft binary {path!r} not found or not executable (run `make cometbft`)")
    return str(pathlib.Path(found).resolve())


def _run(args: list[str]) -> str:
    """Run a short command; its stdout, or LocalnetError with its output."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LocalnetError(f"`{' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _ensure_demo_keys(keyring: Keyring) -> list:
    """alice, bob and carol, created once: a key is chain-agnostic and gets one address per chain."""
    existing = {k.name: k for k in keyring.list()}
    return [existing.get(name) or keyring.add(name) for name in DEMO_KEY_NAMES]


def _init_chain_homes(cometbft: str, out: pathlib.Path, chain_id: str, chain_index: int, validators: int,
                      port_allocator: PortAllocator, plan: NetnsPlan | None) -> list[Node]:
    """Run `cometbft testnet` for one chain and describe its nodes."""
    _run([
        cometbft, "testnet",
        "--v", str(validators),
        "--n", "0",
        "--o", str(out),
        "--node-dir-prefix", "node",
        # Every node is on 127.0.0.1; persistent_peers is rewritten below with the real ports anyway.
        "--starting-ip-address", LOCALHOST,
    ])
    nodes = []
    for j in range(validators):
        home = out / f"node{j}"
        node_id = _run([cometbft, "show-node-id", "--home", str(home)]).strip()
        ports = port_allocator.ports_for(chain_index, j)
        nodes.append(Node(
            chain_id=chain_id,
            name=f"node{j}",
            home=str(home),
            node_id=node_id,
            p2p_port=ports.p2p,
            rpc_port=ports.rpc,
            abci_port=ports.abci,
            grpc_port=ports.grpc,
            prometheus_port=ports.prometheus,
            host=plan.member(f"{chain_id}/node{j}").address if plan is not None else LOCALHOST,
        ))
    return nodes


def _write_config_toml(node: Node, chain_nodes: list[Node], app: str, timeouts: Timeouts, *,
                       external: bool = False) -> None:
    """Give one node its own ports, its peers' real addresses and the localnet's timeouts. external: every node
    has an address of its own (--netns), which it announces to its peers as p2p.external_address."""
    path = node.path("config", "config.toml")
    peers = ",".join(peer.p2p_address for peer in chain_nodes if peer.name != node.name)
    updates = {
        "": {
            # The builtin name makes CometBFT run its in-memory kvstore in-process.
            "proxy_app": "kvstore" if app == APP_BUILTIN_KVSTORE else node.abci_address,
            "moniker": f"{node.chain_id}-{node.name}",
        },
        "rpc": {
            "laddr": f"tcp://{node.host}:{node.rpc_port}",
            "timeout_broadcast_tx_commit": format_duration(timeouts.broadcast_tx_commit_ms),
        },
        "p2p": {
            "laddr": f"tcp://{node.host}:{node.p2p_port}",
            # What the node tells peers to dial; on several hosts, the address others reach this one at.
            "external_address": f"{node.host}:{node.p2p_port}" if external else "",
            "persistent_peers": peers,
            # 127.0.0.1 and the namespaces' 10.x addresses are not routable on the Internet, which strict
            # routability rejects; on 127.0.0.1 every peer shares one IP, which the duplicate-IP guard refuses.
            "addr_book_strict": False,
            "allow_duplicate_ip": not external,
        },
        "consensus": {
            "timeout_propose": format_duration(timeouts.propose_ms),
            "timeout_prevote": format_duration(timeouts.prevote_ms),
            "timeout_precommit": format_duration(timeouts.precommit_ms),
            "timeout_commit": format_duration(timeouts.commit_ms),
        },
        # /tx and tx_search need the kv indexer.
        "tx_index": {"indexer": "kv"},
        # The default ":26660" listens on every interface and is the same for every node.
        "instrumentation": {
            "prometheus": True,
            "prometheus_listen_addr": f"{node.host}:{node.prometheus_port}",
        },
        # /block_results (and the app-hash check of `status`) needs the stored ABCI responses.
        "storage": {"discard_abci_responses": False},
    }
    path.write_text(set_toml_values(path.read_text(), updates))


def compute_app_toml(node: Node, log_level: str = "info") -> str:
    """The documented app.toml of one node."""
    return f"""\
# DistPOS application configuration for {node.label}, written by `python -m distpos_abci.localnet`.
# The app's home is this node's CometBFT home: relative paths below are relative to it.

[abci]
# Address the ABCI socket server listens on; CometBFT's `proxy_app` in config/config.toml connects here.
# Must match that setting exactly (tcp://host:port or unix://path).
laddr = "{node.abci_address}"

[grpc]
# host:port of the DistPOS gRPC query service (clients and relayers connect here).
laddr = "{node.grpc_address}"

[db]
# rocksdict directory holding the application state; relative to the home directory.
dir = "data/distpos.db"

[log]
# Log level of the app process: debug, info, warning or error.
level = "{log_level}"

[store]
# Heights of state history (and proofs) kept; the receipts index is pruned with them. 0 = archive.
keep_recent = 10000
# CometBFT blocks to keep (ResponseCommit.retain_height); 0 = every block. A localnet keeps everything: its
# relays, dashboard and `query tx --prove` read blocks and block results (config.toml keeps
# [storage] discard_abci_responses = false and [tx_index] indexer = "kv" for the same reason).
min_retain_blocks = 0
# The node's receipts index for `query tx` (outside the app hash).
index_receipts = true

[metrics]
# host:port of the app's Prometheus endpoint (GET /metrics); CometBFT's own is on the port below it.
# Empty turns it off.
laddr = "{node.host}:{node.prometheus_port + 1}"
"""


def write_app_toml(node: Node, log_level: str = "info") -> pathlib.Path:
    """Write `<home>/config/app.toml` for one node."""
    path = node.path("config", "app.toml")
    path.write_text(compute_app_toml(node, log_level))
    return path


def compute_app_state(accounts: Sequence[DemoAccount]) -> dict:
    """The genesis app_state: params and funded accounts, amounts as decimal strings."""
    return {
        "params": {"max_tx_bytes": MAX_TX_BYTES, "min_gas_price": LOCALNET_MIN_GAS_PRICE},
        "accounts": [{"address": a.address, "balance": str(DEMO_BALANCE)} for a in accounts],
    }


def _write_genesis(nodes: list[Node], chain_id: str, accounts: Sequence[DemoAccount]) -> None:
    """Set the chain-id and app_state; every node of the chain gets byte-identical genesis files."""
    genesis = json.loads(nodes[0].path("config", "genesis.json").read_text())
    genesis["chain_id"] = chain_id
    genesis["app_state"] = compute_app_state(accounts)
    genesis["app_state"].update(compute_staking_genesis(nodes, chain_id))
    genesis["app_state"]["accounts"].extend(
        {"address": v["operator"], "balance": str(OPERATOR_BALANCE)}
        for v in genesis["app_state"]["staking"]["validators"])
    text = json.dumps(genesis, indent=2) + "\n"
    for node in nodes:
        node.path("config", "genesis.json").write_text(text)


# ---- staking and underwriting genesis ---------------------------------------------------------------------

GENESIS_SELF_STAKE = 1_000_000
# Quick enough for tests to watch downtime jailing and guarantee expiry; see distpos_abci/staking/README.md.
LOCALNET_STAKING_PARAMS = {
    "unbonding_blocks": 100,
    # 3 days (mainnets' 21 scaled down): other chains trust this one's headers for 2 days (localnet/interchain.py)
    "unbonding_time_ns": 3 * 86_400 * 1_000_000_000,
    "power_reduction": 1_000,
    "min_self_stake": 1_000,
    "slash_fraction_double_sign_ppm": 50_000,
    "slash_fraction_downtime_ppm": 10_000,
    "downtime_window": 20,
    "min_signed_per_window": 10,
    "jail_blocks": 20,
    "max_validators": 50,
}
LOCALNET_UNDERWRITING_PARAMS = {"max_guarantee_blocks": 20, "claim_window_blocks": 50}


def read_consensus_pub_key(node: Node) -> str:
    """Base64 of the node's ed25519 consensus public key (config/priv_validator_key.json)."""
    data = json.loads(node.path("config", "priv_validator_key.json").read_text())
    return data["pub_key"]["value"]


def compute_staking_genesis(nodes: Sequence[Node], chain_id: str) -> dict:
    """`staking` and `underwriting` app_state sections: every node a validator operated by its consensus key's
    account, staking GENESIS_SELF_STAKE, underwriting on its gRPC address."""
    validators = []
    for node in nodes:
        pub = read_consensus_pub_key(node)
        validators.append({
            "operator": str(Address.from_pub_key(chain_id, base64.b64decode(pub))),
            "consensus_pub_key": pub,
            "self_stake": str(GENESIS_SELF_STAKE),
            "endpoint": node.grpc_address,
            "moniker": f"{chain_id}-{node.name}",
        })
    return {
        "staking": {"params": dict(LOCALNET_STAKING_PARAMS), "validators": validators},
        "underwriting": {"params": dict(LOCALNET_UNDERWRITING_PARAMS)},
    }
