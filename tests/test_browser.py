"""The map page in headless Chromium (Debian's package, driven by Playwright, software WebGL).

MapLibre GL JS draws the roof faces from the vector tiles (``solarkataster.pmtiles``, read with HTTP range
requests through the ``pmtiles`` protocol). The tests check what was rendered (``queryRenderedFeatures``)
against the GeoJSON layers, click a roof and compare the popup with the GeoJSON's properties, search a
building and check that the map moved there, and keep a screenshot (under ``tmp_path``; its path is printed).

Needs /usr/bin/chromium (``apt-get install chromium``); skips otherwise. Never downloads a browser.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import shapely
from results_fixture import load_features, write_results

from solarkataster.service.background import serving

CHROMIUM = Path("/usr/bin/chromium")
# Software WebGL (SwiftShader through ANGLE): no GPU is needed
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--use-gl=angle",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from solarkataster.io.raster_tiles import build_context_tiles
    from solarkataster.io.vector_tiles import TilesError, build_vector_tiles

    folder = write_results(tmp_path_factory.mktemp("results"))
    try:
        build_vector_tiles(folder)
    except TilesError as exc:
        pytest.skip(f"no vector tiles: {exc}")
    write_context_rasters(folder)
    assert build_context_tiles(folder) == ["hillshade.pmtiles", "irradiation.pmtiles"]
    return folder


def write_context_rasters(folder):
    """irradiation.tif and sky_view_factor.tif over the fixture's extent (EPSG:25832, 0.5 m), smooth patterns."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.warp import transform_bounds

    lons, lats = zip(*(c for f in load_features(folder, "buildings") for c in f["geometry"]["coordinates"][0]))
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", "EPSG:25832", min(lons), min(lats), max(lons), max(lats))
    x0, y0, x1, y1 = x0 - 20, y0 - 20, x1 + 20, y1 + 20
    cols, rows = int((x1 - x0) / 0.5), int((y1 - y0) / 0.5)
    yy, xx = np.mgrid[0:rows, 0:cols] * 0.5
    layers = {"irradiation": 900 + 150 * np.sin(xx / 12) * np.cos(yy / 9),
              "sky_view_factor": 0.6 + 0.35 * np.sin(xx / 7 + yy / 5)}
    for name, values in layers.items():
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", width=cols, height=rows, count=1,
                           dtype="float32", crs="EPSG:25832", transform=Affine(0.5, 0, x0, 0, -0.5, y1),
                           nodata=np.nan) as ds:
            ds.write(values.astype(np.float32), 1)


@pytest.fixture(scope="module")
def server_url(results):
    from solarkataster.service import create_app

    with serving(create_app(results, preload=True)) as url:
        yield url, results


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


responses = {}  # page -> [(url, status)]


