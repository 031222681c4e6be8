"""Real-sky weather through the engine: DWD TRY 2010 against pvlib, monthly sums, format round trips and
``--weather`` on every command (irradiance, run, point).

The independent reference for tilted planes is pvlib's own transposition (``get_total_irradiance``, Perez
1990 'allsitescomposite1990', isotropic ground) driven hour by hour by the same WeatherYear records. The
engine instead spreads each record's horizontal beam over 10-min sub-steps (``sky.sun_steps``), so small
differences (< ~1.5 %, largest on steep planes that see the sun only near sunrise or sunset) are expected
and bounded by the tolerances below.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math

import numpy as np
import pandas as pd
import pvlib
import pytest
import scenes
import weather_files as wf
from click.testing import CliRunner
from conftest import shared_file
from pyproj import Geod

from solarkataster.io.raster import write_raster
from solarkataster.io.weather import resolve_weather
from solarkataster.irradiation import unobstructed_irradiation
from solarkataster.pipeline import EngineOptions, Site, build_sky, compute_irradiance
from solarkataster.sky import sky_table, sun_steps
from solarkataster.weather import WeatherYear

TRY_DIR = ("dwd-try2010",)
#: Station coordinates from the TRY 2010 headers (49°31'N 8°33'E 96 m; 50°40'N 7°58'E 547 m).
STATIONS = {"12": (49 + 31 / 60, 8 + 33 / 60, 96.0), "06": (50 + 40 / 60, 7 + 58 / 60, 547.0)}
TILTS = (15.0, 35.0, 60.0, 90.0)
AZIMUTHS = tuple(np.arange(0.0, 360.0, 45.0))
KL = wf.KAISERSLAUTERN


# ----------------------------------------------------------------------------------------- references

class PvlibPerez:
    """Annual plane-of-array irradiation from pvlib, one evaluation per weather record.

    Choices of this reference (independent of ``sky.sun_steps``):

    * sun position (NREL SPA, apparent zenith) at each record's interval midpoint, ``start + interval/2``,
      of the WeatherYear's UTC interval starts;
    * ``dni = (ghi - dhi) / cos(zenith)``, set to 0 where the midpoint zenith is >= 87° (the division
      amplifies noise there) and capped at the extraterrestrial normal irradiance; the beam that cannot be
      placed this way is dropped (0.46 of 1089 kWh/m² for Mannheim, 0.04 %);
    * ``pvlib.irradiance.get_total_irradiance(model='perez', model_perez='allsitescomposite1990')`` with
      pvlib's default relative airmass (Kasten & Young 1989), ``dni_extra`` from Spencer (1971), the
      file's ghi for the ground and albedo 0.2 (isotropic ground, ``(1 - cos tilt) / 2``).
    """

    def __init__(self, weather: WeatherYear, latitude, longitude, altitude):
        data = weather.data
        mid = data.index + weather.interval / 2
        sun = pvlib.solarposition.get_solarposition(mid, latitude, longitude, altitude=altitude)
        self.zenith = sun["apparent_zenith"].to_numpy()
        self.azimuth = sun["azimuth"].to_numpy()
        self.ghi = data["ghi"].to_numpy(float)
        self.dhi = data["dhi"].to_numpy(float)
        self.dni_extra = pvlib.irradiance.get_extra_radiation(mid).to_numpy()
        cos_z = np.cos(np.radians(self.zenith))
        with np.errstate(divide="ignore", invalid="ignore"):
            dni = np.where(self.zenith < 87.0, (self.ghi - self.dhi) / cos_z, 0.0)
        self.dni = np.clip(np.nan_to_num(dni), 0.0, self.dni_extra)
        self.airmass = pvlib.atmosphere.get_relative_airmass(self.zenith)
        self.hours = weather.interval / pd.Timedelta(hours=1)

    def annual(self, surface_tilt, surface_azimuth, albedo=0.2):
        """Annual poa_global [kWh/m²]."""
        poa = pvlib.irradiance.get_total_irradiance(
            surface_tilt, surface_azimuth, self.zenith, self.azimuth, self.dni, self.ghi, self.dhi,
            dni_extra=self.dni_extra, airmass=self.airmass, albedo=albedo, model="perez",
            model_perez="allsitescomposite1990")
        return float(np.nansum(np.asarray(poa["poa_global"]))) * self.hours / 1000.0


def monthly_file_ghi(weather: WeatherYear):
    """The file's GHI summed by the UTC month of each record's start [kWh/m²] (records that straddle a
    month boundary do so at midnight UTC, in the dark)."""
    hours = weather.interval / pd.Timedelta(hours=1)
    month = weather.data.index.month.to_numpy() - 1
    return np.bincount(month, weights=weather.data["ghi"].to_numpy(float) * hours / 1000.0, minlength=12)


def octagonal_frustum(tilt=35.0, size=81, top_radius=10.0, height=30.0):
    """A convex block near Kaiserslautern: a flat top of inradius ``top_radius`` [m] and eight planar
    ramps of ``tilt`` [°] facing 0, 45, ..., 315°. Being convex, no part shades another, so every pixel
    is an unobstructed plane. Returns the Grid and {azimuth or 'top': (row, col)} of sample pixels 25 m
    out along each facing direction (9.6 m from the ramp's edges)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    mid = (size - 1) / 2
    east, north = cols - mid, mid - rows
    proj = np.max([math.sin(math.radians(a)) * east + math.cos(math.radians(a)) * north for a in AZIMUTHS],
                  axis=0)
    z = scenes.BASE_HEIGHT + height - math.tan(math.radians(tilt)) * np.maximum(proj - top_radius, 0.0)
    pixels = {"top": (int(mid), int(mid))}
    for a in AZIMUTHS:
        pixels[a] = (int(mid - round(25 * math.cos(math.radians(a)))),
                     int(mid + round(25 * math.sin(math.radians(a)))))
    return scenes.grid_of(z), pixels


# ------------------------------------------------------------------------------------- DWD TRY 2010

@pytest.fixture(scope="module")
def mannheim():
    """Mannheim TRY 2010 at the station, its 10-min sub-steps and sky table, and the pvlib reference."""
    path = shared_file(*TRY_DIR, "TRY2010_12_Jahr.dat")
    lat, lon, alt = STATIONS["12"]
    weather = resolve_weather(path, latitude=lat, longitude=lon, altitude=alt, year=2025)
    steps = sun_steps(weather, lat, lon, alt, step_minutes=10)
    return dict(weather=weather, sky=sky_table(steps), reference=PvlibPerez(weather, lat, lon, alt))


@pytest.mark.parametrize("region", ["12", "06"])
def test_try2010_flat_matches_file_annual_ghi(region):
    path = shared_file(*TRY_DIR, f"TRY2010_{region}_Jahr.dat")
    lat, lon, alt = STATIONS[region]
    weather = resolve_weather(path, latitude=lat, longitude=lon, altitude=alt, year=2025)
    assert weather.source["distance_km"] < 1.0
    sky = sky_table(sun_steps(weather, lat, lon, alt, step_minutes=10))
    flat = unobstructed_irradiation(0.0, 180.0, sky).global_
    # SOURCE.md: annual B + D = 1089.4 (Mannheim), 972.3 (Bad Marienberg) kWh/m²
    expected = {"12": 1089.4, "06": 972.3}[region]
    assert weather.annual_ghi() == pytest.approx(expected, abs=0.1)
    assert flat == pytest.approx(expected, rel=0.01)


def test_try2010_tilted_planes_within_3pct_of_pvlib_perez(mannheim):
    tilt, azimuth = np.meshgrid(TILTS, AZIMUTHS, indexing="ij")
    ours = unobstructed_irradiation(tilt, azimuth, mannheim["sky"]).global_
    ref = np.array([[mannheim["reference"].annual(t, a) for a in AZIMUTHS] for t in TILTS])
    error = ours / ref - 1.0
    assert np.all(np.abs(error) < 0.03), f"relative errors [%] (tilt x azimuth):\n{np.round(100 * error, 2)}"
    # the 35° south plane of Mannheim (pvlib 0.16.1 on this file: 1272.6 kWh/m²; ours 1274.7)
    assert ours[1, 4] == pytest.approx(ref[1, 4], rel=0.01)
    assert ours[1, 4] == pytest.approx(1272.6, rel=0.01)


def test_try2010_east_west_ratio_matches_pvlib(mannheim):
    """Real weather need not be symmetric about noon (morning fog, afternoon convection), so E/W differs
    from 1 by the file's own asymmetry (Mannheim: E/W 0.989 to 0.997, afternoons slightly sunnier);
    that ratio must be pvlib's on the same records within 1 % (they agree within 0.25 %). At another
    site the ratio also moves with the longitude offset between station and site (the records stay on
    the station's solar time): 1.016 at 35° for Kaiserslautern, 0.78° west of Mannheim."""
    sky, ref = mannheim["sky"], mannheim["reference"]
    for tilt in TILTS:
        east, west = unobstructed_irradiation(tilt, np.array([90.0, 270.0]), sky).global_
        ours = east / west
        theirs = ref.annual(tilt, 90.0) / ref.annual(tilt, 270.0)
        assert abs(ours - 1.0) < 0.03, (tilt, ours)
        assert ours == pytest.approx(theirs, rel=0.01), (tilt, ours, theirs)


def test_try2010_monthly_follow_file_months(mannheim):
    monthly = unobstructed_irradiation(0.0, 180.0, mannheim["sky"]).monthly
    expected = monthly_file_ghi(mannheim["weather"])
    np.testing.assert_allclose(monthly, expected, rtol=0.015, atol=0.3)
    assert monthly[5] > 4 * monthly[11]  # June vs December: the months are not shuffled


def test_try2010_through_compute_irradiance(caplog):
    """The whole path (path string -> reader -> year mapping -> sky table -> horizons -> rasters) on a convex
    block at Kaiserslautern, 57 km from Mannheim (so a distance warning is logged)."""
    path = shared_file(*TRY_DIR, "TRY2010_12_Jahr.dat")
    grid, pixels = octagonal_frustum(tilt=35.0)
    with caplog.at_level(logging.WARNING, logger="solarkataster"):
        result = compute_irradiance(grid, weather=str(path), year=2025, sectors=16, step_minutes=10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "km from the site" in r.message]
    assert warnings, "no warning about the weather station's distance"

    lon, lat = grid.center_lonlat()
    geod_km = Geod(ellps="WGS84").inv(STATIONS["12"][1], STATIONS["12"][0], lon, lat)[2] / 1000
    prov = result.provenance
    assert prov["weather_distance_km"] == pytest.approx(geod_km, rel=0.01)
    assert prov["weather"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["weather"]["name"] == "dwd-try2010"

    irr = result.irradiation
    weather = result.weather
    top = pixels["top"]
    assert irr.global_[top] == pytest.approx(weather.annual_ghi(), rel=0.01)
    np.testing.assert_allclose(irr.monthly[(slice(None),) + top], monthly_file_ghi(weather), rtol=0.015, atol=0.3)

    site = result.site
    ref = PvlibPerez(weather, site.latitude, site.longitude, site.altitude)
    for azimuth in AZIMUTHS:
        rc = pixels[azimuth]
        # the raster pixel equals the core's unobstructed plane (same sky table): horizons and normals work
        core = float(unobstructed_irradiation(35.0, azimuth, result.sky).global_)
        assert irr.global_[rc] == pytest.approx(core, rel=0.005), azimuth
        assert irr.global_[rc] == pytest.approx(ref.annual(35.0, azimuth), rel=0.03), azimuth


# ------------------------------------------------------------------------------ format round trips

def cloudy_truth(starts_utc, seed=3):
    """Clear-sky truth (tests/weather_files.py) dimmed hour by hour by a random clear-sky index, so that
    the year is neither clear nor symmetric; rounded to whole W/m² as files store them."""
    truth = wf.clear_sky_truth(starts_utc, KL["latitude"], KL["longitude"], KL["altitude"])
    k = np.random.default_rng(seed).uniform(0.15, 1.0, len(truth))
    ghi = np.round(truth["ghi"] * k)
    dhi = np.minimum(ghi, np.round(truth["dhi"] + 0.6 * (truth["ghi"] - truth["dhi"]) * (1 - k) * k))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(truth["ghi"] > truth["dhi"], (ghi - dhi) / (truth["ghi"] - truth["dhi"]), 0.0)
    truth["ghi"], truth["dhi"] = ghi, dhi
    truth["dni"] = np.round(truth["dni"] * np.clip(share, 0, 1))
    return truth


@pytest.fixture(scope="module")
def year_truth():
    """A cloudy year on the UTC starts of the MEZ (UTC+1) hours of 2025."""
    return cloudy_truth(wf.local_year_starts(2025, 1))


def test_epw_and_csv_give_the_direct_weather_year_result(tmp_path, year_truth):
    site = Site(KL["latitude"], KL["longitude"], KL["altitude"])
    options = EngineOptions(step_minutes=10)
    direct = WeatherYear(year_truth, pd.Timedelta(hours=1), {"name": "direct"})
    epw = wf.write_epw(tmp_path / "kl.epw", year_truth, latitude=KL["latitude"], longitude=KL["longitude"],
                       elevation=KL["altitude"], utc_offset_h=1)
    csv = wf.write_csv(tmp_path / "kl.csv", year_truth, label="start", utc_offset="+01:00")
    tilt = np.array([0.0, 35.0, 35.0, 35.0, 90.0, 90.0])
    azimuth = np.array([180.0, 90.0, 180.0, 270.0, 0.0, 200.0])
    expected = unobstructed_irradiation(tilt, azimuth, build_sky(direct, site, options))
    assert expected.global_[0] == pytest.approx(direct.annual_ghi(), rel=0.01)
    for path, fmt in ((epw, "epw"), (csv, "csv")):
        weather = resolve_weather(path, latitude=site.latitude, longitude=site.longitude,
                                  altitude=site.altitude, year=2025)
        assert weather.source["name"] == fmt
        got = unobstructed_irradiation(tilt, azimuth, build_sky(weather, site, options))
        # same records (the 23:00Z Dec 31 2024 night hour wraps to the end of 2025): equal up to rounding
        np.testing.assert_allclose(got.global_, expected.global_, rtol=1e-6, err_msg=fmt)
        np.testing.assert_allclose(got.monthly, expected.monthly, rtol=1e-6, atol=1e-9, err_msg=fmt)
        np.testing.assert_allclose(got.beam, expected.beam, rtol=1e-6, err_msg=fmt)


# ------------------------------------------------------------------------------------ --weather CLI

ROOF = (slice(14, 26), slice(12, 28))  # a 12 m x 16 m flat-roofed building, 8 m tall


@pytest.fixture(scope="module")
def cli_scene(tmp_path_factory, year_truth):
    """A 40 x 40 m DSM GeoTIFF at Kaiserslautern (EPSG:25832), a year EPW at the site, the same year as
    an EPW 'from Mannheim' (57 km away), a year CSV and a one-week CSV."""
    folder = tmp_path_factory.mktemp("weather_cli")
    z = np.full((40, 40), scenes.BASE_HEIGHT)
    z[ROOF] += 8.0
    grid = scenes.grid_of(z)
    dsm = folder / "dsm.tif"
    write_raster(dsm, z, grid)
    lon, lat = grid.center_lonlat()
    near = wf.write_epw(folder / "near.epw", year_truth, latitude=lat, longitude=lon,
                        elevation=KL["altitude"], utc_offset_h=1)
    far = wf.write_epw(folder / "mannheim.epw", year_truth, latitude=wf.MANNHEIM["latitude"],
                       longitude=wf.MANNHEIM["longitude"], elevation=96, utc_offset_h=1)
    year_csv = wf.write_csv(folder / "year.csv", year_truth)
    week = year_truth.loc["2025-06-16T00:00Z":"2025-06-22T23:00Z"]
    week_csv = wf.write_csv(folder / "week.csv", week, utc_offset="+00:00")
    x, y = grid.xy(20, 20)
    return dict(year=year_truth, dsm=dsm, grid=grid, near=near, far=far, year_csv=year_csv, week=week,
                week_csv=week_csv, lon=lon, lat=lat, roof_xy=(float(x), float(y)), roof_z=scenes.BASE_HEIGHT + 8.0)


def invoke(args):
    from solarkataster.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


ENGINE_ARGS = ["--sectors", "8", "--step", "30"]


def test_cli_irradiance_weather_file_recorded_and_distance_warned(tmp_path, cli_scene, caplog):
    s = cli_scene
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="solarkataster"):
        res = invoke(["irradiance", str(s["dsm"]), "--out", str(out), "--weather", str(s["far"]), *ENGINE_ARGS])
    assert res.exit_code == 0, res.output
    assert any("km from the site" in r.message for r in caplog.records if r.levelno == logging.WARNING)
    run = json.loads((out / "run.json").read_text())
    assert run["weather"]["name"] == "epw"
    assert run["weather"]["path"] == str(s["far"])
    assert run["weather"]["sha256"] == hashlib.sha256(s["far"].read_bytes()).hexdigest()
    geod_km = Geod(ellps="WGS84").inv(round(wf.MANNHEIM["longitude"], 2), round(wf.MANNHEIM["latitude"], 2),
                                      s["lon"], s["lat"])[2] / 1000
    assert run["weather_distance_km"] > 50
    assert run["weather_distance_km"] == pytest.approx(geod_km, rel=0.01)
    assert run["options"]["sectors"] == 8 and run["options"]["sun_step_min"] == 30

    import rasterio
    with rasterio.open(out / "irradiation.tif") as src:
        glob = src.read(1)
    with rasterio.open(out / "irradiation_monthly.tif") as src:
        monthly = src.read()
    # the roof centre is open: its global is the file's annual GHI; June/December follow the file
    year = WeatherYear(s["year"], pd.Timedelta(hours=1))
    assert glob[20, 20] == pytest.approx(year.annual_ghi(), rel=0.01)
    np.testing.assert_allclose(monthly[:, 20, 20], monthly_file_ghi(year), rtol=0.02, atol=0.3)


def test_cli_irradiance_near_station_no_warning(tmp_path, cli_scene, caplog):
    s = cli_scene
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="solarkataster"):
        res = invoke(["irradiance", str(s["dsm"]), "--out", str(out), "--weather", str(s["near"]), *ENGINE_ARGS])
    assert res.exit_code == 0, res.output
    assert not any("km from the site" in r.message for r in caplog.records)
    run = json.loads((out / "run.json").read_text())
    # the EPW stores the site to 0.01°: at most ~0.8 km off
    assert 0 <= run["weather_distance_km"] < 1.0


