"""PV layout, specific yield, suitability and CO2 (solarkataster.pv).

References used here: pvlib's own ModelChain (PVWatts DC, PVWatts inverter and losses, Faiman, same IAM,
Perez), hand calculations of module grids in the roof plane, and the winter-solstice noon shadow from
pvlib's solar position.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
import pytest
import shapely
import shapely.affinity
from hypothesis import given, settings
from hypothesis import strategies as st

from solarkataster import pv
from solarkataster.errors import ParameterError, WeatherError
from solarkataster.weather import WeatherYear

LAT, LON, ALT = 49.44, 7.77, 240.0  # Kaiserslautern


# ------------------------------------------------------------------------------------------- weather

@pytest.fixture(scope="module")
def site():
    return pvlib.location.Location(LAT, LON, "UTC", ALT)


@pytest.fixture(scope="module")
def midpoints():
    return pd.date_range("2023-01-01 00:30", periods=8760, freq="h", tz="UTC")


def _add_temperature(frame):
    doy = frame.index.day_of_year.to_numpy()
    hour = frame.index.hour.to_numpy()
    frame["temp_air"] = 10 + 9 * np.sin(2 * np.pi * (doy - 110) / 365) + 4 * np.sin(2 * np.pi * (hour - 9) / 24)
    frame["wind_speed"] = 1.0 + 2.0 * (doy % 7) / 6
    return frame


@pytest.fixture(scope="module")
def clear_weather(site, midpoints):
    return _add_temperature(site.get_clearsky(midpoints)[["ghi", "dni", "dhi"]].copy())


@pytest.fixture(scope="module")
def cloudy_weather(site, midpoints):
    """Clear sky scaled by a random daily clearness, split with Erbs into beam and diffuse."""
    rng = np.random.default_rng(7)
    cs = site.get_clearsky(midpoints)
    daily = rng.uniform(0.15, 1.0, 366)[midpoints.day_of_year - 1]
    ghi = cs["ghi"] * daily
    solpos = site.get_solarposition(midpoints)
    erbs = pvlib.irradiance.erbs(ghi, solpos["zenith"], midpoints)
    frame = pd.DataFrame({"ghi": ghi, "dni": erbs["dni"], "dhi": erbs["dhi"]})
    return _add_temperature(frame)


def _weather_year(frame_at_midpoints, drop_dni=False):
    frame = frame_at_midpoints.copy()
    if drop_dni:
        frame["dni"] = np.nan
    frame.index = frame.index - pd.Timedelta("30min")  # WeatherYear: interval starts
    return WeatherYear(frame, pd.Timedelta("1h"), {"name": "test"})


def _modelchain_yield(site, frame, tilt, azimuth, mounting, options=pv.PVOptions()):
    """Annual AC energy per kWp [kWh/kWp] from pvlib's ModelChain with the same model choices."""
    u0, u1 = options.temperature_parameters[mounting]
    losses = dict(options.losses, shading=0)  # the same PVWatts loss components; shading is modelled
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=tilt, surface_azimuth=azimuth, albedo=options.albedo,
        module_parameters={"pdc0": 1000.0, "gamma_pdc": options.gamma_pdc},
        inverter_parameters={"pdc0": 1000.0, "eta_inv_nom": options.inverter_efficiency},
        temperature_model_parameters={"u0": u0, "u1": u1}, losses_parameters=losses)
    chain = pvlib.modelchain.ModelChain(
        system, site, dc_model="pvwatts", ac_model="pvwatts", aoi_model=options.iam_model,
        spectral_model="no_loss", temperature_model="faiman", losses_model="pvwatts",
        transposition_model="perez")
    chain.run_model(frame)
    return float(chain.results.ac.sum()) / 1000.0


# ------------------------------------------------------------------- acceptance: yield vs ModelChain

