"""The web service over a synthetic results folder: every endpoint, bad input, traversal, CORS, limits."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import warnings

import pytest
import shapely
from results_fixture import CENTER_LAT, CENTER_LON, load_features, write_results
from shapely.geometry import box, shape

with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; irrelevant here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from solarkataster.errors import NotFoundError, ParameterError, ResultsError, SolarkatasterError
from solarkataster.service import create_app
from solarkataster.service.errors import status_code_for
from solarkataster.service.params import parse_bbox


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def client(results_dir):
    return TestClient(create_app(results_dir, max_features=500))


@pytest.fixture(scope="module")
def roofs_by_id(results_dir):
    return {f["properties"]["face_id"]: f for f in load_features(results_dir, "roofs")}


def brute_force_ids(results_dir, layer, bbox, id_field):
    """Reference: shapely intersects of every feature with the box, no index."""
    query = box(*bbox)
    return {f["properties"][id_field] for f in load_features(results_dir, layer)
            if shape(f["geometry"]).intersects(query)}


EXTENT_BOXES = [
    (7.5, 49.0, 8.0, 50.0),  # everything
    (7.7695, 49.4395, 7.7705, 49.4405),  # a few buildings in the middle
    (7.7686, 49.4394, 7.76875, 49.43955),  # one corner, partial overlaps
    (7.0, 49.0, 7.1, 49.1),  # nothing
    (7.77, 49.44, 7.7700001, 49.4400001),  # tiny box
]


@pytest.mark.parametrize("bbox", EXTENT_BOXES)
@pytest.mark.parametrize("layer,id_field", [("roofs", "face_id"), ("walls", "wall_id")])
def test_bbox_matches_brute_force(client, results_dir, bbox, layer, id_field):
    r = client.get(f"/api/{layer}", params={"bbox": ",".join(map(str, bbox))})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    expected = brute_force_ids(results_dir, layer, bbox, id_field)
    got = [f["properties"][id_field] for f in fc["features"]]
    assert fc["type"] == "FeatureCollection"
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert fc["numberMatched"] == fc["numberReturned"] == len(expected)
    assert fc["truncated"] is False


def test_bbox_really_selects_a_subset(client, results_dir):
    # guard against a fixture where every box returns everything or nothing
    all_ids = brute_force_ids(results_dir, "roofs", EXTENT_BOXES[0], "face_id")
    some = brute_force_ids(results_dir, "roofs", EXTENT_BOXES[1], "face_id")
    assert len(all_ids) == 72 and 0 < len(some) < len(all_ids)


def test_bbox_uses_exact_geometry_not_envelopes(client, roofs_by_id):
    """A box in the 1 m gap of the MultiPolygon face lies inside its envelope but touches neither part."""
    face = roofs_by_id["DERP000001-1"]
    left, right = (shape({"type": "Polygon", "coordinates": c}) for c in face["geometry"]["coordinates"])
    gap = (left.bounds[2], left.bounds[1], right.bounds[0], left.bounds[3])
    inner = (gap[0] + 0.25 * (gap[2] - gap[0]), gap[1] + 0.25 * (gap[3] - gap[1]),
             gap[0] + 0.75 * (gap[2] - gap[0]), gap[1] + 0.75 * (gap[3] - gap[1]))
    assert box(*shape(face["geometry"]).bounds).contains(box(*inner))
    fc = client.get("/api/roofs", params={"bbox": ",".join(f"{v:.9f}" for v in inner)}).json()
    assert "DERP000001-1" not in {f["properties"]["face_id"] for f in fc["features"]}
    assert fc["numberMatched"] == 0


def test_features_are_returned_unchanged(client, roofs_by_id):
    fc = client.get("/api/roofs", params={"bbox": "7.5,49,8,50"}).json()
    for f in fc["features"]:
        ref = roofs_by_id[f["properties"]["face_id"]]
        assert f["properties"] == ref["properties"]
        assert f["geometry"] == ref["geometry"]
        assert f["id"] == ref["properties"]["face_id"]
    multi = [f for f in fc["features"] if f["geometry"]["type"] == "MultiPolygon"]
    assert len(multi) == 1


def test_limit_truncates_and_says_so(client):
    r = client.get("/api/roofs", params={"bbox": "7.5,49,8,50", "limit": 10})
    fc = r.json()
    assert r.status_code == 200
    assert fc["numberReturned"] == len(fc["features"]) == 10
    assert fc["numberMatched"] == 72 and fc["truncated"] is True and fc["limit"] == 10


def test_default_limit_is_capped_by_max_features(results_dir):
    small = TestClient(create_app(results_dir, max_features=5))
    fc = small.get("/api/roofs", params={"bbox": "7.5,49,8,50"}).json()
    assert fc["numberReturned"] == 5 and fc["truncated"] is True
    r = small.get("/api/roofs", params={"bbox": "7.5,49,8,50", "limit": 6})
    assert r.status_code == 422 and "--max-features" not in r.json()["detail"] and "maximum of 5" in r.json()["detail"]


@pytest.mark.parametrize("query", [
    "bbox=1,2,3", "bbox=1,2,3,4,5", "bbox=a,b,c,d", "bbox=", "bbox=nan,49,8,50", "bbox=7,49,inf,50",
    "bbox=8,49,7,50",  # inverted lon
    "bbox=7,50,8,49",  # inverted lat
    "bbox=7,49,7,50",  # empty
    "bbox=-181,49,8,50", "bbox=7,-91,8,50", "bbox=7,49,181,50", "bbox=7,49,8,95",
    "bbox=" + "1" * 300,
    "",  # missing
    "bbox=7,49,8,50&limit=0", "bbox=7,49,8,50&limit=-3", "bbox=7,49,8,50&limit=ten",
    "bbox=7,49,8,50&limit=501",  # more than max_features
])
@pytest.mark.parametrize("layer", ["roofs", "walls"])
def test_bad_bbox_queries_are_422(client, layer, query):
    r = client.get(f"/api/{layer}?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_bad_bbox_messages_name_the_problem():
    with pytest.raises(ParameterError, match="inverted"):
        parse_bbox("8,49,7,50")
    with pytest.raises(ParameterError, match="min_lat"):
        parse_bbox("7,-91,8,50")
    with pytest.raises(ParameterError, match="four"):
        parse_bbox("7,49,8")
    assert parse_bbox("7,49,8,50") == (7.0, 49.0, 8.0, 50.0)


def test_building_endpoint(client, results_dir):
    building_id = "DERP000001"
    r = client.get(f"/api/buildings/{building_id}")
    assert r.status_code == 200
    body = r.json()
    faces = [f for f in load_features(results_dir, "roofs") if f["properties"]["building_id"] == building_id]
    walls = [f for f in load_features(results_dir, "walls") if f["properties"]["building_id"] == building_id]
    ref = next(f for f in load_features(results_dir, "buildings") if f["properties"]["building_id"] == building_id)
    ids = lambda fs, key: {f["properties"][key] for f in fs}  # noqa: E731
    assert ids(body["faces"]["features"], "face_id") == ids(faces, "face_id") and len(faces) == 2
    assert ids(body["walls"]["features"], "wall_id") == ids(walls, "wall_id") and len(walls) == 4
    assert body["building"]["properties"] == ref["properties"]
    totals = body["totals"]
    assert totals["kwp"] == ref["properties"]["kwp"]
    # the fixture's building kWp is the sum of its faces' (rounded to 3 decimals)
    assert totals["kwp"] == pytest.approx(sum(f["properties"]["kwp"] for f in faces), abs=2e-3)
    assert body["monthly"]["yield_kwh"] == ref["properties"]["monthly_yield"]
    # area-weighted monthly roof irradiation, by hand
    area = sum(f["properties"]["area"] for f in faces)
    june = sum(f["properties"]["area"] * f["properties"]["monthly_irradiation"][5] for f in faces) / area
    assert body["monthly"]["roof_irradiation_kwh_m2"][5] == pytest.approx(june, rel=1e-12)


def test_building_only_in_roofs_layer_sums_its_faces(tmp_path):
    folder = write_results(tmp_path, n_x=2, n_y=1)
    fc = json.loads((folder / "buildings.geojson").read_text())
    fc["features"] = [f for f in fc["features"] if f["properties"]["building_id"] != "DERP000001"]
    (folder / "buildings.geojson").write_text(json.dumps(fc))
    body = TestClient(create_app(folder)).get("/api/buildings/DERP000001").json()
    faces = [f["properties"] for f in load_features(folder, "roofs") if f["properties"]["building_id"] == "DERP000001"]
    assert body["building"] is None and body["totals"]["faces"] == len(faces) == 2
    assert body["totals"]["kwp"] == pytest.approx(sum(p["kwp"] for p in faces), rel=1e-12)


@pytest.mark.parametrize("path,codes", [
    ("/api/buildings/DOESNOTEXIST", {404}),
    ("/api/buildings/..%2F..%2Fetc%2Fpasswd", {404, 422}),
    ("/api/buildings/..%5C..%5Cwindows", {422}),
    ("/api/buildings/%00", {422}),
    ("/api/buildings/" + "x" * 300, {422}),
    ("/api/buildings/..", {404}),
    ("/static/..%2F..%2Fetc%2Fpasswd", {404}),
    ("/static/%2e%2e/%2e%2e/etc/passwd", {404}),
    ("/static/..%2F..%2Fstore.py", {404}),
    ("/static/../store.py", {404}),
    ("/api/roofs.geojson", {404}),
    ("/roofs.geojson", {404}),
    ("/run.json", {404}),
])
def test_unknown_ids_and_traversal_are_4xx(client, path, codes):
    r = client.get(path)
    assert r.status_code in codes, (path, r.status_code, r.text[:200])
    assert "root:" not in r.text and "import" not in r.text


def test_raw_traversal_over_http(results_dir):
    """Real HTTP with un-normalised dot segments (test clients normalise them away)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(create_app(results_dir), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        for target in ("/static/../../../../etc/passwd", "/static/../store.py", "/static/..%2f..%2fstore.py",
                       "/api/buildings/../../../../etc/passwd", "/static//etc/passwd"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            status = int(reply.split(b" ", 2)[1])
            assert 400 <= status < 500, (target, reply[:200])
            assert b"root:" not in reply and b"import" not in reply
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def test_point_on_a_roof_face(client, roofs_by_id):
    face = roofs_by_id["DERP000010-1"]
    inside = shape(face["geometry"]).representative_point()
    r = client.get("/api/point", params={"lon": inside.x, "lat": inside.y})
    assert r.status_code == 200
    body = r.json()
    assert body["face"]["properties"]["face_id"] == "DERP000010-1"
    assert body["building"]["properties"]["building_id"] == "DERP000010"


def test_point_near_a_facade_and_off_the_buildings(client, results_dir):
    wall = next(f for f in load_features(results_dir, "walls") if f["properties"]["wall_id"] == "DERP000000-w1")
    (lon0, lat0), (lon1, lat1) = wall["geometry"]["coordinates"]
    # 1 m south of the wall's midpoint (azimuth 180 wall): outside the building, within 2 m of the wall
    lat = (lat0 + lat1) / 2 - 1.0 / 111_320.0
    body = client.get("/api/point", params={"lon": (lon0 + lon1) / 2, "lat": lat, "tolerance": 2}).json()
    assert body["face"] is None and body["building"] is None
    assert body["walls"][0]["properties"]["wall_id"] == "DERP000000-w1"
    body = client.get("/api/point", params={"lon": (lon0 + lon1) / 2, "lat": lat, "tolerance": 0.5}).json()
    assert body["walls"] == []
    body = client.get("/api/point", params={"lon": 0.0, "lat": 0.0}).json()
    assert body == {"lon": 0.0, "lat": 0.0, "face": None, "building": None, "walls": []}


@pytest.mark.parametrize("query", ["lon=181&lat=49", "lon=7&lat=-90.5", "lon=nan&lat=49", "lon=7", "lat=49",
                                   "lon=x&lat=49", "lon=7&lat=49&tolerance=-1", "lon=7&lat=49&tolerance=1000"])
def test_bad_point_queries_are_422(client, query):
    r = client.get(f"/api/point?{query}")
    assert r.status_code == 422, r.text


def test_meta(client, results_dir):
    meta = client.get("/api/meta").json()
    assert meta["version"] == "0.1.0" and meta["weather"]["source"] == "clear-sky"
    assert meta["units"]["roofs"]["irradiation"] == "kWh/m²/a"
    assert meta["suitability"]["min"]["good"] == 900.0 and meta["suitability"]["source"] == "results"
    assert [c["class"] for c in meta["legend"]] == ["very good", "good", "limited", "unsuitable"]
    assert meta["counts"] == {"roofs": 72, "walls": 160, "buildings": 40}
    geoms = [shape(f["geometry"]) for f in load_features(results_dir, "buildings")]
    assert meta["extent"] == pytest.approx(list(shapely.total_bounds(geoms)), abs=1e-12)
    assert meta["extent"][0] < CENTER_LON < meta["extent"][2] and meta["extent"][1] < CENTER_LAT < meta["extent"][3]
    assert meta["limits"] == {"default_features": 500, "max_features": 500}
    assert meta["basemap"] is None


def test_meta_defaults_without_thresholds_and_basemap_option(tmp_path):
    folder = write_results(tmp_path, n_x=2, n_y=1, with_walls=False)
    for name in ("roofs",):
        fc = json.loads((folder / f"{name}.geojson").read_text())
        del fc["metadata"]["suitability"]
        (folder / f"{name}.geojson").write_text(json.dumps(fc))
    (folder / "run.json").unlink()
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    c = TestClient(create_app(folder, basemap_url=url, basemap_attribution="© Example"))
    meta = c.get("/api/meta").json()
    assert meta["suitability"]["source"].startswith("default")
    assert meta["basemap"] == {"url": url, "attribution": "© Example"}
    assert meta["counts"]["walls"] == 0
    assert c.get("/api/walls", params={"bbox": "7,49,8,50"}).json()["features"] == []


def test_health_docs_and_page(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/roofs", "/api/walls", "/api/point",
                                                                  "/api/meta", "/api/buildings/{building_id}"}
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "static/vendor/maplibre-gl/maplibre-gl.js" in page.text and "leaflet" not in page.text.lower()
    for asset in ("static/vendor/maplibre-gl/maplibre-gl.js", "static/vendor/maplibre-gl/maplibre-gl.css",
                  "static/vendor/pmtiles/pmtiles.js", "static/map.js", "static/map.css",
                  "static/vendor/maplibre-gl/LICENSE.txt", "static/vendor/pmtiles/LICENSE",
                  "static/vendor/README.md"):
        assert client.get("/" + asset).status_code == 200, asset
    # vendored minified, without source maps
    assert "sourceMappingURL" not in client.get("/static/vendor/maplibre-gl/maplibre-gl.js").text
    assert page.headers["x-content-type-options"] == "nosniff"


def test_read_only(client):
    for method in ("post", "put", "delete", "patch"):
        r = getattr(client, method)("/api/roofs?bbox=7,49,8,50")
        assert r.status_code == 405
    assert client.post("/api/buildings/DERP000001").status_code == 405


def test_cors_off_by_default_and_configurable(results_dir, client):
    origin = "https://portal.example.org"
    r = client.get("/api/meta", headers={"Origin": origin})
    assert "access-control-allow-origin" not in r.headers
    c = TestClient(create_app(results_dir, cors_origins=[origin]))
    r = c.get("/api/meta", headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin
    r = c.get("/api/meta", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in r.headers
    pre = c.options("/api/roofs", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200 and "GET" in pre.headers["access-control-allow-methods"]


def test_missing_or_corrupt_folder_is_a_startup_error(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        create_app(tmp_path / "nowhere")
    with pytest.raises(ResultsError, match="roofs.geojson"):
        create_app(tmp_path)
    folder = write_results(tmp_path / "r", n_x=2, n_y=1)
    (folder / "roofs.geojson").write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(ResultsError, match="roofs"):
        create_app(folder, preload=True)
    (folder / "roofs.geojson").write_text('{"type": "Feature"}')
    with pytest.raises(ResultsError, match="FeatureCollection"):
        create_app(folder, preload=True)
    (folder / "roofs.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                                          '"properties": {"face_id": "a"}, "geometry": {"type": "Polygon", '
                                          '"coordinates": [[[0, 0], [1]]]}}]}')
    with pytest.raises(ResultsError, match="geometry"):
        create_app(folder, preload=True)
    with pytest.raises(ParameterError, match="max_features"):
        create_app(write_results(tmp_path / "ok", n_x=1, n_y=1), max_features=0)


def test_corrupt_layer_after_startup_is_503_not_500(tmp_path):
    folder = write_results(tmp_path, n_x=2, n_y=1)
    c = TestClient(create_app(folder))  # lazy: nothing parsed yet
    (folder / "walls.geojson").write_text("not json")
    r = c.get("/api/walls", params={"bbox": "7,49,8,50"})
    assert r.status_code == 503 and "walls.geojson" in r.json()["detail"]
    (folder / "buildings.geojson").unlink()
    assert c.get("/health").status_code == 503


def test_error_table():
    assert status_code_for(NotFoundError("x")) == 404
    assert status_code_for(ParameterError("x")) == 422
    assert status_code_for(ResultsError("x")) == 503
    assert status_code_for(SolarkatasterError("x")) == 400
    assert status_code_for(RuntimeError("x")) == 500


def test_cli_help_is_fast_and_serve_reports_bad_folder(tmp_path):
    from click.testing import CliRunner

    from solarkataster.cli import cli

    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--max-features" in r.output and "--cors-origin" in r.output
    r = runner.invoke(cli, ["serve", str(tmp_path)])
    assert r.exit_code == 2 and "roofs.geojson" in r.output


# ------------------------------------------------------------------------ no server paths, offline docs

def _with_server_paths(folder, inputs_dir):
    """Give the fixture's provenance what a real run writes: absolute input paths in run.json and metadata."""
    dsm, weather, footprints = (str(inputs_dir / n) for n in ("dsm.tif", "try2010.dat", "footprints.gpkg"))
    run = json.loads((folder / "run.json").read_text())
    run["inputs"] = [{"path": dsm, "sha256": "0" * 64}, {"path": footprints, "sha256": "1" * 64}]
    run["weather_source"] = {"name": f"DWD TRY {weather}", "path": weather}
    run["cadastre"] = {"ground": f"DTM {inputs_dir / 'dtm.tif'} (resampled)",
                       "footprints": {"path": footprints, "outside_raster": {"count": 1, "ids": ["x"]}},
                       "out_dir": str(folder), "layer": str(folder / "roofs.geojson")}
    (folder / "run.json").write_text(json.dumps(run))
    roofs = json.loads((folder / "roofs.geojson").read_text())
    roofs["metadata"]["provenance"]["inputs"] = run["inputs"]
    roofs["metadata"]["weather"] = {"source": weather}
    (folder / "roofs.geojson").write_text(json.dumps(roofs))
    return [dsm, weather, footprints, str(inputs_dir), str(folder)]


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


ABSOLUTE = re.compile(r"(?<![\w:/.])/(?:[\w.-]+/)+[\w.-]*")  # /a/b or /a/b/ (not kWh/m²/a, not URLs)


def test_no_server_path_in_any_response(tmp_path):
    folder = write_results(tmp_path / "srv" / "results", n_x=2, n_y=2)
    secrets = _with_server_paths(folder, tmp_path / "srv" / "inputs")
    client = TestClient(create_app(folder))
    building_id = load_features(folder, "buildings")[0]["properties"]["building_id"]
    paths = ("/api/meta", "/health", "/api/buildings/nope", "/api/roofs?bbox=7,49,8,50",
             f"/api/buildings/{building_id}", f"/api/point?lon={CENTER_LON}&lat={CENTER_LAT}")
    responses = [client.get(p) for p in paths]
    (folder / "walls.geojson").write_text("not json")  # a server-side failure names the file
    client = TestClient(create_app(folder))  # lazy: walls not parsed yet
    responses.append(client.get("/api/walls", params={"bbox": "7,49,8,50"}))
    (folder / "buildings.geojson").unlink()
    responses.append(client.get("/health"))
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 200, 200, 503, 503]
    for r in responses:
        for s in secrets:
            assert s not in r.text, (r.url, s)
        for text in _strings(r.json()):
            assert not ABSOLUTE.search(text), (r.url, text)
    meta, missing, broken = responses[0].json(), responses[2].json(), responses[6].json()
    assert meta["provenance"]["inputs"][0]["path"] == "dsm.tif"  # input files by name
    assert "results" in missing["detail"]  # the folder by its name
    assert broken["detail"].startswith("walls.geojson: ")  # results files relative to the folder


def test_public_paths_rules(tmp_path):
    from solarkataster.service.errors import public_paths

    root = tmp_path / "out"
    assert public_paths(f"{root}/tiles/3/roofs.geojson: bad", root) == "tiles/3/roofs.geojson: bad"
    assert public_paths(f"no building in {root}.", root) == "no building in out."
    assert public_paths("DTM /data/nrw/dtm_1m.tif (resampled)", root) == "DTM dtm_1m.tif (resampled)"
    assert public_paths({"p": ["C:\\data\\dsm.tif"]}, root) == {"p": ["dsm.tif"]}
    for kept in ("kWh/m²/a", "W/m2", "https://tile.example.org/{z}/{x}/{y}.png", "tiles/3/x.tif", 0.5, None):
        assert public_paths(kept, root) == kept


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_work_offline(client, page):
    """The API docs reference only assets this server serves (Swagger UI/ReDoc from an installed package)."""
    r = client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
    assert refs, r.text
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref  # same origin, no CDN
        asset = client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 1000, ref
    assert "http://" not in r.text and "https://" not in r.text
    assert "/openapi.json" in r.text


# ------------------------------------------------------------------------ the columnar index (lazy start)

def _as_lines(folder):
    """Rewrite the fixture's layers in write_geojson's layout: a header line, then one feature per line."""
    for name in ("roofs", "walls", "buildings"):
        data = json.loads((folder / f"{name}.geojson").read_text(encoding="utf-8"))
        with open(folder / f"{name}.geojson", "w", encoding="utf-8") as f:
            f.write('{"type": "FeatureCollection", "metadata": ' + json.dumps(data["metadata"]) + ', "features": [')
            for i, feature in enumerate(data["features"]):
                f.write(("\n" if i == 0 else ",\n") + json.dumps(feature, ensure_ascii=False))
            f.write("\n]}\n")


def test_index_answers_like_the_parsed_layers_and_is_reused(tmp_path, monkeypatch):
    import solarkataster.service.store as st

    one_line, by_line = write_results(tmp_path / "a"), write_results(tmp_path / "b")
    _as_lines(by_line)
    ca, cb = TestClient(create_app(one_line)), TestClient(create_app(by_line))
    lon, lat = CENTER_LON, CENTER_LAT
    queries = [("/api/roofs", {"bbox": f"{lon - 3e-4},{lat - 2e-4},{lon + 2e-4},{lat + 1e-4}"}),
               ("/api/walls", {"bbox": f"{lon - 3e-4},{lat - 2e-4},{lon + 2e-4},{lat + 1e-4}"}),
               ("/api/buildings/DERP000012", {}), ("/api/point", {"lon": lon, "lat": lat, "tolerance": 8}),
               ("/api/search", {"q": "DERP00001"}), ("/api/meta", {})]
    for url, params in queries:
        a, b = ca.get(url, params=params), cb.get(url, params=params)
        assert a.status_code == b.status_code == 200, url
        assert a.json() == b.json(), url
    assert ca.get(queries[0][0], params=queries[0][1]).json()["numberReturned"] > 0
    # the line layout is served from the GeoJSON itself; the one-line layout from a re-serialised copy
    assert (by_line / "layer_index" / "roofs.json").is_file()
    assert not (by_line / "layer_index" / "roofs.features").exists()
    assert (one_line / "layer_index" / "roofs.features").is_file()
    # a second service opens the index without parsing any GeoJSON
    with monkeypatch.context() as m:
        m.setattr(st, "build_layer_index", lambda *a, **k: pytest.fail("the index was rebuilt"))
        c2 = TestClient(create_app(by_line, preload=True))
        assert c2.get("/api/meta").json()["counts"] == {"roofs": 72, "walls": 160, "buildings": 40}
        assert c2.get("/api/buildings/DERP000012").json() == cb.get("/api/buildings/DERP000012").json()
    # a changed layer makes its index stale: it is rebuilt from the file
    roofs = json.loads((by_line / "roofs.geojson").read_text(encoding="utf-8"))
    roofs["features"] = roofs["features"][:10]
    (by_line / "roofs.geojson").write_text(json.dumps(roofs), encoding="utf-8")
    assert TestClient(create_app(by_line)).get("/api/meta").json()["counts"]["roofs"] == 10


def test_index_in_a_read_only_folder_stays_in_memory(tmp_path, monkeypatch):
    import solarkataster.io.layer_index as li

    folder = write_results(tmp_path / "r", n_x=2, n_y=2)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(li, "_save", refuse)
    monkeypatch.setattr(li, "_write_blob", refuse)
    c = TestClient(create_app(folder))
    assert c.get("/api/meta").json()["counts"]["roofs"] == 7
    assert c.get("/api/buildings/DERP000001").json()["faces"]["features"]


def test_index_of_line_layout_with_nan_or_own_ids_is_re_serialised(tmp_path):
    folder = write_results(tmp_path / "r", n_x=2, n_y=1)
    _as_lines(folder)
    lines = (folder / "roofs.geojson").read_text(encoding="utf-8").split("\n")
    lines[1] = re.sub(r'"shading_loss": [0-9.]+', '"shading_loss": NaN', lines[1])
    assert "NaN" in lines[1]
    (folder / "roofs.geojson").write_text("\n".join(lines), encoding="utf-8")
    walls = (folder / "walls.geojson").read_text(encoding="utf-8").replace('{"type": "Feature", ',
                                                                           '{"type": "Feature", "id": 5, ')
    (folder / "walls.geojson").write_text(walls, encoding="utf-8")
    c = TestClient(create_app(folder, preload=True))
    roofs = c.get("/api/roofs", params={"bbox": "7,49,8,50"}).json()["features"]
    assert roofs[0]["properties"]["shading_loss"] is None and roofs[0]["id"] == roofs[0]["properties"]["face_id"]
    walls = c.get("/api/walls", params={"bbox": "7,49,8,50"}).json()["features"]
    assert len(walls) == 8 and all(w["id"] == w["properties"]["wall_id"] for w in walls)
    assert (folder / "layer_index" / "roofs.features").is_file()
    assert (folder / "layer_index" / "walls.features").is_file()
    assert not (folder / "layer_index" / "buildings.features").exists()