def test_cli_irradiance_week_file_is_a_clear_error(tmp_path, cli_scene):
    s = cli_scene
    res = invoke(["irradiance", str(s["dsm"]), "--out", str(tmp_path / "out"), "--weather", str(s["week_csv"]),
                  *ENGINE_ARGS])
    assert res.exit_code == 2
    assert "not a whole year" in res.stderr
    assert str(s["week_csv"]) in res.stderr
    assert not (tmp_path / "out" / "run.json").exists()


def test_cli_run_weather_file(tmp_path, cli_scene):
    s = cli_scene
    out = tmp_path / "cadastre"
    res = invoke(["run", str(s["dsm"]), "--out", str(out), "--no-walls", "--weather", str(s["year_csv"]),
                  *ENGINE_ARGS])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["weather"]["name"] == "csv"
    assert run["weather"]["path"] == str(s["year_csv"])
    assert run["weather"]["sha256"] == hashlib.sha256(s["year_csv"].read_bytes()).hexdigest()
    assert "weather_distance_km" in run and run["weather_distance_km"] is None  # a CSV has no coordinates
    roofs = json.loads((out / "roofs.geojson").read_text())
    assert roofs["features"], "no roof face found on the flat-roofed building"
    import rasterio
    with rasterio.open(out / "irradiation.tif") as src:
        glob = src.read(1)
    year = WeatherYear(s["year"], pd.Timedelta(hours=1))
    assert glob[20, 20] == pytest.approx(year.annual_ghi(), rel=0.01)


