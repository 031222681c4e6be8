"""Acceptance tests of the cadastre (solarkataster.cadastre) through the whole pipeline.

References: the exact ground truth of the sample town (sample_data/town_truth.json), analytic roofs built
here (true planes known from their vertices), pvlib's ModelChain for the yield, hashlib for the input
hashes, the JSON Schemas and RFC 7946 for the output contract.

Runtime: the engine runs with reduced settings (24 sectors, 20-min sun steps) and an hourly clear-sky
year, which keeps the pvlib yield tables 6 x cheaper than the 10-min default; none of the properties
tested here depends on those choices.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pvlib
import pyogrio
import pytest
import rasterio
import shapely
from conftest import REPO, shared_file
from lod2 import RoofPolygon, rasterise_roofs
from shapely.geometry import LinearRing, Polygon

import solarkataster
from solarkataster import pv
from solarkataster.cadastre import (
    PROGRESS_STAGES,
    STATUS_GROUND_FACES,
    STATUS_NO_FACE,
    STATUS_OK,
    CadastreOptions,
    building_status,
    compute_cadastre,
    progress_fraction,
)
from solarkataster.errors import CRSError, VectorError
from solarkataster.io.export import validate_layer
from solarkataster.io.results import write_cadastre_results, write_overview
from solarkataster.io.vector import read_footprints
from solarkataster.layers import units as layer_units
from solarkataster.pipeline import EngineOptions, Site, load_grid
from solarkataster.sky import clear_sky_weather

SAMPLE = REPO / "sample_data"
TOWN_DSM = SAMPLE / "town_dsm.tif"
TOWN_DTM = SAMPLE / "town_dtm.tif"
TOWN_FOOTPRINTS = SAMPLE / "town_footprints.gpkg"
TOWN_TRUTH = SAMPLE / "town_truth.json"
CRS = "EPSG:25832"
LAYERS = ("roofs", "walls", "buildings")

TOWN_OPTIONS = CadastreOptions(engine=EngineOptions(sectors=24, step_minutes=20), walls=True)
FAST_ENGINE = EngineOptions(sectors=8, step_minutes=60)  # where irradiation values do not matter


def hourly_clear_sky(dsm):
    """Hourly Ineichen clear-sky year at the raster centre (the site compute_cadastre uses)."""
    site = Site.from_grid(load_grid(dsm))
    return clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------- analytic roofs

def _place(bid, local_rings, rotation, centre):
    """RoofPolygons from rings in a local frame (x along the building), rotated [°, CCW] and moved."""
    t = math.radians(rotation)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    out = []
    for ring in local_rings:
        r = np.asarray(ring, float).copy()
        r[:, :2] = r[:, :2] @ rot.T + np.asarray(centre)
        out.append(RoofPolygon(bid, r, []))
    return out


def gable(bid, centre, length, width, eave, pitch, rotation=0.0):
    ridge = eave + width / 2 * math.tan(math.radians(pitch))
    a, b = length / 2, width / 2
    return _place(bid, [[(-a, -b, eave), (a, -b, eave), (a, 0, ridge), (-a, 0, ridge)],
                        [(-a, 0, ridge), (a, 0, ridge), (a, b, eave), (-a, b, eave)]], rotation, centre)


def hip(bid, centre, length, width, eave, pitch, rotation=0.0):
    a, b = length / 2, width / 2
    ridge = eave + b * math.tan(math.radians(pitch))
    r0, r1 = -a + b, a - b
    return _place(bid, [[(-a, -b, eave), (a, -b, eave), (r1, 0, ridge), (r0, 0, ridge)],
                        [(a, -b, eave), (a, b, eave), (r1, 0, ridge)],
                        [(a, b, eave), (-a, b, eave), (r0, 0, ridge), (r1, 0, ridge)],
                        [(-a, b, eave), (-a, -b, eave), (r0, 0, ridge)]], rotation, centre)


def shed(bid, centre, length, width, low, pitch, rotation=0.0):
    """Single plane, high side at +y: faces -y (south) before rotation."""
    high = low + width * math.tan(math.radians(pitch))
    a, b = length / 2, width / 2
    return _place(bid, [[(-a, -b, low), (a, -b, low), (a, b, high), (-a, b, high)]], rotation, centre)


def flat(bid, centre, length, width, height, rotation=0.0):
    a, b = length / 2, width / 2
    return _place(bid, [[(-a, -b, height), (a, -b, height), (a, b, height), (-a, b, height)]], rotation, centre)


def true_planes(roofs):
    """Tilt, azimuth, sloped area and horizontal polygon of every roof polygon (each is one plane here)."""
    rows = []
    for k, rp in enumerate(roofs):
        ring = rp.exterior
        p = ring - ring.mean(0)
        q = np.roll(p, -1, axis=0)
        n = 0.5 * np.array([np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),  # Newell: |n| = 3-D area
                            np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                            np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]))])
        area = float(np.linalg.norm(n))
        n = n / area * (1 if n[2] > 0 else -1)
        tilt = math.degrees(math.acos(n[2]))
        azimuth = math.degrees(math.atan2(n[0], n[1])) % 360 if tilt > 1e-6 else 180.0
        rows.append(dict(plane_id=f"{rp.building}-P{k}", building=rp.building, surface_tilt=tilt,
                         surface_azimuth=azimuth, area_3d=area, polygon=Polygon(ring[:, :2])))
    return pd.DataFrame(rows)


ORIGIN = (410_500.0, 5_477_000.0)  # local scene coordinates are offsets from this UTM 32N point [m]


def to_map(roofs, origin=ORIGIN):
    """Roof polygons moved from local scene coordinates to map coordinates."""
    return [RoofPolygon(r.building, r.exterior + np.array([origin[0], origin[1], 0.0]), []) for r in roofs]


def write_scene(roofs, folder, cellsize=0.5, base=250.0, margin=15.0, noise=0.03, origin=ORIGIN):
    """Rasterise roofs (local coordinates) on flat ground into a GeoTIFF DSM at ``origin`` and their
    outlines into a footprints GeoJSON (EPSG:25832).

    The rasteriser runs in local coordinates: with UTM-sized coordinates it drops parts of flat roofs.
    """
    scene = rasterise_roofs(roofs, {r.building: 0.0 for r in roofs}, cellsize, margin=margin, noise=noise,
                            rng=np.random.default_rng(11))
    t = scene.transform
    transform = rasterio.Affine(t.a, 0.0, t.c + origin[0], 0.0, t.e, t.f + origin[1])
    roofs = to_map(roofs, origin)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dsm = folder / "dsm.tif"
    with rasterio.open(dsm, "w", driver="GTiff", width=scene.z.shape[1], height=scene.z.shape[0], count=1,
                       dtype="float32", crs=CRS, transform=transform, nodata=np.nan) as ds:
        ds.write((scene.z + base).astype(np.float32), 1)
    outlines = {}
    for rp in roofs:
        outlines.setdefault(rp.building, []).append(Polygon(rp.exterior[:, :2]))
    footprints = gpd.GeoDataFrame({"building_id": list(outlines)},
                                  geometry=[shapely.union_all(v).buffer(0) for v in outlines.values()], crs=CRS)
    fp_path = folder / "footprints.geojson"
    footprints.to_file(fp_path, driver="GeoJSON")
    return dsm, fp_path, footprints


def match_faces(planes, roofs_gdf, min_area=10.0):
    """Match each true plane of >= min_area [m²] to the output face whose polygon overlaps it most."""
    rows = []
    geoms = roofs_gdf.geometry.to_numpy()
    for _, p in planes[planes["area_3d"] >= min_area].iterrows():
        overlap = shapely.area(shapely.intersection(geoms, p["polygon"]))
        i = int(np.argmax(overlap)) if len(overlap) else -1
        if i < 0 or overlap[i] <= 0:
            rows.append(dict(p, face_id=None, ok=False))
            continue
        face = roofs_gdf.iloc[i]
        az = face["azimuth"]
        d_tilt = abs(face["tilt"] - p["surface_tilt"])
        d_az = abs((az - p["surface_azimuth"] + 180) % 360 - 180) if az is not None and np.isfinite(az) else np.nan
        d_area = abs(face["area"] / p["area_3d"] - 1)
        ok = d_tilt <= 3 and (p["surface_tilt"] < 5 or d_az <= 10) and d_area <= 0.15
        rows.append(dict(p, face_id=face["face_id"], d_tilt=d_tilt, d_azimuth=d_az, d_area=d_area, ok=bool(ok)))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def town_weather():
    return hourly_clear_sky(TOWN_DSM)


@pytest.fixture(scope="module")
def town(tmp_path_factory, town_weather):
    """The sample town with footprints and DTM, computed and written once."""
    out = tmp_path_factory.mktemp("town")
    stages = []
    result = compute_cadastre(TOWN_DSM, footprints=TOWN_FOOTPRINTS, dtm=TOWN_DTM, weather=town_weather,
                              options=TOWN_OPTIONS, progress=lambda *a: stages.append(a))
    write_cadastre_results(result, out)
    result.report["_stages"] = stages  # for test_progress_covers_every_stage (not written)
    return result, out


@pytest.fixture(scope="module")
def town_layers(town):
    _, out = town
    return {name: json.loads((out / f"{name}.geojson").read_text(encoding="utf-8")) for name in LAYERS}


@pytest.fixture(scope="module")
def town_truth():
    return json.loads(TOWN_TRUTH.read_text())


@pytest.fixture(scope="module")
def detected_scene(tmp_path_factory):
    """Rotated gable, hip, shed and flat buildings on flat ground, run without footprints."""
    roofs = (gable("gable", (30, 70), 16, 10, 6, 40, rotation=20)
             + hip("hip", (70, 70), 18, 11, 7, 30, rotation=-35)
             + shed("shed", (110, 70), 14, 9, 5, 20, rotation=61)
             + flat("flat", (30, 30), 15, 12, 9, rotation=10)
             + gable("steep", (75, 30), 13, 9, 5, 45, rotation=90 + 23)
             + hip("squarehip", (112, 30), 12, 12, 6, 25, rotation=135))
    folder = tmp_path_factory.mktemp("detected")
    dsm, fp_path, footprints = write_scene(roofs, folder)
    opts = CadastreOptions(engine=FAST_ENGINE, walls=False,
                           pv=pv.PVOptions(suitability_thresholds=(0.95, 0.80, 0.65)))
    result = compute_cadastre(dsm, weather=hourly_clear_sky(dsm), options=opts)
    out = write_cadastre_results(result, folder / "out")
    return dict(roofs=roofs, planes=true_planes(to_map(roofs)), footprints=footprints, footprints_path=fp_path,
                result=result, out=out, options=opts)


# ------------------------------------------------------------------------------ 1. plane recovery

def test_town_planes_recovered_through_pipeline(town, town_truth):
    result, _ = town
    planes = pd.DataFrame([dict(p, building=b["building_id"], polygon=shapely.from_wkt(p["polygon_wkt"]))
                           for b in town_truth["buildings"] for p in b["roof_planes"]])
    matched = match_faces(planes, result.roofs)
    rate = matched["ok"].mean()
    print(f"\nsample town: {matched['ok'].sum()}/{len(matched)} true planes >= 10 m² recovered ({rate:.1%}); "
          f"max |d tilt| {matched['d_tilt'].max():.2f}°, max |d area| {matched['d_area'].max():.1%}")
    assert len(matched) == 45  # planes of >= 10 m² in town_truth.json
    assert rate >= 0.90, matched.loc[~matched["ok"], ["plane_id", "face_id", "d_tilt", "d_azimuth", "d_area"]]
    # no two true planes collapse into one output face
    assert matched["face_id"].dropna().is_unique


def test_detected_scene_planes_recovered(detected_scene):
    s = detected_scene
    result = s["result"]
    assert (result.buildings["source"] == "detected").all()
    # every building is found once: one detected outline overlapping each footprint with IoU >= 0.8
    for _, fp in s["footprints"].iterrows():
        iou = (result.footprints.geometry.intersection(fp.geometry).area
               / result.footprints.geometry.union(fp.geometry).area)
        assert (iou >= 0.8).sum() == 1, (fp["building_id"], iou.max())
    assert len(result.buildings) == len(s["footprints"])
    matched = match_faces(s["planes"], result.roofs)
    rate = matched["ok"].mean()
    print(f"\ndetected scene: {matched['ok'].sum()}/{len(matched)} true planes recovered ({rate:.1%})")
    assert len(matched) == 14  # 2 + 4 + 1 + 1 + 2 + 4 planes, all >= 10 m²
    assert rate >= 0.90, matched.loc[~matched["ok"], ["plane_id", "face_id", "d_tilt", "d_azimuth", "d_area"]]
    assert matched["face_id"].dropna().is_unique


# ---------------------------------------------------------------------------- 2. output contract

def test_layers_validate_against_schemas(town):
    _, out = town
    for name in LAYERS:
        assert validate_layer(out / f"{name}.geojson", name)


def _decimals(text):
    return len(text.split(".")[1].split("e")[0].split("E")[0]) if "." in text else 0


def test_geojson_is_rfc7946(town, town_layers):
    result, out = town
    lon0, lat0 = result.irradiance.site.longitude, result.irradiance.site.latitude
    for name in LAYERS:
        text = (out / f"{name}.geojson").read_text(encoding="utf-8")
        # numbers as written (strings), to count decimals exactly
        raw = json.loads(text, parse_float=lambda s: s)
        collection = town_layers[name]
        assert collection["type"] == "FeatureCollection" and "crs" not in collection
        for raw_feature, feature in zip(raw["features"], collection["features"]):
            geom = feature["geometry"]
            polys = {"Polygon": [geom["coordinates"]], "MultiPolygon": geom["coordinates"],
                     "LineString": [[geom["coordinates"]]], "MultiLineString": [geom["coordinates"]]}[geom["type"]]
            raw_geom = raw_feature["geometry"]["coordinates"]
            flat_raw = np.asarray(pd.Series([raw_geom]).explode().explode().explode().explode().dropna().tolist())
            assert max(_decimals(str(v)) for v in flat_raw) <= 7
            for rings in polys:
                for k, ring in enumerate(rings):
                    xy = np.asarray(ring, float)
                    # lon/lat near the site, never metres
                    assert np.all(np.abs(xy[:, 0] - lon0) < 0.01) and np.all(np.abs(xy[:, 1] - lat0) < 0.01)
                    if geom["type"] in ("Polygon", "MultiPolygon"):
                        assert np.allclose(xy[0], xy[-1])
                        # right-hand rule: exterior counter-clockwise, holes clockwise
                        assert LinearRing(xy).is_ccw == (k == 0), (name, feature["properties"])


def test_metadata_member(town_layers):
    for name in LAYERS:
        meta = town_layers[name]["metadata"]
        assert meta["layer"] == name
        assert meta["version"] == solarkataster.__version__
        assert meta["weather"] == "clear-sky"
        assert set(layer_units(name)) <= set(meta["units"])
        assert meta["units"].get("irradiation", "kWh/m²/a") == "kWh/m²/a"
        created = datetime.fromisoformat(meta["created"])
        assert created.utcoffset() is not None
        props = town_layers[name]["features"][0]["properties"]
        assert set(layer_units(name)) <= set(props)


def test_face_ids_unique_and_stable_across_runs(town, town_weather):
    result, _ = town
    ids = result.roofs["face_id"]
    assert ids.is_unique and ids.str.match(r"^B\d\d-F\d\d$").all()
    assert result.walls["wall_id"].is_unique
    # a second run of the same inputs (walls off: they do not touch the roofs) gives the same ids and faces
    again = compute_cadastre(TOWN_DSM, footprints=TOWN_FOOTPRINTS, dtm=TOWN_DTM, weather=town_weather,
                             options=CadastreOptions(engine=TOWN_OPTIONS.engine, walls=False))
    a = result.roofs.set_index("face_id")
    b = again.roofs.set_index("face_id")
    assert list(a.index) == list(b.index)
    for fid in a.index:
        assert a.at[fid, "geometry"].equals_exact(b.at[fid, "geometry"], 1e-6), fid
        assert a.at[fid, "tilt"] == b.at[fid, "tilt"] and a.at[fid, "irradiation"] == b.at[fid, "irradiation"]


def test_face_without_a_pixel_is_dropped_and_its_neighbour_planned_again(tmp_path, monkeypatch):
    """The module plan is made beside the engine, before the faces' pixels are known. A face that then has no
    pixel (its representative point on nodata) is not reported, and the face beside it is planned again
    without it: the ridge they shared is no longer a free edge, so it gets its setback back. Reference: the
    plan of the faces without that one."""
    import solarkataster.cadastre as C

    dsm, _, _ = write_scene(gable("g", (30, 30), 16, 10, 6, 35), tmp_path)
    opts = CadastreOptions(engine=FAST_ENGINE, walls=False)
    weather = hourly_clear_sky(dsm)
    plans, pixel_statistics, roof_plan = [], C._pixel_statistics, C._roof_plan

    def planned(rf, *args):
        plans.append((rf, args))
        return roof_plan(rf, *args)

    monkeypatch.setattr(C, "_roof_plan", planned)
    whole = compute_cadastre(dsm, weather=weather, options=opts)

    def north_without_pixels(stats, faces, *args):
        stats = pixel_statistics(stats, faces, *args)
        north = faces["face"].to_numpy(int)[np.cos(np.radians(faces["azimuth"].to_numpy(float))) > 0.5]
        stats["pixels"][north - 1] = 0
        return stats

    monkeypatch.setattr(C, "_pixel_statistics", north_without_pixels)
    dropped = compute_cadastre(dsm, weather=weather, options=opts)
    assert sorted(np.round(whole.roofs["azimuth"])) == [0.0, 180.0] and len(dropped.roofs) == 1
    assert abs(dropped.roofs["azimuth"].iloc[0] - 180.0) < 5

    rf, args = plans[-1]
    faces = rf.faces
    south = faces[np.cos(np.radians(faces["azimuth"].to_numpy(float))) < -0.5]
    with_north = roof_plan(rf, *args)
    rf.faces = south
    without_north = roof_plan(rf, *args)
    rf.faces = faces
    shared, setback = (p[1]["setback_area"].to_numpy()[p[0]["_face"].to_numpy() == south["face"].iloc[0]][0]
                       for p in (with_north, without_north))
    assert setback < 0.95 * shared  # the ridge's setback counts: a stale plan would be caught
    usable = (whole.roofs.set_index("azimuth").sort_index()["usable_area"].iloc[-1],
              dropped.roofs["usable_area"].iloc[0])
    assert usable[1] / usable[0] == pytest.approx(setback / shared, rel=2e-3)


def test_walls_in_a_thread_equal_walls_in_line(town, town_weather, monkeypatch):
    """The walls run in a thread beside the roof faces; where numba's threading layer is not thread-safe they run
    in line: both give the same walls layer, buildings and problems."""
    import numba

    result, _ = town
    monkeypatch.setattr(numba, "threading_layer", lambda: "workqueue")
    again = compute_cadastre(TOWN_DSM, footprints=TOWN_FOOTPRINTS, dtm=TOWN_DTM, weather=town_weather,
                             options=TOWN_OPTIONS)
    assert len(result.walls) > 50
    pd.testing.assert_frame_equal(pd.DataFrame(result.walls), pd.DataFrame(again.walls))
    pd.testing.assert_frame_equal(pd.DataFrame(result.buildings), pd.DataFrame(again.buildings))
    assert result.report["problems"] == again.report["problems"]


def test_buildings_once_and_gpkg_matches_geojson(town, town_layers):
    _, out = town
    ids = [f["properties"]["building_id"] for f in town_layers["buildings"]["features"]]
    expected = gpd.read_file(TOWN_FOOTPRINTS)["building_id"].tolist()
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids)) == 16
    assert all(f["properties"]["status"] == "ok" for f in town_layers["buildings"]["features"])
    # every face and wall belongs to a reported building
    for name in ("roofs", "walls"):
        assert {f["properties"]["building_id"] for f in town_layers[name]["features"]} <= set(ids)
    gpkg = out / "solarkataster.gpkg"
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(LAYERS) <= set(layers)
    for name in LAYERS:
        frame = pyogrio.read_dataframe(gpkg, layer=name)
        assert len(frame) == len(town_layers[name]["features"]) > 0
        key = {"roofs": "face_id", "walls": "wall_id", "buildings": "building_id"}[name]
        assert sorted(frame[key]) == sorted(f["properties"][key] for f in town_layers[name]["features"])


def test_run_json_provenance(town, town_weather):
    _, out = town
    run = json.loads((out / "run.json").read_text())
    hashes = {Path(i["path"]).name: i["sha256"] for i in run["inputs"]}
    for path in (TOWN_DSM, TOWN_FOOTPRINTS, TOWN_DTM):
        assert hashes.get(path.name) == sha256_of(path), path.name
    assert run["weather"]["name"] == "clear-sky"
    assert run["options"]["sectors"] == 24 and run["options"]["sun_step_min"] == 20
    assert run["software"]["version"] == solarkataster.__version__
    timings = run["timings_s"]
    for step in ("buildings_s", "engine_s", "segmentation_s", "roofs_pv_s", "walls_s", "total_s"):
        assert timings[step] >= 0
    assert timings["total_s"] >= timings["engine_s"] + timings["roofs_pv_s"]
    assert run["cadastre"]["footprints"]["id_column"] == "building_id"
    assert run["cadastre"]["buildings"] == 16


def test_overview_and_rasters(town):
    result, out = town
    assert (out / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    irr = result.irradiance.irradiation
    with rasterio.open(TOWN_DSM) as dsm, rasterio.open(out / "irradiation.tif") as annual, \
            rasterio.open(out / "irradiation_monthly.tif") as monthly:
        assert annual.count == 4 and monthly.count == 12
        for ds in (annual, monthly):
            assert ds.shape == dsm.shape and ds.transform == dsm.transform and ds.crs == dsm.crs
        assert annual.descriptions == ("global", "beam", "diffuse", "reflected")
        g = annual.read(1)
        m = monthly.read()
    np.testing.assert_array_equal(g, irr.global_)
    ok = np.isfinite(g)
    assert ok.mean() > 0.99
    # twelve months add up to the year; beam + diffuse + reflected = global
    np.testing.assert_allclose(m.sum(0)[ok], g[ok], rtol=1e-3, atol=0.5)
    np.testing.assert_allclose((irr.beam + irr.diffuse + irr.reflected)[ok], g[ok], rtol=1e-3, atol=0.5)


def test_face_properties_physically_consistent(town_layers):
    props = pd.DataFrame([f["properties"] for f in town_layers["roofs"]["features"]])
    assert len(props) >= 40
    tilt = props["tilt"].to_numpy(float)
    assert np.all((tilt >= 0) & (tilt < 90))
    assert np.all(props["area"] >= props["footprint_area"])
    # sloped area = horizontal area / cos(tilt) (both rounded to 0.01)
    np.testing.assert_allclose(props["area"], props["footprint_area"] / np.cos(np.radians(tilt)), rtol=2e-3,
                               atol=0.02)
    assert props["shading_loss"].between(0, 1).all()
    assert np.all(props["usable_area"] <= props["area"] + 1e-9)
    np.testing.assert_allclose(props["kwp"], props["modules"] * 0.45, atol=1e-9)
    # modules never need more area than is usable
    assert np.all(props["modules"] * 1.76 * 1.13 <= props["usable_area"] + 1e-6)
    with_modules = props["modules"] > 0
    assert with_modules.sum() >= 20
    np.testing.assert_allclose(props.loc[with_modules, "yield_kwh"],
                               props.loc[with_modules, "kwp"] * props.loc[with_modules, "specific_yield"],
                               rtol=1e-3, atol=0.2)
    assert (props.loc[~with_modules, "yield_kwh"] == 0).all()
    # the specific yield belongs to the potential: absent exactly where no module fits
    potential = props["potential_kwp"] > 0
    assert props.loc[~potential, "specific_yield"].isna().all() and props.loc[potential, "specific_yield"].notna().all()
    np.testing.assert_allclose(props["potential_yield_kwh"], props["potential_kwp"] * props["specific_yield"].fillna(0),
                               rtol=1e-3, atol=0.2)
    np.testing.assert_allclose(props["co2_savings_kg"], props["yield_kwh"] * pv.GRID_EMISSION_FACTOR, atol=0.07)
    # azimuth is null exactly for faces flatter than 5°
    assert (props["azimuth"].isna() == (tilt < 5)).all()
    assert np.all(props["irradiation_p10"] <= props["irradiation_p50"])
    assert np.all(props["irradiation_p50"] <= props["irradiation_p90"])
    # a clear sky at 49.4° N gives at most ~1650 kWh/kWp (35° south, pvlib ModelChain, PVWatts losses)
    assert props.loc[with_modules, "specific_yield"].between(300, 1700).all()
    monthly = np.array(props["monthly_irradiation"].tolist())
    assert monthly.shape == (len(props), 12)
    np.testing.assert_allclose(monthly.sum(1), props["irradiation"], rtol=2e-3, atol=0.5)


def test_building_totals_sum_counted_faces_and_walls(town_layers):
    faces = pd.DataFrame([f["properties"] for f in town_layers["roofs"]["features"]])
    walls = pd.DataFrame([f["properties"] for f in town_layers["walls"]["features"]])
    for f in town_layers["buildings"]["features"]:
        b = f["properties"]
        mine = faces[faces["building_id"] == b["building_id"]]
        counted = mine[mine["suitability"] != "unsuitable"]
        assert b["faces"] == len(mine)
        assert b["kwp"] == pytest.approx(counted["kwp"].sum(), abs=1e-3)
        assert b["yield_kwh"] == pytest.approx(counted["yield_kwh"].sum(), abs=0.2)
        assert b["usable_area"] == pytest.approx(counted["usable_area"].sum(), abs=0.05)
        assert b["roof_area"] == pytest.approx(mine["area"].sum(), abs=0.05)
        assert sum(b["monthly_yield"]) == pytest.approx(b["yield_kwh"], rel=2e-3, abs=1.0)
        assert b["footprint_area"] > 0
        w = walls[walls["building_id"] == b["building_id"]]
        assert b["wall_area"] == pytest.approx(w["area"].sum(), abs=0.05)
        counted_walls = w[w["suitability"].isin(["very good", "good", "limited"])]
        assert b["wall_kwp"] == pytest.approx(counted_walls["kwp"].sum(), abs=1e-3)
        assert b["wall_yield_kwh"] == pytest.approx(counted_walls["yield_kwh"].sum(), abs=0.2)


def test_town_honest_totals_in_memory(town):
    _assert_honest_totals(town[0])


def test_unsuitable_surfaces_count_nothing(town_layers):
    """Honest totals (issue 12): an 'unsuitable' surface has no modules; its potential stays separate."""
    for name in ("roofs", "walls"):
        props = pd.DataFrame([f["properties"] for f in town_layers[name]["features"]])
        bad = props["suitability"] != props["suitability"]  # None (no sampled wall point)
        bad |= props["suitability"] == "unsuitable"
        assert bad.sum() > 0, name
        assert (props.loc[bad, ["kwp", "yield_kwh"]] == 0).all().all(), name
        if "modules" in props:
            assert (props.loc[bad, "modules"] == 0).all() and (props.loc[bad, "co2_savings_kg"] == 0).all()
        good = ~bad & (props["potential_kwp"] > 0)
        np.testing.assert_allclose(props.loc[good, "kwp"], props.loc[good, "potential_kwp"])
        np.testing.assert_allclose(props.loc[good, "yield_kwh"], props.loc[good, "potential_yield_kwh"], atol=0.1)
        assert (props["potential_kwp"] >= props["kwp"]).all()
    # walls: the north walls of the town are unsuitable and carry nothing
    walls = pd.DataFrame([f["properties"] for f in town_layers["walls"]["features"]])
    north = walls[(walls["azimuth"] > 315) | (walls["azimuth"] < 45)]
    assert len(north) > 0 and (north["kwp"] == 0).all()


def test_progress_covers_every_stage(town):
    result, _ = town
    stages = result.report["_stages"]
    names = list(dict.fromkeys(s for s, _, _ in stages))
    assert names == [s for s in PROGRESS_STAGES if s != "writing"]
    fractions = [progress_fraction(*s) for s in stages]
    assert all(b >= a - 1e-12 for a, b in zip(fractions, fractions[1:])), "progress must never go back"
    # the engine ends well before the end: walls and writing still follow
    engine_end = max(f for f, s in zip(fractions, stages) if s[0] == "engine")
    assert engine_end < 0.75 and fractions[-1] == pytest.approx(1 - PROGRESS_STAGES["writing"])
    assert progress_fraction("writing", 1, 1) == pytest.approx(1.0)


def test_building_status_names_faces_at_ground_height():
    status = building_status([0, 10, 10, 10], [0, 0, 3, 3], [0, 0, 1, 0])
    assert status[1] == STATUS_NO_FACE and status[2] == STATUS_GROUND_FACES and status[3] == STATUS_OK
    assert status[0] != STATUS_OK
    assert STATUS_OK not in (STATUS_NO_FACE, STATUS_GROUND_FACES)


def test_footprint_on_open_ground_is_flagged():
    """A footprint over bare ground (a demolished house, a wrong footprint) gives a face at ground height or
    none: its status says so, never 'ok'."""
    from affine import Affine
    from shapely.geometry import box

    from solarkataster.grid import Grid

    x0, y0, n = 410000.0, 5477000.0, 60
    z = np.full((n, n), 240.0)
    z[20:35, 15:30] = 250.0  # a flat-roofed block
    grid = Grid(z, Affine(1.0, 0, x0, 0, -1.0, y0 + n), "EPSG:25832")
    fps = gpd.GeoDataFrame({"building_id": ["house", "ghost"]}, crs="EPSG:25832", geometry=[
        box(x0 + 15, y0 + n - 35, x0 + 30, y0 + n - 20), box(x0 + 35, y0 + n - 55, x0 + 50, y0 + n - 40)])
    res = compute_cadastre(grid, footprints=fps, dtm=Grid(np.full((n, n), 240.0), grid.transform, grid.crs),
                           options=CadastreOptions(engine=EngineOptions(sectors=8, step_minutes=60), walls=False))
    status = dict(zip(res.buildings["building_id"], res.buildings["status"]))
    assert status["house"] == STATUS_OK
    assert status["ghost"] in (STATUS_GROUND_FACES, STATUS_NO_FACE)


def test_south_face_beats_north_face_of_each_gable(town, town_truth):
    result, _ = town
    roofs = result.roofs
    checked = 0
    for b in town_truth["buildings"]:
        if b["roof_type"] != "gable" or "dormer" in b["features"]:
            continue
        planes = sorted(b["roof_planes"], key=lambda p: math.cos(math.radians(p["surface_azimuth"])))
        south, north = planes[0], planes[-1]
        if math.cos(math.radians(north["surface_azimuth"])) - math.cos(math.radians(south["surface_azimuth"])) < 1:
            continue  # east/west gables
        irr = []
        for p in (south, north):
            overlap = roofs.geometry.intersection(shapely.from_wkt(p["polygon_wkt"])).area
            irr.append(roofs.iloc[int(np.argmax(overlap.to_numpy()))]["irradiation"])
        assert irr[0] > 1.2 * irr[1], (b["building_id"], irr)
        checked += 1
    assert checked >= 4  # B01, B02, B08, B09, B12


def _check_suitability(collection, reference, thresholds_kwh, min_usable_area=10.0):
    """Every face's class follows from its irradiation and usable area and the metadata thresholds."""
    order = ("very good", "good", "limited")
    checked = 0
    for f in collection["features"]:
        p = f["properties"]
        if p["usable_area"] < min_usable_area:
            assert p["suitability"] == "unsuitable", p["face_id"]
            continue
        if min(abs(p["irradiation"] - t) for t in thresholds_kwh.values()) < 0.15:
            continue  # rounding to 0.1 kWh/m² decides
        expected = next((c for c in order if p["irradiation"] >= thresholds_kwh[c]), "unsuitable")
        assert p["suitability"] == expected, (p["face_id"], p["irradiation"], thresholds_kwh)
        checked += 1
    return checked


