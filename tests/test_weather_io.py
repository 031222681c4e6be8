"""Weather readers: round trips through every format, the DWD TRY 2010 time convention, validation."""
from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pandas as pd
import pvlib
import pytest
import requests
import weather_files as wf
from conftest import shared_file
from pyproj import Geod

from solarkataster.errors import WeatherError
from solarkataster.io.weather import (
    complete_components,
    read_weather,
    resolve_weather,
    to_utc_hours,
    to_year,
)
from solarkataster.weather import WeatherYear

KL = wf.KAISERSLAUTERN


@pytest.fixture(scope="module")
def mez_truth():
    """A clear-sky year whose hours are the MEZ (UTC+1) hours of 1990."""
    return wf.clear_sky_truth(wf.local_year_starts(1990, 1), KL["latitude"], KL["longitude"], KL["altitude"])


def assert_same_records(weather, truth, columns=("ghi", "dhi", "temp_air", "wind_speed")):
    assert len(weather.data) == len(truth)
    np.testing.assert_array_equal(weather.data.index.as_unit("ns").asi8,
                                  pd.DatetimeIndex(truth.index).as_unit("ns").asi8)
    for c in columns:
        np.testing.assert_allclose(weather.data[c].to_numpy(), truth[c].to_numpy(), atol=0.051, err_msg=c)


def record(weather, when):
    return weather.data.loc[pd.Timestamp(when)]


# ------------------------------------------------------------------------------------------- DWD TRY

def test_try2015_round_trip_mez_hour_ending(tmp_path, mez_truth):
    path, (east, north) = wf.write_try2015(tmp_path / "TRY2015_mittel.dat", mez_truth,
                                           latitude=KL["latitude"], longitude=KL["longitude"], elevation=250)
    weather = read_weather(path)
    assert weather.source["name"] == "dwd-try2015"
    assert_same_records(weather, mez_truth)
    # label 1 June HH=13 MEZ covers 12:00-13:00 MEZ = 11:00-12:00 UTC
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(x for x in lines if x.split()[2:5] == ["6", "1", "13"])
    assert record(weather, "1990-06-01T11:00Z")["dhi"] == float(line.split()[13])
    # grid cell centre is within 1 km of the site: 0.01° in latitude, 0.015° in longitude
    assert abs(weather.source["latitude"] - KL["latitude"]) < 0.01
    assert abs(weather.source["longitude"] - KL["longitude"]) < 0.015
    assert weather.source["elevation"] == 250
    assert len(weather.source["sha256"]) == 64
    assert weather.covers_year()


@pytest.mark.parametrize("scale, expected", [("tst", "true solar time"), ("mez", "MEZ")])
def test_try2010_synthetic_convention_detected_and_round_trip(tmp_path, scale, expected):
    site = wf.MANNHEIM
    starts = (wf.tst_year_starts(1990, site["longitude"]) if scale == "tst"
              else wf.local_year_starts(1990, 1))
    truth = wf.clear_sky_truth(starts, site["latitude"], site["longitude"], site["altitude"])
    path = wf.write_try2010(tmp_path / "TRY2010_12_Jahr.dat", truth, time_scale=scale)
    weather = read_weather(path)
    assert weather.source["time_convention"].startswith(f"hour-ending {expected}")
    assert weather.source["station"] == "Mannheim (WMO 10729)"
    assert weather.source["latitude"] == pytest.approx(49 + 31 / 60, abs=1e-4)
    assert len(weather.data) == 8760
    # index equal to the truth within 1 s (the writer rounds TST to whole seconds)
    assert np.abs(weather.data.index.as_unit("ns").asi8 - truth.index.as_unit("ns").asi8).max() <= 1e9
    for c in ("ghi", "dhi", "temp_air"):
        np.testing.assert_allclose(weather.data[c].to_numpy(), truth[c].to_numpy(), atol=0.051)
    assert weather.data["dni"].isna().all()  # TRY has no DNI; complete_components derives it


def test_try2010_true_solar_time_is_exact(tmp_path):
    """Independent reference: the TST hour 12-13 (label HH=13) starts at solar transit from pvlib's SPA."""
    site = wf.MANNHEIM
    starts = wf.tst_year_starts(1990, site["longitude"])
    truth = wf.clear_sky_truth(starts, site["latitude"], site["longitude"], site["altitude"])
    weather = read_weather(wf.write_try2010(tmp_path / "TRY2010_12_Jahr.dat", truth, time_scale="tst"))
    assert weather.source["time_convention"].startswith("hour-ending true solar time")
    idx = weather.data.index
    noon_records = idx[12::24]  # record 13 of each day: TST 12:00-13:00
    days = pd.date_range("1990-01-01", periods=365, freq="D", tz="UTC")
    transit = pvlib.solarposition.sun_rise_set_transit_spa(days, site["latitude"], site["longitude"])["transit"]
    error_s = (noon_records - pd.DatetimeIndex(transit).tz_convert("UTC")).total_seconds()
    assert np.abs(error_s).max() <= 2.0, np.abs(error_s).max()  # daily Spencer EoT was off by up to 44 s
    # records tile the time axis: consecutive starts one hour apart within the 1 s rounding and EoT drift
    step_s = np.diff(idx.as_unit("ns").asi8) / 1e9 - 3600
    assert np.abs(step_s).max() <= 2.0
    # and start minutes past the UTC hour: 60 - lon/15 h - EoT = 9..41 min at 8.55 deg E
    past = (idx - idx.floor("h")).total_seconds() / 60
    assert 8 < past.min() and past.max() < 42


