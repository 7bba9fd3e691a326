"""What `--prove` checks: the CLI's own light client. A header the operator trusts (`distpos light init`, its
hash compared with one obtained out of band) is kept in HOME/light/<chain-id>.json; each proof is checked
against the app hash of a header that the project's light client verified from there (CometBFT's skipping
rules and bisection, lightclient/verifier.py), and the trusted header then moves up to it. A transaction's
result is not in the app state: it is checked against that header's LastResultsHash (lightclient/results.py).

CometBFT's own `cometbft light` proxy verifies DistPOS headers too, but it cannot check DistPOS proofs: it
understands only `/store/<name>/key` paths with the proof ops it knows, and DistPOS proofs are `distpos:trie`.
"""

from __future__ import annotations

import base64
import json
import pathlib
import time

from ..errors import DistposError, InvalidHeaderError, InvalidInputError, InvalidProofError, RpcCallError
from ..gen.distpos.v1 import state_pb2
from ..gen.tendermint.types import validator_pb2
from ..lightclient.encoding import compute_header_hash
from ..lightclient.results import ExecResult, verify_tx_result
from ..lightclient.rpc_json import block_from_json, exec_results_from_json, light_block_from_json
from ..lightclient.types import ClientState, LightBlock, validator_set_from_proto, validator_set_to_proto
from ..lightclient.verifier import compute_client_after, compute_update_path, validate_light_block_basic
from ..rpc_client import CometRPC
from ..store.merkle import MerkleProof, verify_membership, verify_non_membership

DEFAULT_TRUSTING_PERIOD_S = 7 * 24 * 3600  # keep below the chain's unbonding time (staking params)
HEADER_WAIT_S = 15.0


def get_trusted_path(home: pathlib.Path, chain_id: str) -> pathlib.Path:
    """Where the trusted light-client state of chain_id lives."""
    return home / "light" / f"{chain_id}.json"


def save_client(path: pathlib.Path, client: ClientState) -> None:
    """Write the trusted state (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"chain_id": client.chain_id, "height": client.latest_height, "time_ns": client.latest_time_ns,
            "trusting_period_ns": client.trusting_period_ns, "root_height": client.root_height,
            "next_validator_set": base64.b64encode(
                validator_set_to_proto(client.next_validator_set).SerializeToString()).decode()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def load_client(path: pathlib.Path, chain_id: str) -> ClientState:
    """The trusted state of chain_id; InvalidInputError when there is none yet."""
    try:
        data = json.loads(path.read_text())
        vals = validator_set_from_proto(validator_pb2.ValidatorSet.FromString(
            base64.b64decode(data["next_validator_set"], validate=True)))
        return ClientState(chain_id=str(data["chain_id"]), latest_height=int(data["height"]),
                           latest_time_ns=int(data["time_ns"]), trusting_period_ns=int(data["trusting_period_ns"]),
                           next_validator_set=vals, root_height=int(data.get("root_height", 0)))
    except FileNotFoundError:
        raise InvalidInputError(f"--prove needs a trusted header of chain {chain_id}: run `distpos light init "
                                f"--chain-id {chain_id} --height H --hash HEADER_HASH` first") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"trusted state {path} is unreadable: {exc}") from None


def fetch_light_block(rpc: CometRPC, height: int) -> LightBlock:
    """The node's signed header at height with its validator sets (nothing verified yet)."""
    def validators(h: int) -> dict:
        out: list = []
        page = 1
        while True:
            res = rpc.call("validators", height=h, page=page, per_page=100)
            out.extend(res["validators"])
            if len(out) >= int(res["total"]) or not res["validators"]:
                return {"validators": out}
            page += 1

    try:
        return light_block_from_json(rpc.call("commit", height=height), validators(height), validators(height + 1))
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidProofError(f"node sent an unusable light block at height {height}: {exc}") from None


def compute_trusted_client(rpc: CometRPC, chain_id: str, height: int, header_hash: bytes,
                           trusting_period_s: int) -> ClientState:
    """A trusted state from the header at height, accepted only when it hashes to header_hash."""
    lb = fetch_light_block(rpc, height)
    validate_light_block_basic(chain_id, lb)
    if compute_header_hash(lb.signed_header.header) != header_hash:
        raise InvalidProofError(f"the node's header {height} does not hash to the trusted hash {header_hash.hex()}")
    h = lb.signed_header.header
    return ClientState(chain_id=chain_id, latest_height=h.height, latest_time_ns=h.time_ns,
                       trusting_period_ns=trusting_period_s * 1_000_000_000,
                       next_validator_set=lb.next_validator_set, root_height=h.height)