def test_suitability_consistent_with_metadata(town_layers):
    meta = town_layers["roofs"]["metadata"]["suitability"]
    ref = meta["reference_irradiation"]
    assert 1000 < ref < 2500  # kWh/m²: best unobstructed plane in Germany under a clear sky
    assert meta["min"] == pytest.approx({"very good": 0.85 * ref, "good": 0.70 * ref, "limited": 0.55 * ref},
                                        abs=0.1)
    assert _check_suitability(town_layers["roofs"], ref, meta["min"]) >= 10
    classes = {f["properties"]["suitability"] for f in town_layers["roofs"]["features"]}
    assert {"very good", "unsuitable"} <= classes


def test_suitability_metadata_follows_options(detected_scene):
    """Non-default thresholds must be the ones written into the metadata that explains the classes."""
    collection = json.loads((detected_scene["out"] / "roofs.geojson").read_text(encoding="utf-8"))
    meta = collection["metadata"]["suitability"]
    ref = meta["reference_irradiation"]
    very_good, good, limited = detected_scene["options"].pv.suitability_thresholds
    assert meta["min"] == pytest.approx({"very good": very_good * ref, "good": good * ref,
                                         "limited": limited * ref}, abs=0.1)
    assert _check_suitability(collection, ref, meta["min"]) >= 5


