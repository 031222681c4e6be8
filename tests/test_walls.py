"""Walls: segments, samples, horizons and irradiation (solarkataster.walls).

References: pvlib's vertical plane (get_total_irradiance, Perez, albedo 0.2) on the same clear-sky records
for isolated buildings; analytic footprint geometry for normals, lengths and areas; a per-time-step
brute-force ray cast (tests/reference.py) for mutual shading between two facing buildings.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pvlib
import pytest
import shapely
import shapely.affinity
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize
from reference import brute_band_share, brute_horizon
from shapely.geometry import Polygon, box

from solarkataster import walls as W
from solarkataster.grid import Grid
from solarkataster.irradiation import irradiation, unobstructed_irradiation
from solarkataster.sky import FINE_AZIMUTH_BINS, clear_sky_weather, sky_table, sun_steps

LAT, LON, ALT = 49.44, 7.77, 240.0
X0, Y0 = (round(v) for v in Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(LON, LAT))
GROUND = 240.0


def scene(buildings, size=80, cellsize=1.0):
    """A flat DSM with box buildings [(polygon, height)] rasterized at pixel centres."""
    transform = Affine(cellsize, 0, X0, 0, -cellsize, Y0 + size * cellsize)
    n = int(size)
    z = np.full((n, n), GROUND)
    for poly, h in buildings:
        mask = rasterize([(poly, 1)], out_shape=z.shape, transform=transform, fill=0, dtype="uint8") > 0
        z[mask] = GROUND + h
    return Grid(z, transform, "EPSG:25832")


def at(dx, dy, w, h, angle=0.0):
    """A w x h box centred at (X0 + dx, Y0 + dy), rotated ``angle`` degrees counter-clockwise."""
    b = box(X0 + dx - w / 2, Y0 + dy - h / 2, X0 + dx + w / 2, Y0 + dy + h / 2)
    return shapely.affinity.rotate(b, angle, origin="centroid") if angle else b


@pytest.fixture(scope="module")
def year_sky():
    weather = clear_sky_weather(LAT, LON, ALT, 2025, freq="10min")
    steps = sun_steps(weather, LAT, LON, ALT, step_minutes=10)
    return weather, sky_table(steps, FINE_AZIMUTH_BINS)


def pvlib_vertical(weather, azimuths, albedo=0.2):
    """Annual POA [kWh/m²] of open vertical planes, pvlib Perez on the weather's record midpoints."""
    times = weather.data.index + weather.interval / 2
    sp = pvlib.solarposition.get_solarposition(times, LAT, LON, ALT)
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    am = pvlib.atmosphere.get_relative_airmass(sp["apparent_zenith"])
    d = weather.data
    out = []
    for az in azimuths:
        poa = pvlib.irradiance.get_total_irradiance(90, az, sp["apparent_zenith"], sp["azimuth"], d["dni"].values,
                                                    d["ghi"].values, d["dhi"].values, dni_extra=dni_extra,
                                                    airmass=am, albedo=albedo, model="perez")
        out.append(np.nansum(poa["poa_global"]) * weather.interval / pd.Timedelta(hours=1) / 1000)
    return np.array(out)


# ---------------------------------------------------------------------------------------- geometry

