"""`distpos tx gov propose|vote` and `distpos query gov proposals|proposal|votes|params`."""

from __future__ import annotations

import json
import pathlib

import click
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from ..authority import gov_authority_address
from ..errors import InvalidInputError
from ..gen.distpos.v1 import gov_pb2, gov_pb2_grpc, tx_pb2
from ..gov import build_proposal_message, build_submit_proposal_tx, build_vote_tx
from ..gov.keeper import STATUS_NAMES
from ..types import MAX_AMOUNT
from ..gov.msgs import NOT_PROPOSABLE, OPTION_NAMES, VOTE_OPTIONS
from .client import compute_more_hint, fetch_pages, get_event_attribute, grpc_call, parse_positive_id, sign_send_wait
from .common import FILE, PageRequest, grpc_option, output_option, page_options, tx_options
from .output import emit

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
    if not deposit.isascii() or not deposit.isdigit() or not 0 < int(deposit) <= MAX_AMOUNT:
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

@click.group("gov")
def tx_group() -> None:
    """Governance transactions: proposals and validator votes."""


@tx_group.command("propose")
@click.argument("from_key", metavar="FROM")
@click.argument("proposal_file", metavar="PROPOSAL_JSON", type=FILE)
@tx_options
def propose(from_key, proposal_file, settings) -> None:
    """Submit the proposal in PROPOSAL_JSON from key FROM, locking its deposit until the proposal ends."""
    data = load_proposal(proposal_file)
    sent = sign_send_wait(
        settings, from_key,
        lambda k, c, n: build_submit_proposal_tx(k, c, n, str(data.get("title", "")), str(data.get("summary", "")),
                                                 compute_proposal_messages(data["messages"], c), int(data["deposit"])))
    if sent is None:  # --generate-only
        return
    data_out, committed = sent
    events = committed.events
    data_out["proposal_id"] = int(get_event_attribute(events, "proposal_submitted", "proposal_id") or 0)
    data_out["voting_end_height"] = int(get_event_attribute(events, "proposal_submitted", "voting_end_height") or 0)
    emit(data_out, settings.output, text=f"proposal {data_out['proposal_id']} submitted at height {data_out['height']}, "
                                f"voting until height {data_out['voting_end_height']}")


@tx_group.command("vote")
@click.argument("from_key", metavar="FROM")
@click.argument("proposal_id", metavar="ID")
@click.argument("option", type=click.Choice(sorted(VOTE_OPTIONS)))
@tx_options
def vote(from_key, proposal_id, option, settings) -> None:
    """Vote OPTION on proposal ID as the operator of a validator (a later vote replaces this one)."""
    pid = parse_positive_id(proposal_id, "proposal id")
    sent = sign_send_wait(settings, from_key, lambda k, c, n: build_vote_tx(k, c, n, pid, VOTE_OPTIONS[option]))
    if sent is None:  # --generate-only
        return
    data, _ = sent
    data.update(proposal_id=pid, option=option)
    emit(data, settings.output, text=f"voted {option} on proposal {pid} at height {data['height']}")


# ---- queries --------------------------------------------------------------------------------------------

def call_gov(grpc_addr: str, method: str, request):
    """One Gov query."""
    return grpc_call(grpc_addr, gov_pb2_grpc.GovStub, method, request)


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
def query_group() -> None:
    """Governance queries."""


@query_group.command("proposals")
@click.option("--status", type=click.Choice(sorted(STATUSES)), default=None, help="Only proposals with this status.")
@grpc_option
@page_options
@output_option
def proposals(status, grpc_addr, page, output) -> None:
    """Proposals, oldest first, a page at a time."""
    r = fetch_pages(lambda q: call_gov(grpc_addr, "Proposals", q),
                    gov_pb2.QueryProposalsRequest(status=STATUSES.get(status or "", 0)), "proposals", page)
    rows = [proposal_json(p) for p in r.proposals]
    if output == "json":
        emit({"height": r.height, "proposals": rows, "next_page_key": r.next_page_key}, output)
        return
    lines = [f"{'id':>4} {'status':<9} {'voting_end':>10}  title"]
    lines += [f"{p['id']:>4} {p['status']:<9} {p['voting_end_height']:>10}  {p['title']}" for p in rows]
    emit({}, output, text="\n".join(lines) + compute_more_hint(r.next_page_key))


@query_group.command("proposal")
@click.argument("proposal_id", metavar="ID")
@grpc_option
@output_option
def proposal(proposal_id, grpc_addr, output) -> None:
    """One proposal with its tally (current while voting) and votes."""
    pid = parse_positive_id(proposal_id, "proposal id")
    r = call_gov(grpc_addr, "Proposal", gov_pb2.QueryProposalRequest(proposal_id=pid))
    votes = _votes(grpc_addr, pid, PageRequest(follow_all=True)).votes
    data = proposal_json(r.proposal)
    data["tally"] = {"yes": r.tally.yes, "no": r.tally.no, "abstain": r.tally.abstain, "total": r.tally.total}
    data["votes"] = [vote_json(v) for v in votes]
    data["height"] = r.height
    emit(data, output)


def vote_json(v: gov_pb2.Vote) -> dict:
    """A vote as JSON."""
    return {"voter": v.voter, "option": OPTION_NAMES.get(v.option, "?"), "height": v.height}


def _votes(grpc_addr: str, pid: int, page: PageRequest):
    return fetch_pages(lambda q: call_gov(grpc_addr, "Votes", q), gov_pb2.QueryVotesRequest(proposal_id=pid),
                       "votes", page)


@query_group.command("votes")
@click.argument("proposal_id", metavar="ID")
@grpc_option
@page_options
@output_option
def votes_(proposal_id, grpc_addr, page, output) -> None:
    """Votes on proposal ID by voter address, a page at a time."""
    r = _votes(grpc_addr, parse_positive_id(proposal_id, "proposal id"), page)
    rows = [vote_json(v) for v in r.votes]
    if output == "json":
        emit({"votes": rows, "next_page_key": r.next_page_key}, output)
        return
    lines = [f"{'voter':<58} {'option':<8} {'height':>8}"]
    lines += [f"{v['voter']:<58} {v['option']:<8} {v['height']:>8}" for v in rows]
    emit({}, output, text="\n".join(lines) + compute_more_hint(r.next_page_key))


@query_group.command("params")
@grpc_option
@output_option
def params(grpc_addr, output) -> None:
    """Gov parameters."""
    emit(json.loads(call_gov(grpc_addr, "Params", gov_pb2.QueryGovParamsRequest()).params_json), output)


__all__ = ["compute_proposal_messages", "load_proposal", "query_group", "tx_group"]
