"""Local multi-chain, multi-validator DistPOS networks on 127.0.0.1 or in network namespaces (`--netns`), for
operators (`make localnet`) and tests.

One implementation serves both: the CLI (`python -m distpos_abci.localnet up|status|down`) and the
integration-test fixtures call the same functions.

    net = generate_network(run_dir, chain_ids=["e2e4"], port_allocator=FreePorts(), cometbft_bin="bin/cometbft",
                           timeouts=TEST_TIMEOUTS)
    start_network(net); wait_for_blocks(net, min_height=2); ...; stop_network(net)

Layout of a run directory:

    <run_dir>/network.json                  the Network description (load_network reads it back)
    <run_dir>/keyring/                      alice, bob, carol: funded on every chain
    <run_dir>/<chain-id>/node<j>/           CometBFT home = app home: config/{config,app}.toml, genesis.json,
                                            data/, app.log, cometbft.log, app.pid, cometbft.pid
"""

from .errors import LocalnetError
from .netns import (
    cut_links,
    heal_all,
    heal_isolation,
    heal_links,
    isolate,
    leftovers,
    partitioned,
    require_netns_support,
    setup_netns,
    teardown_netns,
)
from .netplan import NetnsMember, NetnsPlan, compute_netns_plan, compute_netns_prefix
from .generate import DEMO_BALANCE, DEMO_KEY_NAMES, compute_app_state, find_app_bin, generate_network, write_app_toml
from .plan import (
    APP_BUILTIN_KVSTORE,
    APP_DISTPOS,
    NETWORK_FILE,
    OPERATOR_TIMEOUTS,
    TEST_TIMEOUTS,
    Chain,
    DemoAccount,
    FixedPorts,
    FreePorts,
    Network,
    Node,
    NodePorts,
    PortAllocator,
    Timeouts,
    compute_default_chain_ids,
    load_network,
)
from .procs import (
    log_tail,
    running_network,
    running_pids,
    start_network,
    start_node,
    stop_network,
    stop_node,
    wait_for_blocks,
)
from .rpc import AppHashCheck, NodeStatus, RpcError, check_app_hashes, get_app_hash_at, node_status, rpc_get

__all__ = [
    "APP_BUILTIN_KVSTORE",
    "APP_DISTPOS",
    "AppHashCheck",
    "Chain",
    "DEMO_BALANCE",
    "DEMO_KEY_NAMES",
    "DemoAccount",
    "FixedPorts",
    "FreePorts",
    "LocalnetError",
    "NetnsMember",
    "NetnsPlan",
    "NETWORK_FILE",
    "Network",
    "Node",
    "NodePorts",
    "NodeStatus",
    "OPERATOR_TIMEOUTS",
    "PortAllocator",
    "RpcError",
    "TEST_TIMEOUTS",
    "Timeouts",
    "check_app_hashes",
    "compute_app_state",
    "compute_default_chain_ids",
    "compute_netns_plan",
    "compute_netns_prefix",
    "cut_links",
    "find_app_bin",
    "generate_network",
    "get_app_hash_at",
    "heal_all",
    "heal_isolation",
    "heal_links",
    "isolate",
    "leftovers",
    "load_network",
    "log_tail",
    "node_status",
    "partitioned",
    "require_netns_support",
    "rpc_get",
    "running_network",
    "running_pids",
    "setup_netns",
    "start_network",
    "start_node",
    "stop_network",
    "stop_node",
    "teardown_netns",
    "wait_for_blocks",
    "write_app_toml",
]
