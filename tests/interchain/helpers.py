"""Two in-process DistPOS chains and a hand-driven relay: synthetic signed headers carry each chain's real
app hash, proofs come from the real state trie."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from distpos_abci.address import Address
from distpos_abci.app import DistposApp, default_modules
from distpos_abci.authority import GOV_AUTHORITY, gov_authority_address
from distpos_abci.errors import DistposError
from distpos_abci.interchain.module import InterchainModule
from distpos_abci.module import Module, TxContext
from distpos_abci.store.kv import CacheKV
from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import interchain_pb2, tx_pb2
from distpos_abci.interchain import keys
from distpos_abci.interchain.keeper import InterchainView
from distpos_abci.lightclient.types import LightBlock, light_block_to_proto
from distpos_abci.module import BlockInfo
from distpos_abci.bank.keeper import BankKeeper
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.tx import build_tx
from distpos_abci.types import Height
from tests.lightclient.helpers import make_light_block, make_set

NS = 1_000_000_000
T0 = 1_800_000_000 * NS
DAY = 86_400 * NS


def key(i: int) -> KeyPair:
    return KeyPair(bytes([i]) * 32)


ALICE, BOB, CAROL, RELAYER = key(1), key(2), key(3), key(4)
VAL_KEYS = {"e2e4": [key(50 + i) for i in range(4)], "a1b2": [key(60 + i) for i in range(4)],
            "c3d4": [key(70 + i) for i in range(4)]}
DEFAULT_LIMITS = {"min_balance": 0, "settle_threshold": 0, "per_packet_max": 0, "rate_limit": 0,
                  "rate_window_blocks": 0, "max_failure_pct": 0, "default_timeout_ns": 600 * NS,
                  "failure_window_blocks": 0}
UNBONDING = 21 * DAY  # the remote chains' unbonding time: every trusting period here is shorter


def addr(k: KeyPair, chain: str) -> Address:
    return Address.from_pub_key(chain, k.pub_key)


def genesis(chain: str, peers: dict[str, dict], reserve: int = 1_000_000, trusting_period: int = DAY,
            unbonding_period: int = UNBONDING) -> bytes:
    """Alice, Bob and Carol funded; a correspondent per peer (limits given) with a genesis trust root."""
    state = {
        "accounts": [{"address": str(addr(k, chain)), "balance": "1000000"} for k in (ALICE, BOB, CAROL)],
        "interchain": {
            "correspondents": [
                {"chain_id": peer, "limits": {**DEFAULT_LIMITS, **limits}, "trusting_period_ns": trusting_period,
                 "unbonding_period_ns": unbonding_period, "reserve": str(reserve),
                 "trust_root": {"height": 0, "time_ns": T0, "validators": [
                     {"pub_key": base64.b64encode(k.pub_key).decode(), "power": 10} for k in VAL_KEYS[peer]]}}
                for peer, limits in peers.items()
            ],
            "routes": [{"chain_id": peer, "relay_grpc": f"127.0.0.1:1{i}", "comet_rpc": f"http://127.0.0.1:2{i}"}
                       for i, peer in enumerate(peers)],
        },
    }
    return json.dumps(state).encode()


class GovStub(Module):
    """Stands in for the gov module (not on this branch): at the next block's start it executes queued
    messages through the normal interchain handlers with TxContext.signer = GOV_AUTHORITY, as a passed
    proposal would, and records each outcome (None, or the DistposError raised)."""

    name = "govstub"

    def __init__(self, chain_id: str) -> None:
        self.chain_id = chain_id
        self.queue: list[tuple[str, object]] = []
        self.outcomes: list[DistposError | None] = []

    def begin_block(self, store, block) -> list:
        events = []
        for field_, proto in self.queue:
            ctx = TxContext(self.chain_id, block.height, block.time_ns, GOV_AUTHORITY, b"", b"", False)
            cache = CacheKV(store)
            try:
                if field_ == "params":  # a passed MsgUpdateParams for the interchain module (JSON text)
                    events.extend(InterchainModule().process_params_json(cache, ctx, proto))
                    cache.write()
                    self.outcomes.append(None)
                    continue
                msg = InterchainModule.decoders[field_](proto)
                msg.validate_basic(ctx.chain_id, GOV_AUTHORITY)
                events.extend(InterchainModule().deliver(cache, ctx, msg))
            except DistposError as exc:
                self.outcomes.append(exc)
                continue
            cache.write()
            self.outcomes.append(None)
        self.queue.clear()
        return events


@dataclass
class Chain:
    chain_id: str
    app: DistposApp
    times: dict[int, int] = field(default_factory=dict)
    results: dict[int, object] = field(default_factory=dict)
    govstub: GovStub | None = None

    @property
    def gov_address(self) -> str:
        return str(gov_authority_address(self.chain_id))

    def gov(self, field_: str, msg) -> DistposError | None:
        """Execute msg as a passed proposal would (signer GOV_AUTHORITY) in the next block; its outcome."""
        self.govstub.queue.append((field_, msg))
        self.block()
        return self.govstub.outcomes[-1]

    @property
    def view(self) -> InterchainView:
        return InterchainView(self.app.state, self.chain_id)

    def balance(self, k_or_account) -> int:
        account = k_or_account if isinstance(k_or_account, bytes) else addr(k_or_account, self.chain_id).account
        return BankKeeper(self.app.state).get_balance(account)

    def reserve(self, peer: str) -> int:
        return self.balance(keys.compute_correspondent_account(peer))

    def supply(self) -> int:
        return BankKeeper(self.app.state).get_supply()

    def nonce(self, k: KeyPair) -> int:
        return self.app.query_account(str(addr(k, self.chain_id))).nonce

    def block(self, *txs: bytes, votes: tuple = ()):
        """Finalize and commit the next block; `votes` (module.Vote) are its decided last commit."""
        h = self.app.last_height + 1
        self.times[h] = T0 + h * NS
        result = self.app.finalize_block(BlockInfo(Height(h), self.times[h], b"", tuple(votes)), list(txs))
        self.app.commit()
        self.results[h] = result
        return result

    def tx(self, k: KeyPair, field_: str, msg):
        """Sign msg with k, include it in the next block, return its TxResult."""
        return self.block(build_tx(k, self.chain_id, self.nonce(k), field_, msg)).tx_results[0]

    def light_block(self, vals_chain: str | None = None, app_hash: bytes | None = None, **kw) -> LightBlock:
        """A header at last_height + 1 carrying the app hash after last_height (or app_hash: a forgery),
        signed by this chain's validators."""
        ks = VAL_KEYS[vals_chain or self.chain_id]
        vals = make_set(ks)
        h = self.app.last_height + 1
        return make_light_block(self.chain_id, h, T0 + h * NS, ks, vals, vals,
                                app_hash=self.app.last_app_hash if app_hash is None else app_hash, **kw)

    def prove(self, full_key: bytes):
        """Value and proof of full_key in the state after last_height (verifies against header last_height + 1)."""
        return self.app.state.get_proof(full_key, self.app.last_height)


