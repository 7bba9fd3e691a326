"""Typed gov messages, their decoders and the client helpers that build them.

A proposal's messages are decoded twice over: first strictly (codec.decode_canonical) as the protobuf type of
their TxBody field, then by the app's own decoder of that field. `ProposalDecoder` does both; the gov module
builds one over the app's decoders when it is bound to the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..address import Address, parse_address
from ..authority import GOV_AUTHORITY, gov_authority_address
from ..codec import decode_canonical
from ..crypto import KeyPair
from ..errors import (
    DistposError,
    InvalidAddressError,
    InvalidParamsError,
    InvalidProposalError,
    InvalidVoteError,
    NotGovAuthorityError,
)
from ..gen.distpos.v1 import gov_pb2, tx_pb2
from ..tx import Msg, build_tx, validate_signer
from ..types import MAX_AMOUNT, AccountId, Amount

MAX_TITLE = 140
MAX_SUMMARY = 4000
MAX_PROPOSAL_MESSAGES = 16
MAX_MODULE_NAME = 32

YES, NO, ABSTAIN = gov_pb2.VOTE_OPTION_YES, gov_pb2.VOTE_OPTION_NO, gov_pb2.VOTE_OPTION_ABSTAIN
VOTE_OPTIONS = {"yes": YES, "no": NO, "abstain": ABSTAIN}
OPTION_NAMES = {v: k for k, v in VOTE_OPTIONS.items()}

# Gov's own transactions never go inside a proposal: the authority neither proposes nor votes.
NOT_PROPOSABLE = frozenset({"submit_proposal", "vote"})


@dataclass(frozen=True, slots=True)
class ProposalMessage:
    """One message of a proposal: its TxBody field name, canonical bytes and typed form."""

    type: str
    value: bytes
    msg: Msg


@dataclass(frozen=True, slots=True)
class MsgSubmitProposal:
    proposer: Address
    title: str
    summary: str
    messages: tuple[ProposalMessage, ...]
    deposit: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The proposer signs; every message names the governance authority and passes its own checks with it."""
        validate_signer(self.proposer, chain_id, signer, "submit-proposal")
        for i, pm in enumerate(self.messages):
            validate_proposal_message(pm, i, chain_id)


@dataclass(frozen=True, slots=True)
class MsgVote:
    voter: Address
    proposal_id: int
    option: int

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The voter signs."""
        validate_signer(self.voter, chain_id, signer, "vote")


@dataclass(frozen=True, slots=True)
class MsgUpdateParams:
    authority: Address
    module: str
    params_json: str

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The authority signs (only the gov module account can, inside a passed proposal)."""
        validate_signer(self.authority, chain_id, signer, "update-params")


# ---- rules ----------------------------------------------------------------------------------------------

def validate_proposal_message(pm: ProposalMessage, index: int, chain_id: str) -> None:
    """Raise unless pm is a governance message whose authority is the gov account of chain_id and which passes
    its own validate_basic with that account as signer."""
    what = f"proposal message {index} ({pm.type})"
    authority = getattr(pm.msg, "authority", None)
    if not isinstance(authority, Address):
        raise InvalidProposalError(f"{what}: not a governance message (it has no authority field)")
    if authority != gov_authority_address(chain_id):
        raise NotGovAuthorityError(
            f"{what}: authority {authority} is not the governance account {gov_authority_address(chain_id)}")
    try:
        pm.msg.validate_basic(chain_id, GOV_AUTHORITY)
    except DistposError as exc:
        raise InvalidProposalError(f"{what}: {exc.log}") from None


def _printable(text: str, limit: int, what: str) -> str:
    if len(text) > limit or not all(c.isprintable() or c == "\n" for c in text):
        raise InvalidProposalError(f"{what} must be at most {limit} printable characters")
    return text


