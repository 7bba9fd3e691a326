"""`distpos tx gov propose|vote` and `distpos query gov proposals|proposal|params`."""

from __future__ import annotations

import base64
import json
import pathlib
import time

import click
import grpc
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from ..authority import gov_authority_address
from ..errors import InvalidInputError, TxRejectedError
from ..gen.distpos.v1 import gov_pb2, gov_pb2_grpc, tx_pb2
from ..gov import build_proposal_message, build_submit_proposal_tx, build_vote_tx
from ..gov.keeper import STATUS_NAMES
from ..gov.msgs import NOT_PROPOSABLE, OPTION_NAMES, VOTE_OPTIONS
from ..keyring import Keyring
from ..rpc_client import CometRPC
from ..tx import compute_tx_hash
from .common import grpc_option
from .output import emit, output_option
from .staking import _grpc_error, _next_nonce, _tx_options

PROPOSAL_KEYS = {"title", "summary", "deposit", "messages"}
STATUSES = {name: status for status, name in STATUS_NAMES.items()}


# ---- the proposal file -----------------------------------------------------------------------------------

def load_proposal(path: pathlib.Path) -> dict:
    """The proposal JSON: {"title", "summary", "deposit", "messages": [{"type": field, ...message JSON}]}."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read proposal {path}: {exc}") from None
    if not isinstance(data, dict) or set(data) - PROPOSAL_KEYS or not isinstance(data.get("messages"), list):
        raise InvalidInputError(f"proposal {path} must be an object with {sorted(PROPOSAL_KEYS)} and a messages list")
    deposit = str(data.get("deposit", ""))
    if not deposit.isdigit() or int(deposit) == 0:
        raise InvalidInputError(f"proposal {path}: deposit must be a positive integer of base units")
    compute_proposal_messages(data["messages"], "x")  # refuse a bad file before signing anything
    return data


def compute_proposal_messages(entries: list, chain_id: str) -> list[gov_pb2.ProposalMessage]:
    """ProposalMessages from their JSON form (protobuf JSON plus "type"); a missing authority is the gov account
    of chain_id, and update_params may give `params_json` as an object."""
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise InvalidInputError(f"messages[{i}] must be an object with a \"type\"")
        body = dict(entry)
        kind = body.pop("type")
        field = tx_pb2.TxBody.DESCRIPTOR.fields_by_name.get(kind)
        if field is None or field.containing_oneof is None or kind in NOT_PROPOSABLE:
            raise InvalidInputError(f"messages[{i}]: {kind!r} is not a message type")
        msg = getattr(tx_pb2.TxBody(), kind).__class__()
        if "authority" in msg.DESCRIPTOR.fields_by_name and "authority" not in body:
            body["authority"] = str(gov_authority_address(chain_id))
        if kind == "update_params" and isinstance(body.get("params_json"), dict):
            body["params_json"] = json.dumps(body["params_json"], sort_keys=True, separators=(",", ":"))
        try:
            ParseDict(body, msg)
        except ParseError as exc:
            raise InvalidInputError(f"messages[{i}] ({kind}): {str(exc).splitlines()[0]}") from None
        out.append(build_proposal_message(kind, msg))
    return out


# ---- transactions -----------------------------------------------------------------------------------------

def _sign_send_events(keyring_dir, from_key, node, timeout, build) -> tuple[dict, list]:
    """Sign with key FROM, broadcast, wait for the block; the result and the transaction's events."""
    key = Keyring(keyring_dir).get(from_key)
    rpc = CometRPC(node)
    chain_id = rpc.status()["node_info"]["network"]
    sender = str(key.address(chain_id))
    nonce = _next_nonce(rpc, sender)
    raw = build(key.keypair, chain_id, nonce)
    tx_hash = compute_tx_hash(raw)
    started = time.monotonic()
    rpc.broadcast_tx_sync(raw)
    committed = rpc.wait_for_tx(tx_hash, timeout)
    data = {"hash": tx_hash.hex().upper(), "chain_id": chain_id, "signer": sender, "nonce": nonce,
            "height": committed.height, "code": committed.code, "codespace": committed.codespace,
            "log": committed.log, "seconds": round(time.monotonic() - started, 3)}
    if committed.code != 0:
        raise TxRejectedError(f"included at height {committed.height} but failed: {committed.log}",
                              remote_codespace=committed.codespace, remote_code=committed.code)
    events = rpc.call("tx", hash=base64.b64encode(tx_hash).decode(), prove=False)["tx_result"].get("events") or []
    return data, events


def _attribute(events: list, kind: str, key: str) -> str:
    for e in events:
        if e.get("type") == kind:
            for a in e.get("attributes") or []:
                if a.get("key") == key:
                    return str(a.get("value"))
    return ""


@click.group("gov")
def gov_tx() -> None:
    """Governance transactions: proposals and validator votes."""


