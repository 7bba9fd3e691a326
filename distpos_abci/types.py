"""Domain types shared by every state area.

NewTypes cost nothing at run time and make signatures say what a number means.
"""

from __future__ import annotations

from typing import NewType

ChainId = NewType("ChainId", str)
Height = NewType("Height", int)
Nonce = NewType("Nonce", int)
Amount = NewType("Amount", int)
AccountId = NewType("AccountId", bytes)  # 20 bytes: sha256(ed25519 public key)[:20]
TxHash = NewType("TxHash", bytes)  # sha256 of the raw transaction bytes
AppHash = NewType("AppHash", bytes)

MAX_AMOUNT = Amount(2**64 - 1)  # amounts travel as protobuf uint64