# --------------------------------------------------------------------- 3. yield vs pvlib ModelChain

def _modelchain_specific_yield(weather, site, tilt, azimuth, options=pv.PVOptions()):
    """Annual AC energy per kWp [kWh/kWp] from pvlib's ModelChain with the cadastre's model choices."""
    u0, u1 = pv.FAIMAN_PARAMETERS["roof"]
    frame = weather.data[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    frame.index = frame.index + weather.interval / 2  # records are interval starts; pvlib wants midpoints
    if frame["dni"].isna().any():  # a TRY gives the horizontal beam only: pvlib's own DNI rule
        zenith = pvlib.solarposition.get_solarposition(frame.index, site.latitude, site.longitude,
                                                       site.altitude)["zenith"]
        frame["dni"] = frame["dni"].fillna(pvlib.irradiance.dni(frame["ghi"], frame["dhi"], zenith).fillna(0.0))
    losses = dict(options.losses, shading=0)  # the same PVWatts loss components; shading is modelled
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=tilt, surface_azimuth=azimuth, albedo=0.2,
        module_parameters={"pdc0": 1000.0, "gamma_pdc": -0.0037},
        inverter_parameters={"pdc0": 1000.0, "eta_inv_nom": options.inverter_efficiency},
        temperature_model_parameters={"u0": u0, "u1": u1}, losses_parameters=losses)
    location = pvlib.location.Location(site.latitude, site.longitude, "UTC", site.altitude)
    chain = pvlib.modelchain.ModelChain(system, location, dc_model="pvwatts", ac_model="pvwatts",
                                        aoi_model="physical", spectral_model="no_loss", temperature_model="faiman",
                                        losses_model="pvwatts", transposition_model="perez")
    chain.run_model(frame)
    return float(chain.results.ac.sum()) / 1000.0 * (weather.interval / pd.Timedelta("1h"))


