"""Inputs that would give silent wrong answers: distorting CRSs, inputs without a CRS, footprints left out.

References are independent of the code under test: the scale factor of Web Mercator is 1/cos(latitude)
(Snyder 1987, USGS Professional Paper 1395, eq. 7-3, https://doi.org/10.3133/pp1395), and the spherical
transverse Mercator's is k0 / sqrt(1 - (cos(lat) sin(dlon))^2) (Snyder eq. 8-7); the ellipsoidal value PROJ
computes agrees with that to about 1e-4 near 50° N.
"""
from __future__ import annotations

import json
import logging
import math
import os
import stat

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from conftest import REPO
from pyproj import CRS, Transformer
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window

from solarkataster.cli import cli
from solarkataster.errors import CRSError
from solarkataster.grid import check_scale_factor, local_utm_epsg, scale_factor
from solarkataster.io.atomic import atomic_write, write_text_atomic
from solarkataster.io.raster import read_surface
from solarkataster.io.vector import check_overlap, format_ids, read_footprints

SAMPLE = REPO / "sample_data"
TOWN_DSM = SAMPLE / "town_dsm.tif"
TOWN_DTM = SAMPLE / "town_dtm.tif"
TOWN_FOOTPRINTS = SAMPLE / "town_footprints.gpkg"


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result, result.output + (result.stderr if hasattr(result, "stderr") else "")


def _town_centre_lonlat():
    with rasterio.open(TOWN_DSM) as ds:
        x, y = ds.transform * (ds.width / 2, ds.height / 2)
    return Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(x, y)


