"""Vector tiles (``solarkataster.pmtiles``): completeness at the highest zoom, properties, sizes, reruns, serving.

References, independent of the encoder:

* the tile cover of every feature is computed here from its GeoJSON geometry with the Web Mercator tile
  formulas (OSM slippy-map tile names) and shapely clipping against each (buffered) tile;
* the properties are compared with the GeoJSON layers as written by the run;
* decoding uses ``pmtiles`` (reader) and ``mapbox-vector-tile`` (decoder), not tippecanoe.

Scenes: the sample town, computed by ``compute_cadastre`` and written by ``write_cadastre_results`` (which
builds the tiles), and a synthetic results folder at another place (Kaiserslautern grid, with a MultiPolygon
roof face; ``tests/results_fixture.py``).
"""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from conftest import REPO
from results_fixture import write_results

from solarkataster.io import vector_tiles as vt

mvt = pytest.importorskip("mapbox_vector_tile")
pmtiles_reader = pytest.importorskip("pmtiles.reader")

SAMPLE = REPO / "sample_data"
EXTENT = 4096  # tile units per tile side (tippecanoe's default detail at the highest zoom)
BUFFER = vt.TILE_BUFFER / 256  # [tiles]
# A clipped piece thinner or shorter than this (tile units) may vanish when snapped to the 4096 grid
SLIVER = 3.0 / EXTENT


def read_tiles(path, zoom=None):
    """{(z, x, y): decoded tile} (MVT coordinates: y down, 0..4096 inside the tile)."""
    with open(path, "rb") as f:
        return {zxy: mvt.decode(gzip.decompress(data), default_options={"y_coord_down": True})
                for zxy, data in pmtiles_reader.all_tiles(pmtiles_reader.MmapSource(f))
                if zoom is None or zxy[0] == zoom}


def to_tile_units(geometry, z):
    """Lon/lat geometry -> Web Mercator tile coordinates at zoom z (x east, y south; 1 unit = 1 tile)."""
    n = 2.0 ** z

    def project(xy):
        lon, lat = xy[:, 0], np.radians(xy[:, 1])
        x = (lon + 180.0) / 360.0 * n
        y = (1.0 - np.arcsinh(np.tan(lat)) / math.pi) / 2.0 * n
        return np.column_stack([x, y])

    return shapely.transform(geometry, project)


def expected_cover(geometry):
    """(tiles that must hold the feature, tiles that may hold it) for a geometry in tile units."""
    minx, miny, maxx, maxy = geometry.bounds
    must, may = set(), set()
    for tx in range(math.floor(minx - BUFFER), math.floor(maxx + BUFFER) + 1):
        for ty in range(math.floor(miny - BUFFER), math.floor(maxy + BUFFER) + 1):
            box = shapely.box(tx - BUFFER, ty - BUFFER, tx + 1 + BUFFER, ty + 1 + BUFFER)
            if not geometry.intersects(box.buffer(1.0 / EXTENT, join_style="mitre")):
                continue
            may.add((tx, ty))
            piece = geometry.intersection(box)
            if geometry.geom_type.endswith("Polygon"):
                solid = not piece.is_empty and not piece.buffer(-SLIVER / 2).is_empty
            else:
                solid = piece.length > SLIVER
            if solid:
                must.add((tx, ty))
    return must, may


def load_layers(folder):
    return {name: json.loads((folder / f"{name}.geojson").read_text(encoding="utf-8"))["features"]
            for name in vt.TILE_LAYERS if (folder / f"{name}.geojson").is_file()}


