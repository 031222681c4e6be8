"""Vegetation in the engine: canopy horizons, seasonal transmissivity, vegetation loss.

References are independent runs of the engine on other surfaces: the tree burnt into the DSM as an
opaque obstacle (transmissivity 0 must equal it), the scene without the tree (transmissivity 1), a
march over the canopy surfaces from each point (the sweep's canopy horizons), and the linearity of
the attenuation in the transmissivity (0.5 lies halfway).
"""
from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import rasterize
from scenes import BASE_HEIGHT, grid_of
from test_walls import GROUND, at, scene

from solarkataster import walls as W
from solarkataster.errors import ParameterError
from solarkataster.horizon import canopy_horizon_codes, codes_to_angles, horizon_codes, vegetation_horizon_codes
from solarkataster.irradiation import irradiation_from_codes
from solarkataster.pipeline import EngineOptions, Site, run_engine
from solarkataster.points import point_canopy_horizons, point_irradiance
from solarkataster.sky import FINE_AZIMUTH_BINS, clear_sky_weather, sky_table, sun_steps
from solarkataster.vegetation import Vegetation

N = 60
#: The test point (row, col) and the crown south of it: rows grow southwards.
POINT = (12, 30)
CROWN = (slice(20, 26), slice(27, 33))
CROWN_HEIGHT = 12.0
SUMMER = [4, 5, 6, 7, 8]  # May-September
WINTER = [10, 11, 0, 1, 2]  # November-March


def _canopy():
    ch = np.zeros((N, N))
    ch[CROWN] = CROWN_HEIGHT
    return ch


def _veg(tau, tau_off=None, trunk_ratio=0.0, leaf_on=(97, 300)):
    ground = np.full((N, N), BASE_HEIGHT)
    off = tau if tau_off is None else tau_off
    return Vegetation(_canopy(), ground, transmissivity=tau, leaf_off_transmissivity=off, leaf_on=leaf_on,
                      trunk_ratio=trunk_ratio, source="test")


@pytest.fixture(scope="module")
def flat():
    return grid_of(np.full((N, N), BASE_HEIGHT))


@pytest.fixture(scope="module")
def burnt():
    return grid_of(np.full((N, N), BASE_HEIGHT) + _canopy())


@pytest.fixture(scope="module")
def weather(flat):
    site = Site.from_grid(flat)
    return clear_sky_weather(site.latitude, site.longitude, site.altitude, freq="60min")


@pytest.fixture(scope="module")
def runs(flat, burnt, weather):
    """Annual and monthly irradiation at the test point for each case, through the raster engine."""
    opt = EngineOptions()
    out = {"open": run_engine(flat, weather, opt).irradiation, "opaque": run_engine(burnt, weather, opt).irradiation}
    for tau in (0.0, 0.5, 1.0):
        out[tau] = run_engine(flat, weather, opt, vegetation=_veg(tau)).irradiation
    out["season"] = run_engine(flat, weather, opt, vegetation=_veg(0.0, 1.0)).irradiation
    return out


@pytest.fixture(scope="module")
def series(flat, burnt, weather):
    """Hourly global irradiance at the test point for each case, through point_irradiance."""
    x, y = flat.xy(*POINT)

    def run(grid, veg=None):
        return point_irradiance(grid, x, y, BASE_HEIGHT + 0.01, 0.0, 180.0, weather, vegetation=veg)[0]["poa_global"]

    out = {"open": run(flat), "opaque": run(burnt)}
    for tau in (0.0, 0.5, 1.0):
        out[tau] = run(flat, _veg(tau))
    out["season"] = run(flat, _veg(0.0, 1.0))
    return out


def _at(irr, name="global_"):
    return float(getattr(irr, name)[POINT])


def _monthly(irr):
    return irr.monthly[:, POINT[0], POINT[1]]


