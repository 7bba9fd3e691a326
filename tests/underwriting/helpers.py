"""Guarantee-making helpers for underwriting tests."""

from __future__ import annotations

from distpos_abci.address import Address, parse_address
from distpos_abci.bank import BankModule
from distpos_abci.tx import decode_tx
from distpos_abci.types import Amount, ChainId, Height
from distpos_abci.underwriting import Guarantee, sign_guarantee
from tests.staking.helpers import CHAIN, cons_key, key


def operator(i: int, chain: str = CHAIN) -> Address:
    return Address.from_pub_key(chain, key(i).pub_key)


def guarantee(validator: int, raw_tx: bytes, amount: int, beneficiary: str, *, total: int | None = None,
              expiry: int = 5, issued: int = 1, chain: str = CHAIN, signer: int | None = None) -> Guarantee:
    """Validator's guarantee of raw_tx's payer and nonce (signed by its consensus key, or by signer's to forge one)."""
    tx = decode_tx(raw_tx, BankModule.decoders)
    g = Guarantee(tx.hash, Amount(amount), Amount(total if total is not None else amount),
                  parse_address(beneficiary), operator(validator, chain), ChainId(chain), Height(expiry), Height(issued),
                  Address(tx.chain_id, tx.signer), tx.nonce)
    return sign_guarantee(cons_key(signer if signer is not None else validator), g)
