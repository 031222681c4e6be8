"""The cadastre on LoD2 models: ``run --roofs FILE`` with and without a DSM.

References: the models' own polygons (true planes from Newell's method per coplanar group, tests/lod2.py,
written independently of the package; plan outlines from the raw polygons), pvlib's Perez transposition of
the run's own clear-sky weather for unshaded faces, and analytic geometry of a synthetic gable house.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from conftest import shared_file
from lod2 import read_cityjson_roofs, true_planes
from test_lod2_input import KARLSRUHE, ZURICH, cityjson_doc, house, pvlib_plane

from solarkataster import lod2 as L
from solarkataster.cadastre import CadastreOptions, compute_cadastre
from solarkataster.cadastre_lod2 import model_grid
from solarkataster.cli import cli
from solarkataster.errors import LoD2Error, ParameterError, VectorError
from solarkataster.grid import Grid
from solarkataster.io.lod2 import LoD2Model, read_lod2
from solarkataster.pipeline import EngineOptions

#: Lean engine for tests: coarse sun steps, fewer horizon sectors.
FAST = EngineOptions(step_minutes=30, sectors=24)


def _options(walls=False):
    return CadastreOptions(engine=FAST, walls=walls)


def _truth(roofs):
    """True planes of raw roof polygons with their plan outline (union of the members' plan polygons)."""
    planes = true_planes(roofs)
    shapes = {}
    for r in roofs:
        p = shapely.Polygon(np.asarray(r.exterior)[:, :2], [np.asarray(h)[:, :2] for h in r.interiors])
        shapes.setdefault(r.surface_id, []).append(p if p.is_valid else shapely.make_valid(p))
    planes["plan"] = [shapely.union_all([g for s in ids for g in shapes[s]]) for ids in planes["surface_ids"]]
    return planes


def _match(faces, truth):
    """Row of ``faces`` (same building, largest plan overlap) for each true plane, and that overlap (IoU)."""
    rows, ious = [], []
    geoms = faces.geometry.to_numpy()
    bids = faces["building_id"].to_numpy()
    for b, plan in zip(truth["building"], truth["plan"]):
        cand = np.flatnonzero(bids == b)
        inter = shapely.area(shapely.intersection(geoms[cand], plan))
        union = shapely.area(shapely.union(geoms[cand], plan))
        k = int(np.argmax(inter / union)) if len(cand) else -1
        rows.append(cand[k] if k >= 0 else -1)
        ious.append(float(inter[k] / union[k]) if k >= 0 else 0.0)
    return np.array(rows), np.array(ious)


def _check_faces(faces, truth):
    """One face per merged roof surface: tilt, azimuth within 0.5°, area within 2 %, plan outline the model's."""
    assert len(faces) == len(truth)
    rows, ious = _match(faces, truth)
    assert (rows >= 0).all() and len(set(rows)) == len(rows) and ious.min() > 0.98
    f = faces.iloc[rows]
    assert np.abs(f["tilt"].to_numpy(float) - truth["tilt"].to_numpy()).max() <= 0.5
    sloped = truth["tilt"].to_numpy() >= 5.0  # the layer has no azimuth for flatter faces
    assert f["azimuth"].isna().to_numpy().tolist() == (~sloped).tolist()
    d_az = np.abs((f["azimuth"].to_numpy(float) - truth["azimuth"].to_numpy() + 180) % 360 - 180)
    assert d_az[sloped].max() <= 0.5
    np.testing.assert_allclose(f["area"].to_numpy(float), truth["area"].to_numpy(), rtol=0.02)
    assert (faces["source"] == "lod2").all() and faces["face_id"].is_unique
    return f


def _site_pvlib(result, tilt, azimuth):
    s = result.irradiance.site
    return pvlib_plane(result.irradiance.weather, s.latitude, s.longitude, s.altitude, tilt, azimuth,
                       albedo=result.irradiance.options.albedo)


# ---------------------------------------------------------------------------------------- synthetic

def _write_model(path, buildings):
    path.write_text(json.dumps(cityjson_doc(buildings)))
    return path


def test_house_on_a_measured_dsm_matches_pvlib(tmp_path):
    model = read_lod2(_write_model(tmp_path / "h.city.json", {"H": house(pitch=35.0, angle=20.0)}))
    transform, shape = L.model_extent(model.surfaces, 0.5, margin=20.0)
    dsm = Grid(L.rasterise_model(model.surfaces, transform, shape), transform, "EPSG:25832")
    r = compute_cadastre(dsm, roofs=model, dtm=Grid(np.full(shape, dsm.z.min()), transform, "EPSG:25832"),
                         weather="clear-sky", options=_options(walls=True))
    assert "dsm" not in r.report  # the DSM given is the grid
    faces = r.roofs
    assert len(faces) == 2 and sorted(faces["face_id"]) == ["H-F01", "H-F02"]
    np.testing.assert_allclose(faces["tilt"], 35.0, atol=0.01)
    np.testing.assert_allclose(sorted(faces["azimuth"]), [160.0, 340.0], atol=0.01)
    np.testing.assert_allclose(faces["area"], 100 / math.cos(math.radians(35.0)), rtol=1e-3)
    np.testing.assert_allclose(faces["irradiation"], _site_pvlib(r, faces["tilt"], faces["azimuth"]), rtol=0.02)
    south = faces[faces["azimuth"] == faces["azimuth"].min()].iloc[0]
    assert south["kwp"] > 0 and south["suitability"] in ("very good", "good")
    assert len(r.walls) == 4 and set(r.walls["building_id"]) == {"H"}
    np.testing.assert_allclose(sorted(r.walls["length"]), [10, 10, 20, 20], atol=0.01)
    b = r.buildings.set_index("building_id").loc["H"]
    assert b["source"] == "lod2" and b["faces"] == 2 and b["status"] == "ok"
    assert b["roof_plan_area"] == pytest.approx(200.0, rel=1e-4)
    assert b["measured_height"] == 11.0 and "Hauptstraße" in b["address"]  # the model's attributes


def test_model_is_moved_into_the_dsm_crs(tmp_path):
    model = read_lod2(_write_model(tmp_path / "h.city.json", {"H": house(pitch=40.0, angle=10.0)}))
    moved = model.to_crs("EPSG:3035")  # the DSM's CRS differs from the model's
    transform, shape = L.model_extent(moved.surfaces, 0.5, margin=15.0)
    dsm = Grid(L.rasterise_model(moved.surfaces, transform, shape), transform, "EPSG:3035")
    r = compute_cadastre(dsm, roofs=model, weather="clear-sky", options=_options())  # no DTM: the model's ground
    assert r.report["ground"].startswith("interpolated") and r.buildings["height"].iloc[0] > 6.0
    assert r.roofs.crs.to_epsg() == 3035 and len(r.roofs) == 2
    np.testing.assert_allclose(r.roofs["tilt"], 40.0, atol=0.05)  # a conformal-enough move: planes kept
    np.testing.assert_allclose(r.roofs["area"], 100 / math.cos(math.radians(40.0)), rtol=0.005)
    assert r.roofs["shading_loss"].max() < 0.01


def test_footprints_given_own_the_model_buildings(tmp_path):
    import geopandas as gpd

    model = read_lod2(_write_model(tmp_path / "h.city.json", {"H1": house(), "H2": house(dx=40.0)}))
    fp = L.model_footprints(model.surfaces, crs="EPSG:25832").buffer(1.0)
    fp = gpd.GeoDataFrame({"name": ["Nord", "Sued"]}, geometry=fp.to_numpy(), crs="EPSG:25832")
    fp.attrs["path"] = "footprints"
    r = compute_cadastre(roofs=model, footprints=fp, id_column="name", weather="clear-sky",
                         options=_options())
    assert sorted(r.roofs["building_id"]) == ["Nord", "Nord", "Sued", "Sued"]
    assert r.buildings["source"].tolist() == ["footprints"] * 2 and (r.buildings["faces"] == 2).all()


def test_a_huge_extent_is_rasterised_coarser(tmp_path, caplog):
    model = read_lod2(_write_model(tmp_path / "h.city.json", {"A": house(), "B": house(dx=3000.0, dy=2000.0)}))
    with caplog.at_level("WARNING"):
        grid, ground, report = model_grid(model, cellsize=0.5, max_pixels=200_000)
    assert grid.z.size <= 200_000 * 1.05 and report["cellsize"] > 0.5 and "coarsened" in report
    assert "km" in caplog.text and report["rasterised_from_lod2"] == "h.city.json"
    np.testing.assert_allclose(ground, ground.flat[0])  # both houses stand on the same ground
    with pytest.raises(ParameterError, match="lod2_cellsize"):
        model_grid(model, cellsize=0.0)


def test_without_dsm_or_roofs_is_an_error():
    with pytest.raises(ParameterError, match="--roofs"):
        compute_cadastre()


# ------------------------------------------------------------------------------------------- CLI

def test_cli_run_with_roofs(tmp_path):
    path = _write_model(tmp_path / "h.city.json", {"H": house(pitch=30.0)})
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", "--roofs", str(path), "--out", str(out), "--no-walls", "--step", "30",
                                   "--sectors", "24"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["cadastre"]["dsm"]["rasterised_from_lod2"] == "h.city.json"
    assert run["cadastre"]["dsm"]["cellsize"] == 0.5
    roofs = json.loads((out / "roofs.geojson").read_text())["features"]
    assert len(roofs) == 2 and {f["properties"]["source"] for f in roofs} == {"lod2"}
    assert [f["properties"]["tilt"] for f in roofs] == [30.0, 30.0]


@pytest.mark.parametrize("args, message", [
    (["run", "--roofs", "{broken}"], "broken"),
    (["run", "--roofs", "{model}", "--footprints", "{notes}"], "cannot read footprints"),
    (["run", "--roofs", "{model}", "--footprints", "{lod1}"], "no LoD2 RoofSurface"),
    (["run", "--roofs", "{model}", "--footprints", "{plain}"], "CityModel"),
    (["run", "--roofs", "{nocrs}"], "--roofs-crs"),
    (["run"], "--roofs FILE"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    files = {"broken": tmp_path / "broken.gml", "model": tmp_path / "m.city.json", "notes": tmp_path / "notes.txt",
             "lod1": tmp_path / "lod1.xml", "plain": tmp_path / "plain.gml", "nocrs": tmp_path / "nocrs.city.json"}
    files["broken"].write_text('<?xml version="1.0"?><core:CityModel xmlns:core="x"><a>')
    _write_model(files["model"], {"H": house()})
    files["notes"].write_text("not footprints\n")
    files["lod1"].write_text('<?xml version="1.0"?><CityModel><a/></CityModel>')
    files["plain"].write_text('<?xml version="1.0"?><FeatureCollection><a/></FeatureCollection>')
    files["nocrs"].write_text(json.dumps(cityjson_doc({"H": house()}, crs=None)))
    argv = [a.format(**files) for a in args] + ["--out", str(tmp_path / "out")]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and message in res.output
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1 or lines[0].startswith("Usage"), res.output


def test_citygml_as_footprints_is_read_or_named(tmp_path):
    from solarkataster.io.vector import read_footprint_layer, read_footprints

    fp, report = read_footprints(shared_file(*KARLSRUHE), "EPSG:25832")
    assert len(fp) == 95 and report.reprojected_from == "EPSG:31467" and fp.crs.to_epsg() == 25832
    assert fp["building_id"].str.contains("08212").all() and fp["building_id"].is_unique  # the model's gml:id
    attrs_only = tmp_path / "table.csv"  # readable, but no geometry
    attrs_only.write_text("id,name\n1,a\n")
    with pytest.raises(VectorError, match="table.csv.*no geometry"):
        read_footprint_layer(attrs_only)
    with pytest.raises(LoD2Error):
        read_footprints(tmp_path / "missing.gml", "EPSG:25832")


# ------------------------------------------------------------------------------------- real models

@pytest.mark.slow
def test_karlsruhe_run_without_dsm(tmp_path):
    from solarkataster.io.results import write_cadastre_results

    path = shared_file(*KARLSRUHE)
    r = compute_cadastre(roofs=path, lod2_cellsize=1.0, weather="clear-sky", options=_options())
    roofs, _ = read_cityjson_roofs(path)
    truth = _truth(roofs)
    _check_faces(r.roofs, truth)
    # the highest roof: nothing stands above it, so it is unshaded
    top = int(np.argmax([min(float(np.min(r_.exterior[:, 2])) for r_ in roofs if r_.surface_id in ids)
                         for ids in truth["surface_ids"]]))
    face = r.roofs.iloc[_match(r.roofs, truth.iloc[[top]])[0][0]]
    assert face["shading_loss"] < 0.005
    ref = _site_pvlib(r, [face["tilt"]], [180.0 if np.isnan(face["azimuth"]) else face["azimuth"]])
    np.testing.assert_allclose(face["irradiation"], ref, rtol=0.02)
    assert r.report["dsm"]["rasterised_from_lod2"] == path.name and r.report["dsm"]["cellsize"] == 1.0
    assert len(r.buildings) == 95 and (r.buildings["source"] == "lod2").all()
    assert r.buildings.set_index("building_id").loc["A08212000048050110_______", "roof_type"] == "1030"
    out = write_cadastre_results(r, tmp_path / "out", overview=False)
    run = json.loads((out / "run.json").read_text())
    assert run["cadastre"]["dsm"]["rasterised_from_lod2"] == path.name
    b = json.loads((out / "buildings.geojson").read_text())["features"][0]["properties"]
    assert "roof_type" in b and "attributes" in b


@pytest.mark.slow
def test_zurich_scattered_buildings_on_cluster_grids(monkeypatch):
    import solarkataster.cadastre_lod2 as C

    path = shared_file(*ZURICH)
    model = read_lod2(path)
    ids = L.model_clusters(model.surfaces, 200.0)[0]  # a few buildings within 200 m of each other
    s = model.surfaces[model.surfaces["building_id"].isin(ids)].reset_index(drop=True)
    sub = LoD2Model(s, model.buildings[model.buildings["building_id"].isin(ids)].reset_index(drop=True),
                    model.crs, dict(model.source))
    monkeypatch.setattr(C, "MAX_PIXELS", 20_000)  # as if the sample's 9 x 10 km: rasters coarse, roofs fine
    r = compute_cadastre(roofs=sub, lod2_cellsize=1.0, weather="clear-sky", options=_options(walls=True))
    assert "coarsened" in r.report["dsm"] and r.report["dsm"]["cellsize"] > 1.0
    assert r.irradiance.grid.z.size <= 21_000
    roofs, _ = read_cityjson_roofs(path)
    mine = [p for p in roofs if p.building in ids]
    truth = _truth(mine)
    _check_faces(r.roofs, truth)
    top = int(np.argmax([min(float(np.min(p.exterior[:, 2])) for p in mine if p.surface_id in ids_)
                         for ids_ in truth["surface_ids"]]))
    face = r.roofs.iloc[_match(r.roofs, truth.iloc[[top]])[0][0]]
    ref = _site_pvlib(r, [face["tilt"]], [180.0 if np.isnan(face["azimuth"]) else face["azimuth"]])
    np.testing.assert_allclose(face["irradiation"], ref, rtol=0.02)
    assert sorted(r.buildings["building_id"]) == sorted(ids) and (r.buildings["status"] == "ok").all()
    walls = r.walls
    model_walls = L.wall_faces(s)
    assert set(walls["building_id"]) == set(ids) and len(walls) <= len(model_walls)
    assert walls["irradiation"].notna().mean() > 0.9 and pd.api.types.is_bool_dtype(walls["shared"])
    assert (walls["kwp"] >= 0).all()


@pytest.mark.slow
def test_lidar_run_with_citygml_footprints(tmp_path):
    """The issue's crash: a CityGML file as --footprints of a DSM run gives the model's buildings."""
    from solarkataster.io.raster import write_raster

    path = shared_file(*KARLSRUHE)
    model = read_lod2(path)
    transform, shape = L.model_extent(model.surfaces, 1.0, margin=10.0)
    grid = Grid(L.rasterise_model(model.surfaces, transform, shape), transform, "EPSG:31467")
    write_raster(tmp_path / "dsm.tif", grid.z[None], grid)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "dsm.tif"), "--footprints", str(path), "--out", str(out),
                                   "--no-walls", "--step", "60", "--sectors", "8"])
    assert res.exit_code == 0, res.output
    ids = {f["properties"]["building_id"] for f in json.loads((out / "buildings.geojson").read_text())["features"]}
    assert ids == set(model.buildings["building_id"])
    run = json.loads((out / "run.json").read_text())
    assert run["cadastre"]["footprints"]["id_column"] == "gml:id" and "dsm" not in run["cadastre"]