def test_point_sky_view_factor_sees_the_canopy(flat, weather, runs):
    """``point_irradiance``'s sky view factor counts the canopy as the raster engine does at the same pixel."""
    x, y = flat.xy(*POINT)
    for tau in (0.0, 0.5, 1.0):
        got = point_irradiance(flat, x, y, BASE_HEIGHT + 0.01, 0.0, 180.0, weather,
                               vegetation=_veg(tau))[0].attrs["sky_view_factor"]
        assert got == pytest.approx(_at(runs[tau], "sky_view_factor"), abs=0.01)
    assert _at(runs[0.0], "sky_view_factor") < _at(runs["open"], "sky_view_factor") - 0.02  # the test can fail


def test_scene_is_shaded_by_the_tree(runs):
    # the test means something only if the tree takes a good share away
    assert _at(runs["opaque"]) < 0.9 * _at(runs["open"])


def test_transmissivity_zero_equals_the_tree_as_an_opaque_obstacle(runs, series):
    assert _at(runs[0.0]) == pytest.approx(_at(runs["opaque"]), rel=0.02)
    np.testing.assert_allclose(_monthly(runs[0.0]), _monthly(runs["opaque"]), rtol=0.02)
    assert series[0.0].sum() == pytest.approx(series["opaque"].sum(), rel=0.02)
    _assert_hourly_close(series[0.0], series["opaque"], 0.02)


def test_transmissivity_one_equals_no_tree(runs, series):
    assert _at(runs[1.0]) == pytest.approx(_at(runs["open"]), rel=1e-6)
    np.testing.assert_allclose(_monthly(runs[1.0]), _monthly(runs["open"]), rtol=1e-6)
    _assert_hourly_close(series[1.0], series["open"], 1e-6)
    assert _at(runs[1.0], "vegetation_loss") == pytest.approx(0.0, abs=1e-3)


def test_transmissivity_half_lies_halfway(runs, series):
    mid = 0.5 * (_at(runs["open"]) + _at(runs["opaque"]))
    assert _at(runs[0.5]) == pytest.approx(mid, rel=0.01)
    _assert_hourly_close(series[0.5], 0.5 * (series["open"] + series["opaque"]), 0.01)


def test_vegetation_loss_is_what_the_canopy_removes(runs):
    loss = _at(runs[0.0], "vegetation_loss")
    assert loss == pytest.approx(_at(runs["open"]) - _at(runs[0.0]), rel=1e-4)
    assert _at(runs[0.5], "vegetation_loss") == pytest.approx(0.5 * loss, rel=0.01)
    # the sky view factor counts the canopy with its transmissivity
    assert _at(runs[0.0], "sky_view_factor") == pytest.approx(_at(runs["opaque"], "sky_view_factor"), abs=0.01)
    assert _at(runs[1.0], "sky_view_factor") == pytest.approx(_at(runs["open"], "sky_view_factor"), abs=1e-6)


def test_season_follows_the_leaves_month_by_month(runs, series):
    m = _monthly(runs["season"])
    np.testing.assert_allclose(m[SUMMER], _monthly(runs["opaque"])[SUMMER], rtol=0.02)
    np.testing.assert_allclose(m[WINTER], _monthly(runs["open"])[WINTER], rtol=0.02)
    # April and October are split by the leaf-on days 97 and 300: between the two
    for k in (3, 9):
        lo, hi = sorted((_monthly(runs["opaque"])[k], _monthly(runs["open"])[k]))
        assert lo - 1e-6 <= m[k] <= hi + 1e-6

    def by_month(s):
        return s.groupby(s.index.month - 1).sum().to_numpy()

    s = by_month(series["season"])
    np.testing.assert_allclose(s[SUMMER], by_month(series["opaque"])[SUMMER], rtol=0.02)
    np.testing.assert_allclose(s[WINTER], by_month(series["open"])[WINTER], rtol=0.02)


def _assert_hourly_close(a, b, rel):
    a, b = np.asarray(a, float), np.asarray(b, float)
    lit = b > 20.0
    assert lit.sum() > 1000
    assert np.all(np.abs(a[lit] - b[lit]) <= rel * b[lit] + 0.5)


