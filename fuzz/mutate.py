"""A small deterministic mutator for the short pass in `make test` (no atheris, no coverage feedback).

libFuzzer's runs depend on timing and coverage; the test suite needs the same inputs every time, so it mutates
the seed corpora with a seeded random.Random instead: bit flips, byte changes, inserts, deletes, truncation,
duplicated ranges, splices of two seeds and the protobuf tokens of dictionary.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .dictionary import TOKENS

_INTERESTING = (b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\x08\x00", b"\x0a\x00", b"\x12\x00", *TOKENS)


def _mutate_once(rng: random.Random, data: bytearray, seeds: list[bytes]) -> bytearray:
    op = rng.randrange(9)
    n = len(data)
    if op == 0 and n:
        data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif op == 1 and n:
        data[rng.randrange(n)] = rng.randrange(256)
    elif op == 2:
        pos = rng.randint(0, n)
        data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    elif op == 3 and n:
        pos = rng.randrange(n)
        del data[pos:pos + rng.randint(1, 8)]
    elif op == 4 and n:
        del data[rng.randrange(n):]
    elif op == 5 and n:
        a = rng.randrange(n)
        b = min(n, a + rng.randint(1, 32))
        pos = rng.randint(0, n)
        data[pos:pos] = data[a:b]
    elif op == 6:
        other = rng.choice(seeds)
        cut, cut2 = rng.randint(0, n), rng.randint(0, len(other))
        data = data[:cut] + bytearray(other[cut2:])
    elif op == 7:
        pos = rng.randint(0, n)
        data[pos:pos] = rng.choice(_INTERESTING)
    elif n:
        pos = rng.randrange(n)
        chunk = rng.choice(_INTERESTING)
        data[pos:pos + len(chunk)] = chunk
    return data


def generate_inputs(seeds: list[bytes], count: int, seed: int = 0, target: str | None = None) -> Iterator[bytes]:
    """The seeds themselves, then mutants (one to four byte mutations each, or for a target with a protobuf
    layout every other mutant a protobuf-aware one) until count inputs in all."""
    from .structured import mutate as mutate_structured

    rng = random.Random(seed)
    produced = 0
    for s in seeds[:count]:
        yield s
        produced += 1
    while produced < count:
        structured = mutate_structured(target, rng.choice(seeds), rng) if target and rng.randrange(2) else None
        if structured is not None:
            yield structured
        elif rng.randrange(50) == 0:
            yield bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))  # no structure at all
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                data = _mutate_once(rng, data, seeds)
            yield bytes(data)
        produced += 1