def test_normals_lengths_and_courtyard():
    outer = box(X0 + 20, Y0 + 20, X0 + 60, Y0 + 50)
    court = box(X0 + 30, Y0 + 28, X0 + 50, Y0 + 42)
    ring = Polygon(outer.exterior.coords[::-1], [court.exterior.coords])  # clockwise exterior on purpose
    grid = scene([(ring, 9.0)])
    walls, problems = W.wall_segments({"a": ring}, grid)
    assert problems == []
    assert len(walls) == 8
    ext = walls[walls.ring == 0]
    hole = walls[walls.ring == 1]
    # exterior: outward = away from the block; courtyard walls face into the courtyard
    for _, wall in walls.iterrows():
        mid = wall.geometry.interpolate(0.5, normalized=True)
        a = math.radians(wall.azimuth)
        probe = shapely.Point(mid.x + 0.5 * math.sin(a), mid.y + 0.5 * math.cos(a))
        assert not ring.contains(probe), wall.wall_id
    assert sorted(ext.azimuth.round(6)) == [0, 90, 180, 270]
    assert sorted(hole.azimuth.round(6)) == [0, 90, 180, 270]
    np.testing.assert_allclose(sorted(ext.length), [30, 30, 40, 40])
    np.testing.assert_allclose(sorted(hole.length), [14, 14, 20, 20])
    np.testing.assert_allclose(walls.height, 9.0)
    # stable ids: ring order from the south-west vertex, exterior first
    assert walls.wall_id.tolist() == [f"a-W{k:03d}" for k in range(8)]
    assert walls.iloc[0].azimuth == pytest.approx(180.0)  # first edge runs east along the south side


def test_collinear_vertices_merge():
    poly = Polygon([(X0 + 10, Y0 + 10), (X0 + 20, Y0 + 10.05), (X0 + 30, Y0 + 10), (X0 + 30, Y0 + 30),
                    (X0 + 10, Y0 + 30)])
    walls, _ = W.wall_segments({"b": poly}, scene([(poly, 6.0)], size=40))
    assert len(walls) == 4


def _merged_by_arrays(pts, tolerance):
    """Reference: the nearest-to-its-chord vertex dropped round by round, in NumPy array expressions."""
    while len(pts) > 3:
        prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
        chord = nxt - prev
        norm = np.linalg.norm(chord, axis=1)
        cross = np.abs(chord[:, 0] * (pts[:, 1] - prev[:, 1]) - chord[:, 1] * (pts[:, 0] - prev[:, 0]))
        dev = np.where(norm > 1e-9, cross / np.maximum(norm, 1e-12), 0.0)
        k = int(np.argmin(dev))
        if dev[k] > tolerance:
            break
        pts = np.delete(pts, k, axis=0)
    return pts


def test_merge_collinear_matches_the_array_reference():
    from solarkataster._kernels.walls import merge_collinear

    rng = np.random.default_rng(3)
    for t in range(600):
        angle = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 25)))
        pts = np.c_[np.cos(angle), np.sin(angle)] * rng.uniform(5, 50) + rng.uniform(-1e5, 1e5, 2)
        if t % 2:
            pts = np.round(pts * 2) / 2  # on a half-metre grid: many collinear vertices
        tolerance = float(rng.choice([0.0, 0.15, 1.0, 5.0]))
        np.testing.assert_array_equal(merge_collinear(np.ascontiguousarray(pts), tolerance),
                                      _merged_by_arrays(pts, tolerance))


def test_behind_the_wall_is_irrelevant_for_a_vertical_plane(year_sky):
    _, sky = year_sky
    az = np.arange(72) * 5.0
    open_ = np.full((72, 1), -90.0)
    blocked = open_.copy()
    blocked[np.cos(np.radians(az - 135.0)) < 0] = 90.0  # behind a wall facing 135°
    a = irradiation(open_, 90.0, 135.0, sky)
    b = irradiation(blocked, 90.0, 135.0, sky)
    assert b.global_[0] == pytest.approx(a.global_[0], rel=1e-9)
    assert b.sky_view_factor[0] == pytest.approx(0.5, abs=1e-3)


# ------------------------------------------------------------------------- isolated buildings vs pvlib