@pytest.mark.parametrize("weather_name", ["clear-sky", "dwd-try"])
def test_isolated_south_shed_yield_matches_modelchain(tmp_path, weather_name):
    """End to end: the specific yield of an open south 35° roof is pvlib ModelChain's within 2 % (issue 12.3:
    the same PVWatts loss list, the inverter once), under clear sky and the real DWD TRY (weather=path)."""
    roofs = shed("shed", (40, 40), 20, 12, 4, 35)  # 20 m x 12 m, 35° facing south
    dsm, _, _ = write_scene(roofs, tmp_path, margin=25.0)
    weather = hourly_clear_sky(dsm)
    if weather_name == "dwd-try":
        weather = str(shared_file("dwd-try2010", "TRY2010_06_Jahr.dat"))
    result = compute_cadastre(dsm, weather=weather,
                              options=CadastreOptions(engine=EngineOptions(sectors=36, step_minutes=10),
                                                      walls=False))
    weather = result.irradiance.weather
    faces = result.roofs[result.roofs["area"] > 100]
    assert len(faces) == 1
    face = faces.iloc[0]
    assert face["tilt"] == pytest.approx(35, abs=0.5) and face["azimuth"] == pytest.approx(180, abs=1)
    assert face["modules"] >= 80  # 11 x 8 portrait modules fit on 19 m x 13.6 m after 0.5 m setback
    reference = _modelchain_specific_yield(weather, result.irradiance.site, 35.0, 180.0)
    pr = face["specific_yield"] / face["irradiation"]
    print(f"\nshed 35° south, {weather_name}: cadastre {face['specific_yield']:.1f} kWh/kWp, pvlib ModelChain "
          f"{reference:.1f} kWh/kWp, irradiation {face['irradiation']:.1f} kWh/m², performance ratio {pr:.3f}, "
          f"shading_loss {face['shading_loss']:.4f}")
    assert face["specific_yield"] == pytest.approx(reference, rel=0.02)
    assert face["yield_kwh"] == pytest.approx(face["kwp"] * reference, rel=0.02)
    # nothing stands above this roof: the face's irradiation is the unobstructed plane's
    assert face["shading_loss"] < 0.02


