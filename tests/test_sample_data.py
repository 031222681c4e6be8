"""The synthetic sample town (sample_data/): reproducible, georeferenced, and its truth agrees with its raster.

The plane checks are independent of the generator's own bookkeeping: a least-squares plane fitted to the
DSM pixels inside each truth polygon must give the truth tilt and azimuth, and the 3-D area of each polygon
lifted onto its plane (Newell's vector area) must equal the stated sloped area.
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys

import numpy as np
import pytest
import rasterio
import shapely
from conftest import REPO

SAMPLE = REPO / "sample_data"
KAISERSLAUTERN = (7.769, 49.444)  # lon, lat [°]


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_town", SAMPLE / "make_sample_town.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    return _generator().make_sample_town(tmp_path_factory.mktemp("town"))


@pytest.fixture(scope="module")
def truth():
    return json.loads((SAMPLE / "town_truth.json").read_text())


@pytest.fixture(scope="module")
def dsm():
    with rasterio.open(SAMPLE / "town_dsm.tif") as src:
        return src.read(1), src.transform, src.crs, src.profile


@pytest.fixture(scope="module")
def dtm():
    with rasterio.open(SAMPLE / "town_dtm.tif") as src:
        return src.read(1)


def _pixel_centres(transform, shape):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e


def _assert_same_json(a, b, path="truth"):
    """Equal structure and strings; floats within 1e-6 (absolute); WKT compared as geometry."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _assert_same_json(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_json(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), path
    elif isinstance(a, str) and a.startswith(("POLYGON", "MULTIPOLYGON")):
        assert shapely.from_wkt(a).equals_exact(shapely.from_wkt(b), 1e-6), path
    else:
        assert a == b, path


# ---------------------------------------------------------------------------------------- reproducibility
def test_regenerated_rasters_equal_committed(regenerated, dsm, dtm):
    z, transform, crs, _ = dsm
    with rasterio.open(regenerated["dsm"]) as src:
        assert src.transform == transform and src.crs == crs
        np.testing.assert_array_equal(src.read(1), z)  # NaNs compare equal here
    with rasterio.open(regenerated["dtm"]) as src:
        np.testing.assert_array_equal(src.read(1), dtm)


def test_regenerated_truth_equals_committed(regenerated, truth):
    with open(regenerated["truth"]) as f:
        _assert_same_json(json.load(f), truth)


# ---------------------------------------------------------------------------------------- georeference
def test_dsm_georeference_and_format(dsm, dtm):
    from pyproj import CRS, Geod, Transformer

    z, transform, crs, profile = dsm
    assert CRS.from_user_input(crs).to_epsg() == 25832
    assert transform.a == 0.5 and transform.e == -0.5 and transform.b == 0 and transform.d == 0
    assert transform.c == round(transform.c) and transform.f == round(transform.f)  # whole metres
    assert z.shape == (400, 480) and z.dtype == np.float32 and dtm.shape == z.shape
    assert math.isnan(profile["nodata"])
    assert profile["compress"].lower() == "deflate" and profile["tiled"]
    assert (SAMPLE / "town_dsm.tif").stat().st_size < 1_000_000

    cx, cy = transform @ (z.shape[1] / 2, z.shape[0] / 2)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    _, _, distance = Geod(ellps="WGS84").inv(lon, lat, *KAISERSLAUTERN)
    assert distance < 2000.0

    # nodata: exactly the 6 x 6 block in the north-east corner
    nan = np.isnan(z)
    assert nan.sum() == 36 and nan[:6, -6:].all()
    assert not np.isnan(dtm).any()
    assert 234.0 < dtm.min() and dtm.max() < 246.0  # Kaiserslautern's altitude


def test_bare_ground_is_terrain_plus_lidar_noise(dsm, dtm, truth):
    """Away from buildings and trees the DSM is the DTM plus N(0, 3 cm): a check on the noise model."""
    z, transform, _, _ = dsm
    x, y = _pixel_centres(transform, z.shape)
    objects = [shapely.from_wkt(b["footprint_wkt"]).buffer(1.0) for b in truth["buildings"]]
    objects += [shapely.Point(t["centre"]).buffer(t["radius"] + 1.0) for t in truth["trees"]]
    near = shapely.contains_xy(shapely.union_all(objects), x, y)
    diff = (z - dtm)[~near & np.isfinite(z)]
    assert diff.size > 150_000
    assert abs(diff.mean()) < 0.001  # standard error 0.03 / sqrt(1.5e5) = 8e-5 m
    assert diff.std() == pytest.approx(0.03, rel=0.02)
    assert np.abs(diff).max() < 0.2  # > 6 sigma would mean a stray object


