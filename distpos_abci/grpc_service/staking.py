"""Thin gRPC servicers for staking queries and the underwriting service (errors: see errors.py)."""

from __future__ import annotations

import time

from ..address import parse_address
from ..errors import InvalidInputError, NotFoundError, UnderwritingDisabledError
from ..gen.distpos.v1 import staking_pb2, staking_pb2_grpc, underwriting_pb2, underwriting_pb2_grpc
from ..pagination import compute_page, compute_pair_key, parse_address_key, parse_pair_key, validate_limit
from ..staking import StakingKeeper, ValidatorRecord
from ..underwriting import UnderwritingKeeper, compute_premium
from ..underwriting.service import CoordinatorAuth, UnderwritingService


def validator_view(keeper: StakingKeeper, v: ValidatorRecord) -> staking_pb2.ValidatorView:
    """A ValidatorView message."""
    return staking_pb2.ValidatorView(validator=v.to_proto(), power=keeper.get_power(v.operator.account),
                                     consensus_address=v.consensus_address.hex().upper())


class StakingServicer(staking_pb2_grpc.StakingServicer):
    """distpos.v1.Staking over the node's committed state."""

    def __init__(self, app) -> None:
        self.app = app

    def _keeper(self) -> StakingKeeper:
        return StakingKeeper(self.app.state, self.app.chain_id)

    def _operator(self, text: str):
        keeper = self._keeper()
        address = parse_address(text)
        v = keeper.get_validator(address.account)
        if v is None:
            raise NotFoundError(f"no validator operated by {text}")
        return keeper, v

    async def Validators(self, request, context):  # noqa: N802 (gRPC method name)
        limit = validate_limit(request.limit)
        after = parse_address_key(request.page_key, self.app.chain_id)
        keeper = self._keeper()
        page = compute_page(keeper.get_validators(after), limit, lambda v: str(v.operator))
        return staking_pb2.QueryValidatorsResponse(
            validators=[validator_view(keeper, v) for v in page.items], height=self.app.last_height,
            next_page_key=page.next_page_key)

    async def Validator(self, request, context):  # noqa: N802
        keeper, v = self._operator(request.operator_address)
        return staking_pb2.QueryValidatorResponse(validator=validator_view(keeper, v), height=self.app.last_height)

    async def Params(self, request, context):  # noqa: N802
        return staking_pb2.QueryStakingParamsResponse(
            staking_json=self._keeper().get_params().encode().decode(),
            underwriting_json=UnderwritingKeeper(self.app.state, self.app.chain_id).get_params().encode().decode())

    async def Unbondings(self, request, context):  # noqa: N802
        limit = validate_limit(request.limit)
        after = parse_pair_key(request.page_key, "<complete_height>:<seq> of an unbonding entry")
        keeper, v = self._operator(request.operator_address)
        page = compute_page(keeper.iter_unbondings(v.operator.account, after), limit, lambda e: compute_pair_key(*e[0]))
        return staking_pb2.QueryUnbondingsResponse(
            entries=[staking_pb2.UnbondingEntry.FromString(e.encode()) for _, e in page.items],
            next_page_key=page.next_page_key)

    async def SigningInfo(self, request, context):  # noqa: N802
        keeper, v = self._operator(request.operator_address)
        raw = keeper.get_signing_info(v.operator.account).encode(v.operator)
        return staking_pb2.QuerySigningInfoResponse(info=staking_pb2.SigningInfo.FromString(raw))


class UnderwritingServicer(underwriting_pb2_grpc.UnderwritingServicer):
    """distpos.v1.Underwriting backed by the node's UnderwritingService (None: disabled on this node)."""

    def __init__(self, app, service: UnderwritingService | None) -> None:
        self.app = app
        self.service = service

    def _svc(self) -> UnderwritingService:
        if self.service is None:
            raise UnderwritingDisabledError("underwriting is not enabled on this node ([underwriting] in app.toml)")
        return self.service

    async def Underwrite(self, request, context):  # noqa: N802
        started = time.perf_counter()
        gs = await self._svc().underwrite(request.tx, co_underwrite=not request.no_co_underwriting,
                                          carry=not request.client_carries)
        return underwriting_pb2.UnderwriteResponse(
            tx_hash=gs[0].tx_hash, guarantees=[g.to_proto() for g in gs],
            elapsed_us=int((time.perf_counter() - started) * 1e6))

    async def Reserve(self, request, context):  # noqa: N802
        amount = self._svc().reserve(request.tx, request.amount, request.expiry_height,
                                     CoordinatorAuth(request.coordinator, request.signature))
        return underwriting_pb2.ReserveResponse(tx_hash=b"", amount=amount)

    async def Confirm(self, request, context):  # noqa: N802
        auth = CoordinatorAuth(request.coordinator, request.signature)
        return underwriting_pb2.ConfirmResponse(guarantee=self._svc().confirm(request.tx_hash, auth).to_proto())

    async def Release(self, request, context):  # noqa: N802
        auth = CoordinatorAuth(request.coordinator, request.signature)
        return underwriting_pb2.ReleaseResponse(released=self._svc().release(request.tx_hash, auth))

    async def Capacity(self, request, context):  # noqa: N802
        c = self._svc().capacity()
        return underwriting_pb2.CapacityResponse(
            operator_address=str(c.operator) if c.operator else "", bonded=c.bonded, outstanding=c.outstanding,
            free=c.free, height=c.height, guarantees=[g.to_proto() for g in c.guarantees], reserved=c.reserved)

    async def Settlement(self, request, context):  # noqa: N802
        payer = self.app.local_address(request.payer)
        shares = UnderwritingKeeper(self.app.state, self.app.chain_id).get_settlements(payer.account, request.nonce)
        return underwriting_pb2.SettlementResponse(settled=bool(shares), settlements=[s.to_proto() for s in shares])

    def _underwriter(self, text: str, own):
        """The underwriter a request names, else this node's own validator when it underwrites."""
        if text:
            return self.app.local_address(text)
        if own is None:
            raise InvalidInputError("underwriter: give an address (this node is not an underwriting validator)")
        return own

    async def Collateral(self, request, context):  # noqa: N802
        payer = self.app.local_address(request.payer)
        svc = self.service
        own = svc.capacity().operator if svc is not None else None  # this node's validator, if it underwrites
        underwriter = self._underwriter(request.underwriter, own)
        c = UnderwritingKeeper(self.app.state, self.app.chain_id).get_collateral(payer.account, underwriter.account)
        mine = own is not None and own == underwriter
        promised = svc.promised(payer.account) if mine else 0
        return underwriting_pb2.CollateralResponse(
            payer=str(payer), underwriter=str(underwriter), promised=promised, height=self.app.last_height,
            collateral=underwriting_pb2.Collateral(locked=c.locked, unlocking=c.unlocking,
                                                   unlock_height=c.unlock_height))

    async def Quote(self, request, context):  # noqa: N802
        svc = self.service
        underwriter = self._underwriter(request.underwriter, svc.capacity().operator if svc is not None else None)
        rate = UnderwritingKeeper(self.app.state, self.app.chain_id).get_premium_rate(underwriter.account)
        return underwriting_pb2.QuoteResponse(
            underwriter=str(underwriter), rate_ppm=rate.rate_ppm, minimum=rate.minimum, amount=request.amount,
            premium=compute_premium(rate, request.amount), height=self.app.last_height)
