"""Benchmark of the state Merkle trie: batched updates, proof generation and verification.

Run: .venv/bin/python -m bench.bench_merkle  (prints a table, returns the figures from main()).
The node store is a plain dict, so the figures measure hashing and trie logic, not disk I/O.
"sha256/update" counts every sha256 call while building: key hash, value hash and new nodes.
"""

from __future__ import annotations

import hashlib
import random
import time

from distpos_abci.store import merkle

BATCH_SIZE = 1_000
SIZES = (10_000, 100_000)
PROOF_SAMPLES = 10_000
SEED = 20240601


class _DictReader:
    """NodeReader over an in-memory dict."""

    def __init__(self, nodes: dict[bytes, bytes]) -> None:
        self.get = nodes.get


def _make_updates(n_keys: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    return [(b"bench/key/%d" % i, rng.randbytes(32)) for i in range(n_keys)]


def _build(updates: list[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], bytes, float]:
    """Apply updates in batches of BATCH_SIZE; returns (nodes, root, seconds spent in the trie)."""
    nodes: dict[bytes, bytes] = {}
    reader = _DictReader(nodes)
    root = merkle.EMPTY_HASH
    elapsed = 0.0
    for start in range(0, len(updates), BATCH_SIZE):
        batch = updates[start : start + BATCH_SIZE]
        t0 = time.perf_counter()
        root, new_nodes = merkle.compute_updated_root(reader, root, batch)
        elapsed += time.perf_counter() - t0
        nodes.update(new_nodes)  # persisting is the store's job; kept out of the timing
    return nodes, root, elapsed


def _count_hashes(updates: list[tuple[bytes, bytes]]) -> int:
    """sha256 calls made by the trie while building (a separate, untimed pass with a wrapper)."""
    calls = 0
    real = hashlib.sha256

    def counting(data: bytes = b"") -> "hashlib._Hash":
        nonlocal calls
        calls += 1
        return real(data)

    saved = merkle._sha256
    merkle._sha256 = counting
    try:
        _build(updates)
    finally:
        merkle._sha256 = saved
    return calls


def _bench_size(n_keys: int) -> dict[str, float]:
    updates = _make_updates(n_keys, SEED + n_keys)
    nodes, root, build_s = _build(updates)
    hashes = _count_hashes(updates)

    # A second round of overwrites on the full trie: the steady-state FinalizeBlock case.
    rewrites = _make_updates(n_keys, SEED + n_keys + 1)[: 10 * BATCH_SIZE]
    reader = _DictReader(nodes)
    t0 = time.perf_counter()
    r = root
    for start in range(0, len(rewrites), BATCH_SIZE):
        r, new_nodes = merkle.compute_updated_root(reader, r, rewrites[start : start + BATCH_SIZE])
        nodes.update(new_nodes)
    rewrite_s = time.perf_counter() - t0

    rng = random.Random(SEED)
    sample = [updates[rng.randrange(n_keys)] for _ in range(PROOF_SAMPLES)]
    t0 = time.perf_counter()
    proofs = [merkle.get_proof(reader, root, key) for key, _ in sample]
    prove_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = sum(merkle.verify_membership(root, key, value, proof) for (key, _), (value, proof) in zip(sample, proofs))
    verify_s = time.perf_counter() - t0

    return {
        "keys": n_keys,
        "build_updates_per_s": n_keys / build_s,
        "rewrite_updates_per_s": len(rewrites) / rewrite_s,
        "hashes_per_update": hashes / n_keys,
        "nodes_stored": len(nodes),
        "proofs_per_s": PROOF_SAMPLES / prove_s,
        "verifications_per_s": PROOF_SAMPLES / verify_s,
        "avg_proof_len": sum(len(p.siblings) for _, p in proofs) / len(proofs),
        "proofs_verified": ok,
    }


def main() -> dict[str, dict[str, float]]:
    """Run the benchmark for each trie size, print a table and return the figures."""
    results = {f"{n // 1000}k": _bench_size(n) for n in SIZES}
    rows = [
        ("build updates/s", "build_updates_per_s", "{:,.0f}"),
        ("rewrite updates/s", "rewrite_updates_per_s", "{:,.0f}"),
        ("sha256/update (build)", "hashes_per_update", "{:.2f}"),
        ("nodes stored", "nodes_stored", "{:,.0f}"),
        ("proof gen/s", "proofs_per_s", "{:,.0f}"),
        ("proof verify/s", "verifications_per_s", "{:,.0f}"),
        ("avg proof length", "avg_proof_len", "{:.2f}"),
    ]
    print(f"merkle trie, batches of {BATCH_SIZE:,} updates, {PROOF_SAMPLES:,} proofs per size")
    header = f"{'':24}" + "".join(f"{name:>14}" for name in results)
    print(header)
    print("-" * len(header))
    for label, field, fmt in rows:
        print(f"{label:24}" + "".join(f"{fmt.format(r[field]):>14}" for r in results.values()))
    return results


if __name__ == "__main__":
    main()