@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_isolated_building_matches_pvlib(year_sky, angle):
    weather, sky = year_sky
    poly = at(40, 40, 20, 12, angle)
    grid = scene([(poly, 10.0)])
    walls, problems = W.wall_segments({"h": poly}, grid)
    assert problems == [] and len(walls) == 4
    # area within 5 % of the truth (2 x (20 + 12) x 10 m)
    truth = {20.0: 200.0, 12.0: 120.0}
    for _, w in walls.iterrows():
        assert w["area"] == pytest.approx(truth[round(w.length)], rel=0.05)
    assert walls["area"].sum() == pytest.approx(640.0, rel=0.05)
    samples = W.wall_samples(walls, grid)
    assert not samples.covered.any()
    hor = W.wall_horizons(samples, grid)
    per_wall, _ = W.wall_irradiation(walls, samples, hor, sky)
    reference = pvlib_vertical(weather, walls.azimuth)
    np.testing.assert_allclose(per_wall.irradiation, reference, rtol=0.03)
    # every band of an isolated wall sees the same open half-space
    for bands in per_wall.bands:
        assert [b["z_min"] for b in bands] == [0.0, 3.0, 6.0, 9.0] and bands[-1]["z_max"] == 10.0
        values = [b["irradiation"] for b in bands]
        np.testing.assert_allclose(values, values[0], rtol=0.01)


# ------------------------------------------------------------------------------- mutual shading

def test_facing_buildings_match_brute_force_ray_cast():
    # north block faces south across an 8 m street towards a 12 m high south block
    north, south = at(40, 50, 40, 10), at(40, 32, 40, 10)
    grid = scene([(north, 12.0), (south, 12.0)])
    walls, _ = W.wall_segments({"n": north, "s": south}, grid)
    facade = walls[(walls.building_id == "n") & (walls.azimuth.round() == 180)].index[0]
    samples = W.wall_samples(walls, grid)
    mine = samples[(samples.wall == facade) & ((samples.x - (X0 + 40.5)).abs() < 0.01)]
    mine = mine[mine.height.isin([0.5, 3.5, 6.5, 11.5])]
    assert len(mine) == 4

    days = pd.date_range("2025-03-20", periods=1, freq="D", tz="UTC").append(
        pd.DatetimeIndex(["2025-06-21", "2025-12-21", "2025-09-22"], tz="UTC"))
    weather = clear_sky_weather(LAT, LON, ALT, 2025, freq="10min")
    keep = np.isin(weather.data.index.normalize(), days)
    from solarkataster.weather import WeatherYear
    short = WeatherYear(weather.data[keep], weather.interval, weather.source)
    steps = sun_steps(short, LAT, LON, ALT, step_minutes=10)
    sky = sky_table(steps, FINE_AZIMUTH_BINS)  # walls are evaluated with 1° bins, as the cadastre does
    hor = W.wall_horizons(mine, grid)
    ours = irradiation(hor, 90.0, 180.0, sky)

    # brute force: own block removed (a convex box cannot shade its own facade), march towards the sun
    z = grid.z.copy()
    own = rasterize([(north, 1)], out_shape=z.shape, transform=grid.transform, fill=0, dtype="uint8") > 0
    z[own] = GROUND
    comp = pvlib.irradiance.perez(90, 180, steps.dhi, steps.dni,
                                  pvlib.irradiance.get_extra_radiation(steps.time).to_numpy(),
                                  steps.apparent_zenith, steps.azimuth,
                                  pvlib.atmosphere.get_relative_airmass(steps.apparent_zenith),
                                  return_components=True)
    aoi = pvlib.irradiance.aoi(90, 180, steps.apparent_zenith, steps.azimuth)
    front = (aoi < 90) & (steps.apparent_zenith < 90)
    beam_normal = steps.dni * np.cos(np.radians(aoi))
    for i, (_, s) in enumerate(mine.iterrows()):
        visible = np.zeros(len(steps.time), bool)
        for t in np.flatnonzero(front):
            h = brute_horizon(z, grid.cellsize, s.row, s.col, steps.azimuth[t], step=0.1, max_cells=60, z0=s.z)
            visible[t] = h < 90 - steps.apparent_zenith[t]
        direct = np.where(visible, beam_normal + np.nan_to_num(np.asarray(comp["poa_circumsolar"])), 0.0)
        direct = np.nansum(np.where(front, direct, 0.0) * steps.weight) / 1000
        svf = ours.sky_view_factor[i]
        iso = np.nansum(np.asarray(comp["poa_isotropic"]) * steps.weight) / 1000 * svf / 0.5
        # horizon band hidden where the opposite block rises more than 6.5° above the sample
        band_share = brute_band_share(z, grid.cellsize, s.row, s.col, s.z, 180.0, max_cells=60)
        band = np.nansum(np.asarray(comp["poa_horizon"]) * steps.weight) / 1000 * band_share
        refl = 0.2 * np.sum(steps.ghi * steps.weight) / 1000 * (1 - svf)
        assert ours.beam[i] + (ours.global_[i] - ours.beam[i] - ours.reflected[i]) == pytest.approx(
            direct + iso + band, rel=0.02), s.height
        assert ours.reflected[i] == pytest.approx(refl, rel=1e-6)
    # the lower bands lose irradiation to the opposite block
    open_ = unobstructed_irradiation(90, 180, sky).global_
    assert ours.global_[0] < ours.global_[1] < ours.global_[3] <= open_ * 1.0001
    assert ours.global_[0] < 0.8 * open_