# ------------------------------------------------------------------------------ 4. footprints input

@pytest.fixture(scope="module")
def sample_footprints():
    return gpd.read_file(TOWN_FOOTPRINTS)


def _same_geometries(a, b, tolerance):
    # FlatGeobuf's spatial index reorders features: compare by id
    a, b = a.sort_values("building_id"), b.sort_values("building_id")
    assert list(a["building_id"]) == list(b["building_id"])
    for g, h in zip(a.geometry, b.geometry):
        assert g.symmetric_difference(h).area < tolerance * max(g.length, 1.0)


@pytest.mark.parametrize("driver,suffix", [("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp"),
                                           ("GeoJSON", ".geojson"), ("FlatGeobuf", ".fgb")])
def test_footprint_formats(tmp_path, sample_footprints, driver, suffix):
    path = tmp_path / f"footprints{suffix}"
    sample_footprints.to_file(path, driver=driver)
    grid = load_grid(TOWN_DSM)
    if suffix == ".shp":  # Shapefile field names stop at 10 characters: building_id becomes building_i
        footprints, report = read_footprints(path, grid.crs, id_column="building_i")
    else:
        footprints, report = read_footprints(path, grid.crs)
        assert report.id_column == "building_id"
    _same_geometries(footprints, sample_footprints, 1e-6)
    assert report.features == 16 and report.reprojected_from is None and not report.repaired


