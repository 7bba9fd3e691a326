"""cProfile of FinalizeBlock+Commit for the bench's 2000-transfer blocks: `python -m bench.profile_app [mempool|cold]`.

Prints the top entries by own time; bench/RESULTS.md keeps them before and after each step."""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile

from .bench_app import _blocks, _new_app


def main(path: str = "mempool", top: int = 15) -> None:
    genesis, blocks = _blocks(2000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        db, app = _new_app(tmp, genesis)
        prof = cProfile.Profile()
        for r, txs in enumerate(blocks):
            if path == "mempool":
                for tx in txs:
                    app.check_tx(tx)
            prof.enable()
            app.finalize_block(2 + r, txs)
            app.commit()
            prof.disable()
        db.close()
    stats = pstats.Stats(prof)
    print(f"FinalizeBlock+Commit, 3 blocks of 2000 transfers, path={path}; top {top} by tottime")
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["mempool"]))