def open_map(browser, url, width=1100, height=760):
    """Open the page; wait until the map is idle with roof faces drawn. Returns (page, errors, outside)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside, errors = [], []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(url)
            and not req.url.startswith(("data:", "blob:")) else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    responses[page] = []
    page.on("response", lambda r: responses[page].append((r.url, r.status)))
    page.goto(url)
    page.wait_for_function("window.solarkataster && window.solarkataster.state.loads >= 1 && "
                           "window.solarkataster.state.roofs > 0", timeout=30_000)
    return page, errors, outside


def rendered_ids(page, layer, key):
    return set(page.evaluate(f"""window.solarkataster.map.queryRenderedFeatures({{layers: ["{layer}"]}})
                                 .map(f => String(f.properties["{key}"]))"""))


def click_at(page, lon, lat):
    point = page.evaluate(f"(() => {{ const p = window.solarkataster.map.project([{lon}, {lat}]);"
                          f" return [p.x, p.y]; }})()")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


def check_roof_popup(page, face):
    """The popup of ``face`` shows the GeoJSON's values (after the building's JSON filled it in)."""
    p = face["properties"]
    popup = page.locator('.sk-popup.sk-roof[data-full="1"]')
    popup.wait_for(timeout=10_000)
    assert popup.get_attribute("data-face-id") == p["face_id"]
    value = lambda field: float(popup.locator(f'[data-field="{field}"]').inner_text().replace(",", ""))  # noqa: E731
    assert value("kwp") == pytest.approx(p["kwp"], abs=0.005)
    assert value("yield_kwh") == pytest.approx(p["yield_kwh"], abs=0.5)
    assert value("co2_savings_kg") == pytest.approx(p["co2_savings_kg"], abs=0.5)
    assert value("usable_area") == pytest.approx(p["usable_area"], abs=0.05)
    assert value("irradiation") == pytest.approx(p["irradiation"], abs=0.5)
    assert value("tilt") == pytest.approx(p["tilt"], abs=0.5)
    if p["azimuth"] is None:
        assert popup.locator('[data-field="azimuth"]').inner_text() == "flat"
    else:
        assert value("azimuth") == pytest.approx(p["azimuth"], abs=0.5)
    assert popup.locator("svg.sk-monthly rect").count() == 12
    assert "weather: clear-sky" in popup.inner_text()
    # building totals from the building's JSON
    page.wait_for_function("document.querySelector('.sk-popup .sk-building').textContent.includes('kWp')",
                           timeout=5_000)


def search_and_check_move(page, folder, building_id):
    building = next(f for f in load_features(folder, "buildings") if f["properties"]["building_id"] == building_id)
    centre = shapely.geometry.shape(building["geometry"]).centroid
    before = page.evaluate("window.solarkataster.map.getCenter().toArray()")
    page.fill(".sk-search input", building_id)
    page.press(".sk-search input", "Enter")
    page.wait_for_function("window.solarkataster.state.searches >= 1 && !window.solarkataster.map.isMoving()",
                           timeout=10_000)
    page.wait_for_timeout(300)
    after = page.evaluate("window.solarkataster.map.getCenter().toArray()")
    zoom = page.evaluate("window.solarkataster.map.getZoom()")
    assert page.evaluate("window.solarkataster.state.lastHit.building_id") == building_id
    assert math.dist(before, after) > 1e-5, "the map did not move"
    # the building is in the middle of the view, close up
    assert after[0] == pytest.approx(centre.x, abs=3e-5) and after[1] == pytest.approx(centre.y, abs=3e-5)
    assert zoom >= 18


def test_map_renders_roofs_from_tiles_popup_and_search(browser, server_url, tmp_path):
    url, folder = server_url
    page, errors, outside = open_map(browser, url)
    roofs = load_features(folder, "roofs")
    walls = load_features(folder, "walls")
    # the view is fitted to the data extent: every face and facade was rendered from the vector tiles
    page.wait_for_function(f"window.solarkataster.state.roofs === {len(roofs)}", timeout=20_000)
    assert rendered_ids(page, "roofs", "face_id") == {f["properties"]["face_id"] for f in roofs}
    assert rendered_ids(page, "walls", "wall_id") == {f["properties"]["wall_id"] for f in walls}
    assert page.evaluate("window.solarkataster.state.mode") == "service"
    legend = page.locator(".sk-legend").inner_text()
    assert legend.count("good") >= 2 and "Facades: irradiation" in legend

    # click inside a known face (a point on its surface, away from the facade lines) and read the popup
    face = next(f for f in roofs if f["properties"]["face_id"] == "DERP000012-1")
    inner = shapely.geometry.shape(face["geometry"]).buffer(-1.5e-5).representative_point()
    click_at(page, inner.x, inner.y)
    check_roof_popup(page, face)
    page.wait_for_timeout(300)
    shot = tmp_path / "solarkataster_map.png"  # pytest keeps the last runs' tmp_path folders for a look
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    search_and_check_move(page, folder, "DERP000031")
    # a facade of the building found: its popup has the wall's values
    wall = next(f for f in walls if f["properties"]["wall_id"] == "DERP000031-w1")
    mid = shapely.geometry.shape(wall["geometry"]).interpolate(0.5, normalized=True)
    click_at(page, mid.x, mid.y)
    popup = page.locator('.sk-popup.sk-wall[data-full="1"]')
    popup.wait_for(timeout=10_000)
    assert popup.get_attribute("data-wall-id") == "DERP000031-w1"
    for field, digits in (("kwp", 0.005), ("irradiation", 0.5), ("usable_area", 0.05)):
        text = popup.locator(f'[data-field="{field}"]').inner_text().replace(",", "")
        assert float(text) == pytest.approx(wall["properties"][field], abs=digits), field
    assert popup.locator("svg.sk-monthly rect").count() == 12
    shot = tmp_path / "solarkataster_search.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert not errors, errors
    assert not outside, f"the page reached outside the server: {outside}"
    page.close()


def test_layers_switch_off_and_on(browser, server_url):
    url, _ = server_url
    page, errors, _ = open_map(browser, url, 800, 600)
    # the raster context: hillshade on, irradiation off, both switchable; their tiles come by range requests
    assert page.is_checked('.sk-layers input[data-layer="hillshade"]')
    assert not page.is_checked('.sk-layers input[data-layer="irradiation_raster"]')
    page.check('.sk-layers input[data-layer="irradiation_raster"]')
    page.wait_for_function("window.solarkataster.map.getLayoutProperty('irradiation_raster', 'visibility') "
                           "=== 'visible' && window.solarkataster.map.isSourceLoaded('irradiation_raster')",
                           timeout=10_000)
    assert "Annual irradiation (raster)" in page.locator(".sk-legend").inner_text()
    page.evaluate("window.solarkataster.map.zoomIn({animate: false})")
    page.wait_for_function("window.solarkataster.map.isSourceLoaded('hillshade')", timeout=10_000)
    context_ranges = [status for u, status in responses[page] if "/tiles/hillshade.pmtiles" in u]
    assert context_ranges and set(context_ranges) == {206}, context_ranges
    page.uncheck('.sk-layers input[data-layer="roofs"]')
    page.wait_for_function("window.solarkataster.state.loads >= 2 && window.solarkataster.state.roofs === 0",
                           timeout=10_000)
    page.check('.sk-layers input[data-layer="roofs"]')
    page.wait_for_function("window.solarkataster.state.roofs > 0", timeout=10_000)
    assert not errors, errors
    page.close()


@pytest.fixture(scope="module")
def static_url(results, tmp_path_factory):
    """The static site of the results (``tiles --site``) on a plain static file server (no solarkataster)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from solarkataster.service.site import write_site

    site = write_site(results, tmp_path_factory.mktemp("site") / "site")
    with serving(Starlette(routes=[Mount("/", StaticFiles(directory=site, html=True))])) as url:
        yield url, results


