"""The exception tree: every class has a distinct code."""

from distpos_abci.errors import InsufficientFundsError, all_error_classes


def test_codes_are_distinct_and_nonzero():
    classes = all_error_classes()
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all(c.code > 0 for c in classes)


def test_log_names_codespace_and_code():
    assert InsufficientFundsError("need 5").log == "bank:20: need 5"
