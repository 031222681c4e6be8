"""Vegetation sources: canopy rasters, trees taken from the surface model, LAS classes 3-5, options, outputs.

References are independent of the code under test: the sample town's exact tree and building truth
(sample_data/town_truth.json), analytic planes, and hand-built rasters and point clouds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from solarkataster.errors import ParameterError, RasterError
from solarkataster.grid import Grid
from solarkataster.vegetation import (
    DEFAULT_LEAF_ON,
    DEFAULT_TRANSMISSIVITY,
    Vegetation,
    VegetationSpec,
    canopy_from_model,
    canopy_in_surface,
    parse_leaf_on,
    remove_canopy,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
CRS = "EPSG:25832"
X0, Y0 = 410_000.0, 5_477_000.0


def write_tif(path, z, transform, crs=CRS, nodata=None):
    z = np.asarray(z, dtype=np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=z.shape[0], width=z.shape[1], count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(z, 1)
    return path


def crown_pixels(grid, truth):
    """Pixels whose centre lies inside a tree crown of the truth (circle of the crown radius)."""
    rows, cols = grid.shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    x, y = grid.xy(yy, xx)
    inside = np.zeros(grid.shape, bool)
    for tree in truth["trees"]:
        cx, cy = tree["centre"]
        inside |= (x - cx) ** 2 + (y - cy) ** 2 <= tree["radius"] ** 2
    return inside


# ------------------------------------------------------------------------------------- parameters

def test_leaf_on_is_parsed_and_bad_periods_are_one_line_errors():
    assert parse_leaf_on("97-300") == (97, 300)
    assert parse_leaf_on(" 280 - 100 ") == (280, 100)  # southern hemisphere: wraps over the new year
    for bad in ("97", "97-", "a-b", "0-300", "97-367", "1-2-3"):
        with pytest.raises(ParameterError, match="leaf-on period"):
            parse_leaf_on(bad)


def test_spec_validates_before_any_raster_is_read():
    spec = VegetationSpec("auto", leaf_on="100-280")
    assert spec.is_auto and spec.leaf_on == (100, 280) and spec.transmissivity == DEFAULT_TRANSMISSIVITY
    for kwargs in ({"transmissivity": 1.5}, {"leaf_off_transmissivity": -0.1}, {"trunk_ratio": 2.0}):
        with pytest.raises(ParameterError):
            VegetationSpec("auto", **kwargs)
    veg = spec.vegetation(np.ones((3, 3)), np.zeros((3, 3)), extra={"removed_from_surface_px": 2})
    assert isinstance(veg, Vegetation)
    p = veg.parameters()
    assert p["source"] == "auto" and p["leaf_on"] == "100-280" and p["removed_from_surface_px"] == 2


@pytest.mark.parametrize("args, message", [
    (["--vegetation", "auto", "--transmissivity", "1.5"], "transmissivity=1.5"),
    (["--vegetation", "auto", "--leaf-on", "97"], "leaf-on period '97'"),
    (["--vegetation", "auto", "--trunk-ratio", "-1"], "trunk_ratio=-1.0"),
    (["--transmissivity", "0.1"], "--transmissivity need(s) --vegetation"),
    (["--vegetation", "missing_cdsm.tif"], "canopy raster not found"),
])
@pytest.mark.parametrize("command", ["irradiance", "run", "point"])
def test_bad_vegetation_options_exit_2_with_one_line(tmp_path, args, message, command):
    from solarkataster.cli import cli

    rng = np.random.default_rng(0)
    dsm = write_tif(tmp_path / "dsm.tif", 100 + rng.random((20, 20)), Affine(1, 0, X0, 0, -1, Y0))
    base = {"irradiance": ["irradiance", str(dsm), "--out", str(tmp_path / "o"), "--weather", "clear-sky"],
            "run": ["run", str(dsm), "--out", str(tmp_path / "o"), "--weather", "clear-sky"],
            "point": ["point", str(dsm), "--x", str(X0 + 10), "--y", str(Y0 - 10), "--z", "102", "--tilt", "0",
                      "--azimuth", "180", "--weather", "clear-sky"]}[command]
    res = CliRunner().invoke(cli, base + [a.replace("missing_cdsm.tif", str(tmp_path / "missing_cdsm.tif"))
                                          for a in args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], res.output


def test_batch_takes_the_vegetation_options():
    from solarkataster.cli import cli

    res = CliRunner().invoke(cli, ["batch", "--help"])
    for flag in ("--vegetation", "--transmissivity", "--leaf-off-transmissivity", "--leaf-on", "--trunk-ratio"):
        assert flag in res.output


def test_batch_records_the_vegetation_in_its_options_hash(tmp_path):
    from solarkataster.batch import _batch_vegetation, _options_doc
    from solarkataster.batch.execute import cadastre_tile_job
    from solarkataster.batch.plan import options_hash
    from solarkataster.pipeline import EngineOptions

    common = dict(weather="clear-sky", year=2025, linke=None, halo=None, min_elevation=5, halo_cap=250,
                  cellsize=0.5, id_column=None, crs=CRS)
    plain = _options_doc(cadastre_tile_job, EngineOptions(), **common)
    assert "vegetation" not in plain  # a run without vegetation keeps its hash (no recomputation)
    cdsm = write_tif(tmp_path / "cdsm.tif", np.zeros((5, 5)), Affine(1, 0, X0, 0, -1, Y0))
    spec = _batch_vegetation(str(cdsm))
    assert Path(spec.source).is_absolute()
    a = _options_doc(cadastre_tile_job, EngineOptions(), vegetation=spec, **common)
    b = _options_doc(cadastre_tile_job, EngineOptions(), vegetation=VegetationSpec(spec.source, transmissivity=0.1),
                     **common)
    assert len({options_hash(plain), options_hash(a), options_hash(b)}) == 3
    with pytest.raises(ParameterError, match="canopy raster not found"):
        _batch_vegetation(str(tmp_path / "nope.tif"))
    with pytest.raises(ParameterError, match="cannot be split into tiles"):
        _batch_vegetation(Vegetation(np.zeros((3, 3)), np.zeros((3, 3))))


# ------------------------------------------------------------------------------------- canopy model

def _scene():
    """Flat ground at 100 m, a building with a north-facing shed roof (4-8 m high), a 12 m tree west of it."""
    n = 40
    rows, cols = np.mgrid[0:n, 0:n].astype(float)
    ground = np.full((n, n), 100.0)
    building = (rows >= 10) & (rows < 30) & (cols >= 20) & (cols < 34)
    roof = 104.0 + 0.2 * (rows - 10)  # a plane: 104 m at the north eave, rising southwards
    z = np.where(building, roof, ground)
    tree = (rows - 20) ** 2 + (cols - 18) ** 2 <= 36  # 6 px crown radius, reaching over the roof's west part
    canopy = np.where(tree, 12.0, 0.0)
    return z, ground, building, roof, canopy


def test_a_model_without_the_trees_is_unchanged_and_a_first_return_dsm_loses_them():
    z, ground, building, roof, canopy = _scene()
    opaque, ch, removed = canopy_from_model(z, ground, canopy, building)  # UMEP: DSM without trees + CDSM
    np.testing.assert_array_equal(opaque, z)
    assert removed == 0 and np.array_equal(ch > 0, canopy > 0)
    lidar = np.where(canopy > 0, ground + canopy, z)  # a first-return DSM: the crown hides roof and ground
    opaque, ch, removed = canopy_from_model(lidar, ground, canopy, building)
    assert removed == int((canopy > 0).sum())
    off = (canopy > 0) & ~building
    np.testing.assert_array_equal(opaque[off], ground[off])  # off the roof: the ground
    on = (canopy > 0) & building
    assert on.sum() > 10
    np.testing.assert_allclose(opaque[on], roof[on], atol=1e-6)  # under the crown: the roof plane, exactly
    np.testing.assert_array_equal(opaque[~(canopy > 0)], lidar[~(canopy > 0)])


def test_a_roof_above_a_canopy_raster_stays_roof():
    z, ground, building, roof, _ = _scene()
    low_tree = np.where(building, 3.0, 0.0)  # a canopy model claiming 3 m trees where the roof is at 4-8 m
    assert not canopy_in_surface(z, ground, low_tree, building).any()
    opaque, _, removed = canopy_from_model(z, ground, low_tree, building)
    assert removed == 0 and np.array_equal(opaque, z)


def test_remove_canopy_fills_the_ground_where_no_building():
    ground = np.linspace(100, 104, 25).reshape(5, 5)
    z = ground + 10.0
    out = remove_canopy(z, ground, np.ones((5, 5), bool))
    np.testing.assert_array_equal(out, ground)


# ------------------------------------------------------------------------------------- reading

def test_canopy_raster_is_resampled_onto_the_dsm_grid(tmp_path):
    from solarkataster.io.vegetation import read_canopy

    # a 2 m canopy raster: one 10 m crown block of 4 x 4 px, nodata and negative values around it
    ch = np.full((20, 20), -9999.0)
    ch[5:15, 5:15] = 0.0
    ch[8:12, 8:12] = 10.0
    ch[0, 0] = -3.0
    path = write_tif(tmp_path / "cdsm.tif", ch, Affine(2, 0, X0, 0, -2, Y0), nodata=-9999.0)
    grid = Grid(np.zeros((40, 40)), Affine(1, 0, X0 + 4, 0, -1, Y0 - 4), CRS)  # 1 m, shifted by 2 px
    out = read_canopy(path, grid)
    assert out.shape == grid.shape and out.dtype == np.float32
    assert np.nanmin(out) == 0.0  # nodata and negative heights are no canopy
    # the crown block spans x in [X0+16, X0+24) -> grid columns 12..19, fully inside: 10 m in its interior
    assert out[14:18, 14:18].min() == pytest.approx(10.0)
    assert out[30:, 30:].max() == 0.0
    # a window beyond the canopy raster reads as no canopy; a grid far away is an error
    far = Grid(np.zeros((5, 5)), Affine(1, 0, X0 + 1e5, 0, -1, Y0), CRS)
    with pytest.raises(RasterError, match="does not overlap"):
        read_canopy(path, far)


def test_a_canopy_raster_in_another_crs_is_reprojected(tmp_path):
    from pyproj import Transformer

    from solarkataster.io.vegetation import read_canopy

    # the same crown in ETRS89 / UTM 33N
    x, y = Transformer.from_crs(CRS, "EPSG:25833", always_xy=True).transform(X0 + 20, Y0 - 20)
    ch = np.zeros((40, 40))
    ch[15:25, 15:25] = 8.0
    path = write_tif(tmp_path / "cdsm33.tif", ch, Affine(1, 0, x - 20, 0, -1, y + 20), crs="EPSG:25833")
    out = read_canopy(path, Grid(np.zeros((40, 40)), Affine(1, 0, X0, 0, -1, Y0), CRS))
    assert out[20, 20] == pytest.approx(8.0) and out[2, 2] == 0.0
    assert 60 <= (out > 4).sum() <= 140  # about the 100 m² crown, rotated by the grid convergence


# ------------------------------------------------------------------------------------- the sample town

@pytest.fixture(scope="module")
def town():
    from solarkataster.io.raster import read_surface
    from solarkataster.io.vector import rasterize_buildings, read_footprints

    grid = read_surface(SAMPLE / "town_dsm.tif")
    dtm = read_surface(SAMPLE / "town_dtm.tif")
    truth = json.loads((SAMPLE / "town_truth.json").read_text())
    fp, _ = read_footprints(SAMPLE / "town_footprints.gpkg", grid.crs)
    return grid, dtm, truth, rasterize_buildings(fp, grid)


@pytest.mark.parametrize("with_footprints", [True, False])
def test_auto_finds_the_sample_towns_trees_and_nothing_else(town, with_footprints):
    from solarkataster.detection import vegetation_mask

    grid, dtm, truth, labels = town
    trees = vegetation_mask(grid.z, grid.cellsize, dtm.z, labels if with_footprints else None)
    crowns = crown_pixels(grid, truth)
    assert not (trees & (labels > 0)).any()  # never on a building
    assert not (trees & ~crowns).any()  # nothing outside the crowns (no shed, wall, noise)
    assert (trees & crowns).sum() >= 0.95 * crowns.sum()  # the crowns' pixels (the rims are low)


def test_auto_vegetation_takes_the_trees_out_of_the_opaque_surface(town):
    from solarkataster.io.vegetation import prepare_vegetation

    grid, dtm, truth, labels = town
    opaque, veg = prepare_vegetation("auto", grid, dtm.z, labels)
    crowns = crown_pixels(grid, truth)
    assert veg.mask.sum() >= 0.95 * crowns.sum() and not (veg.mask & ~crowns).any()
    np.testing.assert_allclose(opaque.z[veg.mask], dtm.z[veg.mask])  # the ground under the crowns
    np.testing.assert_array_equal(opaque.z[~veg.mask], grid.z[~veg.mask])
    tops = [t["ground_z"] + t["height"] for t in truth["trees"]]
    assert np.nanmax(veg.canopy_top) == pytest.approx(max(tops), abs=1.5)  # crown roughness ±0.5 m
    assert veg.parameters()["source"].startswith("auto")


# ------------------------------------------------------------------------------------- point clouds

def test_las_vegetation_classes_become_the_canopy(tmp_path):
    laspy = pytest.importorskip("laspy")
    from pyproj import CRS as PCRS

    from solarkataster.io.pointcloud import rasterize_las

    # 10 x 10 m: ground at 50 m everywhere (class 2), a 4 x 4 m flat roof at 58 m (class 6), and a tree
    # (class 5, 62 m) over the west half: its cells hold only ground and vegetation returns
    xs, ys = np.meshgrid(np.arange(0.25, 10, 0.5), np.arange(0.25, 10, 0.5))
    xs, ys = xs.ravel(), ys.ravel()
    roof = (xs > 6) & (xs < 10) & (ys > 6) & (ys < 10)
    tree = xs < 4
    x = np.concatenate([xs[~roof], xs[roof], xs[tree]]) + X0
    y = np.concatenate([ys[~roof], ys[roof], ys[tree]]) + Y0
    z = np.concatenate([np.full((~roof).sum(), 50.0), np.full(roof.sum(), 58.0), np.full(tree.sum(), 62.0)])
    cls = np.concatenate([np.full((~roof).sum(), 2), np.full(roof.sum(), 6), np.full(tree.sum(), 5)])
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([X0, Y0, 0.0])
    header.add_crs(PCRS.from_user_input(CRS))
    las = laspy.LasData(header)
    las.x, las.y, las.z, las.classification = x, y, z, cls.astype(np.uint8)
    las.write(tmp_path / "t.las")
    bounds = (X0, Y0, X0 + 10, Y0 + 10)
    dsm0, _ = rasterize_las(tmp_path / "t.las", 0.5, bounds)
    dsm, dtm, canopy = rasterize_las(tmp_path / "t.las", 0.5, bounds, vegetation=True)
    west = np.zeros(dsm.shape, bool)
    west[:, :8] = True
    assert np.all(dsm0.z[west] == 62.0)  # without vegetation: the crown is the surface
    np.testing.assert_allclose(dsm.z[west], 50.0)  # with: the ground under it
    np.testing.assert_allclose(canopy.z[west], 12.0)  # and the canopy 12 m above the terrain
    assert np.all(canopy.z[~west] == 0.0)
    assert (dsm.z == 58.0).sum() == 64  # the roof is untouched
    np.testing.assert_allclose(dtm.z, 50.0)


# ------------------------------------------------------------------------------------- outputs

def test_layer_contract_has_vegetation_loss_beside_shading_loss():
    from solarkataster import layers

    roofs = layers.columns("roofs")
    assert roofs[roofs.index("shading_loss") + 1] == "vegetation_loss"
    assert "vegetation_loss" in layers.columns("walls")
    col = layers.layer("roofs").by_name["vegetation_loss"]
    assert col.nullable and col.schema()["maximum"] == 1


def test_vegetation_loss_share():
    from solarkataster.assessment import vegetation_loss

    share = vegetation_loss([100.0, np.nan, 5.0, 2000.0], [1000.0, 1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(share, [0.1, np.nan, 0.0, 1.0])


def test_irradiance_results_write_the_canopy_and_its_parameters(tmp_path):
    from solarkataster.io.results import write_irradiance_results
    from solarkataster.pipeline import EngineOptions, Site, compute_irradiance
    from solarkataster.sky import clear_sky_weather

    z = np.full((12, 12), 100.0)
    grid = Grid(z, Affine(1, 0, X0, 0, -1, Y0), CRS)
    site = Site.from_grid(grid)
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")
    result = compute_irradiance(grid, weather=weather, options=EngineOptions(sectors=8, step_minutes=60))
    ch = np.zeros((12, 12))
    ch[2:4, 2:4] = 9.0
    veg = VegetationSpec(str(tmp_path / "c.tif"), transmissivity=0.1).vegetation(ch, z)
    out = write_irradiance_results(result, tmp_path / "out", vegetation=veg, core=(1, 11, 1, 11))
    run = json.loads((out / "run.json").read_text())
    assert run["vegetation"]["transmissivity"] == 0.1 and run["vegetation"]["leaf_on"] == "%d-%d" % DEFAULT_LEAF_ON
    assert "canopy_height.tif" in run["outputs"] and run["units"]["canopy_height"] == "m"
    with rasterio.open(out / "canopy_height.tif") as ds:
        c = ds.read(1)
        assert c.shape == (10, 10) and np.nansum(c) == pytest.approx(4 * 9.0)
        assert np.isnan(c[5, 5]) and c[1, 1] == 9.0


# ------------------------------------------------------------------------------------- the cadastre with trees

WINTER = [0, 1, 10, 11]  # January, February, November, December: leaf-off by the default 97-300


@pytest.fixture(scope="module")
def town_runs():
    """The sample town with footprints, trees opaque (no vegetation) and trees as vegetation ('auto')."""
    from solarkataster.cadastre import CadastreOptions, compute_cadastre
    from solarkataster.pipeline import EngineOptions, Site, load_grid
    from solarkataster.sky import clear_sky_weather

    site = Site.from_grid(load_grid(SAMPLE / "town_dsm.tif"))
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")
    options = CadastreOptions(engine=EngineOptions(sectors=16, step_minutes=60), walls=False)
    common = dict(footprints=SAMPLE / "town_footprints.gpkg", dtm=SAMPLE / "town_dtm.tif", weather=weather,
                  options=options)
    runs = {v: compute_cadastre(SAMPLE / "town_dsm.tif", vegetation=v, **common) for v in (None, "auto")}
    # the reference without trees: the opaque surface 'auto' leaves (trees removed), no vegetation
    runs["no trees"] = compute_cadastre(runs["auto"].irradiance.grid, **common)
    return runs


def test_auto_trees_are_no_roofs_and_shade_less_in_winter(town_runs):
    truth = json.loads((SAMPLE / "town_truth.json").read_text())
    opaque, veg = (town_runs[v].roofs.set_index("face_id") for v in (None, "auto"))
    assert sorted(opaque.index) == sorted(veg.index)  # the same faces: trees took no roof away
    assert town_runs["auto"].report["vegetation"]["removed_from_surface_px"] > 1000
    assert opaque["vegetation_loss"].isna().all() and veg["vegetation_loss"].notna().all()
    grid = town_runs["auto"].irradiance.grid
    crowns = crown_pixels(grid, truth)
    assert not (town_runs["auto"].face_labels[crowns] > 0).any()  # no face pixel on a tree
    veg = veg.loc[opaque.index]
    winter_opaque = np.array([sum(m[i] for i in WINTER) for m in opaque["monthly_irradiation"]])
    winter_veg = np.array([sum(m[i] for i in WINTER) for m in veg["monthly_irradiation"]])
    bare = town_runs["no trees"].roofs.set_index("face_id").loc[opaque.index]
    winter_bare = np.array([sum(m[i] for i in WINTER) for m in bare["monthly_irradiation"]])
    lost = winter_bare - winter_opaque  # what the opaque trees take in winter
    shaded = lost > 1.0  # [kWh/m²]: the faces trees shade in winter
    assert shaded.sum() >= 3
    assert np.all(winter_veg >= winter_opaque - 0.02)  # bare branches never shade more than an opaque tree
    assert np.all(winter_veg[shaded] > winter_opaque[shaded])  # and the tree-shaded faces get more light
    assert np.all(winter_veg <= winter_bare + 0.02)  # but not more than without trees
    # leaf-off transmissivity 0.5: about half of the trees' winter loss comes back (more under the trunk zone,
    # less through two crowns)
    gained = (winter_veg - winter_opaque)[shaded] / lost[shaded]
    print("winter loss of the opaque trees [kWh/m²]:", np.round(lost[shaded], 2), "share back:", np.round(gained, 2))
    assert np.all((gained > 0.4) & (gained < 0.75))
    assert np.all(veg["irradiation"].to_numpy() >= opaque["irradiation"].to_numpy() - 0.1)


def test_auto_on_detected_buildings_puts_no_face_on_a_tree(town_runs):
    from shapely.geometry import Point

    from solarkataster.cadastre import CadastreOptions, compute_cadastre
    from solarkataster.pipeline import EngineOptions

    truth = json.loads((SAMPLE / "town_truth.json").read_text())
    weather = town_runs[None].irradiance.weather
    options = CadastreOptions(engine=EngineOptions(sectors=8, step_minutes=60), walls=False)
    result = compute_cadastre(SAMPLE / "town_dsm.tif", dtm=SAMPLE / "town_dtm.tif", weather=weather,
                              options=options, vegetation="auto")
    crowns = [Point(t["centre"]).buffer(t["radius"]) for t in truth["trees"]]
    for face in result.roofs.geometry:
        assert all(face.intersection(c).area < 0.5 for c in crowns)  # pixel-edge slivers at most
    from solarkataster.detection import detect_buildings
    from solarkataster.io.raster import read_surface

    dsm, dtm = read_surface(SAMPLE / "town_dsm.tif"), read_surface(SAMPLE / "town_dtm.tif")
    assert len(result.buildings) == detect_buildings(dsm.z, dsm.cellsize, dtm.z).max()  # trees took none away


# ------------------------------------------------------------------------------------- commands

def _tree_scene(tmp_path):
    """60 x 60 m at 1 m: ground 100 m, a 12 x 12 m flat-roofed building (8 m), a 14 m tree 9 m south of it.

    Writes the DSM without the tree (UMEP style), the canopy model, and the DSM with the tree burnt in.
    """
    n = 60
    rows, cols = np.mgrid[0:n, 0:n].astype(float)
    z = np.full((n, n), 100.0)
    building = (rows >= 18) & (rows < 30) & (cols >= 24) & (cols < 36)
    z[building] = 108.0
    tree = (rows + 0.5 - 43) ** 2 + (cols + 0.5 - 30) ** 2 <= 4.5 ** 2
    canopy = np.where(tree, 14.0, 0.0)
    t = Affine(1, 0, X0, 0, -1, Y0)
    return (write_tif(tmp_path / "dsm.tif", z, t), write_tif(tmp_path / "cdsm.tif", canopy, t),
            write_tif(tmp_path / "dsm_trees.tif", np.maximum(z, 100.0 + canopy), t))


def test_run_with_a_canopy_raster_writes_vegetation_outputs(tmp_path):
    from solarkataster.cli import cli

    dsm, cdsm, _ = _tree_scene(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(dsm), "--out", str(out), "--weather", "clear-sky", "--sectors", "16",
                                   "--step", "60", "--vegetation", str(cdsm), "--leaf-on", "100-280",
                                   "--transmissivity", "0.05"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["vegetation"]["source"] == str(cdsm) and run["vegetation"]["leaf_on"] == "100-280"
    assert run["vegetation"]["transmissivity"] == 0.05 and run["vegetation"]["removed_from_surface_px"] == 0
    assert str(cdsm) in [f["path"] for f in run["inputs"]]  # hashed with the other inputs
    with rasterio.open(out / "canopy_height.tif") as ds:
        assert np.nanmax(ds.read(1)) == pytest.approx(14.0)
    assert (out / "overview.png").exists()
    walls = json.loads((out / "walls.geojson").read_text())["features"]
    south = [f["properties"] for f in walls if abs(f["properties"]["azimuth"] - 180) < 5]
    north = [f["properties"] for f in walls if abs(f["properties"]["azimuth"]) < 5
             or abs(f["properties"]["azimuth"] - 360) < 5]
    assert south and north
    assert max(p["vegetation_loss"] for p in south) > 0.05  # the tree in front of it
    assert max(p["vegetation_loss"] for p in north) < 0.01
    roofs = json.loads((out / "roofs.geojson").read_text())["features"]
    assert all(f["properties"]["vegetation_loss"] is not None for f in roofs)


def test_point_season_follows_the_leaf_on_days(tmp_path):
    """Leaf-on opaque, leaf-off transparent: summer months equal the opaque tree, winter months no tree."""
    import io

    import pandas as pd

    from solarkataster.cli import cli

    dsm, cdsm, dsm_trees = _tree_scene(tmp_path)
    # a point on the ground 3 m north of the crown, facing south: the tree is between it and the sun
    args = ["--x", str(X0 + 30), "--y", str(Y0 - 35.5), "--z", "101", "--tilt", "90", "--azimuth", "180",
            "--weather", "clear-sky", "--step", "10", "--sectors", "72"]

    def monthly(path, *extra):
        res = CliRunner().invoke(cli, ["point", str(path), *args, *extra])
        assert res.exit_code == 0, res.output
        frame = pd.read_csv(io.StringIO(res.output), comment="#", parse_dates=["time"])
        return frame.groupby(frame["time"].dt.month)["poa_global"].mean()

    bare, opaque = monthly(dsm), monthly(dsm_trees)
    veg = monthly(dsm, "--vegetation", str(cdsm), "--transmissivity", "0", "--leaf-off-transmissivity", "1",
                  "--trunk-ratio", "0", "--leaf-on", "97-300")
    assert (bare - opaque)[[5, 6, 7]].min() > 5  # the tree matters [W/m²]
    for m in (5, 6, 7, 8, 9):
        assert veg[m] == pytest.approx(opaque[m], rel=0.02), m
    for m in (11, 12, 1, 2, 3):
        assert veg[m] == pytest.approx(bare[m], rel=0.02), m


def test_batch_reads_the_canopy_per_tile_window(tmp_path):
    """Four tiles of the sample town with a 1 m canopy raster: the mosaic matches the whole scene."""
    from distributed import Client, LocalCluster
    from rasterio.windows import Window

    from solarkataster.batch import run_batch
    from solarkataster.batch.execute import irradiance_tile_job
    from solarkataster.io.raster import read_surface
    from solarkataster.io.vegetation import surface_vegetation
    from solarkataster.pipeline import EngineOptions, compute_irradiance

    town = SAMPLE / "town_dsm.tif"
    grid = read_surface(town)
    truth = json.loads((SAMPLE / "town_truth.json").read_text())
    # a canopy raster on its own 1 m grid: the truth crowns at their heights (the DSM contains the trees)
    t = grid.transform
    coarse = Grid(np.zeros((grid.shape[0] // 2, grid.shape[1] // 2)), Affine(1, 0, t.c, 0, -1, t.f), grid.crs)
    rows, cols = np.mgrid[0:coarse.shape[0], 0:coarse.shape[1]]
    x, y = coarse.xy(rows, cols)
    ch = np.zeros(coarse.shape)
    for tree in truth["trees"]:
        cx, cy = tree["centre"]
        ch[(x - cx) ** 2 + (y - cy) ** 2 <= tree["radius"] ** 2] = tree["height"]
    cdsm = write_tif(tmp_path / "cdsm.tif", ch, coarse.transform)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    with rasterio.open(town) as src:
        for i, (r, c) in enumerate([(0, 0), (0, 240), (200, 0), (200, 240)]):
            w = Window(c, r, 240, 200)
            with rasterio.open(tiles / f"t{i}.tif", "w", **dict(src.profile, width=240, height=200,
                                                                 transform=src.window_transform(w))) as dst:
                dst.write(src.read(1, window=w), 1)
    options = EngineOptions(sectors=4)
    spec = VegetationSpec(str(cdsm))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        with Client(cluster) as client:
            s = run_batch([tiles], tmp_path / "out", weather="clear-sky", options=options, client=client,
                          tile_job=irradiance_tile_job, vegetation=spec)
    finally:
        cluster.close()
    assert sorted(s.computed) == ["t0", "t1", "t2", "t3"] and not s.failed
    opaque, veg = surface_vegetation(spec, grid)
    whole = compute_irradiance(opaque, weather="clear-sky", options=options, vegetation=veg).irradiation.global_
    with rasterio.open(tmp_path / "out" / "irradiation.vrt") as ds:
        mosaic = ds.read(1)
    with rasterio.open(tmp_path / "out" / "canopy_height.vrt") as ds:
        canopy = np.nan_to_num(ds.read(1))
    np.testing.assert_allclose(canopy, veg.canopy_height, atol=1e-4)  # read per window = read whole
    # off the crowns (where each window's ground filter fills the ground under the trees) pixel for pixel
    ok = np.isfinite(whole) & ~veg.mask
    rel = np.abs(mosaic[ok] - whole[ok]) / np.maximum(whole[ok], 1.0)
    assert (rel <= 0.01).mean() >= 0.999
    run = json.loads((tmp_path / "out" / "tiles" / "t0" / "run.json").read_text())
    assert run["vegetation"]["source"] == str(cdsm.resolve())


def test_auto_takes_a_crown_overhanging_a_footprint_and_keeps_the_roof_under_it():
    from solarkataster.detection import vegetation_mask
    from solarkataster.io.vegetation import prepare_vegetation

    rng = np.random.default_rng(7)
    n, cs = 120, 0.5
    rows, cols = np.mgrid[0:n, 0:n]
    ground = np.full((n, n), 100.0)
    footprint = (rows >= 30) & (rows < 70) & (cols >= 30) & (cols < 70)  # 20 x 20 m, flat roof at 108 m
    roof = np.where(footprint, 108.0, -np.inf)
    d2 = ((rows - 50) ** 2 + (cols - 74) ** 2) * cs ** 2  # a crown of 5 m radius, 3 m of it over the roof
    crown = np.where(d2 <= 25.0, 100.0 + 10.0 + 4.0 * np.sqrt(np.clip(1 - d2 / 25.0, 0, 1))
                     + rng.normal(0, 0.5, (n, n)), -np.inf)
    z = np.maximum(np.maximum(roof, crown), ground) + rng.normal(0, 0.03, (n, n))
    trees = vegetation_mask(z, cs, ground, footprint)
    over = (d2 <= 16.0) & footprint  # well inside the crown, over the roof
    outside = (d2 <= 16.0) & ~footprint
    assert trees[outside].all() and trees[over].mean() > 0.9
    assert not trees[footprint & (d2 > 36.0)].any()  # the open roof is no tree
    opaque, veg = prepare_vegetation("auto", Grid(z, Affine(cs, 0, X0, 0, -cs, Y0), CRS), ground, footprint)
    under = veg.mask & footprint
    np.testing.assert_allclose(opaque.z[under], 108.0, atol=0.15)  # the roof under the crown (±3 cm noise)
    np.testing.assert_allclose(opaque.z[veg.mask & ~footprint], 100.0)
    assert np.all(veg.canopy_top[under] > opaque.z[under] + 1.0)  # the crown stands over the roof it shades
