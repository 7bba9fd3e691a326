"""Deterministic valid objects: the fixed state the targets check against, and the seed corpora.

Everything here is built through the package's public builders and encoders, from fixed keys, so two runs
produce the same seeds byte for byte (ed25519 signatures are deterministic).
"""

from __future__ import annotations

import json
import pathlib
from functools import cache

from distpos_abci.abci.framing import encode_frame, encode_uvarint
from distpos_abci.address import Address
from distpos_abci.bank import build_send_tx
from distpos_abci.codec import encode_canonical
from distpos_abci.crypto import KeyPair
from distpos_abci.gen.distpos.v1 import interchain_pb2, staking_pb2, tx_pb2, underwriting_pb2
from distpos_abci.gen.tendermint.abci import types_pb2 as abci_pb2
from distpos_abci.interchain.records import Ack, Packet
from distpos_abci.lightclient.encoding import compute_header_hash, compute_validator_set_hash, compute_vote_sign_bytes
from distpos_abci.lightclient.rpc_json import light_block_from_json
from distpos_abci.lightclient.types import (
    FLAG_ABSENT, FLAG_COMMIT, ZERO_TIME_NS, BlockID, ClientState, Commit, CommitSig, Header, LightBlock,
    PartSetHeader, SignedHeader, Validator, ValidatorSet, light_block_to_proto, validator_set_to_proto,
)
from distpos_abci.staking.msgs import (
    build_bond_tx, build_create_validator_tx, build_unbond_tx, build_unjail_tx, build_withdraw_tx,
)
from distpos_abci.store import merkle
from distpos_abci.tx import build_tx, compute_tx_hash
from distpos_abci.types import Amount, ChainId, Height, Nonce
from distpos_abci.underwriting.guarantee import Guarantee, sign_guarantee
from distpos_abci.underwriting.msgs import build_capacity_evidence_tx, build_claim_tx, build_underwritten_tx

CHAIN = "e2e4"
REMOTE = "a1b2"
NS = 1_000_000_000
T0 = 1_800_000_000 * NS
DAY = 86_400 * NS
TRUSTED_HEIGHT = 10
NOW_NS = T0 + 3_600 * NS  # the verifying chain's consensus time in the light-client target

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "lightclient" / "vectors" / "kvstore_4val.json"


def key(i: int) -> KeyPair:
    """The fixed key number i."""
    return KeyPair(bytes([i]) * 32)


ALICE, BOB, OPERATOR, CONSENSUS = key(1), key(2), key(3), key(4)
REMOTE_KEYS = [key(60 + i) for i in range(4)]


def addr(k: KeyPair, chain: str = CHAIN) -> str:
    return str(Address.from_pub_key(chain, k.pub_key))


# ---- Merkle trie ------------------------------------------------------------------------------------------

TRIE_ENTRIES = {f"key/{i}".encode(): f"value-{i * i}".encode() for i in range(40)}
ABSENT_KEYS = [f"absent/{i}".encode() for i in range(10)]


@cache
def trie() -> tuple[bytes, dict[bytes, bytes]]:
    """Root and node store of a 40-key trie (in memory)."""
    root, nodes = merkle.compute_updated_root({}, merkle.EMPTY_HASH, TRIE_ENTRIES.items())
    return root, nodes


def merkle_input(membership: bool, key_: bytes, value: bytes, root: bytes, proof: bytes) -> bytes:
    """The merkle target's input layout: mode, u8-length key, u8-length value, 32-byte root, proof bytes."""
    return bytes([0 if membership else 1, len(key_)]) + key_ + bytes([len(value)]) + value + root + proof


def merkle_seeds() -> list[bytes]:
    root, nodes = trie()
    out = []
    for k, v in list(TRIE_ENTRIES.items())[:12]:
        _, proof = merkle.get_proof(nodes, root, k)
        out.append(merkle_input(True, k, v, root, encode_canonical(proof.to_proto())))
    for k in ABSENT_KEYS:
        _, proof = merkle.get_proof(nodes, root, k)
        out.append(merkle_input(False, k, b"", root, encode_canonical(proof.to_proto())))
    return out


# ---- light client -----------------------------------------------------------------------------------------

def make_set(keys: list[KeyPair], powers: list[int] | None = None) -> ValidatorSet:
    """A validator set in CometBFT's order (power descending, address ascending)."""
    vals = [Validator(k.pub_key, p) for k, p in zip(keys, powers or [10] * len(keys))]
    vals.sort(key=lambda v: (-v.power, v.address))
    return ValidatorSet(tuple(vals))