@pytest.mark.parametrize("weather_name", ["clear_weather", "cloudy_weather"])
@pytest.mark.parametrize("mounting", ["rack", "roof"])
def test_south_35_matches_pvlib_modelchain(request, site, weather_name, mounting):
    frame = request.getfixturevalue(weather_name)
    table = pv.specific_yield_table(_weather_year(frame), LAT, LON, ALT, tilts=(30, 35, 40),
                                    azimuths=(170, 180, 190), shading=(0, 0.5, 1), mounting=mounting)
    ours = float(table.specific_yield(35, 180, 0.0))
    reference = _modelchain_yield(site, frame, 35, 180, mounting)
    assert ours == pytest.approx(reference, rel=0.02)
    assert 600 < reference < 2000  # sanity: kWh/kWp in Germany (clear sky is the upper end)


def test_missing_dni_is_derived_from_ghi_minus_dhi(site, cloudy_weather):
    table = pv.specific_yield_table(_weather_year(cloudy_weather, drop_dni=True), LAT, LON, ALT,
                                    tilts=(35,), azimuths=(180,), shading=(0, 1), mounting="roof")
    reference = _modelchain_yield(site, cloudy_weather, 35, 180, "roof")
    assert float(table.specific_yield(35, 180, 0)) == pytest.approx(reference, rel=0.02)


def test_off_grid_orientation_and_facade_match_modelchain(site, cloudy_weather):
    weather = _weather_year(cloudy_weather)
    table = pv.specific_yield_table(weather, LAT, LON, ALT, tilts=(20, 30, 40), azimuths=(120, 150, 180),
                                    shading=(0, 1), mounting="roof")
    ours = float(table.specific_yield(27, 160, 0.0))
    assert ours == pytest.approx(_modelchain_yield(site, cloudy_weather, 27, 160, "roof"), rel=0.02)
    facade = pv.specific_yield_table(weather, LAT, LON, ALT, tilts=(90,), azimuths=(90, 180, 270),
                                     shading=(0, 1), mounting="facade")
    ours = float(facade.specific_yield(90, 180, 0.0))
    assert ours == pytest.approx(_modelchain_yield(site, cloudy_weather, 90, 180, "facade"), rel=0.02)


@pytest.fixture(scope="module")
def coarse_table(clear_weather):
    return pv.specific_yield_table(_weather_year(clear_weather), LAT, LON, ALT, tilts=(0, 30, 60, 90),
                                   azimuths=(0, 90, 180, 270), shading=(0, 0.5, 1), mounting="roof")


def test_scaled_hourly_yield_is_kwp_times_the_hourly_specific_yield(coarse_table):
    """scaled_hourly_yield gives exactly kWp x the hourly specific yield, NaN rows and night hours included."""
    t = coarse_table
    tilt = np.array([0.0, 12.5, 45.0, 89.0, np.nan, 30.0])
    azimuth = np.array([np.nan, 200.0, 95.0, 359.0, 180.0, 180.0])
    loss = np.array([0.0, 0.1, 0.7, 1.0, 0.2, np.nan])
    kwp = np.array([3.0, 0.0, 12.4, 1.5, 2.0, -1.0])
    expected = (kwp[:, None] * np.nan_to_num(t.hourly_specific_yield(tilt, azimuth, loss))).astype(np.float32)
    got = t.scaled_hourly_yield(tilt, azimuth, loss, kwp)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert (got[0] == 0).mean() > 0.3  # the night is in it, as zeros


def test_table_interpolation_properties(coarse_table):
    t = coarse_table
    # grid nodes reproduce the table
    assert t.specific_yield(30, 180, 0.5) == pytest.approx(t.annual[1, 2, 1], rel=1e-12)
    # azimuth is periodic: 315 lies halfway between 270 and 0 (= 360)
    assert t.specific_yield(60, 315, 0) == pytest.approx(0.5 * (t.annual[2, 3, 0] + t.annual[2, 0, 0]))
    # full shading gives nothing, and more shading never gives more
    assert np.allclose(t.specific_yield([0, 30, 60], 180, 1.0), 0.0)
    s = t.specific_yield(30, 180, np.linspace(0, 1, 11))
    assert np.all(np.diff(s) < 0)
    # flat modules do not care about azimuth (NaN allowed)
    assert t.specific_yield(0, np.nan, 0) == pytest.approx(t.specific_yield(0, 77, 0), rel=1e-9)
    # vectorised with broadcasting; monthly sums to annual
    assert t.specific_yield(np.full((2, 3), 30.0), 180, 0).shape == (2, 3)
    monthly = t.monthly_specific_yield([30, 60], [180, 90], 0.25)
    assert monthly.shape == (2, 12)
    assert monthly.sum(axis=-1) == pytest.approx(t.specific_yield([30, 60], [180, 90], 0.25), rel=1e-9)
    # reference irradiation is the best unobstructed plane; south 30 beats north 30
    assert t.reference_irradiation == pytest.approx(t.poa_irradiation.max())
    assert t.irradiation(30, 180) > t.irradiation(30, 0)