def test_sweep_horizons_match_brute_force_ray_cast():
    """Wall horizons from the sweep's hulls against a 0.1-cell ray cast from each sample (accuracy bars of the
    pixel horizons: median <= 0.5°, p90 <= 2°), on a street canyon with a tower and a rotated block."""
    north, south = at(40, 50, 40, 10), at(40, 32, 40, 10)
    tower, rotated = at(70, 20, 6, 6), at(15, 25, 8, 14, 35.0)
    grid = scene([(north, 12.0), (south, 9.0), (tower, 30.0), (rotated, 7.0)])
    walls, _ = W.wall_segments({"n": north}, grid)
    samples = W.wall_samples(walls, grid)
    # own block removed: for a convex box only other buildings can rise in front of its walls
    z = grid.z.copy()
    z[rasterize([(north, 1)], out_shape=z.shape, transform=grid.transform, fill=0, dtype="uint8") > 0] = GROUND
    open_grid = Grid(z, grid.transform, grid.crs)
    hor = W.wall_horizons(samples, open_grid)
    march = W.wall_horizons(samples, open_grid, method="march")
    rng = np.random.default_rng(3)
    err, err_march = [], []
    for i in rng.choice(len(samples), 60, replace=False):
        s = samples.iloc[i]
        for k in rng.choice(180, 12, replace=False):
            facing = math.cos(math.radians(2.0 * k - s.surface_azimuth))
            if facing < -1e-6:
                assert hor[k, i] == 90.0  # behind the wall
            if facing <= 0.05:  # behind, or grazing where the clearance rule starts 20 cells out
                continue
            ref = brute_horizon(z, 1.0, s.row, s.col, 2.0 * k, step=0.1, z0=s.z)
            err.append(abs(hor[k, i] - ref))
            err_march.append(abs(march[k, i] - ref))
    err = np.array(err)
    assert len(err) > 300
    assert np.median(err) <= 0.5 and np.percentile(err, 90) <= 2.0, (np.median(err), np.percentile(err, 90))
    assert np.percentile(err, 90) <= np.percentile(err_march, 90) + 0.25  # no worse than the march it replaces


def test_wall_kernel_equals_the_sweeps_point_queries():
    """Wall samples (rows, heights, facing, clearance and anchor taken from the samples and the grid, the walls'
    near field, line spacing and far-field stride) get exactly the horizon module's point queries, on a window
    cut from a larger lattice, with diagonal and axis-parallel sectors and NaN holes."""
    from solarkataster.horizon import grid_anchor, point_horizons

    north, south = at(40, 50, 40, 10), at(40, 32, 40, 10)
    grid = scene([(north, 12.0), (south, 9.0), (at(70, 20, 6, 6), 30.0), (at(15, 25, 8, 14, 35.0), 7.0)], size=90)
    grid.z[5:9, 60:70] = np.nan
    walls, _ = W.wall_segments({"n": north, "s": south}, grid)
    samples = W.wall_samples(walls, grid)
    mine = W.wall_horizons(samples, grid, sectors=72)
    ref = point_horizons(grid.z, grid.cellsize, samples["row"], samples["col"], samples["z"],
                         np.arange(72) * 5.0, facing=samples["surface_azimuth"], clearance=grid.cellsize,
                         near=W.WALL_NEAR_CELLS, line_spacing=W.WALL_LINE_SPACING, anchor=grid_anchor(grid.transform),
                         far_stride=W.WALL_FAR_STRIDE)
    assert mine.shape == ref.shape == (72, len(samples))
    np.testing.assert_array_equal(mine, ref)