def make_light_block(height: int, time_ns: int, keys: list[KeyPair], vals: ValidatorSet, next_vals: ValidatorSet,
                     signers: int | None = None) -> LightBlock:
    """A header of REMOTE at height signed by the first `signers` validators of vals (all by default)."""
    header = Header(11, 1, REMOTE, height, time_ns, BlockID(b"\x01" * 32, PartSetHeader(1, b"\x02" * 32)),
                    b"", b"", compute_validator_set_hash(vals), compute_validator_set_hash(next_vals), b"\x03" * 32,
                    b"\x11" * 32, b"", b"", vals.validators[0].address)
    block_id = BlockID(compute_header_hash(header), PartSetHeader(1, b"\x04" * 32))
    by_pub = {k.pub_key: k for k in keys}
    sigs = []
    for i, v in enumerate(vals.validators):
        signer = by_pub.get(v.pub_key)
        if signer is None or (signers is not None and i >= signers):
            sigs.append(CommitSig(FLAG_ABSENT, b"", ZERO_TIME_NS, b""))
            continue
        t = time_ns + 1
        sigs.append(CommitSig(FLAG_COMMIT, v.address, t,
                              signer.sign(compute_vote_sign_bytes(REMOTE, height, 0, block_id, t))))
    return LightBlock(SignedHeader(header, Commit(height, 0, block_id, tuple(sigs))), vals, next_vals)


def synthetic_client() -> ClientState:
    """The client the light-client target trusts for REMOTE (selector 0)."""
    return ClientState(REMOTE, TRUSTED_HEIGHT, T0, DAY, make_set(REMOTE_KEYS))


@cache
def real_light_blocks() -> tuple[tuple[ClientState, LightBlock], ...]:
    """(client just before, light block) for each height of the recorded CometBFT vectors."""
    heights = {int(h): v for h, v in json.loads(VECTORS.read_text())["heights"].items()}
    out = []
    for h in sorted(heights):
        if h + 1 not in heights:
            continue
        lb = light_block_from_json(heights[h]["commit"], heights[h]["validators"], heights[h + 1]["validators"])
        hd = lb.signed_header.header
        out.append((ClientState(hd.chain_id, hd.height - 1, hd.time_ns - 1, DAY, lb.validator_set), lb))
    return tuple(out)


def real_client() -> tuple[ClientState, int]:
    """The client the light-client target trusts for the recorded chain (selector 1), and its now_ns."""
    client, lb = real_light_blocks()[0]
    return client, lb.signed_header.header.time_ns + 60 * NS


def update_client_msg(chain_id: str, lb: LightBlock) -> interchain_pb2.MsgUpdateClient:
    m = interchain_pb2.MsgUpdateClient(chain_id=chain_id)
    light_block_to_proto(lb, m.update)
    return m


def synthetic_light_blocks() -> list[LightBlock]:
    vals = make_set(REMOTE_KEYS)
    other = make_set(REMOTE_KEYS[:3] + [key(70)], [10, 10, 10, 25])
    return [
        make_light_block(TRUSTED_HEIGHT + 1, T0 + NS, REMOTE_KEYS, vals, vals),              # adjacent
        make_light_block(TRUSTED_HEIGHT + 5, T0 + 5 * NS, REMOTE_KEYS, vals, other),         # skipping, set change
        make_light_block(TRUSTED_HEIGHT + 1, T0 + NS, REMOTE_KEYS, vals, vals, signers=3),   # one absent
        make_light_block(TRUSTED_HEIGHT + 9, T0 + 9 * NS, REMOTE_KEYS + [key(70)], other, other),  # 30/40 trusted
    ]


def lightclient_seeds() -> list[bytes]:
    out = [b"\x00" + encode_canonical(update_client_msg(REMOTE, lb)) for lb in synthetic_light_blocks()]
    out += [b"\x01" + encode_canonical(update_client_msg(lb.signed_header.header.chain_id, lb))
            for _, lb in real_light_blocks()[:3]]
    return out


# ---- interchain records -----------------------------------------------------------------------------------