@pytest.mark.parametrize("epsg", [4326, 3857])
def test_footprints_in_another_crs_are_reprojected(tmp_path, sample_footprints, epsg):
    path = tmp_path / "footprints.gpkg"
    sample_footprints.to_crs(epsg).to_file(path, driver="GPKG")
    footprints, report = read_footprints(path, load_grid(TOWN_DSM).crs)
    assert str(epsg) in report.reprojected_from
    assert footprints.crs.to_epsg() == 25832
    # back in UTM the outlines agree to about a millimetre
    _same_geometries(footprints, sample_footprints, 1e-3)


def test_footprint_ids_detected_given_or_generated(tmp_path, sample_footprints):
    crs = load_grid(TOWN_DSM).crs
    renamed = sample_footprints.rename(columns={"building_id": "gebaeude"})
    renamed["gml_id"] = [f"DENW{i:04d}" for i in range(len(renamed))]
    path = tmp_path / "renamed.geojson"
    renamed.to_file(path, driver="GeoJSON")
    detected, report = read_footprints(path, crs)
    assert report.id_column == "gml_id" and detected["building_id"].tolist() == renamed["gml_id"].tolist()
    given, report = read_footprints(path, crs, id_column="gebaeude")
    assert given["building_id"].tolist() == sample_footprints["building_id"].tolist()
    anonymous = sample_footprints[["geometry"]].copy()
    anonymous["roof"] = sample_footprints["roof_type"]  # not unique, not an id candidate
    path = tmp_path / "anonymous.gpkg"
    anonymous.to_file(path, driver="GPKG")
    generated, report = read_footprints(path, crs)
    assert report.id_column is None
    assert generated["building_id"].tolist() == [f"B{i:05d}" for i in range(1, 17)]
    # generated ids are stable: same file, same ids
    assert read_footprints(path, crs)[0]["building_id"].tolist() == generated["building_id"].tolist()
    with pytest.raises(VectorError, match="'nope' not found"):
        read_footprints(path, crs, id_column="nope")
    no_crs = tmp_path / "no_crs.geojson"
    no_crs.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": 1},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 0]]]}}]}))
    # an RFC 7946 file without crs member is WGS84 by definition; far from the town it is simply outside
    footprints, _ = read_footprints(no_crs, crs)
    assert footprints.crs.to_epsg() == 25832
    with pytest.raises(CRSError, match="no CRS"):
        read_footprints(gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(0, 0, 1, 1)]), crs)