# ---------------------------------------------------------------------------------- bad input

def test_bad_footprints_are_reported_not_raised():
    good = at(20, 20, 10, 8)
    bowtie = Polygon([(X0 + 40, Y0 + 10), (X0 + 50, Y0 + 20), (X0 + 50, Y0 + 10), (X0 + 40, Y0 + 20)])
    dup = Polygon([(X0 + 10, Y0 + 40), (X0 + 20, Y0 + 40), (X0 + 20, Y0 + 40), (X0 + 20, Y0 + 50),
                   (X0 + 10, Y0 + 50)])
    tiny = box(X0 + 60.1, Y0 + 60.1, X0 + 60.3, Y0 + 60.3)  # no pixel centre inside
    grid = scene([(good, 8.0), (bowtie, 8.0), (dup, 8.0)])
    nowhere = box(X0 + 500, Y0 + 500, X0 + 510, Y0 + 510)
    walls, problems = W.wall_segments({"good": good, "bowtie": bowtie, "dup": dup, "tiny": tiny,
                                       "nowhere": nowhere, "empty": Polygon()}, grid)
    found = {(p["building_id"], p["problem"]) for p in problems}
    assert ("bowtie", "invalid geometry repaired") in found
    assert ("dup", "zero-length edges removed") in found
    assert ("tiny", "no height") in found
    assert ("nowhere", "outside raster") in found
    assert ("empty", "empty geometry") in found
    assert "good" not in {p["building_id"] for p in problems}
    assert set(walls.building_id) == {"good", "bowtie", "dup"}
    assert (walls[walls.building_id == "dup"].shape[0]) == 4
    # bowtie repairs into two triangles, each with 3 walls
    assert walls[walls.building_id == "bowtie"].shape[0] == 6


def test_party_wall_is_shared_and_not_sampled():
    a, b = box(X0 + 10, Y0 + 10, X0 + 20, Y0 + 30), box(X0 + 20.2, Y0 + 10, X0 + 32, Y0 + 30)
    grid = scene([(a, 9.0), (b, 6.0)], size=40)
    walls, _ = W.wall_segments({"a": a, "b": b}, grid)
    shared = walls[walls.shared]
    assert sorted(zip(shared.building_id, shared.azimuth.round())) == [("a", 90.0), ("b", 270.0)]
    samples = W.wall_samples(walls, grid)
    assert not samples.wall.isin(shared.index).any()


@pytest.mark.parametrize("inset, cut", [(0.0, True), (0.6, True), (1.5, False), (3.0, False)])
def test_an_edge_along_the_rasters_border_is_a_cut_not_a_facade(inset, cut):
    """A building cut by the raster's west border (its footprint ends at the border, or regularised up to
    a cell inside) has no facade there; a wall a cell or more inside is one. The other walls keep their ids.
    """
    size = 40
    west = box(X0 + inset, Y0 + 10, X0 + inset + 10, Y0 + 20)  # the roof continues beyond the border
    inner = box(X0 + 20, Y0 + 10, X0 + 30, Y0 + 20)
    grid = scene([(box(X0 - 5, Y0 + 10, X0 + inset + 10, Y0 + 20), 8.0), (inner, 8.0)], size=size)
    walls, problems = W.wall_segments({"west": west, "inner": inner}, grid)
    own = walls[walls.building_id == "west"]
    assert sorted(own.azimuth.round()) == ([0.0, 90.0, 180.0] if cut else [0.0, 90.0, 180.0, 270.0])
    assert sorted(walls[walls.building_id == "inner"].azimuth.round()) == [0.0, 90.0, 180.0, 270.0]
    reported = [p for p in problems if p["problem"] == "edge of the surface model"]
    assert [p["building_id"] for p in reported] == (["west"] if cut else [])
    # counter-clockwise from the south-west corner: south, east, north, west; the cut one leaves a gap
    ids = dict(zip(own.wall_id.str[-4:], own.azimuth.round()))
    assert ids == {"W000": 180.0, "W001": 90.0, "W002": 0.0, **({} if cut else {"W003": 270.0})}