def packet_seeds() -> list[bytes]:
    return [Packet(seq, ChainId(CHAIN), ChainId(REMOTE), Address.from_pub_key(CHAIN, ALICE.pub_key),
                   Address.from_pub_key(REMOTE, BOB.pub_key), Amount(amount), Height(th), tt).encode()
            for seq, amount, th, tt in ((1, 5, 0, 0), (7, 10**12, 100, T0), (2**40, 1, 0, 2**63))]


def ack_seeds() -> list[bytes]:
    return [Ack(True).encode(), Ack(False, 121, "interchain:121: reserve too low").encode(), Ack(False, 2**31).encode()]


# ---- guarantees and transactions --------------------------------------------------------------------------

def guarantees() -> list[Guarantee]:
    inner = build_send_tx(ALICE, CHAIN, 0, addr(BOB), 1000)
    out = []
    for amount, total, expiry in ((1000, 1000, 12), (400, 1000, 20), (600, 1000, 20)):
        g = Guarantee(compute_tx_hash(inner), Amount(amount), Amount(total), Address.from_pub_key(CHAIN, BOB.pub_key),
                      Address.from_pub_key(CHAIN, OPERATOR.pub_key), ChainId(CHAIN), Height(expiry), Height(2),
                      Address.from_pub_key(CHAIN, ALICE.pub_key), Nonce(0))
        out.append(sign_guarantee(CONSENSUS, g))
    return out


def guarantee_seeds() -> list[bytes]:
    return [encode_canonical(g.to_proto()) for g in guarantees()]


def _proven_packet_msgs() -> list[tuple[str, object]]:
    root, nodes = trie()
    k = next(iter(TRIE_ENTRIES))
    _, proof = merkle.get_proof(nodes, root, k)
    lb = synthetic_light_blocks()[0]
    packet = packet_seeds()[0]
    recv = interchain_pb2.MsgRecvPackets(source_chain=REMOTE, proof_height=lb.height)
    light_block_to_proto(lb, recv.update)
    recv.packets.add(packet=packet, proof=proof.to_proto())
    ack = interchain_pb2.MsgAcknowledge(destination_chain=REMOTE, proof_height=lb.height)
    ack.acks.add(packet=packet, ack=ack_seeds()[0], proof=proof.to_proto())
    timeout = interchain_pb2.MsgTimeout(destination_chain=REMOTE, proof_height=lb.height, packet=packet,
                                        proof=proof.to_proto())
    light_block_to_proto(lb, timeout.update)
    opened = interchain_pb2.MsgOpenCorrespondent(authority=addr(ALICE), chain_id=REMOTE, trusting_period_ns=DAY,
                                                 unbonding_period_ns=3 * DAY)
    opened.trust_root.chain_id, opened.trust_root.height, opened.trust_root.time_ns = REMOTE, 0, T0
    validator_set_to_proto(make_set(REMOTE_KEYS), opened.trust_root.next_validator_set)
    opened.limits.per_packet_max, opened.limits.default_timeout_ns = 10**9, 600 * NS
    return [
        ("transfer", interchain_pb2.MsgTransfer(from_address=addr(ALICE), to_address=addr(BOB, REMOTE), amount=9,
                                                timeout_height=50, timeout_time_ns=T0)),
        ("update_client", update_client_msg(REMOTE, lb)),
        ("recv_packets", recv),
        ("acknowledge", ack),
        ("timeout", timeout),
        ("open_correspondent", opened),
        ("top_up", interchain_pb2.MsgTopUp(from_address=addr(ALICE), chain_id=REMOTE, amount=10**6)),
        ("set_route", interchain_pb2.MsgSetRoute(authority=addr(ALICE), route=interchain_pb2.Route(
            chain_id=REMOTE, relay_grpc="127.0.0.1:9190", comet_rpc="http://127.0.0.1:26757"))),
    ]


