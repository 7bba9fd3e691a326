"""Two in-process chains set up for instant credit: the source e2e4 has staked validators whose consensus keys are
the ones the destination a1b2's light client trusts (VAL_KEYS["e2e4"]), and a1b2 sets an instant-credit limit for
e2e4. Guarantees are made here with the validators' consensus keys, as the guarantee service would."""

from __future__ import annotations

import base64
import json

from distpos_abci.address import Address
from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import keys
from distpos_abci.interchain.instant import compute_instant_key
from distpos_abci.interchain.keeper import InterchainView
from distpos_abci.interchain.msgs import build_instant_transfer_tx
from distpos_abci.staking import compute_consensus_address
from distpos_abci.tx import decode_tx
from distpos_abci.types import Amount, ChainId, Height, Nonce
from distpos_abci.underwriting import Guarantee, UnderwritingKeeper, build_collateral_tx, sign_guarantee
from distpos_abci.interchain.instant import decode_instant_transfer
from distpos_abci.app import DistposApp, default_modules
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from tests.interchain.helpers import ALICE, BOB, RELAYER, VAL_KEYS, Chain, GovStub, addr, genesis, key, update_proto
from tests.staking.helpers import PARAMS, UW_PARAMS

SRC, DST = "e2e4", "a1b2"
OPERATORS = [key(80 + i) for i in range(4)]  # operator keys of e2e4's validators (consensus keys: VAL_KEYS)
STAKE = 1000  # per validator: power 10 with power_reduction 100, as the light client's trust root says
LIMIT = 5000


def source_genesis() -> bytes:
    state = json.loads(genesis(SRC, {DST: {}}))
    state["accounts"] += [{"address": str(addr(k, SRC)), "balance": "1000"} for k in OPERATORS]
    state["staking"] = {"params": PARAMS, "validators": [
        {"operator": str(addr(op, SRC)), "consensus_pub_key": base64.b64encode(ck.pub_key).decode(),
         "self_stake": str(STAKE), "endpoint": f"{SRC}-v{i}:1", "moniker": f"v{i}"}
        for i, (op, ck) in enumerate(zip(OPERATORS, VAL_KEYS[SRC]))]}
    state["underwriting"] = {"params": UW_PARAMS}
    return json.dumps(state).encode()


def destination_genesis(limit: int = LIMIT) -> bytes:
    state = json.loads(genesis(DST, {SRC: {}}))
    state["interchain"]["instant_credit"] = {SRC: {"limit": limit, "stake_per_power": PARAMS["power_reduction"],
                                                   "max_guarantee_blocks": UW_PARAMS["max_guarantee_blocks"]}}
    return json.dumps(state).encode()


def _open(tmp_path, chain: str, gen: bytes) -> Chain:
    stub = GovStub(chain)
    app = DistposApp(StateStore(Database(tmp_path / chain)), default_modules() + [stub])
    app.init_chain(chain, gen)
    c = Chain(chain, app, govstub=stub)
    c.block()
    return c


def open_pair(tmp_path, limit: int = LIMIT) -> tuple[Chain, Chain]:
    """e2e4 (source) and a1b2 (destination); Alice locked 2000 of collateral with each e2e4 validator."""
    src, dst = _open(tmp_path, SRC, source_genesis()), _open(tmp_path, DST, destination_genesis(limit))
    for op in OPERATORS:
        assert src.block(build_collateral_tx(ALICE, SRC, src.nonce(ALICE), "deposit", str(addr(op, SRC)),
                                             2000)).tx_results[0].ok
        dst.block()
    return src, dst


def underwriter(i: int) -> Address:
    """Validator i of e2e4 as a cross-chain guarantee names it: its consensus address."""
    return Address(ChainId(SRC), compute_consensus_address(VAL_KEYS[SRC][i].pub_key))


def instant_tx(src: Chain, amount: int, payer: KeyPair = ALICE, to: KeyPair = BOB, timeout_height: int = 1000,
               nonce: int | None = None) -> bytes:
    return build_instant_transfer_tx(payer, SRC, src.nonce(payer) if nonce is None else nonce, str(addr(to, DST)),
                                     amount, timeout_height=timeout_height)


