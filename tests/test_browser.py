"""The map page in headless Chromium (Debian's package, driven by Playwright): roofs drawn, popup values right.

Needs /usr/bin/chromium (``apt-get install chromium``); skips otherwise. Never downloads a browser.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from results_fixture import load_features, write_results

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    import uvicorn

    from solarkataster.service import create_app

    folder = write_results(tmp_path_factory.mktemp("results"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(create_app(folder, preload=True), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/", folder
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_map_draws_roofs_and_popup_shows_fixture_kwp(browser, server_url, tmp_path):
    url, folder = server_url
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    external = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith(url) else None)
    page_errors = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    page.goto(url)
    page.wait_for_function("window.solarkataster && window.solarkataster.state.loads >= 1", timeout=15_000)
    state = page.evaluate("window.solarkataster.state")
    roofs = load_features(folder, "roofs")
    # the view is fitted to the data extent, so every face and facade is in view and drawn
    assert state["roofs"] == state["roofsMatched"] == len(roofs)
    assert state["walls"] == len(load_features(folder, "walls"))
    assert page.locator("path.sk-roof-path").count() == len(roofs)
    assert page.locator("path.sk-wall-path").count() == state["walls"]
    assert page.locator(".sk-legend").inner_text().count("good") >= 2

    # click the middle of a known face and read the popup
    face = next(f for f in roofs if f["properties"]["face_id"] == "DERP000012-1")
    xs = [c[0] for c in face["geometry"]["coordinates"][0]]
    ys = [c[1] for c in face["geometry"]["coordinates"][0]]
    lon, lat = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    point = page.evaluate(f"(() => {{ const p = window.solarkataster.map.latLngToContainerPoint([{lat}, {lon}]);"
                          f" return [p.x, p.y]; }})()")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = page.locator(".sk-popup.sk-roof")
    popup.wait_for(timeout=5_000)
    assert popup.get_attribute("data-face-id") == "DERP000012-1"
    kwp_text = popup.locator('[data-field="kwp"]').inner_text()
    assert float(kwp_text.replace(",", "")) == pytest.approx(face["properties"]["kwp"], abs=0.005)
    yield_text = popup.locator('[data-field="yield_kwh"]').inner_text()
    assert float(yield_text.replace(",", "")) == pytest.approx(face["properties"]["yield_kwh"], abs=0.5)
    assert popup.locator("svg.sk-monthly rect").count() == 12
    # building totals arrive from /api/buildings/{id}
    page.wait_for_function("document.querySelector('.sk-building').textContent.includes('kWp')", timeout=5_000)

    # let Leaflet's popup fade-in finish so the screenshot shows it opaque
    page.wait_for_function("getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'",
                           timeout=5_000)
    shot = tmp_path / "solarkataster_map.png"  # pytest keeps the last runs' tmp_path folders for a look
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert not page_errors, page_errors
    assert not external, f"the page reached outside the server: {external}"
    page.close()


def test_pan_reloads_features_for_the_view(browser, server_url):
    url, folder = server_url
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.goto(url)
    page.wait_for_function("window.solarkataster && window.solarkataster.state.loads >= 1", timeout=15_000)
    # zoom into one building: far fewer faces are requested and drawn
    page.evaluate("window.solarkataster.map.setView([49.44, 7.77], 21, {animate: false})")
    page.wait_for_function("window.solarkataster.state.loads >= 2", timeout=10_000)
    state = page.evaluate("window.solarkataster.state")
    assert 0 < page.locator("path.sk-roof-path").count() == state["roofs"] < len(load_features(folder, "roofs"))
    page.close()
