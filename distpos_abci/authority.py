"""Module accounts: accounts that no key controls, acting only through on-chain rules.

The governance module account is the authority of every message that changes chain-wide rules (opening or
closing correspondents, trust roots, routes, limits, parameters, lifting a frozen client). Nobody holds its
private key: the gov module executes a passed proposal's messages with this account as their signer.
"""

from __future__ import annotations

import hashlib

from .address import Address
from .errors import NotGovAuthorityError
from .types import AccountId, ChainId

MODULE_ACCOUNT_DOMAIN = b"distpos/module/"


def compute_module_account(name: str) -> AccountId:
    """The 20-byte account id of module `name`: sha256("distpos/module/" || name)[:20]."""
    return AccountId(hashlib.sha256(MODULE_ACCOUNT_DOMAIN + name.encode()).digest()[:20])


GOV_AUTHORITY: AccountId = compute_module_account("gov")


def gov_authority_address(chain_id: str) -> Address:
    """The governance authority's address on chain_id."""
    return Address(ChainId(chain_id), GOV_AUTHORITY)


def validate_gov_signer(signer: AccountId, what: str) -> None:
    """Raise NotGovAuthorityError unless signer is the governance authority: the check a handler of a
    governance-only message makes (its validate_basic already ties the message's `authority` to the signer)."""
    if signer != GOV_AUTHORITY:
        raise NotGovAuthorityError(f"{what} is governance-only: it runs as the governance authority, in a passed "
                                   f"proposal")
