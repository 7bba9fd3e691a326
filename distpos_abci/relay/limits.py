"""Every bound of the relay in one record (the config keys documented in README.md and relay.example.toml)."""

from __future__ import annotations

from dataclasses import dataclass

# Longer than any packet a chain commits (two addresses of at most ~60 characters, two chain-ids of at most 16,
# four varints: well under 300 bytes); anything longer is refused unread.
MAX_PACKET_BYTES = 1024


@dataclass(frozen=True)
class RelayLimits:
    """Bounds on queues and requests, and the re-send policy of handed-over packets."""

    max_inbound_packets: int = 10_000  # inbound queue; SubmitPacket beyond it: RESOURCE_EXHAUSTED (145)
    max_outbound_packets: int = 10_000  # outbound queue; the scan pauses when full (184), packets wait on chain
    max_request_packets: int = 64  # packets per SubmitPacket (147); the source cuts its hand-offs to this
    max_proof_keys: int = 64  # keys per GetProof (146); the asking side cuts its requests to this
    max_retry_entries: int = 1024  # (step, chain) back-off records kept; the soonest-due is forgotten first
    max_request_bytes: int = 1 << 20  # gRPC message size the service accepts (RESOURCE_EXHAUSTED above it)
    resend_after_s: float = 20.0  # a handed-over packet not yet received is handed over again after this
    direct_after_attempts: int = 3  # after this many hand-offs the source relay delivers it itself (0 = never)

    def validate(self) -> str | None:
        """Why these limits are unusable, or None."""
        counts = (self.max_inbound_packets, self.max_outbound_packets, self.max_request_packets,
                  self.max_proof_keys, self.max_retry_entries)
        if min(counts) < 1:
            return "max_inbound_packets, max_outbound_packets, max_request_packets, max_proof_keys and " \
                   "max_retry_entries must be >= 1"
        if self.max_request_bytes < 64 * 1024:
            return "max_request_bytes must be >= 65536"
        if self.resend_after_s <= 0 or self.direct_after_attempts < 0:
            return "resend_after_ms must be > 0 and direct_after_attempts >= 0"
        return None


def compute_chunks(items: list, size: int) -> list[list]:
    """items cut into consecutive lists of at most size."""
    return [items[i:i + size] for i in range(0, len(items), size)]