class ProposalDecoder:
    """Decoders of the gov messages over the app's message decoders (TxBody field name -> decoder)."""

    def __init__(self, app_decoders: Mapping[str, Any], params_modules: Mapping[str, object]) -> None:
        self.app_decoders = app_decoders
        self.params_modules = params_modules

    def decode_message(self, kind: str, value: bytes, index: int) -> ProposalMessage:
        """One proposal message (TxBody field name, bytes), decoded strictly, then by the app's decoder of it."""
        what = f"proposal message {index} ({kind!r})"
        field = tx_pb2.TxBody.DESCRIPTOR.fields_by_name.get(kind)
        if field is None or field.containing_oneof is None or kind in NOT_PROPOSABLE or kind not in self.app_decoders:
            raise InvalidProposalError(f"{what}: not a message type this chain can run in a proposal")
        try:
            proto = decode_canonical(type(getattr(tx_pb2.TxBody(), kind)), value, what, InvalidProposalError)
            msg = self.app_decoders[kind](proto)
        except (InvalidProposalError, InvalidParamsError):  # already gov's own, precise refusal
            raise
        except DistposError as exc:
            raise InvalidProposalError(f"{what}: {exc.log}") from None
        return ProposalMessage(kind, value, msg)

    def decode_submit_proposal(self, m: gov_pb2.MsgSubmitProposal) -> MsgSubmitProposal:
        """Typed MsgSubmitProposal; every message decoded."""
        if not m.title.strip():
            raise InvalidProposalError("a proposal needs a title")
        if not 0 < len(m.messages) <= MAX_PROPOSAL_MESSAGES:
            raise InvalidProposalError(f"a proposal carries 1 to {MAX_PROPOSAL_MESSAGES} messages")
        if not 0 < m.deposit <= MAX_AMOUNT:
            raise InvalidProposalError("the deposit must be a positive amount")
        return MsgSubmitProposal(
            _address(m.proposer, "submit-proposal"), _printable(m.title, MAX_TITLE, "title"),
            _printable(m.summary, MAX_SUMMARY, "summary"),
            tuple(self.decode_message(pm.type, bytes(pm.value), i) for i, pm in enumerate(m.messages)),
            Amount(m.deposit),
        )

    def decode_update_params(self, m: gov_pb2.MsgUpdateParams) -> MsgUpdateParams:
        """Typed MsgUpdateParams: a module with parameters and a JSON object (values checked by the module)."""
        if m.module not in self.params_modules:
            raise InvalidParamsError(
                f"update-params: module {m.module!r} has no parameters; known: {', '.join(sorted(self.params_modules))}")
        try:
            patch = json.loads(m.params_json)
        except ValueError:
            raise InvalidParamsError("update-params: params_json is not JSON") from None
        if not isinstance(patch, dict) or not patch:
            raise InvalidParamsError("update-params: params_json must be a non-empty JSON object of the keys to change")
        return MsgUpdateParams(_address(m.authority, "update-params"), m.module, m.params_json)


def decode_vote(m: gov_pb2.MsgVote) -> MsgVote:
    """Typed MsgVote."""
    if m.proposal_id == 0:
        raise InvalidVoteError("vote: proposal_id must be positive")
    if m.option not in OPTION_NAMES:
        raise InvalidVoteError("vote: option must be yes, no or abstain")
    return MsgVote(_address(m.voter, "vote"), m.proposal_id, m.option)


def _address(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"{what}: {exc.message}") from None


# ---- client helpers ------------------------------------------------------------------------------------

def build_proposal_message(field: str, msg: Any) -> gov_pb2.ProposalMessage:
    """A ProposalMessage carrying msg (a protobuf message of TxBody field `field`) canonically encoded."""
    return gov_pb2.ProposalMessage(type=field, value=msg.SerializeToString(deterministic=True))


def build_update_params_message(chain_id: str, module: str, changes: dict) -> gov_pb2.ProposalMessage:
    """A proposal message changing `changes` of module's params, with the governance authority of chain_id."""
    msg = gov_pb2.MsgUpdateParams(authority=str(gov_authority_address(chain_id)), module=module,
                                  params_json=json.dumps(changes, sort_keys=True, separators=(",", ":")))
    return build_proposal_message("update_params", msg)


def build_submit_proposal_tx(key: KeyPair, chain_id: str, nonce: int, title: str, summary: str,
                             messages: list[gov_pb2.ProposalMessage], deposit: int) -> bytes:
    """Encode and sign a MsgSubmitProposal from key's account."""
    msg = gov_pb2.MsgSubmitProposal(proposer=str(Address.from_pub_key(chain_id, key.pub_key)), title=title,
                                    summary=summary, messages=messages, deposit=deposit)
    return build_tx(key, chain_id, nonce, "submit_proposal", msg)


def build_vote_tx(key: KeyPair, chain_id: str, nonce: int, proposal_id: int, option: int) -> bytes:
    """Encode and sign a MsgVote from key's account."""
    msg = gov_pb2.MsgVote(voter=str(Address.from_pub_key(chain_id, key.pub_key)), proposal_id=proposal_id,
                          option=option)
    return build_tx(key, chain_id, nonce, "vote", msg)
