"""Thin gRPC servicer for gov queries over the node's committed state (errors: see errors.py)."""

from __future__ import annotations

from ..errors import InvalidInputError
from ..gen.distpos.v1 import gov_pb2, gov_pb2_grpc
from ..gov import GovKeeper
from ..gov.keeper import VOTING


class GovServicer(gov_pb2_grpc.GovServicer):
    """distpos.v1.Gov: proposals, one proposal with its tally, its votes, the params."""

    def __init__(self, app) -> None:
        self.app = app

    def _keeper(self) -> GovKeeper:
        return GovKeeper(self.app.state, self.app.chain_id)

    async def Proposals(self, request, context):  # noqa: N802 (gRPC method name)
        return gov_pb2.QueryProposalsResponse(
            proposals=[p.to_proto() for p in self._keeper().get_proposals(request.status)], height=self.app.last_height)

    async def Proposal(self, request, context):  # noqa: N802
        keeper = self._keeper()
        p = keeper.require_proposal(_proposal_id(request.proposal_id))
        tally = keeper.get_tally(p.id) if p.status == VOTING else p.final_tally
        return gov_pb2.QueryProposalResponse(proposal=p.to_proto(), tally=tally.to_proto(), height=self.app.last_height)

    async def Votes(self, request, context):  # noqa: N802
        keeper = self._keeper()
        p = keeper.require_proposal(_proposal_id(request.proposal_id))
        return gov_pb2.QueryVotesResponse(votes=[v.to_proto() for v in keeper.get_votes(p.id)])

    async def Params(self, request, context):  # noqa: N802
        return gov_pb2.QueryGovParamsResponse(params_json=self._keeper().get_params().encode().decode())


def _proposal_id(value: int) -> int:
    if value == 0:
        raise InvalidInputError("proposal_id must be positive")
    return value