# ---------------------------------------------------------------------------------------- roof planes
def _planes(truth, min_area=0.0):
    return [(b, p) for b in truth["buildings"] for p in b["roof_planes"] if p["area_horizontal"] >= min_area]


def test_plane_fit_on_dsm_recovers_tilt_and_azimuth(dsm, truth):
    z, transform, _, _ = dsm
    x, y = _pixel_centres(transform, z.shape)
    checked = 0
    for b, p in _planes(truth, min_area=10.0):
        core = shapely.from_wkt(p["polygon_wkt"]).buffer(-0.75)
        inside = shapely.contains_xy(core, x, y) & np.isfinite(z)
        n = int(inside.sum())
        assert n >= 20, f"{p['plane_id']}: only {n} pixels well inside"
        px, py, pz = x[inside], y[inside], z[inside].astype(float)
        design = np.column_stack([np.ones(n), px - px.mean(), py - py.mean()])
        (_, gx, gy), *_ = np.linalg.lstsq(design, pz, rcond=None)
        tilt = math.degrees(math.atan(math.hypot(gx, gy)))
        assert tilt == pytest.approx(p["surface_tilt"], abs=1.0), p["plane_id"]
        if p["surface_tilt"] >= 5.0:
            azimuth = math.degrees(math.atan2(-gx, -gy)) % 360.0
            delta = (azimuth - p["surface_azimuth"] + 180.0) % 360.0 - 180.0
            assert abs(delta) < 3.0, f"{p['plane_id']}: azimuth {azimuth:.2f} vs {p['surface_azimuth']}"
        # the fitted plane also lies at the truth height: centroid z from the truth, evaluated at the pixels
        nx, ny, nu = p["normal"]
        cx, cy, cz = p["centroid"]
        expected = cz - (nx * (px - cx) + ny * (py - cy)) / nu
        assert np.abs(pz - expected).max() < 0.15  # 5 sigma of the 3 cm noise
        checked += 1
    assert checked >= 40


def _newell_area(ring_xyz):
    """Area of a planar 3-D ring [m²] from Newell's vector area: |Σ p_i × p_(i+1)| / 2."""
    p = np.asarray(ring_xyz, float)
    p = p - p.mean(axis=0)
    return 0.5 * np.linalg.norm(np.cross(p[:-1], p[1:]).sum(axis=0))


def test_sloped_area_from_lifted_polygon(truth):
    for _, p in _planes(truth):
        poly = shapely.from_wkt(p["polygon_wkt"])
        nx, ny, nu = p["normal"]
        cx, cy, cz = p["centroid"]

        def lift(ring):
            xy = np.asarray(ring.coords)
            return np.column_stack([xy, cz - (nx * (xy[:, 0] - cx) + ny * (xy[:, 1] - cy)) / nu])

        area_3d = _newell_area(lift(poly.exterior)) - sum(_newell_area(lift(r)) for r in poly.interiors)
        assert area_3d == pytest.approx(p["area_3d"], rel=0.005), p["plane_id"]
        assert p["area_horizontal"] == pytest.approx(poly.area, abs=1e-4)
        assert p["area_3d"] == pytest.approx(p["area_horizontal"] / math.cos(math.radians(p["surface_tilt"])),
                                             rel=0.005)
        # normal and (tilt, azimuth) describe the same plane
        t, a = math.radians(p["surface_tilt"]), math.radians(p["surface_azimuth"])
        np.testing.assert_allclose([nx, ny, nu], [math.sin(t) * math.sin(a), math.sin(t) * math.cos(a),
                                                  math.cos(t)], atol=1e-5)


def test_roof_planes_tile_the_footprint(truth):
    for b in truth["buildings"]:
        footprint = shapely.from_wkt(b["footprint_wkt"])
        planes = [shapely.from_wkt(p["polygon_wkt"]) for p in b["roof_planes"]]
        assert sum(p.area for p in planes) == pytest.approx(footprint.area, rel=1e-5), b["building_id"]
        assert shapely.union_all(planes).symmetric_difference(footprint).area < 1e-3, b["building_id"]


# ---------------------------------------------------------------------------------------- walls
def test_walls_follow_the_footprint_outwards(truth):
    for b in truth["buildings"]:
        footprint = shapely.from_wkt(b["footprint_wkt"])
        perimeter = footprint.exterior.length + sum(r.length for r in footprint.interiors)
        assert sum(w["length"] for w in b["walls"]) == pytest.approx(perimeter, rel=1e-6)
        for w in b["walls"]:
            (x0, y0), (x1, y1) = w["start"], w["end"]
            assert w["length"] == pytest.approx(math.hypot(x1 - x0, y1 - y0), abs=1e-4)
            a = math.radians(w["surface_azimuth"])
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            assert not footprint.contains(shapely.Point(mx + 0.1 * math.sin(a), my + 0.1 * math.cos(a)))
            assert footprint.contains(shapely.Point(mx - 0.1 * math.sin(a), my - 0.1 * math.cos(a)))
            assert w["area"] == pytest.approx(w["height"] * w["length"], rel=1e-3, abs=1e-3)
            assert w["height_min"] - 1e-4 <= w["height"] <= w["height_max"] + 1e-4