# ------------------------------------------------------------------------------------------- layer

def test_wall_layer_properties_and_schema(year_sky, tmp_path):
    from solarkataster import pv
    from solarkataster.io import export

    weather, sky = year_sky
    a, b = at(25, 40, 16, 10), at(55, 40, 14, 10, 30)
    c = box(X0 + 33, Y0 + 35, X0 + 40, Y0 + 45)  # touches a's east wall: a party wall
    grid = scene([(a, 10.0), (b, 7.0), (c, 6.0)])
    table = pv.specific_yield_table(clear_sky_weather(LAT, LON, ALT, 2025, freq="1h"), LAT, LON, ALT,
                                    mounting="facade", tilts=[60, 90], azimuths=np.arange(0, 360, 45.0),
                                    shading=[0, 0.5, 1])
    tables = pv.YieldTables(roof=None, rack=None, facade=table)
    # a lenient class line so that every open wall here counts (the one-rule tests are in test_assessment)
    options = pv.PVOptions(suitability_thresholds=(0.5, 0.3, 0.1))
    layer, problems = W.wall_layer({"A": a, "B": b, "C": c}, grid, sky, tables, table.reference_irradiation,
                                   options=options)
    assert problems == []
    assert list(layer.columns[:len(W.WALL_COLUMNS)]) == W.WALL_COLUMNS
    assert layer.wall_id.is_unique
    assert layer.shared.sum() == 2
    assert layer.loc[layer.shared, "kwp"].eq(0).all()
    small = layer.usable_area < options.min_usable_area  # C's short walls: too small for a system
    assert small.sum() >= 1 and (layer.loc[small, "suitability"] == "unsuitable").all()
    assert (layer.loc[small, "kwp"] == 0).all() and (layer.loc[small, "yield_kwh"] == 0).all()
    open_ = layer[~layer.shared & ~small]
    assert (open_.kwp > 0).all() and (open_.yield_kwh > 0).all()
    # yield = kWp x specific yield at the wall's shading loss
    row = open_.iloc[0]
    loss = 1 - row.irradiation / unobstructed_irradiation(90, row.azimuth, sky).global_
    assert row.yield_kwh == pytest.approx(row.kwp * float(table.specific_yield(90, row.azimuth, loss)), rel=1e-9)
    # the default class line: walls below 'limited' keep only their potential
    strict, _ = W.wall_layer({"A": a, "B": b, "C": c}, grid, sky, tables, table.reference_irradiation)
    unsuitable = strict["suitability"] == "unsuitable"
    assert (strict.loc[unsuitable, "kwp"] == 0).all() and (strict.loc[unsuitable, "yield_kwh"] == 0).all()
    np.testing.assert_allclose(strict["potential_kwp"], layer["potential_kwp"])
    assert all(len(m) == 12 for m in open_.monthly_irradiation)
    np.testing.assert_allclose([sum(m) for m in open_.monthly_irradiation], open_.irradiation, rtol=1e-9)
    path = export.write_geojson(tmp_path / "walls.geojson", layer, layer="walls")
    doc = json.loads(path.read_text())
    export.validate_layer(doc, "walls")
    assert len(doc["features"]) == len(layer)