def _per_second_reference(values, starts, length_s):
    """Brute force: spread each record uniformly over its seconds, sum per UTC hour."""
    origin = int(starts[0].floor("h").value // 10**9)
    t0 = (starts.as_unit("ns").asi8 // 10**9 - origin).astype(int)
    per_second = np.zeros(int(t0.max()) + length_s + 3600)
    for v, t in zip(values, t0):
        per_second[t:t + length_s] += v / length_s
    hours = per_second[:len(per_second) // 3600 * 3600].reshape(-1, 3600).sum(axis=1)
    return hours


def test_to_utc_hours_conserves_energy_and_matches_brute_force():
    rng = np.random.default_rng(3)
    base = pd.Timestamp("2025-06-01T00:00Z")
    # 30 hourly records starting 17 min 23 s past the hour, drifting by up to +-1 s (TST-like)
    starts = pd.DatetimeIndex(base + pd.to_timedelta(np.arange(30) * 3600 + 17 * 60 + 23
                                                     + rng.integers(-1, 2, 30), unit="s"))
    energy = rng.uniform(0, 5, 30)
    hours, hourly = to_utc_hours(energy, starts, pd.Timedelta(hours=1))
    assert (hours == hours.floor("h")).all() and str(hours.tz) == "UTC"
    assert hourly.sum() == pytest.approx(energy.sum(), rel=1e-12)
    reference = _per_second_reference(energy, starts, 3600)
    np.testing.assert_allclose(hourly, reference[:len(hourly)], atol=1e-9)
    # a constant mean stays constant on every fully covered hour
    _, mean = to_utc_hours(np.full(30, 250.0), starts, pd.Timedelta(hours=1), quantity="mean")
    np.testing.assert_allclose(mean, 250.0)
    # 2-D (profiles x records), float32 kept
    _, table = to_utc_hours(np.vstack([energy, 2 * energy]).astype(np.float32), starts, pd.Timedelta(hours=1))
    assert table.dtype == np.float32 and table.shape == (2, len(hours))
    np.testing.assert_allclose(table[1], 2 * hourly, rtol=1e-6)


@pytest.mark.parametrize("offset_h", [0, 5])
def test_to_utc_hours_of_whole_hours_equals_the_sparse_product(offset_h):
    """Records on whole UTC hours are only reordered: bit for bit the sparse product (-0 turned into 0)."""
    from scipy import sparse

    from solarkataster.hours import utc_hour_weights

    # a year of hourly records starting offset_h hours late: the year wraps its last hours to the front
    starts = pd.date_range("2025-01-01T00:00Z", periods=8760, freq="h") + pd.Timedelta(hours=offset_h)
    values = np.random.default_rng(5).normal(size=(3, 8760)).astype(np.float32)
    values[0, :10] = -0.0
    values[1, 3] = np.nan
    for quantity in ("energy", "mean"):
        hours, hourly = to_utc_hours(values, starts, pd.Timedelta(hours=1), quantity=quantity, year=2025)
        want_hours, weights = utc_hour_weights(starts, pd.Timedelta(hours=1), year=2025)
        want = np.asarray(sparse.csr_matrix(weights.T).astype(np.float32) @ values.T).T
        assert hours.equals(want_hours) and hourly.dtype == np.float32
        assert hourly.tobytes() == np.ascontiguousarray(want).tobytes()
    assert np.signbit(hourly[0, offset_h:offset_h + 10]).sum() == 0


def test_to_utc_hours_sub_hourly_equals_pandas_resample():
    """Aligned 10-min records: hourly sums and means are pandas' resample (independent reference)."""
    starts = pd.date_range("2025-03-01T00:00Z", periods=6 * 48, freq="10min")
    values = np.random.default_rng(8).uniform(0, 900, len(starts))
    series = pd.Series(values, index=starts)
    hours, sums = to_utc_hours(values, starts, pd.Timedelta(minutes=10))
    np.testing.assert_allclose(sums, series.resample("1h").sum().to_numpy(), rtol=1e-12)
    _, means = to_utc_hours(values, starts, pd.Timedelta(minutes=10), quantity="mean")
    np.testing.assert_allclose(means, series.resample("1h").mean().to_numpy(), rtol=1e-12)
    assert hours.equals(series.resample("1h").sum().index)


def test_default_try_year_on_whole_utc_hours():
    """Mannheim's TRY (true solar time) re-binned onto the 8760 UTC hours of 2025 keeps its annual GHI."""
    site = wf.MANNHEIM
    weather = resolve_weather("dwd-try:12", latitude=site["latitude"], longitude=site["longitude"],
                              altitude=site["altitude"], year=2025)
    idx = weather.data.index
    assert not (idx == idx.floor("h")).all()  # exact TST interval starts, minutes past the hour
    hours, ghi_wh = to_utc_hours(weather.data["ghi"].to_numpy(), idx, weather.interval, year=2025)
    assert len(hours) == 8760 and hours[0] == pd.Timestamp("2025-01-01T00:00Z")
    assert (hours == hours.floor("h")).all()
    assert ghi_wh.sum() / 1000 == pytest.approx(weather.annual_ghi(), rel=1e-9)
    # daylight stays in daylight: no UTC hour before sunrise gets irradiance from the shift
    sun = pvlib.solarposition.get_solarposition(hours + pd.Timedelta(minutes=30), site["latitude"],
                                                site["longitude"])
    assert ghi_wh[(sun["elevation"] < -10).to_numpy()].max() == 0.0


def _raw_try(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    star = next(i for i, x in enumerate(lines) if x.startswith("***"))
    return np.array([x.split() for x in lines[star + 1:]], dtype=float)


def _daily_label_centroid(rows):
    """Irradiance-weighted centroid [h] of the hour labels per day (label HH counted at HH - 0.5)."""
    month, day, hour, glob = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 13] + rows[:, 14]
    key = (month * 100 + day).astype(int)
    _, inverse = np.unique(key, return_inverse=True)
    return np.bincount(inverse, glob * (hour - 0.5)) / np.bincount(inverse, glob)


@pytest.mark.parametrize("region, lat, lon, ghi_kwh", [("12", 49 + 31 / 60, 8 + 33 / 60, 1089.4),
                                                        ("06", 50 + 40 / 60, 7 + 58 / 60, 972.3)])
def test_try2010_real_files(region, lat, lon, ghi_kwh):
    path = shared_file("dwd-try2010", f"TRY2010_{region}_Jahr.dat")
    weather = read_weather(path)
    assert len(weather.data) == 8760
    assert 950 <= weather.annual_ghi() <= 1250
    assert weather.annual_ghi() == pytest.approx(ghi_kwh, abs=0.1)  # SOURCE.md: B + D summed by hand
    assert weather.source["latitude"] == pytest.approx(lat, abs=1e-4)
    assert weather.source["longitude"] == pytest.approx(lon, abs=1e-4)
    assert weather.source["period"] == "1988-2007"
    weather.require_full_year()

    # Independent reference: solar noon (transit) from pvlib's SPA for each day of 1990.
    days = pd.date_range("1990-01-01", periods=365, freq="D", tz="UTC")
    transit = pvlib.solarposition.sun_rise_set_transit_spa(days, lat, lon)["transit"]
    noon_utc_h = ((transit - days) / pd.Timedelta(hours=1)).to_numpy()
    eot_h = pvlib.solarposition.equation_of_time_spencer71(np.arange(1, 366)) / 60

    centroid = _daily_label_centroid(_raw_try(path))
    # Label centroid if the labels were hour-ending in ... MEZ: solar noon in MEZ; TST: 12:00.
    residual_mez = (centroid - (noon_utc_h + 1.0)) * 60
    residual_tst = (centroid - 12.0) * 60
    # Both files sit near solar-time noon, 25-30 min away from the header's MEZ claim.
    assert abs(residual_tst.mean()) < 5
    assert residual_mez.mean() < -20

    # Reader output: UTC irradiance centroid per day versus SPA transit.
    idx = weather.data.index
    mid_h = ((idx - idx.normalize()) / pd.Timedelta(hours=1)).to_numpy() + 0.5
    doy = idx.day_of_year.to_numpy()
    g = weather.data["ghi"].to_numpy()
    cent_utc = np.bincount(doy - 1, g * mid_h, 366)[:365] / np.bincount(doy - 1, g, 366)[:365]
    offset = (cent_utc - noon_utc_h) * 60
    slope_vs_eot = np.polyfit(-eot_h * 60, offset, 1)[0]
    assert abs(offset.mean()) < 3, offset.mean()
    if region == "12":
        # measured series: true solar time; its residual has no equation-of-time signal, MEZ's would
        assert weather.source["time_convention"].startswith("hour-ending true solar time")
        assert abs(np.polyfit(-eot_h * 60, residual_tst, 1)[0]) < 0.4
        assert abs(slope_vs_eot) < 0.4
    else:
        # flagged IK=9 series: follows the clock through the seasons (mean solar time)
        assert weather.source["time_convention"].startswith("hour-ending mean solar time")
        assert np.polyfit(-eot_h * 60, residual_tst, 1)[0] > 0.5


# ------------------------------------------------------------------------------------------- EPW

def test_epw_round_trip_and_pvlib_cross_check(tmp_path, mez_truth):
    years = [1995 + m for m in range(12)]  # a typical year: each month from another year
    path = wf.write_epw(tmp_path / "DEU_Kaiserslautern.epw", mez_truth, latitude=KL["latitude"],
                        longitude=KL["longitude"], elevation=250, utc_offset_h=1, years=years)
    weather = read_weather(path)
    assert weather.source["name"] == "epw"
    assert_same_records(weather, mez_truth, columns=("ghi", "dni", "dhi", "temp_air", "wind_speed"))
    # the record labelled 1 June hour 13 (UTC+1 standard time) covers 11:00-12:00 UTC
    line = next(x for x in path.read_text().splitlines() if x.split(",")[1:4] == ["6", "1", "13"])
    assert record(weather, "1990-06-01T11:00Z")["ghi"] == float(line.split(",")[13])
    # pvlib's reader stamps each EPW record with its interval start (hour - 1, local standard time)
    pv, meta = pvlib.iotools.read_epw(path, coerce_year=1990)
    assert meta["TZ"] == 1
    np.testing.assert_array_equal(pv.index.tz_convert("UTC").as_unit("ns").asi8,
                                  weather.data.index.as_unit("ns").asi8)
    np.testing.assert_array_equal(pv["ghi"].to_numpy(float), weather.data["ghi"].to_numpy())
    np.testing.assert_array_equal(pv["dni"].to_numpy(float), weather.data["dni"].to_numpy())
    assert weather.source["period"] == "1995-2006"


def test_pvgis_epw_variant_is_utc(tmp_path):
    truth = wf.clear_sky_truth(wf.local_year_starts(1990, 0), KL["latitude"], KL["longitude"], KL["altitude"])
    path = wf.write_epw(tmp_path / "tmy_49.440_7.770.epw", truth, latitude=KL["latitude"],
                        longitude=KL["longitude"], elevation=250, utc_offset_h=0, city="unknown",
                        source="ECMWF/ERA")
    weather = read_weather(path)
    assert_same_records(weather, truth)
    assert weather.data.index[0] == pd.Timestamp("1990-01-01T00:00Z")


# ------------------------------------------------------------------------------------------- PVGIS

@pytest.fixture(scope="module")
def utc_truth():
    return wf.clear_sky_truth(wf.local_year_starts(1990, 0), KL["latitude"], KL["longitude"], KL["altitude"])


def test_pvgis_json_round_trip(tmp_path, utc_truth):
    path = wf.write_pvgis_json(tmp_path / "tmy.json", utc_truth, latitude=KL["latitude"],
                               longitude=KL["longitude"], elevation=250.0)
    weather = read_weather(path)
    assert weather.source["name"] == "pvgis-json"
    assert_same_records(weather, utc_truth, columns=("ghi", "dni", "dhi", "temp_air", "wind_speed"))
    # time(UTC) 20120201:1100 (February comes from 2012) is the hour starting 11:00 UTC
    assert record(weather, "1990-02-01T11:00Z")["ghi"] == utc_truth.loc["1990-02-01T11:00Z", "ghi"]
    assert weather.source["period"] == "2006-2019"
    assert weather.source["latitude"] == KL["latitude"]


def test_pvgis_csv_round_trip(tmp_path, utc_truth):
    path = wf.write_pvgis_csv(tmp_path / "tmy.csv", utc_truth, latitude=KL["latitude"],
                              longitude=KL["longitude"], elevation=250.0)
    weather = read_weather(path)
    assert weather.source["name"] == "pvgis-csv"
    assert_same_records(weather, utc_truth, columns=("ghi", "dni", "dhi", "temp_air", "wind_speed"))
    assert weather.source["longitude"] == pytest.approx(KL["longitude"], abs=1e-3)


# ------------------------------------------------------------------------------------------- TMY3

def test_tmy3_round_trip_and_pvlib_cross_check(tmp_path):
    g = wf.GREENSBORO
    truth = wf.clear_sky_truth(wf.local_year_starts(1990, -5), g["latitude"], g["longitude"], g["altitude"])
    path = wf.write_tmy3(tmp_path / "723170TYA.CSV", truth, latitude=g["latitude"], longitude=g["longitude"],
                         elevation=g["altitude"], utc_offset_h=-5)
    weather = read_weather(path)
    assert weather.source["name"] == "tmy3"
    assert_same_records(weather, truth, columns=("ghi", "dni", "dhi", "temp_air", "wind_speed"))
    # 01/01 01:00 (UTC-5, hour-ending) covers 00:00-01:00 EST = 05:00-06:00 UTC
    assert weather.data.index[0] == pd.Timestamp("1990-01-01T05:00Z")
    pv, _ = pvlib.iotools.read_tmy3(path, coerce_year=1990)
    pv_start = (pv.index - pd.Timedelta(hours=1)).tz_convert("UTC")
    common = weather.data.index.intersection(pv_start)
    assert len(common) > 8700
    np.testing.assert_allclose(weather.data.loc[common, "ghi"].to_numpy(),
                               pd.Series(pv["ghi"].to_numpy(float), index=pv_start).loc[common].to_numpy())


# ------------------------------------------------------------------------------------------- CSV

@pytest.fixture(scope="module")
def june_days():
    starts = pd.date_range("2025-06-01T00:00Z", periods=3 * 24, freq="h")
    return wf.clear_sky_truth(starts, KL["latitude"], KL["longitude"], KL["altitude"])


@pytest.mark.parametrize("label", ["start", "end", "center"])
def test_csv_time_labels(tmp_path, june_days, label):
    path = wf.write_csv(tmp_path / "site.csv", june_days, label=label, utc_offset="+02:00")
    weather = read_weather(path, time_label=label)
    assert weather.source["name"] == "csv"
    assert weather.interval == pd.Timedelta(hours=1)
    assert_same_records(weather, june_days, columns=("ghi", "dni", "dhi"))
    assert not weather.covers_year()
    with pytest.raises(WeatherError, match="not a whole year"):
        weather.require_full_year()


def test_csv_sub_hourly(tmp_path):
    starts = pd.date_range("2025-03-20T00:00Z", periods=96, freq="15min")
    truth = wf.clear_sky_truth(starts, KL["latitude"], KL["longitude"], KL["altitude"], interval="15min")
    path = wf.write_csv(tmp_path / "quarter.csv", truth, utc_offset="+00:00")
    weather = read_weather(path)
    assert weather.interval == pd.Timedelta(minutes=15)
    assert_same_records(weather, truth, columns=("ghi", "dhi"))


def test_csv_ghi_only_is_decomposed_with_erbs(tmp_path, june_days):
    path = wf.write_csv(tmp_path / "ghi.csv", june_days, columns=["ghi", "temp_air"], utc_offset="+00:00")
    with pytest.raises(WeatherError, match=r"ghi.csv.*no dhi.*latitude/longitude"):
        read_weather(path)
    weather = read_weather(path, latitude=KL["latitude"], longitude=KL["longitude"])
    noon = weather.data.loc["2025-06-01T11:00Z"]
    # Reference: pvlib's Erbs at the SPA zenith of the interval midpoint (within 3 %)
    sun = pvlib.solarposition.get_solarposition(pd.DatetimeIndex(["2025-06-01T11:30Z"]), KL["latitude"],
                                                KL["longitude"])
    ref = pvlib.irradiance.erbs(noon["ghi"], sun["zenith"].to_numpy(), 152)
    assert noon["dhi"] == pytest.approx(float(np.asarray(ref["dhi"])[0]), rel=0.03)
    assert (weather.data["dhi"] <= weather.data["ghi"] + 1e-9).all()
    assert np.isfinite(weather.data["dni"]).all()


# ------------------------------------------------------------------------------------------- components

def test_complete_components_dni_from_direct_horizontal(june_days):
    weather = WeatherYear(june_days.assign(dni=np.nan), pd.Timedelta(hours=1), {"name": "test"})
    full = complete_components(weather, KL["latitude"], KL["longitude"])
    day = june_days["ghi"] > 300
    # interval-mean clear-sky DNI is recovered from (ghi - dhi) / mean cos(zenith) within 2 %
    np.testing.assert_allclose(full.data.loc[day, "dni"], june_days.loc[day, "dni"], rtol=0.02)
    night = june_days["ghi"] == 0
    assert (full.data.loc[night, "dni"] == 0).all()
    assert full.data["dni"].max() <= 1361.1 * 1.035


def test_complete_components_safeguards_near_sunrise():
    # 03:00-04:00 UTC on 1 June at Kaiserslautern: the sun rises ~03:25 UTC, mean cos(zenith) ~0.01;
    # a 40 W/m² direct horizontal would give DNI > 3000 W/m² without the zenith limit
    index = pd.DatetimeIndex(["2025-06-01T03:00Z", "2025-06-01T11:00Z"])
    frame = pd.DataFrame({"ghi": [45.0, 800.0], "dni": np.nan, "dhi": [5.0, 100.0]}, index=index)
    full = complete_components(WeatherYear(frame, pd.Timedelta(hours=1)), KL["latitude"], KL["longitude"])
    assert full.data["dni"].iloc[0] == 0.0
    assert 700 < full.data["dni"].iloc[1] <= 1361.1 * 1.035


# ------------------------------------------------------------------------------------------- to_year

def test_to_year_leap_target_repeats_feb28(tmp_path, mez_truth):
    path, _ = wf.write_try2015(tmp_path / "try.dat", mez_truth, latitude=KL["latitude"],
                               longitude=KL["longitude"])
    weather = read_weather(path)
    leap = to_year(weather, 2024)
    assert len(leap.data) == 8784
    feb28 = leap.data.loc["2024-02-28"]
    feb29 = leap.data.loc["2024-02-29"]
    np.testing.assert_array_equal(feb29["ghi"].to_numpy(), feb28["ghi"].to_numpy())
    # the 23:00Z Dec 31 1989 record (MEZ Jan 1 00-01) wraps to Dec 31 23:00Z of the target year
    assert leap.data.index[-1] == pd.Timestamp("2024-12-31T23:00Z")
    assert leap.data.index.is_monotonic_increasing and not leap.data.index.has_duplicates
    assert leap.covers_year()
    plain = to_year(weather, 2025)
    assert len(plain.data) == 8760 and plain.data.index[0] == pd.Timestamp("2025-01-01T00:00Z")
    assert plain.annual_ghi() == pytest.approx(weather.annual_ghi())
    assert plain.source["mapped_to_year"] == 2025


def test_to_year_drops_feb29_for_non_leap_target(tmp_path):
    starts = pd.date_range("2024-02-28T00:00Z", periods=72, freq="h")
    truth = wf.clear_sky_truth(starts, KL["latitude"], KL["longitude"], KL["altitude"])
    weather = read_weather(wf.write_csv(tmp_path / "leap.csv", truth, utc_offset="+00:00"))
    mapped = to_year(weather, 2025)
    assert len(mapped.data) == 48
    assert list(np.unique(mapped.data.index.day)) == [1, 28]
    np.testing.assert_array_equal(mapped.data.loc["2025-03-01", "ghi"].to_numpy(),
                                  truth.loc["2024-03-01", "ghi"].to_numpy())


# ------------------------------------------------------------------------------------------- bad files

@pytest.fixture(scope="module")
def try_lines(tmp_path_factory, mez_truth):
    path, _ = wf.write_try2015(tmp_path_factory.mktemp("try") / "good.dat", mez_truth,
                               latitude=KL["latitude"], longitude=KL["longitude"])
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines, next(i for i, x in enumerate(lines) if x.startswith("***")) + 1


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_truncated_try_names_file_and_line(tmp_path, try_lines):
    lines, first = try_lines
    path = _write(tmp_path, "cut.dat", lines[:first + 100])
    with pytest.raises(WeatherError, match=rf"cut\.dat: DWD TRY file has 100 .*last data line {first + 100}"):
        read_weather(path)
    broken = lines[:first + 50] + [" ".join(lines[first + 50].split()[:9])]
    with pytest.raises(WeatherError, match=rf"cut2\.dat: line {first + 51}: expected 17 columns"):
        read_weather(_write(tmp_path, "cut2.dat", broken))


def test_try_bad_number_and_gap(tmp_path, try_lines):
    lines, first = try_lines
    bad = list(lines)
    fields = bad[first + 10].split()
    fields[12] = "x12"
    bad[first + 10] = " ".join(fields)
    with pytest.raises(WeatherError, match=rf"num\.dat: line {first + 11}, column B: 'x12'"):
        read_weather(_write(tmp_path, "num.dat", bad))
    gap = lines[:first + 20] + lines[first + 21:]
    with pytest.raises(WeatherError, match=rf"gap\.dat: line {first + 21}: gap after line {first + 20}"):
        read_weather(_write(tmp_path, "gap.dat", gap))


def test_try_negative_and_impossible_irradiance(tmp_path, try_lines):
    lines, first = try_lines
    neg = list(lines)
    fields = neg[first + 12].split()  # Jan 1, 13 MEZ
    fields[13] = "-80"
    neg[first + 12] = " ".join(fields)
    with pytest.raises(WeatherError, match=rf"neg\.dat: line {first + 13}, column dhi: -80 W/m² is neg"):
        read_weather(_write(tmp_path, "neg.dat", neg))
    night = list(lines)
    fields = night[first + 1].split()  # Jan 1, 02 MEZ: night
    fields[12] = "300"
    night[first + 1] = " ".join(fields)
    with pytest.raises(WeatherError, match=rf"night\.dat: line {first + 2}, column ghi: 300 W/m².*exceeds "
                                           "the extraterrestrial"):
        read_weather(_write(tmp_path, "night.dat", night))


def test_epw_truncated_and_short_line(tmp_path, mez_truth):
    path = wf.write_epw(tmp_path / "a.epw", mez_truth, latitude=KL["latitude"], longitude=KL["longitude"],
                        elevation=250, utc_offset_h=1)
    lines = path.read_text().splitlines()
    with pytest.raises(WeatherError, match=r"short\.epw: line 20: EPW data line has 10 fields"):
        read_weather(_write(tmp_path, "short.epw", lines[:19] + [",".join(lines[19].split(",")[:10])]
                            + lines[20:]))
    with pytest.raises(WeatherError,
                       match=(r"cut\.epw: EPW file has 492 hourly records "
                              r"\(last data line 500\), expected 8760")):
        read_weather(_write(tmp_path, "cut.epw", lines[:8] + lines[8:500]))


def test_csv_errors_name_line_and_column(tmp_path, june_days):
    path = wf.write_csv(tmp_path / "ok.csv", june_days, utc_offset="+00:00")
    lines = path.read_text().splitlines()
    with pytest.raises(WeatherError, match=r"gap\.csv: line 12, column time: gap of 0 days 02:00:00"):
        read_weather(_write(tmp_path, "gap.csv", lines[:11] + lines[12:]))
    odd = list(lines)
    odd[5] = odd[5].replace("T04:00:00", "T04:20:00")
    with pytest.raises(WeatherError, match=r"odd\.csv: line 6, column time: irregular step"):
        read_weather(_write(tmp_path, "odd.csv", odd))
    with pytest.raises(WeatherError, match=r"nocol\.csv: column 'ghi' missing"):
        read_weather(_write(tmp_path, "nocol.csv", [lines[0].replace("ghi", "global")] + lines[1:]))
    naive = [lines[0]] + [x.replace("+00:00", "", 1) for x in lines[1:]]
    with pytest.raises(WeatherError, match=r"naive\.csv: line 2, column time: .*no UTC offset"):
        read_weather(_write(tmp_path, "naive.csv", naive))
    short = lines[:30] + [lines[30].rsplit(",", 3)[0]]
    with pytest.raises(WeatherError, match=r"short\.csv: line 31: 3 fields"):
        read_weather(_write(tmp_path, "short.csv", short))
    text = list(lines)
    text[9] = ",".join(text[9].split(",")[:1] + ["abc"] + text[9].split(",")[2:])
    with pytest.raises(WeatherError, match=r"text\.csv: line 10, column ghi: 'abc' is not a number"):
        read_weather(_write(tmp_path, "text.csv", text))
    diffuse = list(lines)
    parts = diffuse[13].split(",")  # 11:00 UTC: ghi ~ 800
    parts[3] = "2000"
    diffuse[13] = ",".join(parts)
    with pytest.raises(WeatherError, match=r"dhi\.csv: line 14, column dhi: 2000 W/m² exceeds ghi"):
        read_weather(_write(tmp_path, "dhi.csv", diffuse))
    with pytest.raises(WeatherError, match=r"ok\.csv.*time_label"):
        read_weather(path, time_label="middle")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(WeatherError, match=r"junk\.txt: unknown weather format"):
        read_weather(_write(tmp_path, "junk.txt", ["hello,world", "1,2"]))
    with pytest.raises(WeatherError, match=r"nothere\.epw: weather file not found"):
        read_weather(tmp_path / "nothere.epw")


# ------------------------------------------------------------------------------------------- resolve

def test_resolve_path_maps_year_and_distance(tmp_path, caplog):
    site = wf.MANNHEIM
    truth = wf.clear_sky_truth(wf.tst_year_starts(1990, site["longitude"]), site["latitude"],
                               site["longitude"], site["altitude"])
    path = wf.write_try2010(tmp_path / "TRY2010_12_Jahr.dat", truth)
    with caplog.at_level(logging.WARNING, logger="solarkataster.io.weather"):
        weather = resolve_weather(path, latitude=KL["latitude"], longitude=KL["longitude"],
                                  altitude=KL["altitude"], year=2025)
    assert weather.data.index.year.min() == 2025 and weather.data.index.year.max() == 2025
    _, _, metres = Geod(ellps="WGS84").inv(weather.source["longitude"], weather.source["latitude"],
                                           KL["longitude"], KL["latitude"])
    assert weather.source["distance_km"] == pytest.approx(metres / 1000, rel=0.005)
    assert 55 < weather.source["distance_km"] < 65
    assert any("km from the site" in r.message for r in caplog.records)
    near = resolve_weather(path, latitude=site["latitude"], longitude=site["longitude"],
                           altitude=96, year=2025)
    assert near.source["distance_km"] < 1.0


def test_resolve_unknown_spec(tmp_path):
    with pytest.raises(WeatherError, match=r"'sunny' is neither an existing file nor"):
        resolve_weather("sunny", latitude=49.4, longitude=7.8, altitude=250)


def test_resolve_clear_sky_uses_sky_module(monkeypatch):
    calls = []

    def fake_clear_sky_weather(latitude, longitude, altitude, year, freq="10min", linke=None):
        calls.append((latitude, longitude, altitude, year, freq, linke))
        index = pd.date_range(f"{year}-01-01", periods=3, freq=freq, tz="UTC")
        return WeatherYear(pd.DataFrame({"ghi": 0.0, "dni": 0.0, "dhi": 0.0}, index=index),
                           pd.Timedelta(freq), {"name": "clear-sky"})

    monkeypatch.setitem(sys.modules, "solarkataster.sky",
                        types.SimpleNamespace(clear_sky_weather=fake_clear_sky_weather))
    weather = resolve_weather("clear-sky", latitude=49.4, longitude=7.8, altitude=250, year=2026,
                              linke=3.5, freq="15min")
    assert calls == [(49.4, 7.8, 250, 2026, "15min", 3.5)]
    assert weather.source["name"] == "clear-sky"


def test_pvgis_offline_asks_for_a_weather_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SOLARKATASTER_CACHE_DIR", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 're.jrc.ec.europa.eu'")

    monkeypatch.setattr(pvlib.iotools, "get_pvgis_tmy", offline)
    with pytest.raises(WeatherError, match=r"PVGIS.*pass a weather file"):
        resolve_weather("pvgis", latitude=49.44, longitude=7.77, altitude=250)


def test_pvgis_download_is_cached(tmp_path, monkeypatch, utc_truth):
    monkeypatch.setenv("SOLARKATASTER_CACHE_DIR", str(tmp_path / "cache"))
    served = wf.write_pvgis_json(tmp_path / "served.json", utc_truth, latitude=49.44, longitude=7.77,
                                 elevation=250.0)
    calls = []

    def fake_get_pvgis_tmy(latitude, longitude, outputformat="json", map_variables=True,
                           coerce_year=1990, **kwargs):
        calls.append((latitude, longitude))
        return pvlib.iotools.read_pvgis_tmy(served, map_variables=map_variables)

    monkeypatch.setattr(pvlib.iotools, "get_pvgis_tmy", fake_get_pvgis_tmy)
    first = resolve_weather("pvgis", latitude=49.4412, longitude=7.7701, altitude=250, year=2025)
    second = resolve_weather("pvgis", latitude=49.4399, longitude=7.7698, altitude=250, year=2025)
    assert calls == [(49.44, 7.77)]
    cached = list((tmp_path / "cache" / "pvgis").glob("*.json"))
    assert [p.name for p in cached] == ["tmy_49.44_7.77.json"]
    assert len(first.data) == 8760
    np.testing.assert_array_equal(first.data["ghi"].to_numpy(), second.data["ghi"].to_numpy())
    assert first.data.loc["2025-06-01T11:00Z", "ghi"] == utc_truth.loc["1990-06-01T11:00Z", "ghi"]
    assert first.source["distance_km"] < 0.5


# ------------------------------------------------------------------------------------------- decomposition

def test_dni_from_horizontal_matches_pvlib_dni_rule():
    """Reference: pvlib.irradiance.dni (same formula, zero beyond its zenith threshold), no cap."""
    from solarkataster.decomposition import dni_from_horizontal

    zenith = np.array([0.0, 30.0, 60.0, 80.0, 86.9, 87.5, 89.0, 95.0])
    ghi = np.array([1000.0, 800.0, 500.0, 150.0, 40.0, 30.0, 10.0, 0.0])
    dhi = np.array([100.0, 100.0, 100.0, 60.0, 20.0, 20.0, 10.0, 0.0])
    ours = dni_from_horizontal(ghi, dhi, zenith, max_zenith=87.0)
    ref = np.nan_to_num(pvlib.irradiance.dni(pd.Series(ghi), pd.Series(dhi), pd.Series(zenith),
                                             zenith_threshold_for_zero_dni=87.0).to_numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-9)
    # analytic: 400 W/m² of horizontal beam at 60° is 800 W/m² normal; the cap applies
    assert dni_from_horizontal(500.0, 100.0, 60.0) == pytest.approx(800.0)
    assert dni_from_horizontal(500.0, 100.0, 60.0, dni_extra=700.0) == pytest.approx(700.0)
    assert dni_from_horizontal(100.0, 150.0, 30.0) == 0.0  # dhi > ghi: no negative beam


@pytest.mark.parametrize("model", ["erbs", "erbs_driesse"])
def test_complete_irradiance_decomposition_against_pvlib(model):
    """Reference: pvlib's erbs (own dni_extra from the day of year, solar constant 1366.1) and erbs_driesse."""
    from solarkataster.decomposition import complete_irradiance, dni_extra_spencer

    doy = 172
    zenith = np.array([20.0, 40.0, 60.0, 75.0, 85.0, 88.0])
    ghi = np.array([900.0, 300.0, 450.0, 60.0, 30.0, 5.0])
    extra = np.full(ghi.shape, float(dni_extra_spencer(doy)))
    parts = complete_irradiance(ghi, np.full(ghi.shape, np.nan), np.full(ghi.shape, np.nan), zenith, extra,
                                model=model)
    if model == "erbs":
        # pvlib's erbs takes dni_extra from the day of year with solar constant 1366.1: scale ghi so that
        # both see the same clearness index, then compare diffuse fractions
        scale = float(pvlib.irradiance.get_extra_radiation(doy)) / extra[0]
        ref = np.asarray(pvlib.irradiance.erbs(ghi * scale, zenith, doy)["dhi"]) / scale
    else:
        ref = np.asarray(pvlib.irradiance.erbs_driesse(ghi, zenith, dni_extra=extra)["dhi"])
    up = zenith <= 87.0
    np.testing.assert_allclose(parts.dhi[up], ref[up], rtol=1e-9)
    assert parts.dhi[~up] == pytest.approx(ghi[~up])  # beyond the zenith limit all diffuse
    np.testing.assert_allclose(parts.dni[up] * np.cos(np.radians(zenith[up])), ghi[up] - parts.dhi[up],
                               rtol=1e-9)  # the horizontal beam is kept
    # given values are kept
    kept = complete_irradiance(ghi, ghi / 2, np.full(ghi.shape, 123.0), zenith, extra)
    np.testing.assert_array_equal(kept.dhi, ghi / 2)
    np.testing.assert_array_equal(kept.dni, 123.0)


# ------------------------------------------------------------------------------------------- validation

def _csv_with(tmp_path, truth, name, column, rows, value):
    frame = truth.copy()
    frame.iloc[list(rows), frame.columns.get_loc(column)] = value
    return wf.write_csv(tmp_path / name, frame, utc_offset="+00:00")


@pytest.mark.parametrize("sentinel", [-999, -9999, 9999])
def test_sentinel_short_gap_is_interpolated_with_a_warning(tmp_path, june_days, caplog, sentinel):
    rows = range(35, 37)  # 2 h of temperature missing (rows 35, 36 -> file lines 37, 38)
    path = _csv_with(tmp_path, june_days, "short.csv", "temp_air", rows, sentinel)
    with caplog.at_level(logging.WARNING, logger="solarkataster.io.weather"):
        weather = read_weather(path)
    before, after = june_days["temp_air"].iloc[34], june_days["temp_air"].iloc[37]
    np.testing.assert_allclose(weather.data["temp_air"].iloc[35:37], before + (after - before) * np.array([1, 2]) / 3)
    assert any("short.csv" in r.message and "temp_air" in r.message and "line 37" in r.message
               for r in caplog.records)


def test_sentinel_long_gap_is_refused_with_column_and_line(tmp_path, june_days):
    path = _csv_with(tmp_path, june_days, "long.csv", "wind_speed", range(40, 45), -999)
    with pytest.raises(WeatherError, match=r"long\.csv: line 42, column wind_speed: missing values .* over 5 h"):
        read_weather(path)
    ghi = _csv_with(tmp_path, june_days, "ghi.csv", "ghi", range(10, 14), -999.0)
    with pytest.raises(WeatherError, match=r"ghi\.csv: line 12, column ghi: missing"):
        read_weather(ghi)


def test_try_file_with_sentinel_in_radiation(tmp_path, try_lines):
    lines, first = try_lines
    short = list(lines)
    fields = short[first + 12].split()
    fields[12] = "-999"  # B of Jan 1, 13 MEZ
    short[first + 12] = " ".join(fields)
    weather = read_weather(_write(tmp_path, "short.dat", short))
    assert np.isfinite(weather.data["ghi"]).all()
    long = list(lines)
    for k in range(12, 17):
        fields = long[first + k].split()
        fields[13] = "-999"  # D
        long[first + k] = " ".join(fields)
    with pytest.raises(WeatherError, match=rf"long\.dat: line {first + 13}, column ghi: missing"):
        read_weather(_write(tmp_path, "long.dat", long))


@pytest.mark.parametrize("column, value, match", [
    ("temp_air", 75.0, r"column temp_air: 75 °C is out of range .*wrong units"),
    ("temp_air", -70.0, r"column temp_air: -70 °C is out of range"),
    ("wind_speed", 80.0, r"column wind_speed: 80 m/s is out of range .*km/h"),
    ("wind_speed", -1.0, r"column wind_speed: -1 m/s is out of range"),
    ("dni", 1600.0, r"column dni: 1600 W/m² is out of range"),
])
def test_out_of_range_values_are_refused(tmp_path, june_days, column, value, match):
    path = _csv_with(tmp_path, june_days, "range.csv", column, [30], value)
    with pytest.raises(WeatherError, match=r"range\.csv: line 32, " + match):
        read_weather(path)


def test_missing_temperature_and_wind_use_documented_defaults(tmp_path, june_days, caplog):
    from solarkataster.weather import DEFAULT_TEMP_AIR, DEFAULT_WIND_SPEED

    path = wf.write_csv(tmp_path / "irr.csv", june_days, columns=["ghi", "dni", "dhi"], utc_offset="+00:00")
    with caplog.at_level(logging.WARNING, logger="solarkataster.io.weather"):
        weather = read_weather(path)
    assert (weather.data["temp_air"] == DEFAULT_TEMP_AIR).all()
    assert (weather.data["wind_speed"] == DEFAULT_WIND_SPEED).all()
    assert sum("assuming" in r.message for r in caplog.records) == 2


# ------------------------------------------------------------------------------------------- UMEP / SUEWS

GBG = dict(latitude=57.7, longitude=11.97, altitude=10.0)


def test_umep_tmy_annual_ghi_matches_the_files_kdown_sum(shared):
    path = shared("goteborg-umep", "GBG_TMY_1977.txt")
    table = pd.read_csv(path, sep=r"\s+")
    weather = read_weather(path, latitude=GBG["latitude"], longitude=GBG["longitude"], utc_offset=1)
    assert weather.source["name"] == "umep" and weather.source["year"] == 1977
    assert len(weather.data) == 8760 and weather.interval == pd.Timedelta(hours=1)
    assert weather.annual_ghi() == pytest.approx(table["kdown"].sum() / 1000, rel=0.01)
    np.testing.assert_allclose(weather.data["dhi"], table["kdiff"])
    np.testing.assert_allclose(weather.data["temp_air"], table["Tair"])
    # 1977 day 1, it=0 is hour-ending local standard time UTC+1: the interval 22:00-23:00 UTC of Dec 31, 1976
    assert weather.data.index[0] == pd.Timestamp("1976-12-31T22:00Z")
    noon = weather.data["ghi"].groupby(weather.data.index.hour).mean()
    assert noon.idxmax() in (10, 11)  # solar noon at 11.97° E is ~11:12 UTC: the 10-11 or 11-12 UTC hour


def test_umep_day_files_time_label_and_offset(shared):
    path = shared("goteborg-umep", "gbg19970606_2015a.txt")
    table = pd.read_csv(path, sep=r"\s+")
    end = read_weather(path, latitude=GBG["latitude"], longitude=GBG["longitude"])  # UTC+1 from longitude
    assert len(end.data) == 24 and end.source["year"] == 1997
    assert end.data.index[0] == pd.Timestamp("1997-06-05T22:00Z")  # day 157 hour 0 ends 00:00 UTC+1
    np.testing.assert_allclose(end.data["ghi"], table["Kdn"])
    np.testing.assert_allclose(end.data["wind_speed"], table["Wind"])
    cest = read_weather(path, latitude=GBG["latitude"], longitude=GBG["longitude"], utc_offset=2)
    assert cest.data.index[0] == pd.Timestamp("1997-06-05T21:00Z")
    # read as hour-starting, the file has 30 W/m² after sunset (20:00 UTC): the wrong convention is caught
    with pytest.raises(WeatherError, match=r"gbg19970606_2015a\.txt: line 23, column ghi: 30 W/m² .*exceeds"):
        read_weather(path, latitude=GBG["latitude"], longitude=GBG["longitude"], time_label="start", utc_offset=1)
    winter = read_weather(shared("goteborg-umep", "gbg20001219_2015a.txt"), latitude=GBG["latitude"],
                          longitude=GBG["longitude"], utc_offset=1)
    assert winter.annual_ghi() < end.annual_ghi() / 5


def test_umep_errors_name_line_and_column(tmp_path):
    header = "iy id it imin qn qh qe qs qf U RH Tair pres rain kdown snow ldown fcld wuh xsmd lai kdiff kdir wdir"
    rows = [f"2010 188 {h} 0 -999 -999 -999 -999 -999 2.0 80 15.0 -999 -999 {max(0, 500 - 40 * abs(h - 12))} "
            "-999 -999 -999 -999 -999 -999 100 0 -999" for h in range(24)]
    bad = list(rows)
    bad[5] = bad[5].replace(" 15.0 ", " x ")
    (tmp_path / "bad.txt").write_text("\n".join([header, *bad]) + "\n")
    with pytest.raises(WeatherError, match=r"bad\.txt: line 7, column tair: 'x' is not a number"):
        read_weather(tmp_path / "bad.txt", utc_offset=1)
    (tmp_path / "short.txt").write_text("\n".join([header, *rows[:3], rows[3][:20]]) + "\n")
    with pytest.raises(WeatherError, match=r"short\.txt: line 5: 6 fields, the header has 24"):
        read_weather(tmp_path / "short.txt", utc_offset=1)
    with pytest.raises(WeatherError, match=r"no time zone; give its UTC offset"):
        read_weather(tmp_path / "short.txt")


# ------------------------------------------------------------------------------------------- default weather

def test_auto_in_germany_is_the_regions_try(caplog):
    with caplog.at_level(logging.WARNING, logger="solarkataster.io.weather"):
        weather = resolve_weather("auto", latitude=KL["latitude"], longitude=KL["longitude"],
                                  altitude=KL["altitude"])
    src = weather.source
    assert (src["basis"], src["region"], src["station"], src["name"]) == ("dwd-try", 6, "Bad Marienberg",
                                                                          "dwd-try2010")
    assert src["label"] == "DWD TRY 2010, region 6 (Bad Marienberg, station 137 km away), mean year 1988–2007"
    assert src["upper_bound"] is False and weather.data.index.year.min() == 2025
    assert not any("km from the site" in r.message for r in caplog.records)  # the region's station by design
    assert 900 < weather.annual_ghi() < 1100
    explicit = resolve_weather("dwd-try", latitude=KL["latitude"], longitude=KL["longitude"], altitude=250)
    assert explicit.source["sha256"] == src["sha256"]
    named = resolve_weather("dwd-try:12", latitude=KL["latitude"], longitude=KL["longitude"], altitude=250)
    assert named.source["region"] == 12 and named.source["station"] == "Mannheim"
    assert 55 < named.source["distance_km"] < 65


def test_dwd_try_regions_of_known_cities():
    from solarkataster.io.weather import dwd_try_region

    # DWD TRY 2010 regions (demandlib's polygons): Mannheim 12 (Oberrheingraben), Rostock 2, Munich 13?
    assert dwd_try_region(49.49, 8.47)["region"] == 12
    assert dwd_try_region(54.18, 12.08)["region"] == 2
    assert dwd_try_region(48.86, 2.35) is None  # Paris


def test_dwd_try_errors():
    with pytest.raises(WeatherError, match=r"outside the German DWD TRY regions"):
        resolve_weather("dwd-try", latitude=48.86, longitude=2.35, altitude=35)
    with pytest.raises(WeatherError, match=r"no such DWD TRY region \(1-15\)"):
        resolve_weather("dwd-try:16", latitude=49.4, longitude=7.8, altitude=250)
    with pytest.raises(WeatherError, match=r"dwd-try:NN"):
        resolve_weather("dwd-try:x", latitude=49.4, longitude=7.8, altitude=250)


def test_auto_outside_germany_cached_pvgis_else_clear_sky(tmp_path, monkeypatch, caplog, utc_truth):
    monkeypatch.setenv("SOLARKATASTER_CACHE_DIR", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("auto must not download")

    monkeypatch.setattr(pvlib.iotools, "get_pvgis_tmy", no_network)
    paris = dict(latitude=48.86, longitude=2.35, altitude=35.0)
    with caplog.at_level(logging.WARNING, logger="solarkataster.io.weather"):
        weather = resolve_weather("auto", **paris, year=2025, freq="1h")
    assert weather.source["basis"] == "clear-sky" and weather.source["upper_bound"] is True
    assert weather.source["label"] == "clear sky (upper bound)"
    assert any("UPPER BOUND" in r.message for r in caplog.records)
    (tmp_path / "cache" / "pvgis").mkdir(parents=True)
    wf.write_pvgis_json(tmp_path / "cache" / "pvgis" / "tmy_48.86_2.35.json", utc_truth, latitude=48.86,
                        longitude=2.35, elevation=35.0)
    cached = resolve_weather("auto", **paris, year=2025)
    assert cached.source["basis"] == "pvgis" and cached.source["label"].startswith("PVGIS TMY")


def test_weather_spec_carries_reading_options(shared):
    from solarkataster.io.weather import WeatherSpec

    path = shared("goteborg-umep", "gbg19970606_2015a.txt")
    spec = WeatherSpec(path, time_label="center", utc_offset=2)
    assert spec == str(path)
    weather = resolve_weather(spec, **GBG)
    assert weather.data.index[0] == pd.Timestamp("1997-06-05T21:30Z")  # hour 0 centred on 00:00 UTC+2
    assert weather.source["year"] == 1997 and weather.data.index.year.max() == 1997  # own year kept
    import pickle
    assert pickle.loads(pickle.dumps(spec)).utc_offset == 2


def test_gap_across_sunrise_puts_no_light_before_it(tmp_path, june_days):
    path = _csv_with(tmp_path, june_days, "dawn.csv", "ghi", [2, 3], -999)  # 02:00-04:00 UTC, sunrise ~03:20
    weather = read_weather(path, latitude=KL["latitude"], longitude=KL["longitude"])
    assert weather.data["ghi"].iloc[2] == 0.0  # 02:00-03:00 UTC: the sun is down all hour
    assert 0 < weather.data["ghi"].iloc[3] <= june_days["ghi"].iloc[4]
    assert (weather.data["dhi"] <= weather.data["ghi"]).all()
