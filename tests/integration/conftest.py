"""Integration fixtures: real CometBFT localnets, built on free ports with short timeouts through the same
`distpos_abci.localnet` API that `make localnet` uses.

    kvstore_net   1 chain x 4 validators of CometBFT's builtin kvstore (tests the tooling itself)
    distpos_net   1 chain x 4 validators of the DistPOS app
    localnet_factory(name, app=..., chains=..., validators=..., netns=...)  a context manager for other shapes
    netns_root    fails (never skips) unless the tests may make network namespaces (root and iproute2)

Each network is stopped at teardown whatever happened; when a test using one fails, the tail of every
node's logs is attached to the failure report.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

import pytest

from distpos_abci.localnet import (
    APP_BUILTIN_KVSTORE,
    APP_DISTPOS,
    TEST_TIMEOUTS,
    FreePorts,
    LocalnetError,
    Network,
    Timeouts,
    compute_default_chain_ids,
    generate_network,
    log_tail,
    require_netns_support,
    running_network,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
COMETBFT = REPO / "bin" / "cometbft"
# Generous: on a loaded 2-core machine the first blocks of a Python app can take a while.
START_TIMEOUT = 120.0


@pytest.fixture(scope="session")
def cometbft_bin() -> str:
    """Path of the CometBFT v0.38.25 binary built by `make cometbft`; fails (never skips) when it is missing."""
    if not COMETBFT.exists():
        pytest.fail(f"{COMETBFT} is missing: run `make cometbft`", pytrace=False)
    return str(COMETBFT)


@pytest.fixture(scope="session")
def netns_root() -> None:
    """Network-namespace tests need root and `ip`; without them they fail with the reason (CI runs as root)."""
    try:
        require_netns_support()
    except LocalnetError as exc:
        pytest.fail(f"{exc.log}: these tests put every node in its own network namespace", pytrace=False)


@pytest.fixture(scope="session")
def localnet_factory(tmp_path_factory: pytest.TempPathFactory, cometbft_bin: str):
    """A context-manager factory: a generated, started network at height >= min_height, stopped on exit."""

    @contextlib.contextmanager
    def make(
        name: str,
        *,
        app: str,
        chains: int = 1,
        validators: int = 4,
        timeouts: Timeouts = TEST_TIMEOUTS,
        min_height: int = 2,
        timeout: float = START_TIMEOUT,
        netns: bool = False,
    ) -> Iterator[Network]:
        net = generate_network(
            tmp_path_factory.mktemp(name),
            chain_ids=compute_default_chain_ids(chains),
            validators_per_chain=validators,
            port_allocator=FreePorts(),
            cometbft_bin=cometbft_bin,
            timeouts=timeouts,
            app=app,
            netns=netns,
        )
        # running_network stops every recorded process in a finally, also when start-up itself failed;
        # a start-up failure's message already carries the logs of the nodes that were behind. With netns it then
        # removes the network namespaces and links, whatever happened.
        with running_network(net, min_height=min_height, timeout=timeout):
            yield net

    return make


@pytest.fixture(scope="module")
def kvstore_net(localnet_factory) -> Iterator[Network]:
    """One chain of four validators running CometBFT's builtin kvstore."""
    with localnet_factory("kvstore", app=APP_BUILTIN_KVSTORE) as net:
        yield net


@pytest.fixture(scope="module")
def distpos_net(localnet_factory) -> Iterator[Network]:
    """One chain of four validators running the DistPOS app."""
    with localnet_factory("distpos", app=APP_DISTPOS) as net:
        yield net


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the tail of every node's logs to the report of a failed test that used a network."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Network):
                tails = "\n".join(log_tail(node) for node in value.nodes)
                report.sections.append((f"localnet logs ({value.run_dir})", tails))
    return report
