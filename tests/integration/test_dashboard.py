"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright) over a real 2-chain
localnet: the page shows both chains and their correspondents, a cross-chain transfer appears as a packet in
flight (row and arrow) while the relays are down, and settles once they are back."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from distpos_abci.localnet import APP_DISTPOS, find_app_bin
from distpos_abci.localnet.dashboard import start_dashboard, stop_dashboard
from distpos_abci.localnet.procs import start_relay, stop_relay

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dash_net(localnet_factory):
    with localnet_factory("dashboard", app=APP_DISTPOS, chains=2, validators=1, min_height=3) as net:
        yield net


@pytest.fixture(scope="module")
def dashboard_url(dash_net):
    pid, url = start_dashboard(dash_net, free_port())
    assert pid is not None
    deadline = time.monotonic() + 30
    while True:
        try:
            snap = json.loads(urllib.request.urlopen(url + "api/snapshot", timeout=2).read())
            if len(snap["chains"]) == 2 and all(c["height"] > 0 for c in snap["chains"]):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the dashboard never answered with both chains"
        time.sleep(0.3)
    yield url
    stop_dashboard(dash_net.run_dir)


@pytest.fixture(scope="module")
def page(dashboard_url):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(dashboard_url)
        yield pg
        browser.close()


def cli(net, *args: str) -> dict:
    node = net.chains[0].nodes[0]
    env = {**os.environ, "DISTPOS_KEYRING_DIR": str(net.keyring_dir), "DISTPOS_NODE": node.rpc_url,
           "DISTPOS_GRPC": node.grpc_address, "DISTPOS_CHAIN_ID": node.chain_id}
    out = subprocess.run([find_app_bin(), *args, "-o", "json"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_page_shows_the_network_live(page):
    page.wait_for_selector('#chains tr[data-chain="e2e4"]', timeout=30_000)
    page.wait_for_selector('#chains tr[data-chain="a1b2"]', timeout=30_000)
    assert "live" in page.inner_text("#live")
    for held_at, peer in (("e2e4", "a1b2"), ("a1b2", "e2e4")):
        row = page.inner_text(f'#correspondents tr[data-correspondent="{held_at}/{peer}"]')
        assert "open" in row
    assert page.locator("#map circle").count() == 2
    assert "agree" in page.inner_text('#chains tr[data-chain="e2e4"]')
    first = int(page.inner_text('#chains tr[data-chain="e2e4"] td:nth-child(2)').replace(",", ""))
    page.wait_for_function(  # it updates by itself: the height grows without a reload
        f"Number(document.querySelector('#chains tr[data-chain=\"e2e4\"] td:nth-child(2)').textContent"
        f".replace(/,/g, '')) > {first}", timeout=30_000)


def test_a_transfer_appears_in_flight_then_settles(dash_net, page, tmp_path):
    net = dash_net
    for relay in net.relays:  # hold the packet on the source chain so the page must show it in flight
        stop_relay(relay)
    bob = next(a.address for a in net.chains[1].demo_accounts if a.name == "bob")
    sent = cli(net, "tx", "bank", "send", "alice", bob, "4321")
    assert sent["code"] == 0
    pending = cli(net, "query", "interchain", "packets", "a1b2")
    seq = max(int(p["sequence"]) for p in pending["pending"])
    key = f"e2e4/a1b2/{seq}"
    row = page.wait_for_selector(f'#packets tr[data-packet="{key}"]', timeout=30_000)
    assert "4,321" in row.inner_text() and "e2e4 → a1b2" in row.inner_text()
    assert page.locator(f'#map path[data-packet="{key}"]').count() == 1  # and an arrow in the picture
    page.screenshot(path=str(tmp_path / "in-flight.png"))
    reserve_before = page.inner_text('#correspondents tr[data-correspondent="a1b2/e2e4"] td:nth-child(3)')
    for relay in net.relays:
        start_relay(net, relay)
    page.wait_for_selector(f'#packets tr[data-packet="{key}"]', state="detached", timeout=120_000)
    assert page.locator(f'#map path[data-packet="{key}"]').count() == 0
    # credited on a1b2 from e2e4's reserve there: the page shows the reserve 4,321 lower
    expected = int(reserve_before.replace(",", "")) - 4321
    page.wait_for_function(
        "document.querySelector('#correspondents tr[data-correspondent=\"a1b2/e2e4\"] td:nth-child(3)')"
        f".textContent.replace(/,/g, '') == '{expected}'", timeout=30_000)