def check_highest_zoom(folder, archive):
    """Every feature exactly once in every tile it touches at the highest zoom, properties as in the GeoJSON."""
    z = vt.MAX_ZOOM
    tiles = read_tiles(archive, z)
    found = defaultdict(set)  # (layer, id) -> tiles
    props = {}
    for (_, x, y), tile in tiles.items():
        for name, layer in tile.items():
            ids = [f["properties"][vt.TILE_PROPERTIES[name][0]] for f in layer["features"]]
            dup = [i for i, c in Counter(ids).items() if c > 1]
            assert not dup, f"{name} {dup[:3]} more than once in tile {z}/{x}/{y}"
            for fid, feature in zip(ids, layer["features"]):
                found[(name, fid)].add((x, y))
                props.setdefault((name, fid), feature["properties"])
    borderline = 0
    for name, features in load_layers(folder).items():
        id_field = vt.TILE_PROPERTIES[name][0]
        for feature in features:
            fid = feature["properties"][id_field]
            geometry = to_tile_units(shapely.geometry.shape(feature["geometry"]), z)
            must, may = expected_cover(geometry)
            got = found.get((name, fid), set())
            assert must <= got, f"{name} {fid} missing from tiles {sorted(must - got)}"
            assert got <= may, f"{name} {fid} in tiles it does not touch: {sorted(got - may)}"
            borderline += len(may - must)
            want = {k: feature["properties"].get(k) for k in vt.TILE_PROPERTIES[name]}
            have = props[(name, fid)]
            assert set(have) <= set(vt.TILE_PROPERTIES[name])
            for key, value in want.items():
                if value is None:  # vector tiles have no null: absent
                    assert key not in have, (name, fid, key)
                elif isinstance(value, float):
                    assert have[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (name, fid, key)
                else:
                    assert have[key] == value and type(have[key]) is type(value), (name, fid, key)
    return tiles, borderline


def check_geometry(folder, tiles):
    """Features inside one tile decode to their own geometry within the 4096 grid's rounding (Hausdorff)."""
    z, worst, checked = vt.MAX_ZOOM, 0.0, 0
    decoded = {(name, f["properties"][vt.TILE_PROPERTIES[name][0]], x, y): f["geometry"]
               for (_, x, y), tile in tiles.items() for name, layer in tile.items() for f in layer["features"]}
    for name, features in load_layers(folder).items():
        for feature in features:
            g = to_tile_units(shapely.geometry.shape(feature["geometry"]), z)
            minx, miny, maxx, maxy = g.bounds
            tx, ty = math.floor(minx), math.floor(miny)
            if math.floor(maxx) != tx or math.floor(maxy) != ty:
                continue
            local = shapely.transform(g, lambda xy, tx=tx, ty=ty: (xy - [tx, ty]) * EXTENT)
            got = shapely.geometry.shape(decoded[(name, feature["properties"][vt.TILE_PROPERTIES[name][0]], tx,
                                                  ty)])
            worst = max(worst, shapely.hausdorff_distance(local, got))
            checked += 1
    return worst, checked


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """The sample town run with footprints, terrain and walls; write_cadastre_results builds the tiles."""
    from solarkataster.cadastre import CadastreOptions, compute_cadastre
    from solarkataster.io.results import write_cadastre_results
    from solarkataster.pipeline import EngineOptions, Site, load_grid
    from solarkataster.sky import clear_sky_weather

    dsm = SAMPLE / "town_dsm.tif"
    site = Site.from_grid(load_grid(dsm))
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")
    options = CadastreOptions(engine=EngineOptions(sectors=8, step_minutes=60), walls=True)
    result = compute_cadastre(dsm, footprints=SAMPLE / "town_footprints.gpkg", dtm=SAMPLE / "town_dtm.tif",
                              weather=weather, options=options)
    out = tmp_path_factory.mktemp("town")
    write_cadastre_results(result, out, overview=False)
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Results folder of 6 x 4 buildings near Kaiserslautern (another place, a MultiPolygon face)."""
    folder = write_results(tmp_path_factory.mktemp("synthetic"), n_x=6, n_y=4, spacing=22.0)
    vt.build_vector_tiles(folder)
    return folder


# ------------------------------------------------------------------------------------------- tests

def test_run_writes_tiles_and_records_them(town):
    archive = town / vt.PMTILES_NAME
    assert archive.is_file()
    run = json.loads((town / "run.json").read_text(encoding="utf-8"))
    assert vt.PMTILES_NAME in json.dumps(run)
    with open(archive, "rb") as f:
        header = pmtiles_reader.Reader(pmtiles_reader.MmapSource(f)).header()
    assert (header["min_zoom"], header["max_zoom"]) == (vt.MIN_ZOOM, vt.MAX_ZOOM)
    assert vt.vector_tiles_current(town)


@pytest.mark.parametrize("scene", ["town", "synthetic"])
def test_highest_zoom_holds_every_feature_once_per_tile(scene, request):
    folder = request.getfixturevalue(scene)
    counts = {name: len(f) for name, f in load_layers(folder).items()}
    assert counts["roofs"] >= 20 and counts["buildings"] >= 10 and counts.get("walls", 0) >= 40, counts
    tiles, borderline = check_highest_zoom(folder, folder / vt.PMTILES_NAME)
    assert len(tiles) >= 2  # the scene spans tile borders, so clipping and buffers are exercised
    worst, checked = check_geometry(folder, tiles)
    assert checked >= 10
    assert worst <= 1.0, f"decoded geometry {worst:.2f} tile units (of {EXTENT}) from the GeoJSON's"


def test_layers_appear_from_their_zoom_and_tiles_stay_small(town):
    tiles = read_tiles(town / vt.PMTILES_NAME)
    layers_at = defaultdict(set)
    for (z, _, _), tile in tiles.items():
        for name, layer in tile.items():
            if layer["features"]:
                layers_at[z].add(name)
    for z in range(vt.MIN_ZOOM, vt.MAX_ZOOM + 1):
        assert layers_at[z] == {n for n in vt.TILE_LAYERS if vt.LAYER_MIN_ZOOM[n] <= z}, z
    sizes = vt.tile_sizes(town / vt.PMTILES_NAME)
    assert max(sizes.values()) <= vt.MAX_TILE_BYTES


def _ids_at(archive, z):
    return {(name, f["properties"][vt.TILE_PROPERTIES[name][0]]) for t in read_tiles(archive, z).values()
            for name, layer in t.items() for f in layer["features"]}


def test_size_rule_drops_smallest_below_the_highest_zoom_only(tmp_path):
    folder = write_results(tmp_path / "dense", n_x=14, n_y=10, spacing=20.0)
    full_archive = vt.build_vector_tiles(folder, tmp_path / "full.pmtiles")
    full = vt.tile_sizes(full_archive)
    # a limit the highest zoom's tiles fit in but some lower zoom's do not
    limit = int(1.1 * max(s for zxy, s in full.items() if zxy[0] == vt.MAX_ZOOM))
    crowded = sorted({zxy[0] for zxy, s in full.items() if s > limit})
    assert crowded and crowded[-1] < vt.MAX_ZOOM, (limit, crowded)
    archive = vt.build_vector_tiles(folder, max_tile_bytes=limit)
    sizes = vt.tile_sizes(archive)
    assert max(sizes.values()) <= limit, max(sizes.values())
    z = crowded[-1]
    kept, before = _ids_at(archive, z), _ids_at(full_archive, z)
    assert kept < before  # features were left out at the crowded zoom ...
    dropped = before - kept
    # ... the smallest ones: every dropped wall is no longer than the longest kept one
    lengths = {f["properties"]["wall_id"]: shapely.geometry.shape(f["geometry"]).length
               for f in load_layers(folder)["walls"]}
    kept_walls = [lengths[i] for n, i in kept if n == "walls"]
    dropped_walls = [lengths[i] for n, i in dropped if n == "walls"]
    if dropped_walls and kept_walls:
        assert np.median(dropped_walls) <= np.median(kept_walls)
    check_highest_zoom(folder, archive)  # yet the highest zoom is complete


def test_rerun_rebuilds_only_when_a_layer_changed(synthetic):
    import geopandas as gpd

    from solarkataster.io.export import write_geojson

    path, rebuilt = vt.update_vector_tiles(synthetic)
    assert not rebuilt
    walls = synthetic / "walls.geojson"
    original = walls.read_text(encoding="utf-8")
    frame = gpd.read_file(walls)
    try:
        write_geojson(walls, frame, layer="walls", metadata={"note": "first"})  # the writer's own format
        assert vt.update_vector_tiles(synthetic)[1] is True
        # the same features with other metadata (a new creation time) are not a change of the layer
        write_geojson(walls, frame, layer="walls", metadata={"note": "second"})
        assert vt.update_vector_tiles(synthetic)[1] is False
        frame.loc[0, "irradiation"] += 1.0
        write_geojson(walls, frame, layer="walls", metadata={"note": "second"})
        assert not vt.vector_tiles_current(synthetic)
        assert vt.update_vector_tiles(synthetic)[1] is True
        assert vt.vector_tiles_current(synthetic)
        assert not vt.vector_tiles_current(synthetic, max_zoom=17)
    finally:
        walls.write_text(original, encoding="utf-8")
        vt.build_vector_tiles(synthetic)


def test_cli_tiles(tmp_path, synthetic):
    from solarkataster.cli import cli
    from solarkataster.cli.tiles import tiles

    defaults = {p.name: p.default for p in tiles.params}
    assert (defaults["min_zoom"], defaults["max_zoom"]) == (vt.MIN_ZOOM, vt.MAX_ZOOM)
    out = tmp_path / "x.pmtiles"
    result = CliRunner().invoke(cli, ["tiles", str(synthetic), "--out", str(out), "--max-zoom", "17"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not vt.vector_tiles_current(synthetic, out)
    assert vt.vector_tiles_current(synthetic, out, max_zoom=17)
    result = CliRunner().invoke(cli, ["tiles", str(synthetic), "--if-changed"])
    assert result.exit_code == 0 and "up to date" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["tiles", str(empty)])
    assert result.exit_code == 2 and "roofs.geojson" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["tiles", str(synthetic), "--min-zoom", "15", "--max-zoom", "14"])
    assert result.exit_code == 2 and "max_zoom" in result.output


# ------------------------------------------------------------------------------------------ service

@pytest.fixture(scope="module")
def client(synthetic):
    from fastapi.testclient import TestClient

    from solarkataster.service import create_app

    return TestClient(create_app(synthetic))


def test_tiles_are_served_with_range_requests(client, synthetic):
    data = (synthetic / vt.PMTILES_NAME).read_bytes()
    r = client.get("/tiles/solarkataster.pmtiles", headers={"Range": "bytes=0-126", "Accept-Encoding": "gzip"})
    assert r.status_code == 206 and r.content == data[:127] and r.content[:7] == b"PMTiles"
    assert r.headers["content-range"] == f"bytes 0-126/{len(data)}"
    assert r.headers["accept-ranges"] == "bytes" and "content-encoding" not in r.headers
    r = client.get("/tiles/solarkataster.pmtiles", headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.content == data[-100:]
    assert r.headers["content-range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    r = client.get("/tiles/solarkataster.pmtiles", headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    r = client.get("/tiles/solarkataster.pmtiles", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.content == data and "content-encoding" not in r.headers
    assert client.get("/tiles/other.pmtiles").status_code == 404
    assert client.get("/tiles/..%2Fwalls.pmtiles").status_code in (404, 422)


def test_json_is_gzipped_when_asked(client):
    r = client.get("/api/roofs", params={"bbox": "7.7,49.4,7.8,49.5"}, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.json()["numberMatched"] > 0  # httpx decoded it
    r = client.get("/api/roofs", params={"bbox": "7.7,49.4,7.8,49.5"}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers


def test_search_by_id_address_and_attribute(tmp_path):
    from fastapi.testclient import TestClient

    from solarkataster.service import create_app

    folder = write_results(tmp_path / "res", n_x=4, n_y=3)
    path = folder / "buildings.geojson"
    collection = json.loads(path.read_text(encoding="utf-8"))
    for k, feature in enumerate(collection["features"]):
        feature["properties"]["address"] = f"Hauptstraße {k + 1}, Kaiserslautern"
        feature["properties"]["function"] = "school" if k == 5 else "residential"
    path.write_text(json.dumps(collection), encoding="utf-8")
    ids = [f["properties"]["building_id"] for f in collection["features"]]
    client = TestClient(create_app(folder))

    hits = client.get("/api/search", params={"q": ids[3]}).json()["hits"]
    assert hits[0]["building_id"] == ids[3] and hits[0]["field"] == "building_id"
    hits = client.get("/api/search", params={"q": "hauptstraße 12"}).json()["hits"]
    assert [h["building_id"] for h in hits] == [ids[11]] and hits[0]["field"] == "address"
    geometry = shapely.geometry.shape(collection["features"][11]["geometry"])
    assert hits[0]["bbox"] == pytest.approx(list(geometry.bounds))
    b = geometry.bounds
    assert hits[0]["center"] == pytest.approx([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    hits = client.get("/api/search", params={"q": "SCHOOL"}).json()["hits"]
    assert [h["building_id"] for h in hits] == [ids[5]] and hits[0]["field"] == "function"
    assert len(client.get("/api/search", params={"q": "kaiserslautern", "limit": 5}).json()["hits"]) == 5
    assert client.get("/api/search", params={"q": "nowhere"}).json()["hits"] == []
    assert client.get("/api/search", params={"q": ""}).status_code == 422
    assert client.get("/api/search", params={"q": "x", "limit": 0}).status_code == 422


def test_batch_merge_builds_tiles_once(tmp_path):
    from solarkataster.batch.merge import merge_vector_tiles

    folder = write_results(tmp_path / "merged", n_x=3, n_y=2)
    manifest = {"tiles": {}}
    assert merge_vector_tiles(folder, manifest) == [str(folder / vt.PMTILES_NAME)]
    first = manifest["vector_tiles"]
    assert first["rebuilt"] is True and set(first["layers"]) == set(vt.TILE_LAYERS)
    assert first["layers"]["roofs"] == vt.layer_digest(folder / "roofs.geojson")
    merge_vector_tiles(folder, manifest)
    assert manifest["vector_tiles"]["rebuilt"] is False


def test_warm_start_answers_tiles_at_once_and_loads_layers_behind(synthetic):
    import time

    from fastapi.testclient import TestClient

    from solarkataster.service import create_app

    app = create_app(synthetic, warm=True)
    client = TestClient(app)
    assert client.get("/tiles/solarkataster.pmtiles", headers={"Range": "bytes=0-6"}).content == b"PMTiles"
    deadline = time.monotonic() + 30
    while len(app.state.store.loaded_layers()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(app.state.store.loaded_layers()) == ["buildings", "roofs", "walls"]
    assert client.get("/api/search", params={"q": "DERP"}).json()["hits"]


def test_empty_layers_leave_no_stale_archive(tmp_path, synthetic):
    for name in vt.TILE_LAYERS:
        (tmp_path / f"{name}.geojson").write_text('{"type": "FeatureCollection", "features": [\n]}\n',
                                                  encoding="utf-8")
    (tmp_path / vt.PMTILES_NAME).write_bytes((synthetic / vt.PMTILES_NAME).read_bytes())  # earlier results
    with pytest.raises(vt.TilesError, match="no features"):
        vt.build_vector_tiles(tmp_path)
    assert not (tmp_path / vt.PMTILES_NAME).exists()


# ------------------------------------------------------------------------------- raster context tiles

def test_hillshade_of_planes_is_the_cosine_of_the_incidence():
    """Analytic planes: lit head-on (NW-facing 45°) 1, flat cos 45°, SE-facing 45° (light grazing) 0."""
    from solarkataster.io.raster_tiles import hillshade

    y, x = np.mgrid[0:20, 0:20].astype(float)
    north = -y  # rows run south
    # height rising to the south-east (unit vector (sin 135°, cos 135°)) with slope 1: the plane faces NW
    facing_nw = x * math.sin(math.radians(135)) + north * math.cos(math.radians(135))
    assert np.allclose(hillshade(facing_nw, 1.0)[2:-2, 2:-2], 1.0, atol=1e-9)
    assert np.allclose(hillshade(np.zeros((9, 9)), 1.0), math.cos(math.radians(45)), atol=1e-12)
    assert np.allclose(hillshade(-facing_nw, 1.0)[2:-2, 2:-2], 0.0, atol=1e-9)
    # a south-facing 30° plane: cos i = cos45 cos30 + sin45 sin30 cos(315° - 180°)
    south = np.tan(math.radians(30)) * north * 0.5  # rising to the north on 0.5 m pixels: faces south
    want = (math.cos(math.radians(45)) * math.cos(math.radians(30))
            + math.sin(math.radians(45)) * math.sin(math.radians(30)) * math.cos(math.radians(135)))
    assert np.allclose(hillshade(south, 0.5)[2:-2, 2:-2], want, atol=1e-9)
    z = np.zeros((5, 5))
    z[2, 2] = np.nan
    assert np.isnan(hillshade(z, 1.0)[2, 2]) and np.isfinite(hillshade(z, 1.0)[0, 0])


def _decode_webp(data):
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(data)).convert("RGBA"))


def test_run_writes_context_tiles_that_cover_the_rasters(town):
    """hillshade.pmtiles and irradiation.pmtiles: WebP tiles over the raster's extent, colours from the ramp."""
    import rasterio
    from rasterio.warp import transform as warp_transform

    from solarkataster.io import raster_tiles as rt

    run = json.loads((town / "run.json").read_text(encoding="utf-8"))
    assert {"hillshade.pmtiles", "irradiation.pmtiles"} <= set(run["outputs_vector"])
    with rasterio.open(town / "irradiation.tif") as ds:
        irr, t, crs = ds.read(1), ds.transform, ds.crs
    for name in ("hillshade.pmtiles", "irradiation.pmtiles"):
        with open(town / name, "rb") as f:
            reader = pmtiles_reader.Reader(pmtiles_reader.MmapSource(f))
            header, meta = reader.header(), reader.metadata()
            tiles = dict(pmtiles_reader.all_tiles(pmtiles_reader.MmapSource(f)))
        assert header["tile_type"].name == "WEBP" and header["min_zoom"] == rt.MIN_ZOOM
        z = header["max_zoom"]
        lat = (header["min_lat_e7"] + header["max_lat_e7"]) / 2e7
        # the highest zoom's pixel is no coarser than the raster's
        assert rt.MIN_ZOOM < z and 40_075_016.7 * math.cos(math.radians(lat)) / (256 * 2 ** z) <= abs(t.a) * 1.25
        assert {zoom for zoom, _, _ in tiles} == set(range(rt.MIN_ZOOM, z + 1))
        # every raster pixel centre at the highest zoom lies in a tile of the archive
        rows, cols = np.mgrid[0:irr.shape[0]:7, 0:irr.shape[1]:7]
        xs, ys = rasterio.transform.xy(t, rows.ravel(), cols.ravel())
        lon, lat_ = warp_transform(crs, "EPSG:4326", xs, ys)
        n = 2 ** z
        tx = np.floor((np.array(lon) + 180) / 360 * n).astype(int)
        ty = np.floor((1 - np.arcsinh(np.tan(np.radians(lat_))) / math.pi) / 2 * n).astype(int)
        assert set(zip([z] * tx.size, tx.tolist(), ty.tolist())) <= set(tiles)
        if name == "irradiation.pmtiles":
            legend = meta["legend"]
            finite = irr[np.isfinite(irr)]
            assert legend["min"] <= np.percentile(finite, 2) + 10 and legend["max"] >= np.percentile(finite, 98) - 10
            # one pixel: the colour of the raster value there on the ramp (WebP is lossy: a loose match)
            k = irr.size // 2 // 7 * 0 + (tx.size // 2)
            r, c = rows.ravel()[k], cols.ravel()[k]
            px = (lon[k] + 180) / 360 * n * 256 - tx[k] * 256
            py = (1 - math.asinh(math.tan(math.radians(lat_[k]))) / math.pi) / 2 * n * 256 - ty[k] * 256
            rgba = _decode_webp(tiles[(z, int(tx[k]), int(ty[k]))])[int(py), int(px)]
            scaled = np.clip((irr[r, c] - legend["min"]) / (legend["max"] - legend["min"]), 0, 1)
            want = rt._lut(rt.IRRADIATION_RAMP)[int(round(scaled * 255))]
            assert rgba[3] == 255 and np.abs(rgba[:3].astype(int) - want).max() <= 60, (rgba, want)


def test_context_tiles_rebuilt_from_the_folder(town, tmp_path):
    """``build_context_tiles`` reads irradiation.tif and the relief (DSM of run.json, else the sky view factor)."""
    import shutil

    from solarkataster.io.raster_tiles import build_context_tiles

    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("irradiation.tif", "sky_view_factor.tif"):
        shutil.copy(town / name, folder / name)
    (folder / "run.json").write_text("{}", encoding="utf-8")
    assert build_context_tiles(folder) == ["hillshade.pmtiles", "irradiation.pmtiles"]
    with open(folder / "hillshade.pmtiles", "rb") as f:
        assert "sky view factor" in pmtiles_reader.Reader(pmtiles_reader.MmapSource(f)).metadata()["description"]


# ------------------------------------------------------------------------------------------ static site

def test_building_key_is_a_safe_file_name():
    from solarkataster.service.site import building_key

    assert building_key("DERP000012") == "DERP000012"
    assert building_key("a/b ü") == "a~2Fb~20~C3~BC"
    assert building_key("../x") == "~2E~2E~2Fx"
    assert len({building_key(s) for s in ("a b", "a_b", "a~20b", "a-b")}) == 4


def test_cli_tiles_site_is_a_static_copy_of_the_api(tmp_path):
    from fastapi.testclient import TestClient

    from solarkataster.cli import cli
    from solarkataster.service import create_app
    from solarkataster.service.site import building_key

    folder = write_results(tmp_path / "res", n_x=3, n_y=2)
    site = tmp_path / "site"
    style = "https://example.org/style.json"
    result = CliRunner().invoke(cli, ["tiles", str(folder), "--site", str(site), "--basemap", style])
    assert result.exit_code == 0, result.output
    for name in ("index.html", "static/map.js", "static/map.css", "static/vendor/maplibre-gl/maplibre-gl.js",
                 "static/vendor/pmtiles/pmtiles.js", "static/vendor/README.md"):
        assert (site / name).is_file(), name
    assert (site / "tiles" / vt.PMTILES_NAME).read_bytes() == (folder / vt.PMTILES_NAME).read_bytes()
    client = TestClient(create_app(folder, basemap_url=style))
    api_meta = client.get("/api/meta").json()
    api_meta.pop("limits")
    assert json.loads((site / "data" / "meta.json").read_text(encoding="utf-8")) == api_meta
    assert api_meta["tiles"]["vector"] == "tiles/solarkataster.pmtiles" and api_meta["basemap"]["url"] == style
    buildings = json.loads((folder / "buildings.geojson").read_text(encoding="utf-8"))["features"]
    for feature in buildings:
        bid = feature["properties"]["building_id"]
        stored = json.loads((site / "data" / "buildings" / f"{building_key(bid)}.json").read_text(encoding="utf-8"))
        assert stored == client.get(f"/api/buildings/{bid}").json()
    index = json.loads((site / "data" / "search.json").read_text(encoding="utf-8"))["buildings"]
    assert [row[0] for row in index] == [f["properties"]["building_id"] for f in buildings]
    for row, feature in zip(index, buildings):
        assert row[1] == pytest.approx(list(shapely.geometry.shape(feature["geometry"]).bounds), abs=1e-7)
        assert row[2] == {"source": "synthetic", "status": "ok"}
    # the layers' index for a fast service start was written too
    assert (folder / "layer_index" / "roofs.json").is_file()
    bad = CliRunner().invoke(cli, ["tiles", str(folder), "--basemap", style])
    assert bad.exit_code == 2 and "--site" in bad.output
    bad = CliRunner().invoke(cli, ["tiles", str(folder), "--site", str(folder)])
    assert bad.exit_code == 2 and "another folder" in bad.output and "Traceback" not in bad.output