@pytest.fixture(scope="module")
def mercator_dsm(tmp_path_factory):
    """The sample town's DSM warped to Web Mercator (EPSG:3857)."""
    path = tmp_path_factory.mktemp("merc") / "town_3857.tif"
    with rasterio.open(TOWN_DSM) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height,
                                                               *src.bounds)
        profile = dict(src.profile, crs="EPSG:3857", transform=transform, width=width, height=height)
        with rasterio.open(path, "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.bilinear)
    return path


# ------------------------------------------------------------------------------- 1. CRS scale factor

@pytest.mark.parametrize("command", ["irradiance", "horizon", "run"])
def test_web_mercator_dsm_is_refused_with_its_scale_factor(command, mercator_dsm, tmp_path):
    lon, lat = _town_centre_lonlat()
    expected = 1 / math.cos(math.radians(lat))  # Snyder eq. 7-3: 1.52 at 49.4° N
    out = tmp_path / ("out.tif" if command == "horizon" else "out")
    result, text = invoke(command, mercator_dsm, "--out", out)
    assert result.exit_code == 2, text
    assert "Traceback" not in text and "town_3857.tif" in text
    factor = float(text.split("scale factor of ")[1].split()[0])
    assert factor == pytest.approx(expected, abs=0.002)
    assert "EPSG:25832" in text  # the local UTM zone (32 N, ETRS89) is suggested
    assert not out.exists() or (out.is_dir() and not any(out.iterdir()))


def test_scale_factor_of_transverse_mercator_against_snyder():
    # a point at 50° N, 25° E in UTM zone 32 (central meridian 9° E): 16° off the zone's centre
    for lon, lat, zone_epsg in [(25.0, 50.0, 32632), (9.0, 50.0, 32632), (12.0, 57.7, 3006)]:
        x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{zone_epsg}", always_xy=True).transform(lon, lat)
        h, k, _, _ = scale_factor(f"EPSG:{zone_epsg}", x, y)
        lon0, k0 = (9.0, 0.9996) if zone_epsg == 32632 else (15.0, 0.9996)
        b = math.cos(math.radians(lat)) * math.sin(math.radians(lon - lon0))
        assert h == pytest.approx(k0 / math.sqrt(1 - b * b), abs=2e-4)
        assert k == pytest.approx(h, abs=1e-6)  # conformal
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(25.0, 50.0)
    with pytest.raises(CRSError, match=r"far.tif: CRS WGS 84 / UTM zone 32N has a scale factor of 1\.016.*EPSG:25835"):
        check_scale_factor("EPSG:32632", x, y, what="far.tif")
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(14.9, 50.0)  # next zone
    assert check_scale_factor("EPSG:32632", x, y) == pytest.approx(1.002, abs=5e-4)


def test_local_utm_zone_codes():
    assert local_utm_epsg(7.77, 49.44) == "EPSG:25832"  # ETRS89 / UTM 32N in Europe
    assert local_utm_epsg(11.97, 57.7) == "EPSG:25832"
    assert local_utm_epsg(-74.0, 40.7) == "EPSG:32618"  # WGS 84 elsewhere
    assert local_utm_epsg(151.2, -33.9) == "EPSG:32756"  # southern hemisphere


# ----------------------------------------------------------------------------------- 2. --crs

def _write_crop(path, src_path, window, crs="keep"):
    with rasterio.open(src_path) as src:
        z = src.read(1, window=window)
        profile = dict(src.profile, width=window.width, height=window.height,
                       transform=src.window_transform(window))
    profile.pop("crs", None)
    if crs == "keep":
        with rasterio.open(src_path) as src:
            profile["crs"] = src.crs
    elif crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return path


def test_crs_assigned_to_a_raster_without_one(tmp_path):
    bare = _write_crop(tmp_path / "bare.tif", TOWN_DSM, Window(0, 0, 60, 60), crs=None)
    result, text = invoke("horizon", bare, "--out", tmp_path / "h.tif", "--sectors", "4")
    assert result.exit_code == 2 and "bare.tif" in text and "no CRS" in text, text
    result, text = invoke("horizon", bare, "--out", tmp_path / "h.tif", "--sectors", "4", "--crs", "EPSG:25832")
    assert result.exit_code == 0, text
    tagged = _write_crop(tmp_path / "tagged.tif", TOWN_DSM, Window(0, 0, 60, 60))
    result, text = invoke("horizon", tagged, "--out", tmp_path / "ref.tif", "--sectors", "4")
    assert result.exit_code == 0, text
    with rasterio.open(tmp_path / "h.tif") as a, rasterio.open(tmp_path / "ref.tif") as b:
        assert a.crs.to_epsg() == 25832 and a.transform == b.transform
        np.testing.assert_array_equal(a.read(), b.read())


def test_declared_crs_is_never_overridden(tmp_path):
    tagged = _write_crop(tmp_path / "tagged.tif", TOWN_DSM, Window(0, 0, 60, 60))
    grid = read_surface(tagged, crs="EPSG:25832")  # the same CRS: fine
    assert grid.crs.to_epsg() == 25832
    result, text = invoke("horizon", tagged, "--out", tmp_path / "h.tif", "--crs", "EPSG:25833")
    assert result.exit_code == 2, text
    assert "tagged.tif" in text and "declares CRS ETRS89 / UTM zone 32N" in text and "UTM zone 33N" in text
    assert not (tmp_path / "h.tif").exists()


@pytest.mark.parametrize("value, words", [("EPSG:999999", ["EPSG:999999", "not a CRS"]),
                                          ("EPSG:4326", ["not a projected CRS"])])
def test_bad_crs_option_is_a_usage_error(value, words, tmp_path):
    tagged = _write_crop(tmp_path / "tagged.tif", TOWN_DSM, Window(0, 0, 60, 60))
    result, text = invoke("irradiance", tagged, "--out", tmp_path / "out", "--crs", value)
    assert result.exit_code == 2 and "Traceback" not in text
    for w in words:
        assert w in text, text


def _utm_geojson_without_crs(path, gdf):
    """A GeoJSON in UTM coordinates without a "crs" member (not RFC 7946, but common)."""
    features = [{"type": "Feature", "properties": {"building_id": b},
                 "geometry": shapely.geometry.mapping(g)} for b, g in zip(gdf["building_id"], gdf.geometry)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_footprints_without_crs(tmp_path):
    town = gpd.read_file(TOWN_FOOTPRINTS)
    geojson = _utm_geojson_without_crs(tmp_path / "utm.geojson", town)
    with pytest.raises(CRSError, match=r"utm.geojson: coordinates .* are not longitude/latitude"):
        read_footprints(geojson, "EPSG:25832")
    fp, report = read_footprints(geojson, "EPSG:25832", input_crs="EPSG:25832")
    ref, _ = read_footprints(TOWN_FOOTPRINTS, "EPSG:25832")
    assert report.path == str(geojson) and fp.crs.to_epsg() == 25832
    assert fp["building_id"].tolist() == ref["building_id"].tolist()
    assert all(a.equals_exact(b, 1e-6) for a, b in zip(fp.geometry, ref.geometry))
    # a layer without any CRS (GeoPackage without srs): error, or the assigned one
    bare = tmp_path / "bare.gpkg"
    town.set_crs(None, allow_override=True).to_file(bare, driver="GPKG")
    with pytest.raises(CRSError, match="bare.gpkg: footprints have no CRS"):
        read_footprints(bare, "EPSG:25832")
    assert read_footprints(bare, "EPSG:25832", input_crs="EPSG:25832")[0].crs.to_epsg() == 25832
    with pytest.raises(CRSError, match="town_footprints.gpkg: declares CRS ETRS89 / UTM zone 32N"):
        read_footprints(TOWN_FOOTPRINTS, "EPSG:25832", input_crs="EPSG:25833")


# ------------------------------------------------------------------- 3. footprints on the console

def test_outside_and_repaired_footprints_are_logged(tmp_path, caplog):
    town = gpd.read_file(TOWN_FOOTPRINTS)
    extra = gpd.GeoDataFrame(
        {"building_id": ["far1", "far2", "bowtie"]},
        geometry=[shapely.box(500_000, 5_000_000, 500_010, 5_000_010),
                  shapely.box(500_100, 5_000_000, 500_110, 5_000_010),
                  shapely.Polygon([(410700, 5477500), (410710, 5477510), (410710, 5477500), (410700, 5477510)])],
        crs=town.crs)
    path = tmp_path / "mixed.gpkg"
    gpd.GeoDataFrame(np.concatenate([town[["building_id", "geometry"]].values, extra.values]),
                     columns=["building_id", "geometry"], geometry="geometry", crs=town.crs).to_file(path)
    grid = read_surface(TOWN_DSM)
    with caplog.at_level(logging.WARNING):
        fp, report = read_footprints(path, grid.crs)
        inside, _ = check_overlap(fp, grid, name=report.path)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("mixed.gpkg: repaired 1 invalid footprint(s): bowtie" in m for m in lines), lines
    assert any("mixed.gpkg: 2 footprint(s) lie entirely outside the raster and are skipped: far1, far2" in m
               for m in lines), lines
    assert (~inside).sum() == 2


def test_format_ids_shows_the_first_few():
    assert format_ids(["a", "b"]) == "a, b"
    assert format_ids([f"B{i}" for i in range(12)]) == "B0, B1, B2, B3, B4, ... (12 in all)"


# ------------------------------------------------------------------------------- 4. file modes

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_writes_honour_the_umask(tmp_path, umask_022):
    path = write_text_atomic(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o027)
    path = atomic_write(tmp_path / "b.bin", lambda tmp: open(tmp, "wb").close())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_run_with_assigned_crs_writes_readable_outputs(tmp_path, umask_022):
    """A crop of the sample town with no CRS anywhere (DSM, DTM, footprints) runs with --crs; every output is
    0644 under umask 022; the footprints outside the crop are counted in run.json."""
    window = Window(0, 0, 200, 160)  # the north-west 100 m x 80 m
    dsm = _write_crop(tmp_path / "dsm.tif", TOWN_DSM, window, crs=None)
    dtm = _write_crop(tmp_path / "dtm.tif", TOWN_DTM, window, crs=None)
    town = gpd.read_file(TOWN_FOOTPRINTS)
    footprints = _utm_geojson_without_crs(tmp_path / "fp.geojson", town)
    out = tmp_path / "out"
    result, text = invoke("run", dsm, "--out", out, "--footprints", footprints, "--dtm", dtm, "--crs", "EPSG:25832",
                          "--no-walls", "--sectors", "8", "--step", "60")
    assert result.exit_code == 0, text
    run = json.loads((out / "run.json").read_text())
    with rasterio.open(dsm) as ds:
        extent = shapely.box(*ds.bounds)
    outside = int((~town.geometry.intersects(extent)).sum())
    assert outside > 0 and run["cadastre"]["footprints"]["outside_raster"]["count"] == outside
    with rasterio.open(out / "irradiation.tif") as ds:
        assert ds.crs.to_epsg() == 25832
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {"0o644"}, modes


def test_crs_with_several_dsms(tmp_path):
    """Several DSMs are mosaicked from their declared CRSs: --crs must agree, and cannot fill a missing one."""
    a = _write_crop(tmp_path / "a.tif", TOWN_DSM, Window(0, 0, 40, 40))
    b = _write_crop(tmp_path / "b.tif", TOWN_DSM, Window(40, 0, 40, 40))
    bare = _write_crop(tmp_path / "bare.tif", TOWN_DSM, Window(40, 0, 40, 40), crs=None)
    out = tmp_path / "out"
    result, text = invoke("run", a, b, "--out", out, "--crs", "EPSG:25833")
    assert result.exit_code == 2 and "a.tif: declares CRS ETRS89 / UTM zone 32N" in text, text
    result, text = invoke("run", a, bare, "--out", out, "--crs", "EPSG:25832")
    assert result.exit_code == 2 and "bare.tif: has no CRS" in text and "gdal_edit.py -a_srs EPSG:25832" in text
    assert not out.exists() or not any(out.iterdir())


def _flat_tile(path, crs):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32",
                       crs=crs, transform=from_origin(400000, 5500000, 1, 1)) as ds:
        ds.write(np.full((20, 20), 100.0, np.float32), 1)
    return path


def test_batch_tiles_get_the_assigned_crs_and_web_mercator_is_refused(tmp_path):
    from solarkataster.io.tiles import scan_tiles

    bare = _flat_tile(tmp_path / "a.tif", None)
    with pytest.raises(CRSError, match="no CRS"):
        scan_tiles([bare])
    assert CRS.from_wkt(scan_tiles([bare], crs="EPSG:25832").crs).to_epsg() == 25832
    with pytest.raises(CRSError, match=r"scale factor of 1\.39"):
        scan_tiles([_flat_tile(tmp_path / "m.tif", "EPSG:3857")])