def test_table_rejects_partial_year_and_bad_mounting(clear_weather):
    short = _weather_year(clear_weather.iloc[:1000])
    with pytest.raises(WeatherError, match="not a whole year"):
        pv.specific_yield_table(short, LAT, LON, ALT, tilts=(30,), azimuths=(180,))
    with pytest.raises(ParameterError, match="mounting"):
        pv.specific_yield_table(_weather_year(clear_weather), LAT, LON, ALT, mounting="balcony")


# ------------------------------------------------------------------------------------------- layout

def test_pitched_rectangle_matches_hand_count():
    # 10 m x 6 m horizontal projection, south, 30°: in the roof plane 10 m x 6/cos30 = 6.928 m;
    # minus 0.5 m setback on all sides: 9.000 x 5.928 m.
    # portrait  (1.13 across, 1.76 up): floor(9/1.13)=7 x floor(5.928/1.76)=3 = 21
    # landscape (1.76 across, 1.13 up): floor(9/1.76)=5 x floor(5.928/1.13)=5 = 25  -> 25
    layout = pv.module_layout(shapely.box(0, 0, 10, 6), 30, 180)
    assert layout.count == 25
    assert layout.orientation == "landscape"
    assert layout.rows == 5
    assert layout.kwp == pytest.approx(25 * 0.450)
    assert layout.area_modules == pytest.approx(25 * 1.76 * 1.13)
    assert (layout.module_tilt, layout.module_azimuth) == (30, 180)
    # the same roof facing east: the 6 m side now runs along the contour, the 10 m side up the slope
    # in-plane 6 x 11.547 -> 5 x 10.547: portrait floor(5/1.13)=4 x floor(10.547/1.76)=5 = 20;
    # landscape floor(5/1.76)=2 x floor(10.547/1.13)=9 = 18 -> 20
    east = pv.module_layout(shapely.box(0, 0, 10, 6), 30, 90)
    assert east.count == 20 and east.orientation == "portrait"