@gov_tx.command("propose")
@click.argument("from_key", metavar="FROM")
@click.argument("proposal_file", metavar="PROPOSAL_JSON", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@_tx_options
def propose(from_key, proposal_file, keyring_dir, node, timeout, output) -> None:
    """Submit the proposal in PROPOSAL_JSON from key FROM, locking its deposit until the proposal ends."""
    data = load_proposal(proposal_file)
    data_out, events = _sign_send_events(
        keyring_dir, from_key, node, timeout,
        lambda k, c, n: build_submit_proposal_tx(k, c, n, str(data.get("title", "")), str(data.get("summary", "")),
                                                 compute_proposal_messages(data["messages"], c), int(data["deposit"])))
    data_out["proposal_id"] = int(_attribute(events, "proposal_submitted", "proposal_id") or 0)
    data_out["voting_end_height"] = int(_attribute(events, "proposal_submitted", "voting_end_height") or 0)
    emit(data_out, output, text=f"proposal {data_out['proposal_id']} submitted at height {data_out['height']}, "
                                f"voting until height {data_out['voting_end_height']}")


@gov_tx.command("vote")
@click.argument("from_key", metavar="FROM")
@click.argument("proposal_id", metavar="ID")
@click.argument("option", type=click.Choice(sorted(VOTE_OPTIONS)))
@_tx_options
def vote(from_key, proposal_id, option, keyring_dir, node, timeout, output) -> None:
    """Vote OPTION on proposal ID as the operator of a validator (a later vote replaces this one)."""
    pid = _parse_id(proposal_id)
    data, _ = _sign_send_events(keyring_dir, from_key, node, timeout,
                                lambda k, c, n: build_vote_tx(k, c, n, pid, VOTE_OPTIONS[option]))
    data.update(proposal_id=pid, option=option)
    emit(data, output, text=f"voted {option} on proposal {pid} at height {data['height']}")


def _parse_id(text: str) -> int:
    if not text.isdigit() or int(text) == 0 or int(text) >= 1 << 64:
        raise InvalidInputError(f"proposal id {text!r} must be a positive integer")
    return int(text)


# ---- queries --------------------------------------------------------------------------------------------

def call_gov(grpc_addr: str, method: str, request):
    """One Gov query."""
    with grpc.insecure_channel(grpc_addr) as channel:
        try:
            return getattr(gov_pb2_grpc.GovStub(channel), method)(request, timeout=10)
        except grpc.RpcError as exc:
            raise _grpc_error(grpc_addr, exc) from None


def proposal_json(p: gov_pb2.Proposal) -> dict:
    """A proposal as JSON, its messages decoded to their protobuf JSON."""
    messages = []
    for m in p.messages:
        field = tx_pb2.TxBody.DESCRIPTOR.fields_by_name.get(m.type)
        entry: dict = {"type": m.type}
        if field is not None and field.containing_oneof is not None:
            msg = getattr(tx_pb2.TxBody(), m.type).__class__.FromString(m.value)
            entry.update(MessageToDict(msg, preserving_proto_field_name=True))
        messages.append(entry)
    t = p.final_tally
    return {"id": p.id, "status": STATUS_NAMES.get(p.status, "?"), "title": p.title, "summary": p.summary,
            "proposer": p.proposer, "deposit": str(p.deposit), "submit_height": p.submit_height,
            "voting_end_height": p.voting_end_height, "end_height": p.end_height,
            "final_tally": {"yes": t.yes, "no": t.no, "abstain": t.abstain, "total": t.total},
            "failure_code": p.failure_code, "failure_codespace": p.failure_codespace, "messages": messages}


@click.group("gov")
def gov_query() -> None:
    """Governance queries."""


@gov_query.command("proposals")
@click.option("--status", type=click.Choice(sorted(STATUSES)), default=None, help="Only proposals with this status.")
@grpc_option
@output_option
def proposals(status, grpc_addr, output) -> None:
    """Every proposal, oldest first."""
    r = call_gov(grpc_addr, "Proposals", gov_pb2.QueryProposalsRequest(status=STATUSES.get(status or "", 0)))
    rows = [proposal_json(p) for p in r.proposals]
    if output == "json":
        emit({"height": r.height, "proposals": rows}, output)
        return
    lines = [f"{'id':>4} {'status':<9} {'voting_end':>10}  title"]
    lines += [f"{p['id']:>4} {p['status']:<9} {p['voting_end_height']:>10}  {p['title']}" for p in rows]
    emit({}, output, text="\n".join(lines))


@gov_query.command("proposal")
@click.argument("proposal_id", metavar="ID")
@grpc_option
@output_option
def proposal(proposal_id, grpc_addr, output) -> None:
    """One proposal with its tally (current while voting) and votes."""
    pid = _parse_id(proposal_id)
    r = call_gov(grpc_addr, "Proposal", gov_pb2.QueryProposalRequest(proposal_id=pid))
    votes = call_gov(grpc_addr, "Votes", gov_pb2.QueryVotesRequest(proposal_id=pid)).votes
    data = proposal_json(r.proposal)
    data["tally"] = {"yes": r.tally.yes, "no": r.tally.no, "abstain": r.tally.abstain, "total": r.tally.total}
    data["votes"] = [{"voter": v.voter, "option": OPTION_NAMES.get(v.option, "?"), "height": v.height} for v in votes]
    data["height"] = r.height
    emit(data, output)


@gov_query.command("params")
@grpc_option
@output_option
def params(grpc_addr, output) -> None:
    """Gov parameters."""
    emit(json.loads(call_gov(grpc_addr, "Params", gov_pb2.QueryGovParamsRequest()).params_json), output)


def register(tx_group: click.Group, query_group: click.Group) -> None:
    """Attach `gov` to `distpos tx` and `distpos query`."""
    tx_group.add_command(gov_tx)
    query_group.add_command(gov_query)


__all__ = ["compute_proposal_messages", "load_proposal", "register"]