def test_cli_point_week_file_inside_the_week(tmp_path, cli_scene):
    s = cli_scene
    out = tmp_path / "point.csv"
    x, y = s["roof_xy"]
    res = invoke(["point", str(s["dsm"]), "--x", str(x), "--y", str(y), "--z", str(s["roof_z"] + 0.5),
                  "--tilt", "0", "--azimuth", "180", "--weather", str(s["week_csv"]), "--start",
                  "2025-06-18T00:00Z", "--end", "2025-06-20T00:00Z", "--sectors", "8", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, comment="#")
    assert len(table) == 48
    times = pd.DatetimeIndex(pd.to_datetime(table["time"], utc=True))
    assert times[0] == pd.Timestamp("2025-06-18T00:00Z") and times[-1] == pd.Timestamp("2025-06-19T23:00Z")
    file_ghi = s["week"].loc[times, "ghi"].to_numpy()
    # a horizontal plane with an open horizon receives the record's ghi: beam is spread over the sub-steps
    # preserving the horizontal energy; only Perez circumsolar at zenith > 85° falls short (< 1 W/m² here)
    np.testing.assert_allclose(table["poa_global"], file_ghi, rtol=0.005, atol=1.0)
    assert table["poa_global"].sum() / 1000 > 4.0  # two June days: not an all-dark period [kWh/m²]

    # a period outside the week is a clear error
    res = invoke(["point", str(s["dsm"]), "--x", str(x), "--y", str(y), "--z", str(s["roof_z"] + 0.5),
                  "--tilt", "0", "--azimuth", "180", "--weather", str(s["week_csv"]), "--start",
                  "2025-07-01T00:00Z", "--end", "2025-07-02T00:00Z", "--sectors", "8"])
    assert res.exit_code == 2
    assert "no weather records" in res.stderr


# ------------------------------------------------------------------------------- default weather, UMEP

SAMPLE_DSM = "sample_data/town_dsm.tif"
GBG_DIR = ("goteborg-umep",)


def open_flat(result, max_tilt=2.0, min_svf=0.99):
    """Mask of flat pixels with an open sky (sky view factor of a horizontal plane near 1)."""
    from solarkataster.surface import surface_orientation

    tilt, _ = surface_orientation(result.grid.z, result.grid.cellsize)
    return (tilt < max_tilt) & (result.irradiation.sky_view_factor > min_svf)


def test_default_weather_on_the_sample_town_is_its_regions_try(monkeypatch):
    """Issue 12 acceptance: no weather given, a German site gets the DWD TRY 2010 of its region, and flat
    open roofs get that TRY's annual GHI within 2 %."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    result = compute_irradiance(SAMPLE_DSM, sectors=16, step_minutes=10)
    src = result.weather.source
    # Kaiserslautern lies in region 6 (demandlib's TRY_polygons.geojson), station Bad Marienberg
    assert (src["basis"], src["region"], src["station"]) == ("dwd-try", 6, "Bad Marienberg")
    assert src["label"].startswith("DWD TRY 2010, region 6 (Bad Marienberg")
    assert result.provenance["weather"]["label"] == src["label"]
    assert result.weather.annual_ghi() == pytest.approx(972.3, abs=0.1)  # SOURCE.md of dwd-try2010
    flat = open_flat(result)
    assert flat.sum() > 100
    assert np.median(result.irradiation.global_[flat]) == pytest.approx(result.weather.annual_ghi(), rel=0.02)


def test_gothenburg_umep_file_drives_irradiance_cli(tmp_path, shared):
    """Issue 12 acceptance: the Gothenburg UMEP met file drives `irradiance`; open flat roofs get the file's
    own kdown sum within 1 %."""
    import rasterio

    dsm = shared(*GBG_DIR, "DSM_KRbig.tif")
    met = shared(*GBG_DIR, "GBG_TMY_1977.txt")
    kdown = pd.read_csv(met, sep=r"\s+")["kdown"].sum() / 1000
    out = tmp_path / "out"
    res = invoke(["irradiance", str(dsm), "--out", str(out), "--weather", str(met), "--utc-offset", "1",
                  "--time-label", "end", "--sectors", "16"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["weather"]["name"] == "umep" and "UTC+1" in run["weather"]["time_convention"]
    with rasterio.open(out / "irradiation.tif") as src:
        glob = src.read(1)
    with rasterio.open(out / "sky_view_factor.tif") as src:
        svf = src.read(1)
    from solarkataster.io.raster import read_surface
    from solarkataster.surface import surface_orientation

    grid = read_surface(dsm)
    tilt, _ = surface_orientation(grid.z, grid.cellsize)
    flat = (tilt < 2.0) & (svf > 0.99)
    assert flat.sum() > 50
    assert np.median(glob[flat]) == pytest.approx(kdown, rel=0.01)


def test_cli_point_uses_the_dated_files_own_year(tmp_path, shared):
    from solarkataster.io.raster import read_surface

    dsm = shared(*GBG_DIR, "DSM_KRbig.tif")
    met = shared(*GBG_DIR, "GBG_TMY_1977.txt")
    kdown = pd.read_csv(met, sep=r"\s+")["kdown"].sum() / 1000
    grid = read_surface(dsm)
    row, col = np.unravel_index(np.nanargmax(grid.z), grid.shape)
    x, y = grid.xy(row, col)
    out = tmp_path / "point.csv"
    args = ["point", str(dsm), "--x", str(float(x)), "--y", str(float(y)), "--z", str(float(grid.z[row, col]) + 1.0),
            "--tilt", "0", "--azimuth", "180", "--weather", str(met), "--utc-offset", "1", "--sectors", "16"]
    res = invoke([*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, comment="#")
    times = pd.DatetimeIndex(pd.to_datetime(table["time"], utc=True))
    assert len(table) == 8760 and (times.year == 1977).all()  # no --year: the file's own year
    assert table["poa_global"].sum() / 1000 == pytest.approx(kdown, rel=0.01)
    assert "# weather: " in out.read_text().splitlines()[1]
    res = invoke([*args, "--year", "2024", "--start", "2024-06-01T00:00Z", "--end", "2024-06-02T00:00Z"])
    assert res.exit_code == 0, res.output
    assert "2024-06-01T00:00:00Z" in res.stdout


def test_cli_time_label_shifts_csv_records(tmp_path, cli_scene):
    """--time-label end: a CSV stamped at interval ends reads as the same records one interval earlier."""
    s = cli_scene
    ends = wf.write_csv(tmp_path / "ends.csv", s["week"], label="end", utc_offset="+00:00")
    x, y = s["roof_xy"]
    outs = {}
    for name, path, extra in (("start", s["week_csv"], []), ("end", ends, ["--time-label", "end"])):
        outs[name] = tmp_path / f"{name}.csv"
        res = invoke(["point", str(s["dsm"]), "--x", str(x), "--y", str(y), "--z", str(s["roof_z"] + 0.5),
                      "--tilt", "0", "--azimuth", "180", "--weather", str(path), *extra, "--sectors", "8",
                      "--out", str(outs[name])])
        assert res.exit_code == 0, res.output
    a, b = (pd.read_csv(outs[k], comment="#") for k in ("start", "end"))
    pd.testing.assert_frame_equal(a, b)


def test_gothenburg_umep_file_drives_run(tmp_path, shared):
    """Issue 12 acceptance: the Gothenburg UMEP met file drives `run` (roofs from the DSM and the block's
    footprints); open flat pixels get the file's own kdown sum within 1 %, and every layer names the basis."""
    import rasterio

    dsm = shared(*GBG_DIR, "DSM_KRbig.tif")
    met = shared(*GBG_DIR, "GBG_TMY_1977.txt")
    kdown = pd.read_csv(met, sep=r"\s+")["kdown"].sum() / 1000
    out = tmp_path / "out"
    res = invoke(["run", str(dsm), "--out", str(out), "--footprints", str(shared(*GBG_DIR, "buildings.shp")),
                  "--dtm", str(shared(*GBG_DIR, "DEM_KRbig.tif")), "--no-walls", "--weather", str(met),
                  "--utc-offset", "1", "--sectors", "16", "--step", "60"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["weather"]["name"] == "umep"
    roofs = json.loads((out / "roofs.geojson").read_text())
    assert roofs["features"] and roofs["metadata"]["weather"] == "umep"
    with rasterio.open(out / "irradiation.tif") as src:
        glob = src.read(1)
    with rasterio.open(out / "sky_view_factor.tif") as src:
        svf = src.read(1)
    from solarkataster.io.raster import read_surface
    from solarkataster.surface import surface_orientation

    tilt, _ = surface_orientation(read_surface(dsm).z, 1.0)
    flat = (tilt < 2.0) & (svf > 0.99)
    assert flat.sum() > 50
    assert np.median(glob[flat]) == pytest.approx(kdown, rel=0.01)
