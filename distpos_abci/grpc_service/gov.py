"""Thin gRPC servicer for gov queries over the node's committed state (errors: see errors.py)."""

from __future__ import annotations

from ..errors import InvalidInputError
from ..gen.distpos.v1 import gov_pb2, gov_pb2_grpc
from ..gov import GovKeeper
from ..gov.keeper import VOTING
from ..pagination import compute_page, parse_address_key, parse_uint_key, validate_limit


class GovServicer(gov_pb2_grpc.GovServicer):
    """distpos.v1.Gov: proposals, one proposal with its tally, its votes, the params."""

    def __init__(self, app) -> None:
        self.app = app

    def _keeper(self) -> GovKeeper:
        return GovKeeper(self.app.state, self.app.chain_id)

    async def Proposals(self, request, context):  # noqa: N802 (gRPC method name)
        limit = validate_limit(request.limit)
        after = parse_uint_key(request.page_key, "a proposal id in decimal")
        page = compute_page(self._keeper().get_proposals(request.status, after), limit, lambda p: str(p.id))
        return gov_pb2.QueryProposalsResponse(proposals=[p.to_proto() for p in page.items],
                                              height=self.app.last_height, next_page_key=page.next_page_key)

    async def Proposal(self, request, context):  # noqa: N802
        keeper = self._keeper()
        p = keeper.require_proposal(_proposal_id(request.proposal_id))
        tally = keeper.get_tally(p.id) if p.status == VOTING else p.final_tally
        return gov_pb2.QueryProposalResponse(proposal=p.to_proto(), tally=tally.to_proto(), height=self.app.last_height)

    async def Votes(self, request, context):  # noqa: N802
        limit = validate_limit(request.limit)
        after = parse_address_key(request.page_key, self.app.chain_id)
        keeper = self._keeper()
        p = keeper.require_proposal(_proposal_id(request.proposal_id))
        page = compute_page(keeper.iter_votes(p.id, after), limit, lambda v: str(v.voter))
        return gov_pb2.QueryVotesResponse(votes=[v.to_proto() for v in page.items], next_page_key=page.next_page_key)

    async def Params(self, request, context):  # noqa: N802
        return gov_pb2.QueryGovParamsResponse(params_json=self._keeper().get_params().encode().decode())


def _proposal_id(value: int) -> int:
    if value == 0:
        raise InvalidInputError("proposal_id must be positive")
    return value
