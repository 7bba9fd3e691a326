"""Interchain wiring of a multi-chain localnet: correspondents, routes and light-client trust roots in every
chain's genesis, and one relay process per chain.

Trust roots come from the genesis of each remote chain: its genesis validators (keys and the voting power the
staking section gives them) at height 0 and its genesis_time. Every chain's light client of every other chain
starts from there, so a network is wired before any chain starts; the first update a relay submits is then a
skipping (non-adjacent) one, verified with the 1/3 trust level against the genesis set.

Trust is backed by slashable stake: each correspondent records the remote chain's unbonding time (its
staking `unbonding_time_ns`, 3 days in a localnet: mainnets' 21 days scaled down) and trusts headers for 2/3
of it (2 days, as 14 of 21 days), strictly less, so validators that sign a conflicting header are still
bonded when the misbehaviour is shown. Chains must be started within the trusting period of their generation.
Nobody holds an admin key: after genesis only governance opens, changes or closes correspondents and routes.

Each relay lives in `<run_dir>/<chain-id>/relay/` (relay.toml, relay.key, relay.db/, relay.log, relay.pid).
"""

from __future__ import annotations

import json
import pathlib

from ..address import Address
from ..crypto import KeyPair
from ..lightclient.rpc_json import parse_rfc3339_ns
from ..staking.params import StakingParams
from ..underwriting.params import UnderwritingParams
from .netplan import RELAY_NAME
from .plan import Network, PortAllocator, Relay

# Limits of every correspondent account in a localnet (see distpos_abci/interchain/README.md).
LOCALNET_LIMITS = {
    "min_balance": 1_000,
    "settle_threshold": 1_000_000,
    "per_packet_max": 500_000_000,
    "rate_limit": 0,
    "rate_window_blocks": 0,
    "max_failure_pct": 0,
    "default_timeout_ns": 600 * 1_000_000_000,
}
LOCALNET_RESERVE = 100_000_000
RELAY_BALANCE = 100_000_000  # every relay's account is funded on every chain: it pays the fees of what it submits
# Instant credit a chain gives each peer's guaranteed transfers at most at once (interchain README, "Instant credit").
LOCALNET_INSTANT_LIMIT = LOCALNET_RESERVE // 10
# trusting period = remote unbonding time * TRUST_NUM / TRUST_DEN (14 of 21 days, the Cosmos ratio)
TRUST_NUM, TRUST_DEN = 2, 3
RELAY_NODE_SLOT = 9  # relays take the ports of node slot 9 of their chain (the fixed scheme has 10 slots)




def compute_remote_unbonding_ns(genesis: dict) -> int:
    """The remote chain's staking unbonding_time_ns (its staking default when its genesis does not set it)."""
    params = ((genesis.get("app_state") or {}).get("staking") or {}).get("params") or {}
    return int(params.get("unbonding_time_ns", StakingParams().unbonding_time_ns))


def compute_trusting_period_ns(unbonding_ns: int) -> int:
    """A trusting period strictly shorter than the remote unbonding time."""
    return unbonding_ns * TRUST_NUM // TRUST_DEN


