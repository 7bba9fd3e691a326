"""Typed light-client records from CometBFT RPC JSON (`/commit`, `/validators`, `/block`, `/block_results`);
parsing only, no I/O."""

from __future__ import annotations

import base64
import calendar
import re

from ..errors import InvalidHeaderError
from .results import ExecResult
from .types import NS, BlockID, Commit, CommitSig, Header, LightBlock, PartSetHeader, SignedHeader, Validator, ValidatorSet

_TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of a CometBFT RFC 3339 UTC time (nanosecond precision)."""
    m = _TIME_RE.match(text or "")
    if not m:
        raise InvalidHeaderError(f"bad time {text!r}")
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")
    return calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0)) * NS + int(frac)


def _hex(text: str | None) -> bytes:
    return bytes.fromhex(text or "")


def _block_id(j: dict) -> BlockID:
    parts = j.get("parts") or {}
    return BlockID(_hex(j.get("hash")), PartSetHeader(int(parts.get("total") or 0), _hex(parts.get("hash"))))


def header_from_json(j: dict) -> Header:
    """A Header from the JSON of /commit's signed_header.header."""
    return Header(
        int(j["version"]["block"]), int(j["version"].get("app") or 0), j["chain_id"], int(j["height"]),
        parse_rfc3339_ns(j["time"]), _block_id(j["last_block_id"]), _hex(j["last_commit_hash"]),
        _hex(j["data_hash"]), _hex(j["validators_hash"]), _hex(j["next_validators_hash"]),
        _hex(j["consensus_hash"]), _hex(j["app_hash"]), _hex(j["last_results_hash"]), _hex(j["evidence_hash"]),
        _hex(j["proposer_address"]),
    )


def commit_from_json(j: dict) -> Commit:
    """A Commit from the JSON of /commit's signed_header.commit."""
    sigs = tuple(
        CommitSig(int(s["block_id_flag"]), _hex(s.get("validator_address")), parse_rfc3339_ns(s["timestamp"]),
                  base64.b64decode(s.get("signature") or ""))
        for s in j["signatures"]
    )
    return Commit(int(j["height"]), int(j["round"]), _block_id(j["block_id"]), sigs)


def signed_header_from_json(commit_result: dict) -> SignedHeader:
    """The SignedHeader of a /commit result."""
    sh = commit_result["signed_header"]
    return SignedHeader(header_from_json(sh["header"]), commit_from_json(sh["commit"]))


def validator_set_from_json(validators_result: dict) -> ValidatorSet:
    """The ValidatorSet of a /validators result (all pages already merged into `validators`)."""
    out = []
    for v in validators_result["validators"]:
        if v["pub_key"]["type"] != "tendermint/PubKeyEd25519":
            raise InvalidHeaderError(f"unsupported validator key type {v['pub_key']['type']}")
        out.append(Validator(base64.b64decode(v["pub_key"]["value"]), int(v["voting_power"])))
    return ValidatorSet(tuple(out))


def light_block_from_json(commit_result: dict, validators: dict, next_validators: dict) -> LightBlock:
    """An update from /commit?height=H, /validators?height=H and /validators?height=H+1."""
    return LightBlock(
        signed_header_from_json(commit_result), validator_set_from_json(validators),
        validator_set_from_json(next_validators),
    )


def block_from_json(block_result: dict) -> tuple[Header, list[bytes]]:
    """The header and the transactions of a /block result."""
    try:
        block = block_result["block"]
        txs = [base64.b64decode(t, validate=True) for t in (block["data"].get("txs") or [])]
        return header_from_json(block["header"]), txs
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidHeaderError(f"unusable /block answer: {exc!r}") from None


def exec_results_from_json(results_result: dict) -> list[ExecResult]:
    """The hashed part of every transaction result of a /block_results result."""
    try:
        return [ExecResult(int(r.get("code") or 0), base64.b64decode(r.get("data") or "", validate=True),
                           int(r.get("gas_wanted") or 0), int(r.get("gas_used") or 0))
                for r in (results_result.get("txs_results") or [])]
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidHeaderError(f"unusable /block_results answer: {exc!r}") from None
