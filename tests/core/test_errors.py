"""The exception tree: every class has a distinct code."""

import importlib
import pkgutil

import distpos_abci
from distpos_abci.errors import InsufficientFundsError, all_error_classes


def _import_everything() -> None:
    """Error classes may live beside their area; load every module so none is missed."""
    for mod in pkgutil.walk_packages(distpos_abci.__path__, "distpos_abci."):
        if ".gen." not in mod.name and not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)


def test_codes_are_distinct_and_nonzero():
    _import_everything()
    classes = all_error_classes()
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all(c.code > 0 for c in classes)


def test_log_names_codespace_and_code():
    assert InsufficientFundsError("need 5").log == "bank:20: need 5"