def compute_trust_root(genesis: dict) -> dict:
    """A chain's genesis validators (staking powers when the staking section defines them) and genesis time."""
    staking = (genesis.get("app_state") or {}).get("staking") or {}
    reduction = int((staking.get("params") or {}).get("power_reduction", 1) or 1)
    if staking.get("validators"):
        vals = [{"pub_key": v["consensus_pub_key"], "power": int(v["self_stake"]) // reduction}
                for v in staking["validators"]]
    else:
        vals = [{"pub_key": v["pub_key"]["value"], "power": int(v["power"])} for v in genesis["validators"]]
    return {"height": 0, "time_ns": parse_rfc3339_ns(genesis["genesis_time"]), "validators": vals}


def compute_instant_limit(genesis: dict) -> dict:
    """The instant-credit limit for a peer: its staking power_reduction turns its light-client powers into stake,
    and its max_guarantee_blocks bounds the guarantees worth crediting (it could not pay a claim on a longer one)."""
    app_state = genesis.get("app_state") or {}
    staking = (app_state.get("staking") or {}).get("params") or {}
    underwriting = (app_state.get("underwriting") or {}).get("params") or {}
    return {"limit": LOCALNET_INSTANT_LIMIT, "stake_per_power": int(staking.get("power_reduction", 1) or 1),
            "max_guarantee_blocks": int(underwriting.get("max_guarantee_blocks",
                                                         UnderwritingParams().max_guarantee_blocks))}


def compute_interchain_genesis(chain_id: str, peers: dict[str, tuple[dict, Relay]]) -> dict:
    """The `interchain` app_state section of chain_id: a correspondent, an instant-credit limit and a route per
    peer chain."""
    return {
        "correspondents": [
            {"chain_id": peer, "limits": dict(LOCALNET_LIMITS),
             "trusting_period_ns": compute_trusting_period_ns(compute_remote_unbonding_ns(genesis)),
             "unbonding_period_ns": compute_remote_unbonding_ns(genesis),
             "reserve": str(LOCALNET_RESERVE), "trust_root": compute_trust_root(genesis)}
            for peer, (genesis, _) in sorted(peers.items())
        ],
        "routes": [{"chain_id": peer, "relay_grpc": relay.grpc_address, "comet_rpc": relay.comet_rpc}
                   for peer, (_, relay) in sorted(peers.items())],
        "instant_credit": {peer: compute_instant_limit(genesis) for peer, (genesis, _) in sorted(peers.items())},
    }


def compute_relay_toml(relay: Relay, clients: list[str]) -> str:
    """The documented relay.toml of one relay (keys explained in distpos_abci/relay/README.md)."""
    return f"""\
# Relay of chain {relay.chain_id}, written by the localnet tooling. Keys: distpos_abci/relay/README.md.
chain_id = "{relay.chain_id}"
comet_rpc = "{relay.comet_rpc}"
listen = "{relay.grpc_address}"
metrics = "{relay.host}:{relay.metrics_port}"
key_file = "relay.key"
db_dir = "relay.db"
poll_interval_ms = 1000
settle_interval_ms = 200
max_tx_bytes = 0
gas_price = 0
client_refresh_pct = 50
clients = {json.dumps(clients)}
policy_file = ""
log_level = "info"
"""


def add_interchain(net: Network, port_allocator: PortAllocator) -> tuple[Relay, ...]:
    """Write relay homes and the interchain genesis section of every chain; return the relays."""
    relays = []
    for i, chain in enumerate(net.chains):
        ports = port_allocator.ports_for(i, RELAY_NODE_SLOT)
        home = pathlib.Path(net.run_dir, chain.chain_id, "relay")
        home.mkdir(parents=True, exist_ok=True)
        relays.append(Relay(chain.chain_id, str(home), ports.grpc, ports.prometheus, chain.nodes[0].rpc_url,
                            net.host_of(f"{chain.chain_id}/{RELAY_NAME}")))
    geneses = {c.chain_id: json.loads(c.nodes[0].path("config", "genesis.json").read_text()) for c in net.chains}
    relay_keys = [KeyPair.generate() for _ in relays]
    for chain, relay in zip(net.chains, relays):
        peers = {r.chain_id: (geneses[r.chain_id], r) for r in relays if r.chain_id != chain.chain_id}
        genesis = geneses[chain.chain_id]
        genesis["app_state"]["interchain"] = compute_interchain_genesis(chain.chain_id, peers)
        genesis["app_state"]["accounts"].extend(
            {"address": str(Address.from_pub_key(chain.chain_id, k.pub_key)), "balance": str(RELAY_BALANCE)}
            for k in relay_keys)
        text = json.dumps(genesis, indent=2) + "\n"
        for node in chain.nodes:
            node.path("config", "genesis.json").write_text(text)
    for relay, key in zip(relays, relay_keys):
        relay.path("relay.key").write_text(key.seed.hex() + "\n")
        relay.config_file.write_text(compute_relay_toml(relay, sorted(r.chain_id for r in relays if r is not relay)))
    return tuple(relays)
