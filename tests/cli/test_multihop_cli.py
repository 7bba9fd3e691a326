"""`distpos tx interchain transfer --path` and `set-route --via`: offline, one clear line on bad input."""

from __future__ import annotations

import json

from tests.cli.test_offline import home, run  # noqa: F401 (fixture)

C3D4_BOB = "c3d4x63ea7f78107df4c6fd8b17e7b05b1b3d41a5b1ab"


def _transfer(home, *extra):
    return run(home, "tx", "interchain", "transfer", "bob", C3D4_BOB, "100", *extra, "--chain-id", "e2e4",
               "--nonce", "0", "--fees", "0", "--generate-only", "--node", "http://127.0.0.1:1", "-o", "json")


def test_transfer_with_a_path_carries_it(home):
    res = _transfer(home, "--path", "a1b2", "--min-amount-out", "90")
    assert res.exit_code == 0, res.stderr
    body = json.dumps(json.loads(res.stdout))
    assert "a1b2" in body and "90" in body


def test_invalid_transfer_path_is_one_line(home):
    for path, text in (("a1b2,e2e4", "visits e2e4 twice"), ("A1B2", "transfer path")):
        res = _transfer(home, "--path", path)
        assert res.exit_code == 2, (res.stdout, res.stderr)  # InvalidInputError: RoutingLoopError, InvalidPathError
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0] and "Traceback" not in res.stderr, res.stderr


def test_set_route_via_prints_the_governance_message(home):
    res = run(home, "tx", "interchain", "set-route", "c3d4", "--via", "a1b2", "--max-hops", "3", "--chain-id", "e2e4",
              "-o", "json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["field"] == "set_route"
    assert out["message"]["route"]["via"] == "a1b2" and out["message"]["route"]["max_hops"] == 3


def test_invalid_set_route_via_itself(home):
    res = run(home, "tx", "interchain", "set-route", "c3d4", "--via", "c3d4", "--chain-id", "e2e4")
    assert res.exit_code == 2 and res.stderr.strip() == "Error: route to c3d4 via itself", res.stderr