def test_eave_and_ground_percentiles_equal_numpy():
    """The walls' percentile helper and the wall-height kernel's percentile and median give NumPy's floats
    exactly (linear method), any size."""
    from solarkataster._kernels.walls import _median_sorted, _percentile_sorted
    from solarkataster.walls import _percentile

    rng = np.random.default_rng(7)
    for n in list(range(1, 40)) + [257, 1000]:
        for values in (rng.normal(250.0, 8.0, n), np.round(rng.normal(250.0, 2.0, n), 1),
                       rng.normal(250.0, 8.0, n).astype(np.float32)):
            for q in (10.0, 25.0, 50.0, 90.0):
                assert _percentile(values.copy(), q) == float(np.percentile(values, q))
                if values.dtype == np.float64:
                    assert _percentile_sorted(np.sort(values), n, q) == float(np.percentile(values, q))
            if values.dtype == np.float64:
                assert _median_sorted(np.sort(values), n) == float(np.median(values))


def test_covered_samples_need_no_horizons(year_sky):
    """wall_surfaces skips the horizons of covered samples: the walls equal those computed from every sample's
    horizons (segments, samples, horizons of all, wall_irradiation), and some samples are covered here."""
    _, sky = year_sky
    fp = {"low": at(30, 40, 10, 12), "high": at(40, 48, 10, 12), "far": at(40, 15, 8, 8)}
    grid = scene([(fp["low"], 6.0), (fp["high"], 15.0), (fp["far"], 9.0)])
    got, _ = W.wall_surfaces(fp, grid, sky)
    segments, _ = W.wall_segments(fp, grid)
    samples = W.wall_samples(segments, grid)
    assert samples["covered"].sum() > 10
    per_wall, _ = W.wall_irradiation(segments, samples, W.wall_horizons(samples, grid), sky)
    for col in ("irradiation", "sky_view_factor", "covered_share"):
        np.testing.assert_array_equal(got[col].to_numpy(float), per_wall[col].to_numpy(float))
    assert got["bands"].to_list() == per_wall["bands"].to_list()
    assert got["monthly_irradiation"].to_list() == per_wall["monthly_irradiation"].to_list()


@pytest.mark.parametrize("with_dtm", [False, True])
def test_eave_and_ground_equal_a_per_pixel_reference(with_dtm):
    """wall_segments' eave and ground (one numba kernel per building) equal NumPy's percentile / median of the
    pixels chosen pixel by pixel: the building's pixels within 1.5 cells of the edge (eave), the free pixels
    within 3.5 cells (ground without a DTM) or the DTM within 1.5 cells; on a rough roof and rough ground."""
    rng = np.random.default_rng(3)
    fp = {"a": at(30, 40, 14, 9, angle=17.0), "b": at(52, 30, 9, 12)}
    grid = scene([(fp["a"], 9.0), (fp["b"], 12.0)])
    z = grid.z + rng.normal(0.0, 0.4, grid.z.shape)
    grid = Grid(z, grid.transform, grid.crs)
    dtm = GROUND + rng.normal(0.0, 0.2, z.shape) if with_dtm else None
    walls, _ = W.wall_segments(fp, grid, dtm)
    labels = rasterize([(fp[k], i + 1) for i, k in enumerate(fp)], out_shape=z.shape, transform=grid.transform,
                       fill=0, dtype="int32")
    px, py = grid.xy(*np.meshgrid(np.arange(z.shape[0]), np.arange(z.shape[1]), indexing="ij"))
    assert len(walls) == 8
    for _, w in walls.iterrows():
        (x0, y0), (x1, y1) = w.geometry.coords
        dist = np.array([[shapely.Point(x, y).distance(w.geometry) for x, y in zip(rx, ry)] for rx, ry in zip(px, py)])
        roof = (labels == w.label) & (dist <= 1.5)
        assert w.eave == pytest.approx(np.percentile(z[roof], W.EAVE_PERCENTILE), abs=1e-9)
        if with_dtm:
            expected = np.median(dtm[dist <= 1.5])
        else:
            expected = np.percentile(z[(labels == 0) & (dist <= 3.5)], W.GROUND_PERCENTILE)
        assert w.ground == pytest.approx(expected, abs=1e-9)