def _wait_for_light_block(rpc: CometRPC, height: int) -> LightBlock:
    deadline = time.monotonic() + HEADER_WAIT_S
    while True:
        latest = int(rpc.status()["sync_info"]["latest_block_height"])
        if latest >= height + 1:  # header `height` with its canonical commit and the next validators
            return fetch_light_block(rpc, height)
        if time.monotonic() > deadline:
            raise InvalidProofError(f"header {height} did not appear within {HEADER_WAIT_S:.0f}s")
        time.sleep(0.2)


def _verify_next_header(rpc: CometRPC, client: ClientState, height: int) -> tuple[ClientState, LightBlock, int]:
    """Header height+1 verified by the light client from its trusted state: the new client state, the light
    block and the number of light-client steps."""
    target_height = height + 1  # what happened at `height` is committed by header height + 1
    if target_height <= client.latest_height:
        raise InvalidProofError(f"proof height {height} is at or below the trusted height {client.latest_height}; "
                                f"query a later height")
    target = _wait_for_light_block(rpc, target_height)
    try:
        steps = compute_update_path(client, target, lambda h: fetch_light_block(rpc, h), time.time_ns())
    except DistposError as exc:
        raise InvalidProofError(f"header {target_height} does not verify from trusted height "
                                f"{client.latest_height}: {exc.message}") from None
    for lb in steps:
        client, _ = compute_client_after(client, lb)
    return client, target, len(steps)


def verify_tx_result_proof(home: pathlib.Path, node: str, chain_id: str, tx_hash: bytes, height: int,
                           index: int) -> tuple[ExecResult, dict]:
    """The result of transaction tx_hash at (height, index), proven by header height+1 (verified by the light
    client, which then moves up): header height by hash, the block's transactions by its data hash, their results
    by LastResultsHash. InvalidProofError when anything fails."""
    path = get_trusted_path(home, chain_id)
    client = load_client(path, chain_id)
    rpc = CometRPC(node)
    trusted_from = client.latest_height
    client, target, steps = _verify_next_header(rpc, client, height)
    try:
        header, txs = block_from_json(rpc.call("block", height=height))
        results = exec_results_from_json(rpc.call("block_results", height=height))
    except (RpcCallError, InvalidHeaderError) as exc:
        raise InvalidProofError(f"block {height} or its results are not available from {node}: {exc.message} "
                                f"(a node with [storage] discard_abci_responses = true keeps no results)") from None
    result = verify_tx_result(header, target.signed_header.header, txs, results, tx_hash, index)
    save_client(path, client)
    return result, {"verified": True, "header_height": height + 1,
                    "last_results_hash": target.signed_header.header.last_results_hash.hex().upper(),
                    "trusted_from": trusted_from, "light_client_steps": steps}


def verify_state_proofs(home: pathlib.Path, node: str, chain_id: str, height: int, proofs) -> dict:
    """Check StateProofs read at height against header height+1, verified by the light client from the
    trusted header (which then moves up); InvalidProofError when anything fails. Returns what was verified."""
    path = get_trusted_path(home, chain_id)
    client = load_client(path, chain_id)
    rpc = CometRPC(node)
    target_height = height + 1
    trusted_from = client.latest_height
    client, target, steps = _verify_next_header(rpc, client, height)
    app_hash = target.signed_header.header.app_hash
    for p in proofs:
        proof = MerkleProof.from_proto(p.proof if p.HasField("proof") else state_pb2.MerkleProof())
        ok = (verify_membership(app_hash, p.key, p.value, proof) if p.exists
              else verify_non_membership(app_hash, p.key, proof))
        if not ok:
            raise InvalidProofError(f"proof of key {p.key.hex()} does not match app hash {app_hash.hex().upper()} "
                                    f"of verified header {target_height}")
    save_client(path, client)
    return {"verified": True, "header_height": target_height, "app_hash": app_hash.hex().upper(),
            "trusted_from": trusted_from, "light_client_steps": steps}
