"""Store layout of the interchain area. The keeper is the only code that touches it.

Chain-ids are [a-z0-9]{1,16}, so "/" separates them from what follows without ambiguity. Sequences are
u64 big-endian so an outbox or inbox iterates in sequence order.
"""

import hashlib

from ..errors import InvalidInterchainMsgError
from ..types import AccountId

PREFIX = b"interchain/"  # owned by interchain
CLIENT = b"client/"  # client/<chain> -> distpos.v1.ClientState (light client of that chain)
CONSENSUS = b"cons/"  # cons/<chain>/<height u64> -> distpos.v1.ConsensusState (verified app hash and time)
CORRESPONDENT = b"corr/"  # corr/<chain> -> distpos.v1.Correspondent
ROUTE = b"route/"  # route/<chain> -> distpos.v1.Route
NEXT_SEQUENCE = b"seq/"  # seq/<destination> -> u64 next outgoing sequence; absent = 1
OUTBOX = b"out/"  # out/<destination>/<seq u64> -> exact bytes of the distpos.v1.Packet (the commitment)
INBOX = b"in/"  # in/<source>/<seq u64> -> distpos.v1.Ack bytes: receipt and acknowledgement in one
FORWARD = b"fwd/"  # fwd/<next chain>/<seq u64> -> distpos.v1.Forward: a forwarded packet awaiting its outcome
FORWARD_PARAMS = b"params/forward"  # canonical JSON of forwarding.ForwardParams

# Instant credit (instant.py). Destination side:
INSTANT_CREDIT = b"icredit/"  # icredit/<source>/<instant key 32> -> distpos.v1.InstantCredit
INSTANT_OUTSTANDING = b"iout/"  # iout/<source> -> u64 instant credit not yet settled or paid out; absent = 0
# "Seen" records (status SEEN) expire once their packet's timeout passed (a credit is refused from then on anyway):
# iseen/t/<timeout time ns u64><source>/<instant key 32> and iseen/h/<timeout height u64><source>/<instant key 32>
# -> b"" list them in due order (by the timeout time when the packet has one, else by its timeout height).
SEEN_EXPIRY_TIME = b"iseen/t/"
SEEN_EXPIRY_HEIGHT = b"iseen/h/"
INSTANT_PARAMS = b"params/instant"  # canonical JSON {chain: {limit, stake_per_power, ...}} (governance)
# Source side:
INSTANT_SEND = b"isend/"  # isend/<payer 20><nonce u64> -> distpos.v1.InstantSend (what that nonce did)
INSTANT_SEQUENCE = b"iseq/"  # iseq/<destination>/<seq u64> -> payer 20 || nonce u64 of an instant packet
INSTANT_PAID = b"ipaid/"  # ipaid/<destination>/<instant key 32> -> distpos.v1.InstantPayout (proven back)

# Module accounts (bank balances): packets in flight, and each remote chain's reserve here.
ESCROW = AccountId(hashlib.sha256(b"interchain/escrow").digest()[:20])
# Multi-hop: the sender of packets this chain forwards (holds nothing; their money sits in ESCROW), and the
# account that receives the forwarding fees of settled forwards.
FORWARDER = AccountId(hashlib.sha256(b"interchain/forwarder").digest()[:20])
FORWARD_FEES = AccountId(hashlib.sha256(b"interchain/forward-fees").digest()[:20])
# Instant transfers whose packet was refused or timed out, held until the destination proves whether it credited.
INSTANT_HOLD = AccountId(hashlib.sha256(b"interchain/instant-hold").digest()[:20])


def compute_correspondent_account(chain_id: str) -> AccountId:
    """The account holding chain_id's reserve on this chain."""
    return AccountId(hashlib.sha256(b"interchain/correspondent/" + chain_id.encode()).digest()[:20])


def _seq(sequence: int) -> bytes:
    if not 0 <= sequence < 2**64:
        raise InvalidInterchainMsgError(f"sequence or height {sequence} is outside 0..2^64-1")
    return sequence.to_bytes(8, "big")


def client_key(chain_id: str) -> bytes:
    return CLIENT + chain_id.encode()


def consensus_prefix(chain_id: str) -> bytes:
    return CONSENSUS + chain_id.encode() + b"/"


def consensus_key(chain_id: str, height: int) -> bytes:
    return consensus_prefix(chain_id) + _seq(height)


def correspondent_key(chain_id: str) -> bytes:
    return CORRESPONDENT + chain_id.encode()


def route_key(chain_id: str) -> bytes:
    return ROUTE + chain_id.encode()


def next_sequence_key(destination: str) -> bytes:
    return NEXT_SEQUENCE + destination.encode()


def outbox_prefix(destination: str) -> bytes:
    return OUTBOX + destination.encode() + b"/"


def outbox_key(destination: str, sequence: int) -> bytes:
    return outbox_prefix(destination) + _seq(sequence)


def inbox_key(source: str, sequence: int) -> bytes:
    return INBOX + source.encode() + b"/" + _seq(sequence)


def forward_key(next_chain: str, sequence: int) -> bytes:
    return FORWARD + next_chain.encode() + b"/" + _seq(sequence)


def full_outbox_key(destination: str, sequence: int) -> bytes:
    """State key of a packet commitment on its source chain (proven to the destination)."""
    return PREFIX + outbox_key(destination, sequence)


def full_inbox_key(source: str, sequence: int) -> bytes:
    """State key of a receipt/ack on the destination chain (proven back to the source)."""
    return PREFIX + inbox_key(source, sequence)


def full_next_sequence_key(destination: str) -> bytes:
    """State key of the next outgoing sequence (read by the relay)."""
    return PREFIX + next_sequence_key(destination)


def instant_credit_key(source: str, instant_key: bytes) -> bytes:
    return INSTANT_CREDIT + source.encode() + b"/" + instant_key


def full_instant_credit_key(source: str, instant_key: bytes) -> bytes:
    """State key of an instant credit on the destination (proven to the source by a claim)."""
    return PREFIX + instant_credit_key(source, instant_key)


def instant_outstanding_key(source: str) -> bytes:
    return INSTANT_OUTSTANDING + source.encode()


def instant_send_key(payer: bytes, nonce: int) -> bytes:
    return INSTANT_SEND + payer + _seq(nonce)


def full_instant_send_key(payer: bytes, nonce: int) -> bytes:
    """State key of what a payer's nonce did as an instant transfer, on the source (read by the relay)."""
    return PREFIX + instant_send_key(payer, nonce)


def instant_sequence_key(destination: str, sequence: int) -> bytes:
    return INSTANT_SEQUENCE + destination.encode() + b"/" + _seq(sequence)


def instant_paid_key(destination: str, instant_key: bytes) -> bytes:
    return INSTANT_PAID + destination.encode() + b"/" + instant_key


def full_instant_paid_key(destination: str, instant_key: bytes) -> bytes:
    """State key of a payout on the source (proven to the destination by a release)."""
    return PREFIX + instant_paid_key(destination, instant_key)


def seen_expiry_key(by_time: bool, due: int, source: str, instant_key: bytes) -> bytes:
    """Expiry-queue entry of a seen record, due at a destination time (by_time) or height."""
    return (SEEN_EXPIRY_TIME if by_time else SEEN_EXPIRY_HEIGHT) + _seq(due) + source.encode() + b"/" + instant_key


def split_seen_expiry_key(key: bytes) -> tuple[int, str, bytes]:
    """(due, source, instant key) of an expiry-queue entry (key without the queue's prefix)."""
    return int.from_bytes(key[:8], "big"), key[8:-33].decode(), key[-32:]