def guarantees(raw: bytes, shares: dict[int, int], *, expiry: int, issued: int | None = None,
               signer: KeyPair | None = None, named: dict[int, Address] | None = None) -> list[Guarantee]:
    """Shares {validator index: amount} of the instant transfer raw, signed with the validators' consensus keys
    (or all with `signer`, a forgery); `named` overrides the underwriter a share names."""
    tx = decode_tx(raw, {"instant_transfer": decode_instant_transfer})
    total = sum(shares.values())
    issued = max(1, expiry - 3) if issued is None else issued
    out = []
    for i, amount in shares.items():
        g = Guarantee(tx.hash, Amount(amount), Amount(total), tx.msg.recipient, (named or {}).get(i, underwriter(i)),
                      ChainId(SRC), Height(expiry), Height(issued), Address(ChainId(SRC), tx.signer), Nonce(tx.nonce))
        out.append(sign_guarantee(signer or VAL_KEYS[SRC][i], g))
    return out


def instant_key(raw: bytes) -> bytes:
    tx = decode_tx(raw, {"instant_transfer": decode_instant_transfer})
    m = tx.msg
    return compute_instant_key(SRC, DST, m.sender, m.recipient, m.amount, m.timeout_height, m.timeout_time_ns)


def credit_msg(gs, raw: bytes, update=None) -> interchain_pb2.MsgInstantCredit:
    m = interchain_pb2.MsgInstantCredit(source_chain=SRC, guarantees=[g.to_proto() for g in gs], tx=raw)
    if update is not None:
        update_proto(update, m.update)
    return m


def claim_msg(src: Chain, dst: Chain, gs, raw: bytes) -> interchain_pb2.MsgInstantClaim:
    """The destination's credit record proven at its latest state, for the source."""
    value, proof = dst.prove(keys.full_instant_credit_key(SRC, instant_key(raw)))
    lb = dst.light_block()
    m = interchain_pb2.MsgInstantClaim(destination_chain=DST, proof_height=lb.height,
                                       guarantees=[g.to_proto() for g in gs], tx=raw, credit=value or b"",
                                       proof=proof.to_proto())
    update_proto(lb, m.update)
    return m


def release_msg(src: Chain, raw: bytes) -> interchain_pb2.MsgInstantRelease:
    k = instant_key(raw)
    value, proof = src.prove(keys.full_instant_paid_key(DST, k))
    lb = src.light_block()
    m = interchain_pb2.MsgInstantRelease(source_chain=SRC, proof_height=lb.height, key=k, payout=value or b"",
                                         proof=proof.to_proto())
    update_proto(lb, m.update)
    return m


def outstanding(dst: Chain) -> int:
    return InterchainView(dst.app.state, DST).get_instant_outstanding(SRC)


def collateral(src: Chain) -> int:
    ledger = UnderwritingKeeper(src.app.state, SRC)
    return sum(ledger.get_collateral(addr(ALICE, SRC).account, addr(op, SRC).account).seizable for op in OPERATORS)


def relayer_tx(c: Chain, field: str, msg):
    return c.tx(RELAYER, field, msg)


class Peers:
    """In-process co-underwriting between the guarantee services of e2e4's validators."""

    def __init__(self) -> None:
        self.services: dict = {}

    async def reserve(self, endpoint, tx, amount, expiry, auth, timeout):
        return self.services[endpoint].reserve(tx, amount, expiry, auth)

    async def confirm(self, endpoint, tx_hash, auth, timeout):
        return self.services[endpoint].confirm(tx_hash, auth)

    async def release(self, endpoint, tx_hash, auth, timeout):
        self.services[endpoint].release(tx_hash, auth)


def services(src: Chain) -> list:
    """The real guarantee service of each e2e4 validator (consensus keys VAL_KEYS), wired to co-underwrite."""
    from distpos_abci.underwriting.service import UnderwritingService

    peers = Peers()
    out = []
    for i, ck in enumerate(VAL_KEYS[SRC]):
        svc = UnderwritingService(src.app, ck, peers=peers, guarantee_blocks=3)
        peers.services[f"{SRC}-v{i}:1"] = svc
        out.append(svc)
    return out