def test_flat_roof_rows_leave_winter_noon_sun_unshaded():
    options = pv.PVOptions(latitude=LAT)
    layout = pv.module_layout(shapely.box(0, 0, 20, 20), 2.0, np.nan, options=options)
    assert (layout.module_tilt, layout.module_azimuth) == (15.0, 180.0)
    # winter-solstice solar noon from pvlib: the lowest noon sun of the year at this latitude
    days = pd.date_range("2023-12-19", "2023-12-24", freq="1min", tz="UTC")
    elevation = pvlib.solarposition.get_solarposition(days, LAT, LON)["elevation"].max()
    module = pv.ModuleSpec()
    for slant in (module.length, module.width):
        depth = slant * np.cos(np.radians(15))
        shadow = slant * np.sin(np.radians(15)) / np.tan(np.radians(elevation))
        gap = pv.row_pitch(slant, 15, LAT) - depth
        assert gap >= shadow * (1 - 1e-3)
    # hand count: 19 x 19 m after setback; portrait row depth 1.700 m, pitch 1.700 + 0.4555/tan(17.12°) = 3.18 m
    # -> floor((19 - 1.700)/3.18) + 1 = 6 rows of floor(19/1.13) = 16 modules = 96;
    # landscape depth 1.0915, pitch 1.0915 + 0.2925/tan(17.12°) = 2.04 -> 9 rows x 10 = 90 -> 96
    pitch = pv.row_pitch(module.length, 15, LAT)
    assert layout.count == 16 * (int((19 - module.length * np.cos(np.radians(15))) // pitch) + 1) == 96
    assert layout.rows == 6 and layout.orientation == "portrait"
    # rows fit: (rows - 1) pitch + depth within the 19 m
    assert (layout.rows - 1) * pitch + module.length * np.cos(np.radians(15)) <= 19.0


def test_layout_edge_cases():
    assert pv.module_layout(shapely.box(0, 0, 1.5, 1.5), 30, 180).count == 0
    assert pv.module_layout(shapely.Polygon(), 30, 180).count == 0
    assert pv.module_layout(shapely.box(0, 0, 10, 10), 30, np.nan).count == 0
    # a notch taken out of a convex roof can only remove modules, and the L-shape is checked exactly
    full = pv.module_layout(shapely.box(0, 0, 12, 10), 30, 180).count
    notched = shapely.box(0, 0, 12, 10).difference(shapely.box(5.5, 4.8, 6.5, 10))
    assert pv.module_layout(notched, 30, 180).count < full
    # a setback of 0 on an exact multiple of the module size fills it completely
    exact = shapely.box(0, 0, 5 * 1.13, 3 * 1.76 * np.cos(np.radians(40)))
    assert pv.module_layout(exact, 40, 180, options=pv.PVOptions(setback=0)).count == 15


polygons = st.builds(
    lambda w, h, angle, x, y: shapely.affinity.translate(
        shapely.affinity.rotate(shapely.box(0, 0, w, h), angle), x, y),
    st.floats(2, 40), st.floats(2, 30), st.floats(0, 180), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))


@settings(max_examples=60, deadline=None)
@given(polygon=polygons, tilt=st.floats(0, 70), azimuth=st.floats(0, 360), hull_points=st.integers(0, 4))
def test_count_never_exceeds_plane_area(polygon, tilt, azimuth, hull_points):
    if hull_points:  # turn some examples into irregular convex polygons
        c = np.asarray(polygon.exterior.coords)[:-1]
        polygon = shapely.convex_hull(shapely.MultiPoint(np.vstack([c[:hull_points + 2], c.mean(0) + 1])))
    module = pv.ModuleSpec()
    layout = pv.module_layout(polygon, tilt, azimuth, module)
    if tilt >= 10:
        plane_area = polygon.area / np.cos(np.radians(tilt))
    else:  # racked: module area per row footprint can't beat the roof area divided by the coverage
        plane_area = polygon.area / 1.0
    assert layout.count * module.area <= plane_area + 1e-9
    assert layout.count == 0 or layout.rows >= 1


@settings(max_examples=40, deadline=None)
@given(polygon=polygons, tilt=st.floats(12, 60), azimuth=st.floats(0, 360), turn=st.floats(-180, 180))
def test_rotating_polygon_and_azimuth_together_keeps_count(polygon, tilt, azimuth, turn):
    before = pv.module_layout(polygon, tilt, azimuth).count
    turned = shapely.affinity.rotate(polygon, -turn, origin=(0, 0))  # rotate() is counter-clockwise
    after = pv.module_layout(turned, tilt, (azimuth + turn) % 360).count
    assert abs(after - before) <= max(1, 0.02 * before)


def test_facade_layout_hand_calculation():
    # 10 m x 9 m wall, ground floor 3 m excluded, 0.5 m setback at both ends and the top, 40 % windows:
    # (10 - 1) x (9 - 3 - 0.5) x 0.6 = 29.7 m², floor(29.7 / 1.9888) = 14 modules = 6.3 kWp
    facade = pv.facade_layout([10.0, 3.0, 10.0], [9.0, 9.0, 2.5])
    assert facade.usable_area == pytest.approx([29.7, 2 * 5.5 * 0.6, 0.0])
    assert facade.count.tolist() == [14, 3, 0]
    assert facade.kwp == pytest.approx([6.3, 1.35, 0.0])
    with_ground = pv.facade_layout(10.0, 9.0, window_share=0.0, exclude_ground_floor=False)
    assert float(with_ground.usable_area) == pytest.approx(9 * 8.5)
    with pytest.raises(ParameterError, match="window_share"):
        pv.facade_layout(10.0, 9.0, window_share=1.5)


# ------------------------------------------------------------------------------------ grading and CO2

def test_suitability_classes_at_thresholds():
    ref = 1200.0
    irradiation = ref * np.array([1.0, 0.85, 0.8499, 0.70, 0.6999, 0.55, 0.5499, 0.0, np.nan, 1.0])
    area = np.array([20, 20, 20, 20, 20, 20, 20, 20, 20, 9.99])
    got = pv.suitability(irradiation, area, ref)
    assert got.tolist() == ["very good", "very good", "good", "good", "limited", "limited", "unsuitable",
                            "unsuitable", "unsuitable", "unsuitable"]
    custom = pv.suitability([900, 700], 50, 1000, thresholds=(0.9, 0.8, 0.7), min_usable_area=60)
    assert custom.tolist() == ["unsuitable", "unsuitable"]
    assert pv.suitability([900, 700], 50, 1000, thresholds=(0.9, 0.8, 0.7)).tolist() == ["very good", "limited"]
    with pytest.raises(ParameterError):
        pv.suitability([1.0], 20, 0.0)


def test_yield_and_co2():
    kwh = np.array([0.0, 1000.0, 12345.6])
    assert pv.co2_savings_kg(kwh) == pytest.approx(kwh * pv.GRID_EMISSION_FACTOR)
    assert pv.co2_savings_kg(1000.0, factor=0.5) == pytest.approx(500.0)
    assert pv.GRID_EMISSION_FACTOR == pv.PVOptions().grid_emission_factor == pv.GRID_EMISSION_FACTOR_DE_2024


def test_module_spec_and_options():
    m = pv.ModuleSpec()
    assert m.efficiency == pytest.approx(450 / (1000 * 1.76 * 1.13))
    with pytest.raises(ParameterError, match="setback"):
        pv.PVOptions(setback=-1)
    with pytest.raises(ParameterError, match="iam_model"):
        pv.PVOptions(iam_model="sapm")


def test_grid_containment_equals_geos_point_for_point():
    """The layout's corner test (numba parity, GEOS near edges) equals shapely.contains_xy on every point,
    including vertices, points on edges and points a hair inside or outside, for polygons with holes and
    multipolygons far from the origin (UTM-sized coordinates)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    from solarkataster.pv import _grid_contains_xy, _Region

    x0, y0 = 356_123.25, 5_699_871.5
    shell = [(x0, y0), (x0 + 12, y0 + 0.5), (x0 + 13, y0 + 9), (x0 + 6, y0 + 6), (x0 + 1, y0 + 10)]
    hole = [(x0 + 4, y0 + 2), (x0 + 8, y0 + 2), (x0 + 8, y0 + 4), (x0 + 4, y0 + 4)]
    region = MultiPolygon([Polygon(shell, [hole]), Polygon([(x0 + 20, y0), (x0 + 25, y0), (x0 + 25, y0 + 5)])])
    rng = np.random.default_rng(3)
    c = shapely.get_coordinates(region)
    mid = 0.5 * (c[:-1] + c[1:])
    xs = np.concatenate([rng.uniform(x0 - 1, x0 + 26, 60), c[:, 0], mid[:, 0], c[:, 0] + 1e-9, c[:, 0] - 1e-6,
                         np.full(3, x0 + 4.0)])
    ys = np.concatenate([rng.uniform(y0 - 1, y0 + 11, 60), c[:, 1], mid[:, 1], c[:, 1] - 1e-9, c[:, 1] + 1e-6,
                         [y0 + 2.0, y0 + 3.0, y0 + 4.0]])
    got = _grid_contains_xy(_Region.of(region), xs, ys)
    gx, gy = np.meshgrid(xs, ys)
    want = shapely.contains_xy(region, gx, gy)
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    assert want.any() and not want.all()


def _reference_grid_codes(xs, ys, ring_x, ring_y, ring_start, tol):
    """Every segment at every point, in plain Python: the kernel's rule without its sweep (1 in, 0 out, 2 near)."""
    out = np.zeros((len(ys), len(xs)), np.int8)
    segments = [i for r in range(len(ring_start) - 1) for i in range(ring_start[r], ring_start[r + 1] - 1)]
    for iy, py in enumerate(ys):
        for ix, px in enumerate(xs):
            inside = near = False
            for i in segments:
                x0, y0, x1, y1 = ring_x[i], ring_y[i], ring_x[i + 1], ring_y[i + 1]
                if not min(y0, y1) - tol <= py <= max(y0, y1) + tol:
                    continue
                if min(x0, x1) - tol <= px <= max(x0, x1) + tol:
                    dx, dy = x1 - x0, y1 - y0
                    ll = dx * dx + dy * dy
                    t = min(max(((px - x0) * dx + (py - y0) * dy) / ll if ll > 0 else 0.0, 0.0), 1.0)
                    if (px - (x0 + t * dx)) ** 2 + (py - (y0 + t * dy)) ** 2 < tol * tol:
                        near = True
                        break
                if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
            out[iy, ix] = 2 if near else int(inside)
    return out


def test_grid_kernel_equals_every_segment_at_every_point():
    """The sweep of grid_in_rings (crossings sorted once per row, nearness only where a segment can be near)
    gives the codes of testing every segment at every point, undecided ones included: on a polygon with a
    hole, 45° and nearly horizontal edges, UTM-sized coordinates, points on vertices and edges and a
    tolerance wide enough to leave some undecided."""
    import shapely
    from shapely.geometry import Polygon

    from solarkataster._kernels.layout import grid_in_rings, ring_arrays

    x0, y0 = 356_123.25, 5_699_871.5
    shell = [(x0, y0), (x0 + 10, y0 + 0.05), (x0 + 14, y0 + 4), (x0 + 10, y0 + 8), (x0 + 2, y0 + 9), (x0 - 1, y0 + 5)]
    region = Polygon(shell, [[(x0 + 4, y0 + 2), (x0 + 8, y0 + 2), (x0 + 6, y0 + 5)]])
    rng = np.random.default_rng(7)
    c = shapely.get_coordinates(region)
    xs = np.concatenate([rng.uniform(x0 - 2, x0 + 15, 40), c[:, 0], 0.5 * (c[:-1, 0] + c[1:, 0])])
    ys = np.concatenate([rng.uniform(y0 - 1, y0 + 10, 30), c[:, 1], 0.5 * (c[:-1, 1] + c[1:, 1])])
    rings = ring_arrays(region)
    for tol in (100 * np.spacing(y0), 0.05):
        got = np.empty((ys.size, xs.size), np.int8)
        grid_in_rings(xs, ys, *rings, tol, got)
        want = _reference_grid_codes(xs, ys, *rings, tol)
        assert np.array_equal(got, want)
        assert (want == 2).any() and (want == 1).any() and (want == 0).any()


def _non_convex_regions():
    """L-shapes, a U, a face with a hole and a two-part face, at UTM-sized coordinates, as setback regions come."""
    from shapely.geometry import MultiPolygon, Polygon

    x0, y0 = 356_123.25, 5_699_871.5

    def at(points):
        return [(x0 + x, y0 + y) for x, y in points]

    yield Polygon(at([(0, 0), (9, 0), (9, 3.2), (4, 3.2), (4, 8), (0, 8)]))
    yield Polygon(at([(0, 0), (12, 0), (12, 7), (8.3, 7), (8.3, 2.5), (3.9, 2.5), (3.9, 7), (0, 7)]))
    yield Polygon(at([(0, 0), (11, 0.4), (11.5, 8), (0.3, 7.6)]), [at([(4, 3), (6.1, 3), (6.1, 4.4), (4, 4.4)])])
    yield MultiPolygon([Polygon(at([(0, 0), (6, 0), (6, 4), (0, 4)])), Polygon(at([(7, 0), (14, 1), (13, 6)]))])
    yield Polygon(at([(0, 0), (10, 0), (10, 6), (5, 2.26), (0, 6)]))


def test_best_grid_kernel_equals_geos_exact_path():
    """The layout's one-pass kernel (rectangles clear of every edge are inside, those an edge passes through
    are not) gives the count and rows of the GEOS path (shapely.contains on every rectangle, best offsets
    first) on regions that are not convex, for portrait, landscape, racked and small cells."""
    from solarkataster.pv import _best_grid, _Region

    for region in _non_convex_regions():
        fast = _Region.of(region)
        assert fast.rings is not None and fast.valid and not fast.convex
        geos = _Region(region, region.bounds, None, fast.convex)
        for cell_u, cell_v, pitch_v in ((1.13, 1.76, 1.76), (1.76, 1.13, 1.13), (1.13, 1.5, 2.9), (0.5, 0.3, 0.3),
                                        (0.7, 0.45, 0.45)):
            assert _best_grid(fast, cell_u, cell_v, pitch_v) == _best_grid(geos, cell_u, cell_v, pitch_v)


def test_box_test_agrees_with_geos():
    """box_in_rings says 'in' only for rectangles GEOS finds contained and 'out' only for those it does not,
    on rectangles whose corners are inside, many of them straddling a notch or touching an edge."""
    import shapely

    from solarkataster._kernels.layout import BOX_IN, BOX_OUT, box_in_rings, ring_arrays

    rng = np.random.default_rng(11)
    seen = set()
    for region in _non_convex_regions():
        rings = ring_arrays(region)
        minx, miny, maxx, maxy = region.bounds
        x0, y0 = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
        x1, y1 = x0 + rng.uniform(0.2, 3, 3000), y0 + rng.uniform(0.2, 3, 3000)
        corners = [shapely.contains_xy(region, x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        keep = np.logical_and.reduce(corners)
        tol = 100 * np.spacing(np.abs(region.bounds).max())  # as the layout's (pv._exact_band)
        want = shapely.contains(region, shapely.box(x0[keep], y0[keep], x1[keep], y1[keep]))
        got = np.array([box_in_rings(a, b, c, d, *rings, tol) for a, b, c, d in zip(x0[keep], y0[keep], x1[keep],
                                                                                       y1[keep])])
        assert not (want & (got == BOX_OUT)).any() and not (~want & (got == BOX_IN)).any()
        seen |= set(got.tolist())
    assert {BOX_IN, BOX_OUT} <= seen


def test_layout_kernel_offsets_equal_python_offsets():
    """The grid offsets of the one-call layout kernel are the Python path's, to the bit."""
    from solarkataster._kernels.layout import _offsets
    from solarkataster.pv import _N_OFFSETS, _grid_offsets

    rng = np.random.default_rng(5)
    for extent, cell, pitch in zip(rng.uniform(0, 30, 500), rng.uniform(0.3, 3, 500), rng.uniform(0.3, 6, 500)):
        assert np.array_equal(_offsets(extent, cell, pitch, _N_OFFSETS), _grid_offsets(extent, cell, pitch))


def test_regions_prepared_at_once_equal_one_by_one():
    """_Region.many (array calls, rings sliced from one pass) gives each region's _Region.of, rings included."""
    from shapely.geometry import box

    from solarkataster.pv import _Region

    regions = list(_non_convex_regions()) + [box(356_000.0, 5_699_000.0, 356_010.5, 5_699_004.25)]
    for many, one in zip(_Region.many(np.array(regions, dtype=object)), [_Region.of(r) for r in regions]):
        assert many.geometry is one.geometry and many.bounds == one.bounds
        assert (many.convex, many.valid) == (one.convex, one.valid)
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(many.rings, one.rings))


def _reference_setback_region(polygon, tilt, azimuth, options, free_edges):
    """The setback region face by face with shapely.affinity (the implementation before setback_regions)."""
    def frame(g):
        a = np.radians(options.flat_rack_azimuth if tilt < options.flat_threshold else azimuth)
        g = shapely.affinity.affine_transform(g, [np.cos(a), -np.sin(a), np.sin(a), np.cos(a), 0.0, 0.0])
        if tilt < options.flat_threshold:
            return g
        return shapely.affinity.scale(g, 1.0, 1.0 / np.cos(np.radians(min(tilt, 89.0))), origin=(0, 0))

    plane = frame(polygon)
    if free_edges is None or free_edges.is_empty:
        return plane.buffer(-options.setback, join_style="mitre")
    kept = plane.boundary.difference(frame(free_edges).buffer(0.01))
    return plane if kept.is_empty else plane.difference(kept.buffer(options.setback, cap_style="flat",
                                                                     join_style="mitre"))


def test_setback_regions_equal_face_by_face():
    """setback_regions (array calls) gives the very regions of the face-by-face shapely.affinity chain.

    A hipped roof in map coordinates (ridge and hips free, from ridge_edges), the same faces without free
    edges, a flat face (racked: only rotated) and an L-shaped face; coordinates compared bit for bit.
    """
    from solarkataster.assessment import ridge_edges

    x0, y0 = 356412.37, 5699321.91
    hip = [shapely.affinity.translate(g, x0, y0) for g in (
        shapely.Polygon([(0, 0), (12, 0), (8, 4), (4, 4)]), shapely.Polygon([(0, 8), (4, 4), (8, 4), (12, 8)]),
        shapely.Polygon([(0, 0), (4, 4), (0, 8)]), shapely.Polygon([(12, 0), (12, 8), (8, 4)]))]
    tilt = [45.0, 38.5, 52.0, 45.0]
    azimuth = [181.0, 0.5, 270.0, 90.0]
    free = ridge_edges(hip, tilt, azimuth, [1, 1, 1, 1])
    assert sum(f is not None for f in free) == 4
    polys = hip + hip + [shapely.box(x0, y0 + 20, x0 + 9.3, y0 + 27.1),
                         shapely.Polygon([(0, 0), (10, 0), (10, 3), (3, 3), (3, 9), (0, 9)])]
    tilts = tilt + tilt + [2.0, 30.0]
    azimuths = azimuth + azimuth + [np.nan, 200.0]
    frees = free + [None] * 6
    options = pv.PVOptions()
    got = pv.setback_regions(polys, tilts, azimuths, options, frees)
    for g, p, t, a, f in zip(got, polys, tilts, azimuths, frees):
        expected = _reference_setback_region(p, t, a, options, f)
        assert not g.is_empty
        assert g.wkb == expected.wkb


def test_scaled_hourly_yield_equals_numpy_interpolation(coarse_table):
    """The numba kernel of scaled_hourly_yield gives kwp x hourly_specific_yield (NaN as 0) to the bit.

    Orientations on and off the grid, beyond its ends, azimuths that wrap, NaN azimuths (flat) and losses
    (no value: 0).
    """
    rng = np.random.default_rng(3)
    n = 300
    tilt = rng.uniform(-5.0, 95.0, n)
    azimuth = rng.uniform(-10.0, 400.0, n)
    azimuth[::7] = np.nan
    loss = rng.uniform(-0.1, 1.1, n)
    loss[::11] = np.nan
    tilt[:4], azimuth[:4], loss[:4] = [30.0, 60.0, 0.0, 90.0], [180.0, 270.0, 0.0, 90.0], [0.5, 0.0, 1.0, 0.0]
    kwp = rng.uniform(0.0, 30.0, n)
    hourly = coarse_table.hourly_specific_yield(tilt, azimuth, loss)
    expected = (kwp[:, None] * np.nan_to_num(hourly)).astype(np.float32)
    got = coarse_table.scaled_hourly_yield(tilt, azimuth, loss, kwp)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert got[0].sum() > 0 and got[7].sum() > 0 and not got[11].any()  # NaN azimuth: flat; NaN loss: 0