# -------------------------------------------------------------------------- 6. Essen, no footprints

@pytest.mark.slow
def test_essen_without_footprints(tmp_path):
    dsm = shared_file("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")
    opts = CadastreOptions(engine=EngineOptions(sectors=16, step_minutes=30), walls=False)
    result = compute_cadastre(dsm, weather=hourly_clear_sky(dsm), options=opts)
    n_buildings, n_faces = len(result.buildings), len(result.roofs)
    print(f"\nEssen DOM1 (1 km², no footprints): {n_buildings} buildings, {n_faces} roof faces, "
          f"timings {result.report['timings_s']}, load {os.getloadavg()}")
    assert 150 <= n_buildings <= 800
    assert (result.buildings["source"] == "detected").all()
    assert n_faces >= n_buildings
    assert (result.buildings["faces"] > 0).mean() > 0.9
    # detected buildings are building-sized and their faces lie on them
    area = result.footprints.geometry.area
    assert area.min() >= 20 and area.median() < 2000
    assert result.roofs["tilt"].between(0, 75).mean() > 0.98
    assert result.roofs["area"].sum() > 0.8 * result.roofs["footprint_area"].sum()
    png = write_overview(result, tmp_path / "overview.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_honest_totals(result)  # issue 12 on the whole tile (walls: test_essen_honest_totals_with_walls)
    _assert_publishable_polygons(result, tmp_path)


def _assert_publishable_polygons(result, folder):
    """Issue 11 on real roofs: no face part under 1 m², and the GeoJSON polygons (lon/lat, 7 decimals) valid."""
    from solarkataster.io.export import write_geojson

    parts = shapely.get_parts(result.roofs.geometry.to_numpy())
    assert shapely.area(parts).min() >= 1.0
    for layer, frame in (("roofs", result.roofs), ("buildings", result.buildings)):
        written = gpd.read_file(write_geojson(folder / f"{layer}.geojson", frame, layer=layer, metadata={}))
        assert len(written) == len(frame) and written.is_valid.all(), (layer, (~written.is_valid).sum())


def _assert_honest_totals(result):
    """kWp and kWh are 0 on 'unsuitable' surfaces; building totals are the sums of counted faces and walls."""
    counted = ("very good", "good", "limited")
    roofs, walls, buildings = result.roofs, result.walls, result.buildings.set_index("building_id")
    checks = [("kwp", roofs, "kwp"), ("yield_kwh", roofs, "yield_kwh")]
    if walls is not None:
        checks += [("kwp", walls, "wall_kwp"), ("yield_kwh", walls, "wall_yield_kwh")]
    for layer in {id(layer): layer for _, layer, _ in checks}.values():
        bad = ~layer["suitability"].isin(counted)
        assert (layer.loc[bad, "kwp"] == 0).all() and (layer.loc[bad, "yield_kwh"] == 0).all()
        assert (layer["potential_kwp"] >= layer["kwp"]).all()
    for col, layer, total in checks:
        sums = layer[layer["suitability"].isin(counted)].groupby("building_id")[col].sum()
        sums = sums.reindex(buildings.index).fillna(0.0)
        np.testing.assert_allclose(buildings[total], sums, atol=0.2 if "yield" in col else 2e-3)


@pytest.mark.slow
def test_essen_honest_totals_with_walls():
    """Issue 12.2 on real data: 400 m x 400 m of the Essen tile, buildings detected, walls on."""
    dsm = load_grid(shared_file("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")).window(300, 700, 300, 700)
    opts = CadastreOptions(engine=EngineOptions(sectors=16, step_minutes=60))
    result = compute_cadastre(dsm, weather=hourly_clear_sky(dsm), options=opts)
    walls = result.walls
    unsuitable = walls["suitability"] == "unsuitable"
    share = walls.loc[unsuitable, "potential_kwp"].sum() / walls["potential_kwp"].sum()
    print(f"\nEssen 400 m: {len(result.buildings)} buildings, {len(result.roofs)} faces, {len(walls)} walls; "
          f"wall kWp counted {walls['kwp'].sum():.0f} of potential {walls['potential_kwp'].sum():.0f} "
          f"({share:.0%} of the potential on unsuitable walls); roof kWp {result.roofs['kwp'].sum():.0f}")
    assert len(result.buildings) >= 20 and unsuitable.sum() > 0
    _assert_honest_totals(result)


def test_footprints_off_the_raster_are_skipped_and_walls_stay_on_it():
    """A city-wide footprint layer over one DSM: buildings entirely off the raster are not reported (only
    counted in the report), a building reaching past the edge is flagged, and no wall lies off the raster."""
    import geopandas as gpd
    from affine import Affine
    from shapely.geometry import box

    from solarkataster.cadastre import CadastreOptions, compute_cadastre
    from solarkataster.grid import Grid
    from solarkataster.pipeline import EngineOptions

    x0, y0, n = 410000.0, 5477000.0, 60
    z = np.full((n, n), 240.0)
    z[20:35, 15:30] = 250.0        # a flat-roofed block inside
    z[20:35, 50:] = 248.0          # a block cut by the east edge
    grid = Grid(z, Affine(1.0, 0, x0, 0, -1.0, y0 + n), "EPSG:25832")
    fps = gpd.GeoDataFrame({"building_id": ["in", "edge", "far"]}, crs="EPSG:25832", geometry=[
        box(x0 + 15, y0 + n - 35, x0 + 30, y0 + n - 20),
        box(x0 + 50, y0 + n - 35, x0 + 70, y0 + n - 20),
        box(x0 + 500, y0 + 500, x0 + 520, y0 + 520)])
    res = compute_cadastre(grid, footprints=fps, options=CadastreOptions(
        engine=EngineOptions(sectors=8, step_minutes=60)))
    assert sorted(res.buildings["building_id"]) == ["edge", "in"]
    assert res.report["footprints"]["outside_raster"] == {"count": 1, "ids": ["far"]}
    flags = dict(zip(res.buildings["building_id"], res.buildings["partly_outside"]))
    assert flags == {"in": False, "edge": True}
    extent = box(x0, y0, x0 + n, y0 + n).buffer(1.0)
    assert len(res.walls) > 0 and res.walls.geometry.within(extent).all()
    assert res.report.get("walls_outside_raster", 0) >= 1  # the edge building's east wall