def test_no_vegetation_is_bit_identical(flat, weather):
    opt = EngineOptions()
    plain = run_engine(flat, weather, opt).irradiation
    empty = Vegetation(np.zeros((N, N)), np.full((N, N), BASE_HEIGHT))
    with_empty = run_engine(flat, weather, opt, vegetation=empty)
    for name in ("global_", "beam", "diffuse", "reflected", "sky_view_factor", "monthly"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(with_empty.irradiation, name))
    assert not plain.vegetation_loss.any()
    assert with_empty.provenance["vegetation"]["source"] == ""


def test_provenance_records_the_vegetation(flat, weather):
    res = run_engine(flat, weather, EngineOptions(sectors=16), vegetation=_veg(0.1, 0.6, trunk_ratio=0.3))
    v = res.provenance["vegetation"]
    assert (v["transmissivity"], v["leaf_off_transmissivity"], v["trunk_ratio"], v["leaf_on"]) == (0.1, 0.6, 0.3,
                                                                                                  "97-300")


def test_seasonal_transmissivity_needs_the_leaf_on_split(flat, weather):
    site = Site.from_grid(flat)
    sky = sky_table(sun_steps(weather, site.latitude, site.longitude, site.altitude), 36)
    z = flat.z
    hor = horizon_codes(z, 1.0, 8)
    veg = _veg(0.0, 1.0)
    canopy = canopy_horizon_codes(z, 1.0, veg, 8)
    with pytest.raises(ParameterError, match="leaf_on"):
        irradiation_from_codes(hor, 0.0, 180.0, sky, canopy=canopy, vegetation=veg)
    # one transmissivity all year needs no split
    irradiation_from_codes(hor, 0.0, 180.0, sky, canopy=canopy, vegetation=_veg(0.3))
    with pytest.raises(ParameterError, match="resample"):
        canopy_horizon_codes(z[:-1], 1.0, veg, 8)


@pytest.mark.parametrize("trunk_ratio", [0.0, 0.25, 0.5])
def test_canopy_horizons_of_the_sweep_match_a_march(flat, burnt, trunk_ratio):
    """The sweep's canopy top and bottom against the opaque sweep of the burnt DSM and a march."""
    veg = _veg(0.0, trunk_ratio=trunk_ratio)
    top, low = canopy_horizon_codes(flat.z, 1.0, veg, 16)
    # off the crown (whose pixels see from the ground, not from the crown top) the top is the burnt DSM's horizon
    ref = horizon_codes(burnt.z, 1.0, 16)
    off = np.ones((N, N), bool)
    off[19:27, 26:34] = False
    np.testing.assert_array_equal(top[:, off], ref[:, off])
    top, low = codes_to_angles(top), codes_to_angles(low)
    pts = [(12, 30), (8, 20), (35, 40), (30, 30), (22, 29)]
    rows = np.array([p[0] for p in pts], float)
    cols = np.array([p[1] for p in pts], float)
    _, m_low = point_canopy_horizons(flat.z, 1.0, veg, rows, cols, flat.z[rows.astype(int), cols.astype(int)],
                                     np.arange(16) * 22.5)
    diffs = []
    for i, (r, c) in enumerate(pts):
        # grazing rays along the crown's edge may differ (the sweep blends two lines): one azimuth at most
        found = low[:, r, c] < 90
        assert np.sum(found != (m_low[:, i] < 90)) <= 1, f"canopy found along other azimuths at {r, c}"
        has = found & (m_low[:, i] < 90)
        # the march's growing steps stop up to a step short of the crown's far edge: a few degrees near it
        np.testing.assert_allclose(low[has, r, c], m_low[has, i], atol=5.0, err_msg=f"canopy bottom at {r, c}")
        diffs.extend(np.abs(low[has, r, c] - m_low[has, i]))
    assert np.mean(diffs) < 2.0


