"""`solarkataster run` and `solarkataster demo` end to end, and their errors on bad input.

The commands run in-process through click's CliRunner (the same code path as the console script, minus
the interpreter start); `run --help` runs in a subprocess to measure its start-up. The weather is an hourly
clear-sky CSV written here, which keeps the pvlib yield tables cheap.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from conftest import REPO
from rasterio.windows import Window
from shapely.geometry import MultiPolygon, Polygon

from solarkataster.cli import cli
from solarkataster.io.export import validate_layer
from solarkataster.pipeline import Site, load_grid
from solarkataster.sky import clear_sky_weather

SAMPLE = REPO / "sample_data"
TOWN_DSM = SAMPLE / "town_dsm.tif"
TOWN_DTM = SAMPLE / "town_dtm.tif"
TOWN_FOOTPRINTS = SAMPLE / "town_footprints.gpkg"
OUTPUTS = ("roofs.geojson", "walls.geojson", "buildings.geojson", "solarkataster.gpkg", "irradiation.tif",
           "irradiation_monthly.tif", "sky_view_factor.tif", "overview.png", "run.json")
FAST = ["--sectors", "8", "--step", "60"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def weather_csv(tmp_path_factory):
    """Hourly Ineichen clear-sky year at the sample town as a weather CSV (time = interval start, UTC)."""
    site = Site.from_grid(load_grid(TOWN_DSM))
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")
    frame = weather.data[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    frame.insert(0, "time", [t.isoformat() for t in frame.index])
    path = tmp_path_factory.mktemp("weather") / "clear_sky_hourly.csv"
    frame.to_csv(path, index=False, float_format="%.3f")
    return path


@pytest.fixture(scope="module")
def sample_footprints():
    return gpd.read_file(TOWN_FOOTPRINTS)


# ------------------------------------------------------------------------------------- 7. demo, help

def test_run_help_is_instant():
    # instant = no heavy import (speed itself is measured in benchmarks/, never asserted here)
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from solarkataster.cli import cli\n"
            "r = CliRunner().invoke(cli, ['run', '--help'])\n"
            "heavy = sorted(m for m in ('geopandas', 'rasterio', 'pvlib', 'numba', 'scipy', 'shapely') "
            "if m in sys.modules)\n"
            "print(r.exit_code, heavy, r.output.count('--footprints'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "[]", "1"]  # exit 0, no heavy import, --footprints documented
    script = Path(sys.executable).parent / "solarkataster"
    if script.exists():  # the console script itself
        proc = subprocess.run([str(script), "run", "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "--id-column" in proc.stdout


def test_demo_writes_everything_and_says_where(tmp_path, weather_csv):
    out = tmp_path / "demo"
    result = invoke("demo", "--out", out, "--weather", weather_csv)
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > 0  # the imported libraries are out of the collector's scans (freeze_imported)
    text = result.stdout
    assert "sample town" in text and "16 buildings" in text
    for name in OUTPUTS:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert str(path) in text, name  # it says where
    for layer in ("roofs", "walls", "buildings"):
        validate_layer(out / f"{layer}.geojson", layer)
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["sun_step_min"] == 10 and Path(run["weather"]["path"]).name == weather_csv.name
    assert f"solarkataster serve {out}" in text


# -------------------------------------------------------------------- 4./5. edge cases through `run`

# a window of the sample town: rows 0-240, cols 52-480 (x 410672-410886, y 5477523-5477643); B01 and B06
# cross its western edge, the DSM's NaN block (rows 0-6, cols 474-480) lies in its north-east corner
WINDOW = Window(52, 0, 428, 240)
NAN_BLOCK = shapely.box(410883.6, 5477640.6, 410885.9, 5477642.9)


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory, sample_footprints, weather_csv):
    folder = tmp_path_factory.mktemp("edge")
    dsm = folder / "window_dsm.tif"
    with rasterio.open(TOWN_DSM) as src:
        z = src.read(1, window=WINDOW)
        profile = src.profile | {"width": WINDOW.width, "height": WINDOW.height,
                                 "transform": src.window_transform(WINDOW), "tiled": False}
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
    with rasterio.open(dsm, "w", **profile) as dst:
        dst.write(z, 1)
    fp = sample_footprints[sample_footprints["building_id"].isin(
        ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09"])].copy()
    # bow-tie: B04's corners in the order 0, 2, 1, 3
    b04 = fp.loc[fp["building_id"] == "B04", "geometry"].iloc[0]
    c = list(b04.exterior.coords)[:4]
    fp.loc[fp["building_id"] == "B04", "geometry"] = Polygon([c[0], c[2], c[1], c[3]])
    geoms = dict(zip(sample_footprints["building_id"], sample_footprints.geometry))
    extra = gpd.GeoDataFrame({"building_id": ["M10", "NAN"]},
                             geometry=[MultiPolygon([geoms["B10"], geoms["B11"]]), NAN_BLOCK], crs=fp.crs)
    fp = gpd.GeoDataFrame(list(fp[["building_id", "geometry"]].itertuples(index=False))
                          + list(extra.itertuples(index=False)), columns=["building_id", "geometry"], crs=fp.crs)
    fp["gebaeude_nr"] = "G-" + fp["building_id"]
    fp["building_id"] = range(len(fp))  # a decoy: --id-column must win over the detected name
    path = folder / "footprints_3857.gpkg"
    fp.to_crs(3857).to_file(path, driver="GPKG")
    out = folder / "out"
    result = invoke("run", dsm, "--out", out, "--footprints", path, "--id-column", "gebaeude_nr",
                    "--dtm", TOWN_DTM, "--no-walls", "--weather", weather_csv, *FAST)
    layers = {n: json.loads((out / f"{n}.geojson").read_text()) for n in ("roofs", "buildings")} \
        if result.exit_code == 0 else {}
    return dict(result=result, out=out, footprints=fp, layers=layers, dsm=dsm)


def _buildings(edge_run):
    return {f["properties"]["building_id"]: f["properties"] for f in edge_run["layers"]["buildings"]["features"]}


def test_edge_run_completes_and_validates(edge_run):
    assert edge_run["result"].exit_code == 0, edge_run["result"].output
    for layer in ("roofs", "buildings"):
        validate_layer(edge_run["out"] / f"{layer}.geojson", layer)
    assert not (edge_run["out"] / "walls.geojson").exists()  # --no-walls
    run = json.loads((edge_run["out"] / "run.json").read_text())
    report = run["cadastre"]["footprints"]
    assert report["id_column"] == "gebaeude_nr"
    assert "3857" in report["reprojected_from"]
    # the bow-tie is repaired, and the repair is on record
    assert [r["building_id"] for r in report["repaired"]] == ["G-B04"]
    assert "intersection" in report["repaired"][0]["reason"].lower()


def test_every_building_once_with_status(edge_run):
    buildings = _buildings(edge_run)
    ids = [f["properties"]["building_id"] for f in edge_run["layers"]["buildings"]["features"]]
    assert len(ids) == len(set(ids)) == 11
    assert set(ids) == set(edge_run["footprints"]["gebaeude_nr"])
    # a footprint over the DSM's NaN block: reported, not fatal
    assert "no valid" in buildings["G-NAN"]["status"] and buildings["G-NAN"]["faces"] == 0
    assert buildings["G-NAN"]["kwp"] == 0
    for bid in ("G-B02", "G-B03", "G-B04", "G-B05", "G-B07", "G-M10"):
        assert buildings[bid]["status"] == "ok" and buildings[bid]["faces"] >= 1, bid


def test_partly_outside_flagged(edge_run):
    buildings = _buildings(edge_run)
    flagged = {b for b, p in buildings.items() if p["partly_outside"]}
    assert flagged == {"G-B01", "G-B06"}


def _faces_of(edge_run, bid):
    roofs = gpd.GeoDataFrame.from_features(edge_run["layers"]["roofs"]["features"], crs=4326).to_crs(25832)
    return roofs[roofs["building_id"] == bid]


def test_multipolygon_building_has_faces_on_both_parts(edge_run, sample_footprints):
    faces = _faces_of(edge_run, "G-M10")
    geoms = dict(zip(sample_footprints["building_id"], sample_footprints.geometry))
    on_b10 = faces.geometry.intersection(geoms["B10"]).area > 5
    on_b11 = faces.geometry.intersection(geoms["B11"]).area > 5
    assert on_b10.sum() >= 2 and on_b11.sum() >= 4  # B10: gable (+ dormer), B11: hip
    assert _buildings(edge_run)["G-M10"]["faces"] == len(faces)


def test_courtyard_stays_open(edge_run, sample_footprints):
    b07 = sample_footprints.loc[sample_footprints["building_id"] == "B07", "geometry"].iloc[0]
    court = Polygon(b07.interiors[0])
    faces = _faces_of(edge_run, "G-B07")
    assert len(faces) >= 8  # the hipped ring
    # no face covers the courtyard (or its tree); 1 m² allows for 1 cm coordinate rounding on the rim
    assert shapely.union_all(faces.geometry.to_numpy()).intersection(court).area < 1.0


def test_bow_tie_building_has_faces_inside_its_repair(edge_run, sample_footprints):
    faces = _faces_of(edge_run, "G-B04")
    assert len(faces) >= 1
    repaired = shapely.make_valid(edge_run["footprints"].to_crs(25832).geometry.iloc[3])
    # the roof may reach past a footprint where the DSM shows it: eaves up to 1.5 m, flat roofs up to 2.5 m
    # (issue 11; RoofOptions.max_overhang, RoofOptions.max_flat_overhang). B04's roof is flat.
    assert faces.geometry.difference(repaired.buffer(2.5 + 0.05, join_style="mitre")).area.max() < 0.5


# ----------------------------------------------------------------------------------- 5. bad input

def _fails(tmp_path, footprints, *more):
    out = tmp_path / "out"
    result = invoke("run", TOWN_DSM, "--out", out, "--footprints", footprints, "--no-walls", *FAST, *more)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    # nothing half-written
    assert not out.exists() or not any(out.iterdir())
    return result.stderr


def test_footprints_missing_the_raster(tmp_path, sample_footprints):
    moved = sample_footprints.copy()
    moved["geometry"] = moved.geometry.translate(10_000, 0)
    path = tmp_path / "elsewhere.gpkg"
    moved.to_file(path, driver="GPKG")
    message = _fails(tmp_path, path)
    assert "elsewhere.gpkg" in message and "no footprint overlaps the raster" in message and "CRS" in message


def test_empty_footprint_file(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    message = _fails(tmp_path, path)
    assert "empty.geojson" in message and "empty" in message.split("empty.geojson", 1)[1]


def test_unreadable_footprint_layer(tmp_path):
    path = tmp_path / "garbage.gpkg"
    path.write_bytes(np.random.default_rng(3).bytes(4096))
    message = _fails(tmp_path, path)
    assert "garbage.gpkg" in message and "cannot read footprints" in message


def test_missing_id_column(tmp_path):
    message = _fails(tmp_path, TOWN_FOOTPRINTS, "--id-column", "gebaeude")
    assert "'gebaeude' not found" in message and "building_id" in message  # lists the columns there are


def test_missing_footprint_file(tmp_path):
    # click checks nothing about existence here: the library names the file
    message = _fails(tmp_path, tmp_path / "nope.gpkg")
    assert "nope.gpkg" in message and "not found" in message