def open_chain(tmp_path, chain: str, peers: dict[str, dict], reserve: int = 1_000_000,
               trusting_period: int = DAY) -> Chain:
    stub = GovStub(chain)
    app = DistposApp(StateStore(Database(tmp_path / chain)), default_modules() + [stub])
    app.init_chain(chain, genesis(chain, peers, reserve, trusting_period))
    c = Chain(chain, app, govstub=stub)
    c.block()
    return c


def update_proto(lb: LightBlock, dst) -> None:
    light_block_to_proto(lb, dst)


def recv_msg(src: Chain, sequences: list[int], dest: str, lb: LightBlock | None = None, tamper=None) -> interchain_pb2.MsgRecvPackets:
    """MsgRecvPackets for src's outbox entries to dest, proven at src's latest state."""
    lb = lb or src.light_block()
    m = interchain_pb2.MsgRecvPackets(source_chain=src.chain_id, proof_height=lb.height)
    update_proto(lb, m.update)
    for seq in sequences:
        value, proof = src.prove(keys.full_outbox_key(dest, seq))
        if tamper:
            value, proof = tamper(value, proof)
        m.packets.add(packet=value, proof=proof.to_proto())
    return m


def ack_msg(dst: Chain, source: str, packets: list[bytes], lb: LightBlock | None = None) -> interchain_pb2.MsgAcknowledge:
    """MsgAcknowledge for packets from source received on dst, proven at dst's latest state."""
    from distpos_abci.interchain import decode_packet
    lb = lb or dst.light_block()
    m = interchain_pb2.MsgAcknowledge(destination_chain=dst.chain_id, proof_height=lb.height)
    update_proto(lb, m.update)
    for raw in packets:
        value, proof = dst.prove(keys.full_inbox_key(source, decode_packet(raw).sequence))
        m.acks.add(packet=raw, ack=value, proof=proof.to_proto())
    return m


def send_msg(sender: KeyPair, src: str, recipient: Address, amount: int) -> tx_pb2.MsgSend:
    return tx_pb2.MsgSend(from_address=str(addr(sender, src)), to_address=str(recipient), amount=amount)
