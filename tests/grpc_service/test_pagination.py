"""Cursor pagination of every gRPC list query, through an in-process server over a real StateStore: pages of a
known set concatenate to the whole list in order without duplicates for any limit, a page key that names no
item still starts strictly after it, and a bad page key (query:33) or a limit above the maximum (query:34) is
INVALID_ARGUMENT. The CLI list commands pass --page-key and --limit through, print next_page_key, follow --all."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace

import grpc
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.address import Address
from distpos_abci.cli.main import cli
from distpos_abci.dashboard import collector
from distpos_abci.gen.distpos.v1 import (
    gov_pb2,
    gov_pb2_grpc,
    interchain_pb2,
    interchain_pb2_grpc,
    staking_pb2,
    staking_pb2_grpc,
)
from distpos_abci.gov import keys as gov_keys
from distpos_abci.gov.keeper import PASSED, VOTING, GovKeeper, ProposalRecord, VoteRecord
from distpos_abci.grpc_service import start_grpc_server
from distpos_abci.interchain import keys as ic_keys
from distpos_abci.interchain.records import Packet, Route
from distpos_abci.pagination import DEFAULT_LIMIT, MAX_LIMIT
from distpos_abci.staking import keys as staking_keys
from distpos_abci.staking.keeper import StakingKeeper, UnbondingEntry, ValidatorRecord
from distpos_abci.store.db import Database
from distpos_abci.store.kv import CacheKV, PrefixStore
from distpos_abci.store.state import StateStore
from distpos_abci.types import Amount, ChainId, Height
from tests.helpers import CHAIN, key

N_VALIDATORS = 23
N_UNBONDINGS = 17
N_PROPOSALS = 19
N_VOTES = 13
ROUTE_CHAINS = sorted({"a", "a0", "a1", "ab", "b", "b9", "c", "z", "zz", "abc", "abd", "m", "m0", "n", "q1", "q10",
                       "q2", "r", "s", "t", "u"})
PACKET_SEQUENCES = [s for s in range(1, 41) if s % 3]  # the others were acknowledged: gaps in the outbox
DEST = "dst"


def operator(i: int) -> Address:
    return Address.from_pub_key(CHAIN, key(i).pub_key)


def _fill(state: StateStore) -> None:
    """Write the known sets straight into the committed state (height 1)."""
    cache = CacheKV(state)
    staking = StakingKeeper(cache, CHAIN)
    for i in range(1, N_VALIDATORS + 1):
        staking.apply_validator(ValidatorRecord(operator(i), key(100 + i).pub_key, Amount(1000 * i), moniker=f"v{i}"))
    s_store = PrefixStore(cache, staking_keys.PREFIX)
    for j in range(N_UNBONDINGS):
        complete = 50 + j // 3  # three entries share each completion height; seq breaks the tie
        entry = UnbondingEntry(operator(1), Amount(j + 1), Height(complete), Height(1))
        s_store.set(staking_keys.unbonding_key(operator(1).account, complete, 1000 - j), entry.encode())
    gov = GovKeeper(cache, CHAIN)
    for pid in range(1, N_PROPOSALS + 1):
        gov.apply_proposal(ProposalRecord(pid, operator(1), f"p{pid}", "", (), Amount(10),
                                          VOTING if pid % 2 else PASSED, Height(1), Height(9)))
    g_store = PrefixStore(cache, gov_keys.PREFIX)
    for i in range(1, N_VOTES + 1):
        g_store.set(gov_keys.vote_key(1, operator(i).account), VoteRecord(1, operator(i), 1, Height(1)).encode())
    i_store = PrefixStore(cache, ic_keys.PREFIX)
    for chain in ROUTE_CHAINS:
        i_store.set(ic_keys.route_key(chain), Route(ChainId(chain), f"{chain}:9090", f"http://{chain}").encode())
    for seq in PACKET_SEQUENCES:
        packet = Packet(seq, ChainId(CHAIN), ChainId(DEST), operator(1), Address(ChainId(DEST), operator(2).account),
                        Amount(seq), Height(0), 10**18)
        i_store.set(ic_keys.outbox_key(DEST, seq), packet.encode())
    state.commit(state.prepare_commit(Height(1), cache.writes, CHAIN))


@pytest.fixture(scope="module")
def grpc_addr(tmp_path_factory):
    """An in-process gRPC server over a state holding the known sets, serving from a thread of its own."""
    db = Database(tmp_path_factory.mktemp("paged") / "db")
    state = StateStore(db)
    _fill(state)
    app = SimpleNamespace(state=state, chain_id=CHAIN, last_height=1)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def serve():
        holder["server"], holder["port"] = await start_grpc_server(app, "127.0.0.1:0")
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    yield f"127.0.0.1:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["server"].stop(None), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    db.close()


@pytest.fixture(scope="module")
def channel(grpc_addr):
    with grpc.insecure_channel(grpc_addr) as ch:
        yield ch


# name: (stub, method, request factory, repeated field, natural key of an item as its page key)
LISTS = {
    "validators": (staking_pb2_grpc.StakingStub, "Validators", lambda: staking_pb2.QueryValidatorsRequest(),
                   "validators", lambda v: v.validator.operator_address),
    "unbondings": (staking_pb2_grpc.StakingStub, "Unbondings",
                   lambda: staking_pb2.QueryUnbondingsRequest(operator_address=str(operator(1))), "entries", None),
    "proposals": (gov_pb2_grpc.GovStub, "Proposals", lambda: gov_pb2.QueryProposalsRequest(), "proposals",
                  lambda p: str(p.id)),
    "voting proposals": (gov_pb2_grpc.GovStub, "Proposals", lambda: gov_pb2.QueryProposalsRequest(status=VOTING),
                         "proposals", lambda p: str(p.id)),
    "votes": (gov_pb2_grpc.GovStub, "Votes", lambda: gov_pb2.QueryVotesRequest(proposal_id=1), "votes",
              lambda v: v.voter),
    "routes": (interchain_pb2_grpc.InterchainStub, "ListRoutes", lambda: interchain_pb2.QueryRoutesRequest(), "routes",
               lambda r: r.chain_id),
    "packets": (interchain_pb2_grpc.InterchainStub, "ListPackets",
                lambda: interchain_pb2.QueryPacketsRequest(destination_chain=DEST), "pending",
                lambda p: str(p.sequence)),
}

EXPECTED = {
    # by account bytes: the page key is the checksummed address, the order its account's
    "validators": [str(a) for a in sorted((operator(i) for i in range(1, N_VALIDATORS + 1)), key=lambda a: a.account)],
    "proposals": [str(i) for i in range(1, N_PROPOSALS + 1)],
    "voting proposals": [str(i) for i in range(1, N_PROPOSALS + 1, 2)],
    "votes": [str(a) for a in sorted((operator(i) for i in range(1, N_VOTES + 1)), key=lambda a: a.account)],
    "routes": ROUTE_CHAINS,
    "packets": [str(s) for s in PACKET_SEQUENCES],
}


def _call(channel, name: str, page_key: str = "", limit: int = 0):
    stub, method, make, _, _ = LISTS[name]
    request = make()
    request.page_key, request.limit = page_key, limit
    return getattr(stub(channel), method)(request, timeout=10)


def _pages(channel, name: str, limit: int) -> list[list]:
    field = LISTS[name][3]
    pages, page_key = [], ""
    while True:
        r = _call(channel, name, page_key, limit)
        pages.append(list(getattr(r, field)))
        if not r.next_page_key:
            return pages
        page_key = r.next_page_key


def _error(channel, name: str, page_key: str = "", limit: int = 0) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as info:
        _call(channel, name, page_key, limit)
    meta = dict(info.value.trailing_metadata())
    return info.value.code(), meta["distpos-codespace"], meta["distpos-code"]


@pytest.mark.parametrize("name", sorted(LISTS))
@settings(max_examples=15, deadline=None)
@given(limit=st.integers(1, 30))
def test_pages_concatenate_to_the_whole_list_in_order(channel, name, limit):
    whole = list(getattr(_call(channel, name, limit=MAX_LIMIT), LISTS[name][3]))
    pages = _pages(channel, name, limit)
    assert [item for page in pages for item in page] == whole
    assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    assert len({item.SerializeToString() for item in whole}) == len(whole)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_page_is_in_natural_key_order_and_names_its_last_item(channel, name):
    key_of = LISTS[name][4]
    assert [key_of(x) for x in getattr(_call(channel, name), LISTS[name][3])] == EXPECTED[name]
    first = _call(channel, name, limit=2)
    assert first.next_page_key == key_of(getattr(first, LISTS[name][3])[-1])


def test_unbonding_entries_page_by_completion_then_sequence(channel):
    whole = _call(channel, "unbondings").entries
    assert [e.complete_height for e in whole] == sorted(e.complete_height for e in whole)
    # three entries at each height, later unbond = lower seq here: the key order, not the write order, counts
    assert [e.amount for e in whole[:3]] == [3, 2, 1]
    assert _call(channel, "unbondings", limit=2).next_page_key == f"50:{1000 - 1}"


def test_limit_zero_is_the_default_and_the_whole_set_fits(channel):
    r = _call(channel, "validators")
    assert len(r.validators) == N_VALIDATORS < DEFAULT_LIMIT and r.next_page_key == ""


def test_a_page_key_of_a_vanished_item_starts_strictly_after_it(channel):
    assert 3 not in PACKET_SEQUENCES
    assert [p.sequence for p in _call(channel, "packets", "3", 2).pending] == [4, 5]
    assert [r.chain_id for r in _call(channel, "routes", "a00", 3).routes] == ["a1", "ab", "abc"]
    assert [p.id for p in _call(channel, "voting proposals", "2", 2).proposals] == [3, 5]


def test_last_item_key_gives_an_empty_page(channel):
    r = _call(channel, "routes", ROUTE_CHAINS[-1])
    assert list(r.routes) == [] and r.next_page_key == ""


@pytest.mark.parametrize("name,bad", [
    ("validators", "nonsense"),
    ("validators", str(Address(ChainId("other"), operator(1).account))),
    ("validators", "é"),
    ("votes", "x" * 300),
    ("proposals", "01"),
    ("proposals", "-1"),
    ("proposals", str(2**64)),
    ("packets", "1.5"),
    ("packets", " 2"),
    ("unbondings", "50"),
    ("unbondings", "50:"),
    ("unbondings", "50:1:2"),
    ("routes", "UPPER"),
    ("routes", "a/b"),
])
def test_invalid_page_key_is_invalid_argument_query_33(channel, name, bad):
    assert _error(channel, name, page_key=bad) == (grpc.StatusCode.INVALID_ARGUMENT, "query", "33")


@pytest.mark.parametrize("name", sorted(LISTS))
def test_invalid_limit_above_the_maximum_is_invalid_argument_query_34(channel, name):
    assert _error(channel, name, limit=MAX_LIMIT + 1) == (grpc.StatusCode.INVALID_ARGUMENT, "query", "34")
    assert _call(channel, name, limit=MAX_LIMIT).next_page_key == ""


# ---- the CLI ----------------------------------------------------------------------------------------------------

# name: (command words, JSON list field, the list name above)
COMMANDS = {
    "validators": (["staking", "validators"], "validators", "validators"),
    "unbondings": (["staking", "unbondings", str(operator(1))], "unbondings", "unbondings"),
    "proposals": (["gov", "proposals"], "proposals", "proposals"),
    "voting proposals": (["gov", "proposals", "--status", "voting"], "proposals", "voting proposals"),
    "votes": (["gov", "votes", "1"], "votes", "votes"),
    "routes": (["interchain", "routes"], "routes", "routes"),
    "packets": (["interchain", "packets", DEST], "pending", "packets"),
}


def distpos(grpc_addr: str, tmp_path, *args: str):
    return CliRunner().invoke(cli, ["query", *args, "--grpc", grpc_addr], env={
        "DISTPOS_HOME": str(tmp_path), "DISTPOS_GRPC": None})


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_passes_page_key_and_limit_through_and_prints_next_page_key(grpc_addr, channel, tmp_path, name):
    words, field, listed = COMMANDS[name]
    first = _call(channel, listed, limit=3)
    out = json.loads(distpos(grpc_addr, tmp_path, *words, "--limit", "3", "-o", "json").stdout)
    assert len(out[field]) == 3 and out["next_page_key"] == first.next_page_key != ""
    second = _call(channel, listed, first.next_page_key, 3)
    out = json.loads(distpos(grpc_addr, tmp_path, *words, "--page-key", first.next_page_key, "--limit", "3",
                            "-o", "json").stdout)
    assert out["next_page_key"] == second.next_page_key and len(out[field]) == len(getattr(second, LISTS[listed][3]))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_all_follows_every_page(grpc_addr, channel, tmp_path, name):
    words, field, listed = COMMANDS[name]
    whole = getattr(_call(channel, listed, limit=MAX_LIMIT), LISTS[listed][3])
    out = json.loads(distpos(grpc_addr, tmp_path, *words, "--all", "--limit", "4", "-o", "json").stdout)
    assert len(out[field]) == len(whole) and out["next_page_key"] == ""


def test_cli_text_output_hints_at_the_next_page(grpc_addr, channel, tmp_path):
    key = _call(channel, "validators", limit=2).next_page_key
    text = distpos(grpc_addr, tmp_path, "staking", "validators", "--limit", "2").stdout.splitlines()
    assert len(text) == 4 and text[-1] == f"more: --page-key {key}"
    assert "more:" not in distpos(grpc_addr, tmp_path, "staking", "validators").stdout
    assert "more:" not in distpos(grpc_addr, tmp_path, "interchain", "routes", "--all", "--limit", "5").stdout


def test_cli_refuses_a_limit_above_the_maximum_and_a_bad_page_key(grpc_addr, tmp_path):
    over = distpos(grpc_addr, tmp_path, "staking", "validators", "--limit", str(MAX_LIMIT + 1))
    assert over.exit_code == 2 and str(MAX_LIMIT) in over.stderr
    bad = distpos(grpc_addr, tmp_path, "gov", "proposals", "--page-key", "01")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "page_key" in bad.stderr


def test_cli_proposal_and_validator_show_every_vote_and_unbonding(grpc_addr, tmp_path):
    one = json.loads(distpos(grpc_addr, tmp_path, "gov", "proposal", "1", "-o", "json").stdout)
    assert len(one["votes"]) == N_VOTES
    val = json.loads(distpos(grpc_addr, tmp_path, "staking", "validator", str(operator(1)), "--unbondings",
                             "-o", "json").stdout)
    assert len(val["unbondings"]) == N_UNBONDINGS


def test_dashboard_collects_every_page(channel, monkeypatch):
    monkeypatch.setattr(collector, "MAX_LIMIT", 4)
    got = collector.collect_pages(channel, interchain_pb2_grpc.InterchainStub, "ListPackets",
                                  interchain_pb2.QueryPacketsRequest(destination_chain=DEST), "pending")
    assert [p.sequence for p in got] == PACKET_SEQUENCES