def test_one_sweep_gives_the_opaque_horizons_bit_for_bit():
    rng = np.random.default_rng(3)
    z = BASE_HEIGHT + np.cumsum(rng.normal(0, 0.3, (N, N + 7)), axis=1)
    z[5:9, 40:44] = np.nan
    ch = np.zeros_like(z)
    ch[20:26, 10:15] = 9.0
    ch[40:44, 30:50] = 6.0
    veg = Vegetation(ch, z - 1.0, trunk_ratio=0.3)
    opaque, top, low = vegetation_horizon_codes(z, 0.5, veg, 24, anchor=(17, -5))
    np.testing.assert_array_equal(opaque, horizon_codes(z, 0.5, 24, anchor=(17, -5)))
    valid = opaque != 32767
    assert (top[valid] >= opaque[valid]).all()
    assert ((top == 32767) == ~valid).all() and ((low == 32767) == ~valid).all()


def test_a_point_under_the_crown_is_shaded_above_the_trunk_zone(flat):
    veg = _veg(0.0, trunk_ratio=0.25)
    top, low = canopy_horizon_codes(flat.z, 1.0, veg, 16)
    r, c = 22, 29  # under the crown, 3 cells from its south edge, 2 from its west edge
    assert (codes_to_angles(top[:, r, c]) > 85).all()
    # the lowest ray through the crown leaves its underside (3 m up) at its edge: to the west the crown's
    # bottom profile ends at the ring pixel 3 cells away (col 26), so atan(3 / 3) = 45°
    west = codes_to_angles(low[:, r, c])[12]
    assert 43 < west < 47


@pytest.fixture(scope="module")
def wall_scene():
    bld = at(40, 50, 16, 10)  # south wall at y = 45
    crown = at(40, 39, 8, 5)  # 3.5 m south of it
    opaque = scene([(bld, 10.0)])
    burnt = scene([(bld, 10.0), (crown, CROWN_HEIGHT)])
    mask = rasterize([(crown, 1)], out_shape=opaque.z.shape, transform=opaque.transform, fill=0, dtype="uint8") > 0
    veg = Vegetation(np.where(mask, CROWN_HEIGHT, 0.0), np.full(opaque.z.shape, GROUND), source="test")
    weather = clear_sky_weather(49.44, 7.77, 240.0, 2025, freq="60min")
    steps = sun_steps(weather, 49.44, 7.77, 240.0, step_minutes=10)
    sky = sky_table(steps, FINE_AZIMUTH_BINS, leaf_on=veg.leaf_on)
    return {"bld": bld, "opaque": opaque, "burnt": burnt, "veg": veg, "sky": sky}


def test_walls_behind_a_tree_lose_to_it(wall_scene):
    s = wall_scene
    fp = {"b": s["bld"]}
    free, _ = W.wall_surfaces(fp, s["opaque"], s["sky"])
    tree, _ = W.wall_surfaces(fp, s["opaque"], s["sky"], vegetation=s["veg"])
    solid, _ = W.wall_surfaces(fp, s["burnt"], s["sky"])
    south = int(np.argmin(np.abs(free["azimuth"].to_numpy() - 180.0)))
    north = int(np.argmin(np.abs(free["azimuth"].to_numpy() - 0.0)))
    irr = [t["irradiation"].iloc[south] for t in (solid, tree, free)]
    assert irr[0] < irr[1] < irr[2]
    loss = tree["vegetation_loss"].to_numpy()
    assert loss[south] > 0.05
    shading = 1.0 - tree["irradiation"].iloc[south] / tree["unobstructed_irradiation"].iloc[south]
    assert loss[south] <= shading + 1e-9  # here the tree is the only obstacle: equal
    # the loss share is the lost irradiation over the unobstructed one
    lost = free["irradiation"].iloc[south] - tree["irradiation"].iloc[south]
    assert loss[south] == pytest.approx(lost / tree["unobstructed_irradiation"].iloc[south], rel=0.05)
    assert loss[north] < 0.01
    assert not free["vegetation_loss"].to_numpy().any()
    bands = tree["bands"].iloc[south]
    assert all(b["vegetation_loss"] > 0 for b in bands)
    # the lower storey sits deeper in the crown's shade
    assert bands[0]["vegetation_loss"] > bands[-1]["vegetation_loss"]