def message_seeds() -> list[tuple[str, bytes]]:
    """(TxBody oneof field, message bytes) for every message type the default modules decode."""
    gs = guarantees()
    inner = build_send_tx(ALICE, CHAIN, 0, addr(BOB), 1000)
    msgs: list[tuple[str, object]] = [
        ("send", tx_pb2.MsgSend(from_address=addr(ALICE), to_address=addr(BOB), amount=100)),
        ("send", tx_pb2.MsgSend(from_address=addr(ALICE), to_address=addr(BOB, REMOTE), amount=1)),
        ("create_validator", staking_pb2.MsgCreateValidator(
            operator_address=addr(OPERATOR), consensus_pub_key=CONSENSUS.pub_key, self_stake=10**6,
            endpoint="127.0.0.1:9090", moniker="v0")),
        ("bond", staking_pb2.MsgBond(operator_address=addr(OPERATOR), amount=5)),
        ("unbond", staking_pb2.MsgUnbond(operator_address=addr(OPERATOR), amount=5)),
        ("withdraw", staking_pb2.MsgWithdraw(operator_address=addr(OPERATOR))),
        ("unjail", staking_pb2.MsgUnjail(operator_address=addr(OPERATOR))),
        ("underwritten", underwriting_pb2.MsgUnderwrittenTx(tx=inner, guarantees=[gs[0].to_proto()])),
        ("claim", underwriting_pb2.MsgClaim(guarantees=[gs[0].to_proto()], tx=inner)),
        ("capacity_evidence", underwriting_pb2.MsgCapacityEvidence(guarantees=[g.to_proto() for g in gs[1:]])),
        ("deposit_collateral", underwriting_pb2.MsgDepositCollateral(payer=addr(ALICE), underwriter=addr(OPERATOR),
                                                                     amount=10**6)),
        ("unlock_collateral", underwriting_pb2.MsgUnlockCollateral(payer=addr(ALICE), underwriter=addr(OPERATOR),
                                                                   amount=5)),
        ("withdraw_collateral", underwriting_pb2.MsgWithdrawCollateral(payer=addr(ALICE), underwriter=addr(OPERATOR))),
        *_proven_packet_msgs(),
    ]
    return [(field, encode_canonical(m)) for field, m in msgs]


def tx_seeds() -> list[bytes]:
    """Signed transactions carrying every message type, built with the package's builders where it has one."""
    gs = guarantees()
    inner = build_send_tx(ALICE, CHAIN, 0, addr(BOB), 1000)
    out = [
        inner,
        build_send_tx(ALICE, CHAIN, 7, addr(BOB), 1, memo="rent"),
        build_create_validator_tx(OPERATOR, CHAIN, 0, CONSENSUS.pub_key, 10**6, "127.0.0.1:9090", "v0"),
        build_bond_tx(OPERATOR, CHAIN, 1, 5),
        build_unbond_tx(OPERATOR, CHAIN, 2, 5),
        build_withdraw_tx(OPERATOR, CHAIN, 3),
        build_unjail_tx(OPERATOR, CHAIN, 4),
        build_underwritten_tx(OPERATOR, CHAIN, 5, inner, gs[:1]),
        build_claim_tx(BOB, CHAIN, 0, gs[:1], inner),
        build_capacity_evidence_tx(BOB, CHAIN, 1, gs[1:]),
    ]
    for field, msg in _proven_packet_msgs():
        out.append(build_tx(ALICE, CHAIN, 9, field, msg))
    return out


# ---- ABCI frames ------------------------------------------------------------------------------------------

def framing_seeds() -> list[bytes]:
    echo = abci_pb2.Request(echo=abci_pb2.RequestEcho(message="hello")).SerializeToString()
    flush = abci_pb2.Request(flush=abci_pb2.RequestFlush()).SerializeToString()
    check = abci_pb2.Request(check_tx=abci_pb2.RequestCheckTx(tx=tx_seeds()[0])).SerializeToString()
    stream = encode_frame(echo) + encode_frame(flush) + encode_frame(check)
    # The first byte is the chunk size the target feeds the decoder with (see targets.check_framing).
    return [b"\x00" + stream, b"\x03" + stream, b"\x01" + encode_frame(b""),
            b"\x00" + encode_uvarint(2**64 - 1), b"\x07" + stream[:-5]]


def body_seeds() -> list[bytes]:
    """The signed bodies of tx_seeds (the txbody target signs each input again)."""
    return [tx_pb2.Tx.FromString(raw).body for raw in tx_seeds()]


def seeds(target: str) -> list[bytes]:
    """The seed corpus of a target."""
    if target == "msgs":
        from .targets import MSG_FIELDS
        return [bytes([MSG_FIELDS.index(field)]) + raw for field, raw in message_seeds()]
    return {
        "tx": tx_seeds, "txbody": body_seeds, "packet": packet_seeds, "ack": ack_seeds, "guarantee": guarantee_seeds,
        "merkle": merkle_seeds, "lightclient": lightclient_seeds, "framing": framing_seeds,
    }[target]()