def test_static_site_renders_popup_and_search_without_the_service(browser, static_url, tmp_path):
    from solarkataster.service.site import building_key

    url, folder = static_url
    page, errors, outside = open_map(browser, url)
    roofs = load_features(folder, "roofs")
    page.wait_for_function(f"window.solarkataster.state.roofs === {len(roofs)}", timeout=20_000)
    assert page.evaluate("window.solarkataster.state.mode") == "static"
    assert rendered_ids(page, "roofs", "face_id") == {f["properties"]["face_id"] for f in roofs}
    for odd in ("DERP000001", "a/b ü", "../x", "Haus 3.1"):  # the page's file names are the writer's
        assert page.evaluate(f"window.solarkataster.buildingKey({odd!r})") == building_key(odd)
    face = next(f for f in roofs if f["properties"]["face_id"] == "DERP000019-2")
    inner = shapely.geometry.shape(face["geometry"]).buffer(-1.5e-5).representative_point()
    click_at(page, inner.x, inner.y)
    check_roof_popup(page, face)
    assert page.locator(".sk-econ").count() == 0  # no calculator without the service
    search_and_check_move(page, folder, "DERP000022")
    shot = tmp_path / "solarkataster_static.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert not errors, errors
    assert not outside, f"the page reached outside the server: {outside}"
    page.close()


def test_online_basemap_style_goes_under_the_results(browser, server_url):
    """``--basemap STYLE_URL`` (here ``?basemap=``): the style's layers are drawn below the results' layers."""
    from results_fixture import CENTER_LAT, CENTER_LON
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    land = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [CENTER_LON - 0.01, CENTER_LAT - 0.01], [CENTER_LON + 0.01, CENTER_LAT - 0.01],
        [CENTER_LON + 0.01, CENTER_LAT + 0.01], [CENTER_LON - 0.01, CENTER_LAT + 0.01],
        [CENTER_LON - 0.01, CENTER_LAT - 0.01]]]}}
    style = {"version": 8, "sources": {"land": {"type": "geojson", "data": land}},
             "layers": [{"id": "base-background", "type": "background", "paint": {"background-color": "#dfe8d0"}},
                        {"id": "land", "type": "fill", "source": "land", "paint": {"fill-color": "#b8d8a0"}}]}
    app = Starlette(routes=[Route("/style.json", lambda request: JSONResponse(
        style, headers={"Access-Control-Allow-Origin": "*"}))])
    with serving(app) as style_base:
        url, folder = server_url
        page, errors, _ = open_map(browser, f"{url}?basemap={style_base}style.json")
        page.wait_for_function("window.solarkataster.state.basemap === 'style'", timeout=10_000)
        page.wait_for_function(f"window.solarkataster.state.roofs === {len(load_features(folder, 'roofs'))}",
                               timeout=20_000)
        ids = page.evaluate("window.solarkataster.map.getStyle().layers.map(l => l.id)")
        assert ids.index("land") < ids.index("roofs") < ids.index("walls")
        assert not errors, errors
        page.close()
