"""The node's durable record of the guarantees it signed, so a restart cannot forget what it promised.

One JSON line per guarantee, appended and fsynced before the guarantee leaves the node. On start the service
reloads every line and counts those the chain has not settled as outstanding. The file is rewritten without the
settled or closed ones whenever pruning drops more than COMPACT_AFTER of them.
"""

from __future__ import annotations

import json
import os
import pathlib

from ..errors import DistposError
from ..gen.distpos.v1 import underwriting_pb2
from .guarantee import Guarantee, decode_guarantee

COMPACT_AFTER = 256


def _to_line(g: Guarantee) -> str:
    return json.dumps(g.to_json(), sort_keys=True)


def _from_line(line: str) -> Guarantee:
    d = json.loads(line)
    return decode_guarantee(underwriting_pb2.Guarantee(
        tx_hash=bytes.fromhex(d["tx_hash"]), amount=int(d["amount"]), total=int(d["total"]),
        beneficiary=d["beneficiary"], underwriter=d["underwriter"], chain_id=d["chain_id"],
        expiry_height=int(d["expiry_height"]), issued_height=int(d["issued_height"]),
        payer=d["payer"], nonce=int(d["nonce"]), signature=bytes.fromhex(d["signature"])))


class GuaranteeJournal:
    """Append-only file of signed guarantees."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)
        self.dropped = 0

    def load(self) -> list[Guarantee]:
        """Every guarantee recorded; unreadable lines (a torn last write) are skipped."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(_from_line(line))
            except (ValueError, KeyError, TypeError, DistposError):
                continue
        return out

    def append(self, g: Guarantee) -> None:
        """Record g durably before it is handed out."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(_to_line(g) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def note_dropped(self, live: list[Guarantee], count: int) -> None:
        """Account pruned guarantees; rewrite the file with only the live ones once enough were dropped."""
        self.dropped += count
        if self.dropped < COMPACT_AFTER:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(_to_line(g) + "\n" for g in live))
        os.replace(tmp, self.path)
        self.dropped = 0