def test_free_walls_reach_from_terrain_to_eave(truth):
    """A wall under an eave is about eave_height tall (terrain varies along it by < 0.5 m)."""
    for b in truth["buildings"]:
        if b["roof_type"] == "shed":  # its high wall stands under the upper edge, not the eave
            continue
        for w in b["walls"]:
            if w["shared_with"] is None and w["height_max"] - w["height_min"] < 1.0:
                assert w["height"] == pytest.approx(b["eave_height"], abs=0.5), w["wall_id"]


def test_party_wall_is_shared_both_ways(truth):
    by_id = {b["building_id"]: b for b in truth["buildings"]}
    shared = [(b["building_id"], w) for b in truth["buildings"] for w in b["walls"] if w["shared_with"]]
    assert len(shared) == 2
    for bid, w in shared:
        other = [v for v in by_id[w["shared_with"]]["walls"] if v["shared_with"] == bid]
        assert len(other) == 1
        assert other[0]["start"] == pytest.approx(w["end"]) and other[0]["end"] == pytest.approx(w["start"])
        assert (other[0]["surface_azimuth"] - w["surface_azimuth"]) % 360.0 == pytest.approx(180.0)
        # only the part above the neighbour's roof is exposed, far less than a free gable wall
        assert 0.0 < w["area"] < 0.2 * w["length"] * by_id[bid]["eave_height"]


# ---------------------------------------------------------------------------------------- scene content
def test_scene_has_the_promised_variety(truth):
    buildings = truth["buildings"]
    assert len(buildings) >= 14
    assert {b["roof_type"] for b in buildings} >= {"gable", "hip", "shed", "flat"}
    footprints = [shapely.from_wkt(b["footprint_wkt"]) for b in buildings]
    assert any(len(f.interiors) == 1 for f in footprints)  # courtyard

    def off_axis(f):
        xy = np.asarray(f.exterior.coords)
        angles = np.degrees(np.arctan2(*np.diff(xy, axis=0)[:, ::-1].T)) % 90.0
        return np.all(np.minimum(angles, 90.0 - angles) > 5.0)

    assert sum(off_axis(f) for f in footprints) >= 2
    assert any(len(f.exterior.coords) - 1 == 6 for f in footprints)  # L-shape
    kinds = [p["kind"] for _, p in _planes(truth)]
    assert "dormer" in kinds and "superstructure" in kinds
    pitched = [p["surface_tilt"] for _, p in _planes(truth) if p["surface_tilt"] > 0]
    assert 15.0 <= min(pitched) and max(pitched) <= 50.0
    eaves = [b["eave_height"] for b in buildings]
    assert 6.0 <= min(eaves) and max(eaves) <= 20.0 and len(set(eaves)) >= 5
    main = [p for _, p in _planes(truth) if p["kind"] == "main"]
    assert all(p["area_3d"] >= 10.0 for p in main)


def test_trees_stand_free_and_show_in_the_dsm(truth, dsm, dtm):
    z, transform, _, _ = dsm
    buildings = shapely.union_all([shapely.from_wkt(b["footprint_wkt"]) for b in truth["buildings"]])
    assert len(truth["trees"]) >= 5
    for t in truth["trees"]:
        crown = shapely.Point(t["centre"]).buffer(t["radius"])
        assert not crown.intersects(buildings), t["tree_id"]
        assert 8.0 <= t["height"] <= 15.0
        col, row = ~transform @ tuple(t["centre"])
        window = (z - dtm)[int(row) - 2:int(row) + 2, int(col) - 2:int(col) + 2]
        # the crown top (smooth dome + 0.5 m roughness) is near the stated height
        assert np.median(window) == pytest.approx(t["height"], abs=1.5), t["tree_id"]


# ---------------------------------------------------------------------------------------- footprints
@pytest.mark.parametrize("name", ["town_footprints.geojson", "town_footprints.gpkg"])
def test_footprint_files_match_truth(name, truth):
    import geopandas as gpd

    frame = gpd.read_file(SAMPLE / name)
    assert frame.crs.to_epsg() == 25832
    assert list(frame["building_id"]) == [b["building_id"] for b in truth["buildings"]]
    assert list(frame["roof_type"]) == [b["roof_type"] for b in truth["buildings"]]
    for geom, b in zip(frame.geometry, truth["buildings"]):
        assert geom.equals_exact(shapely.from_wkt(b["footprint_wkt"]), 1e-5), b["building_id"]
