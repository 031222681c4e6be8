"""Hourly profiles and household economics (issue 14).

References the tests compare with:

* the run's own ``yield_kwh`` (profiles sum to it);
* demandlib's BDEW H25 evaluated here on local wall-clock time with the 2025 German holidays written out
  by hand, and a battery loop written here from the issue's statement of the model;
* published ranges for a single-family house (4,000 kWh, 10 kWp): about 25–35 % self-consumption without
  a battery, about 50–70 % autarky with 5–10 kWh — HTW Berlin "Unabhängigkeitsrechner" and Weniger,
  Tjaden & Quaschning, Energy Procedia 46 (2014) 78–87, DOI 10.1016/j.egypro.2014.01.160.
"""
from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO

from solarkataster import economics as E
from solarkataster import pv
from solarkataster.cadastre import CadastreOptions, compute_cadastre
from solarkataster.cli import cli
from solarkataster.io.profiles import ProfileStore
from solarkataster.io.results import write_cadastre_results
from solarkataster.io.weather import resolve_weather
from solarkataster.pipeline import EngineOptions

SAMPLE = REPO / "sample_data"
HOLIDAYS_2025 = ("2025-01-01", "2025-04-18", "2025-04-21", "2025-05-01", "2025-05-29", "2025-06-09",
                 "2025-10-03", "2025-12-25", "2025-12-26")


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """The sample town in its default weather (the region's DWD TRY), written once."""
    out = tmp_path_factory.mktemp("econ_town")
    opts = CadastreOptions(engine=EngineOptions(sectors=24, step_minutes=20), walls=True)
    result = compute_cadastre(SAMPLE / "town_dsm.tif", footprints=SAMPLE / "town_footprints.geojson",
                              dtm=SAMPLE / "town_dtm.tif", options=opts)
    write_cadastre_results(result, out)
    return result, out


@pytest.fixture(scope="module")
def client(town):
    from fastapi.testclient import TestClient

    from solarkataster.service import create_app

    return TestClient(create_app(town[1]))


# ------------------------------------------------------------------------- independent references

def independent_h25(times, annual_kwh):
    """H25 from demandlib on local quarter hours, each UTC record the mean of its four quarters, scaled."""
    from demandlib.bdew import H25

    local_index = pd.date_range("2024-12-30", "2026-01-02 23:45", freq="15min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slp = H25(local_index, holidays={pd.Timestamp(d): "holiday" for d in HOLIDAYS_2025})
    values = np.empty(len(times))
    for k, t in enumerate(times):
        quarters = [(t + pd.Timedelta(minutes=m)).tz_convert("Europe/Berlin").tz_localize(None).floor("15min")
                    for m in (0, 15, 30, 45)]
        values[k] = slp.loc[quarters].mean()
    return values * annual_kwh / values.sum()


def independent_shares(pv_kwh, load_kwh, capacity, steps_per_hour=1):
    """Self-consumption and autarky with the issue's battery model, written step by step."""
    soc, exported, imported = 0.0, 0.0, 0.0
    limit = capacity / 2 / steps_per_hour  # capacity/2 per hour
    for p, q in zip(pv_kwh, load_kwh):
        net = p - q
        if net >= 0:  # surplus: charge (at most capacity/2 taken per hour, 95 % arrives), export the rest
            take = min(net, limit, (capacity - soc) / 0.95) if capacity > 0 else 0.0
            soc += 0.95 * take
            exported += net - take
        else:  # deficit: discharge (at most capacity/2 delivered per hour, 95 % of what leaves the store)
            give = min(-net, limit, 0.95 * soc) if capacity > 0 else 0.0
            soc -= give / 0.95
            imported += -net - give
    return 1 - exported / sum(pv_kwh), 1 - imported / sum(load_kwh)


# ------------------------------------------------------------------------------------ unit tests

def test_battery_model_matches_independent_loop(rng):
    pv_kwh = np.clip(rng.normal(1.0, 1.5, 8760), 0, None) * (np.arange(8760) % 24 > 6)
    load = rng.uniform(0.1, 1.2, 8760)
    for capacity in (0.0, 2.0, 5.0, 13.5):
        b = E.simulate(pv_kwh, load, capacity)
        sc, aut = independent_shares(pv_kwh, load, capacity)
        assert b.self_consumption_share == pytest.approx(sc, abs=1e-9)
        assert b.autarky_share == pytest.approx(aut, abs=1e-9)
        # energy is conserved: what went in minus losses came out or stayed in the store
        assert b.discharged <= 0.95 * 0.95 * b.charged + 1e-9


def test_battery_never_exceeds_power_limit_or_capacity():
    pv_kwh = np.r_[np.full(10, 10.0), np.zeros(10)]
    load = np.r_[np.zeros(10), np.full(10, 10.0)]
    b = E.simulate(pv_kwh, load, 4.0)
    assert b.charged == pytest.approx(4.0 / 0.95)  # fills exactly (2 kWh/h limit, two hours)
    assert b.discharged == pytest.approx(4.0 * 0.95)  # empties fully, 2 kWh/h


def test_load_profile_scaled_aligned_and_like_demandlib():
    times = pd.date_range("2025-01-01", periods=8760, freq="1h", tz="UTC")
    load = E.load_profile(times, 4000.0)
    assert load.shape == (8760,) and load.sum() == pytest.approx(4000.0)
    ref = independent_h25(times[::97], 1.0)  # a sample of hours, scaled alike below
    ours = load[::97] / load[::97].sum()
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    # local time: the evening peak is at 18-20 h local in winter, i.e. 17-19 UTC (CET = UTC+1)
    jan = load[:24 * 31].reshape(31, 24).mean(axis=0)
    assert 17 <= int(np.argmax(jan)) <= 19


def test_yield_table_hours_are_whole_utc_hours_and_keep_the_annual_sum():
    """The default TRY 2010 starts its records 9-41 min past the UTC hour (true solar time); the hourly
    yield (profiles, economics) is on whole UTC hours, and re-binning keeps the annual yield."""
    wy = resolve_weather("auto", latitude=49.44, longitude=7.77, altitude=250.0, year=2025)
    assert (wy.data.index.minute != 0).any()
    table = pv.specific_yield_table(pv.hourly_weather(wy), 49.44, 7.77, 250.0, tilts=(30.0,), azimuths=(180.0,))
    assert len(table.times) == 8760 and (table.times.minute == 0).all() and (table.times.second == 0).all()
    assert table.times[0] == pd.Timestamp("2025-01-01", tz="UTC")
    np.testing.assert_allclose(table.hourly.sum(axis=-1), table.annual, rtol=1e-5)
    noon = table.hourly[0, 0, 0].reshape(365, 24).mean(axis=0)
    assert int(np.argmax(noon)) in (10, 11)  # 7.77° E: solar noon about 11:29 UTC


def test_german_holidays_2025():
    assert [d.isoformat() for d in E.german_holidays(2025)] == list(HOLIDAYS_2025)


def test_tariffs_costs_and_rules():
    # EEG 2023, commissioned 2026-08-01 to 2027-01-31: (8.60 / 7.50 ct x 0.99^6, rounded) - 0.4 ct
    assert E.feed_in_tariff(8) == pytest.approx(round(8.60 * 0.99 ** 6, 2) / 100 - 0.004)
    assert E.feed_in_tariff(20) == pytest.approx((10 * 0.0770 + 10 * (round(7.50 * 0.99 ** 6, 2) - 0.4) / 100) / 20)
    assert E.cost_per_kwp(10) == 1500 and E.cost_per_kwp(10.5) == 1300
    assert E.load_profile_kind("31001_2020") == "G25" and E.load_profile_kind("31001_1000") == "H25"
    assert E.load_profile_kind("Bürogebäude") == "G25" and E.load_profile_kind(None) == "H25"
    # 100 m² footprint, 7 m high: two storeys, 160 m² living area, 3.4 persons
    assert E.default_consumption(100.0, 7.0) == pytest.approx(1000 * 160 / 47)


def test_money_follows_the_formulas():
    pv_kwh, load = np.full(8760, 1.0), np.full(8760, 0.5)
    e = E.evaluate(pv_kwh, load, 5.0, price_eur_kwh=0.4, feed_in_eur_kwh=0.08, cost_eur_per_kwp=1000,
                   discount_rate=0.0, degradation=0.0, years=20)
    savings = 0.4 * 4380 + 0.08 * 4380
    assert e.annual_savings_eur == pytest.approx(savings)
    assert e.investment_eur == 5000 and e.payback_years == pytest.approx(5000 / savings)
    assert e.npv_eur == pytest.approx(20 * savings - 5000)


def vdi4655_minutes(times, annual_kwh):
    """Single-family house electricity of VDI 4655 (demandlib, TRY region 6 climate) per UTC minute [kWh]."""
    from demandlib.vdi import Climate, Region

    house = {"name": "efh", "house_type": "EFH", "N_Pers": 3, "N_WE": 1, "Q_Heiz_a": 6000.0, "Q_TWW_a": 1500.0,
             "W_a": annual_kwh, "summer_temperature_limit": 15, "winter_temperature_limit": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        region = Region(2025, climate=Climate().from_try_data(6), houses=[house],
                        holidays={pd.Timestamp(d): "holiday" for d in HOLIDAYS_2025})
        minute = region.get_load_curve_houses().xs("W_TT", axis=1, level=-1).iloc[:, 0].to_numpy(float)
    local = pd.date_range(times[0], periods=60 * len(times), freq="min").tz_convert("Europe/Berlin").tz_localize(None)
    at = np.clip(((local - pd.Timestamp("2025-01-01")) // pd.Timedelta("1min")).to_numpy(), 0, minute.size - 1)
    return minute[at] * annual_kwh / minute[at].sum()


def _typical_house(with_times=False):
    """10 kWp, south 35°, unshaded, in the default weather of the sample town; H25 at 4,000 kWh."""
    wy = resolve_weather("auto", latitude=49.44, longitude=7.77, altitude=250.0, year=2025)
    table = pv.specific_yield_table(pv.hourly_weather(wy), 49.44, 7.77, 250.0, tilts=(30.0, 40.0),
                                    azimuths=(160.0, 180.0, 200.0))
    pv_kwh = 10.0 * table.hourly_specific_yield(35.0, 180.0, 0.0)
    load = E.load_profile(table.times, 4000.0)
    return (pv_kwh, load, table.times) if with_times else (pv_kwh, load)


@pytest.mark.xfail(strict=True, reason="goal 25-35 % self-consumption without battery; measured 20 % (autarky "
                   "43 %; VDI 4655 1-min single house: 17 %). Inconsistent for 10 kWp / 4,000 kWh: 25-35 % of 8,600 "
                   "kWh PV needs 54-75 % autarky without storage, yet only 49 % of the H25 load falls in hours with "
                   "PV; the quoted range fits ~1 kWp/MWh (4 kWp: 42 %). See economics module notes")
def test_typical_house_self_consumption_without_battery():
    pv_kwh, load = _typical_house()
    assert 0.25 <= E.simulate(pv_kwh, load).self_consumption_share <= 0.35


@pytest.mark.xfail(strict=True, reason="goal 50-70 % autarky with 5-10 kWh; measured 76 / 81 / 82 % at 5 / 7.5 / "
                   "10 kWh (VDI 4655 1-min single house: 75 / 82 / 84 %, so not the H25's smoothness). The range fits "
                   "~1 kWp/MWh (4 kWp + 4 kWh: 58 %; Weniger et al. 2014, DOI 10.1016/j.egypro.2014.01.160: ~54 % "
                   "at 1 kWp/MWh + 1 kWh/MWh); 10 kWp is 2.5 kWp/MWh. See economics module notes")
def test_typical_house_autarky_with_battery():
    pv_kwh, load = _typical_house()
    for capacity in (5.0, 7.5, 10.0):
        assert 0.50 <= E.simulate(pv_kwh, load, capacity).autarky_share <= 0.70


def test_smooth_h25_is_not_what_lifts_autarky_with_a_battery():
    """A single house's VDI 4655 load in 1-minute steps gives about the same autarky with 5-10 kWh."""
    pv_kwh, load, times = _typical_house(with_times=True)
    minute_load = vdi4655_minutes(times, 4000.0)
    minute_pv = np.repeat(pv_kwh / 60, 60)  # constant power within the hour
    for capacity in (5.0, 10.0):
        _, aut_vdi = independent_shares(minute_pv, minute_load, capacity, steps_per_hour=60)
        assert E.simulate(pv_kwh, load, capacity).autarky_share == pytest.approx(aut_vdi, abs=0.03)
        assert aut_vdi > 0.70  # above the quoted 50-70 % for this size as well


def test_published_autarky_range_holds_near_one_kwp_per_mwh():
    """The quoted German autarky range at the size it describes: 4 kWp (1 kWp/MWh) for 4,000 kWh."""
    pv_kwh, load = _typical_house()
    for capacity in (4.0, 5.0):
        assert 0.50 <= E.simulate(0.4 * pv_kwh, load, capacity).autarky_share <= 0.70


@pytest.mark.xfail(strict=True, reason="goal 25-35 % self-consumption without battery at 1 kWp/MWh (4 kWp, 4,000 "
                   "kWh); measured 42 %: the smooth aggregate H25 in hourly steps overstates direct use (VDI 4655 "
                   "single house: 38 % hourly, 35 % in 1-minute steps)")
def test_published_self_consumption_range_near_one_kwp_per_mwh():
    pv_kwh, load = _typical_house()
    assert 0.25 <= E.simulate(0.4 * pv_kwh, load).self_consumption_share <= 0.35


# ------------------------------------------------------------------------------ a run's profiles

def test_profiles_sum_to_yield(town):
    _, out = town
    buildings = gpd.read_file(out / "buildings.geojson")
    roofs = gpd.read_file(out / "roofs.geojson")
    store = ProfileStore(out)
    assert store.data.dtype == np.float32 and store.data.shape[1] == 8760
    with_pv = buildings[buildings["kwp"] > 0]
    assert len(with_pv) >= 10
    for row in with_pv.itertuples():
        assert store.profile(row.building_id).sum() == pytest.approx(row.yield_kwh, rel=0.005)
        if row.wall_kwp > 0:
            assert store.profile(row.building_id, walls=True).sum() == pytest.approx(row.wall_yield_kwh, rel=0.005)
    for row in roofs[roofs["kwp"] > 0].itertuples():
        assert store.profile(row.building_id, face_id=row.face_id).sum() == pytest.approx(row.yield_kwh, rel=0.005)
    # no PV by night: the sun is down at 23 UTC all year in Germany
    hours = store.times.hour
    assert store.data[:, hours == 23].max() == 0


def test_buildings_layer_has_household_columns(town):
    _, out = town
    props = [f["properties"] for f in json.loads((out / "buildings.geojson").read_text())["features"]]
    meta = json.loads((out / "buildings.geojson").read_text())
    with_pv = [p for p in props if p["kwp"] > 0]
    for p in with_pv:
        assert p["load_profile"] == "H25" and p["consumption_kwh"] >= 1000
        assert 0 < p["self_consumption_share"] <= p["self_consumption_share_5kwh"] <= 1
        assert 0 < p["autarky_share"] < p["autarky_share_5kwh"] <= 1
        assert p["investment_eur_5kwh"] == pytest.approx(p["investment_eur"] + 5 * 750, abs=1)
    assert "units" in json.dumps(meta)[:100000]


def test_api_economics_matches_independent_calculation(town, client):
    _, out = town
    buildings = gpd.read_file(out / "buildings.geojson")
    for row in buildings[buildings["kwp"] > 0].head(4).itertuples():
        profile = client.get(f"/api/buildings/{row.building_id}/profile").json()
        times = pd.DatetimeIndex(pd.to_datetime(profile["time"], utc=True))
        pv_kwh = np.asarray(profile["yield_kwh"], float)
        load = independent_h25(times, row.consumption_kwh)
        for battery in (0.0, 5.0):
            body = client.get(f"/api/buildings/{row.building_id}/economics",
                              params={"battery_kwh": battery, "consumption_kwh": row.consumption_kwh}).json()
            sc, aut = independent_shares(pv_kwh, load, battery)
            assert body["self_consumption_share"] == pytest.approx(sc, abs=0.01)
            assert body["autarky_share"] == pytest.approx(aut, abs=0.01)


def test_api_profile_csv_and_errors(town, client):
    _, out = town
    bid = gpd.read_file(out / "buildings.geojson")["building_id"].iloc[0]
    csv = client.get(f"/api/buildings/{bid}/profile", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "time,yield_kwh" and len(lines) == 8761 and lines[1].endswith(("Z,0.0", "Z,0"))
    assert client.get("/api/buildings/NOPE/profile").status_code == 404
    for bad in ({"battery_kwh": -1}, {"consumption_kwh": 0}, {"price_eur_kwh": "x"}, {"cost_eur_per_kwp": -5}):
        assert client.get(f"/api/buildings/{bid}/economics", params=bad).status_code == 422
    body = client.get(f"/api/buildings/{bid}/economics", params={"battery_kwh": 5}).json()
    assert set(body["typical_days"]) == {"summer", "winter"}
    assert len(body["typical_days"]["summer"]["pv_kwh"]) == 24


def test_cli_profile(town, tmp_path):
    _, out = town
    roofs = gpd.read_file(out / "roofs.geojson")
    face = roofs[roofs["kwp"] > 0].iloc[0]
    target = tmp_path / "p.csv"
    res = CliRunner().invoke(cli, ["profile", str(out), "--building", face.building_id, "--face", face.face_id,
                                   "--out", str(target)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(target)
    assert list(table.columns) == ["time", "yield_kwh"] and len(table) == 8760
    assert table["yield_kwh"].sum() == pytest.approx(face.yield_kwh, rel=0.005)
    assert table["time"].iloc[0] == "2025-01-01T00:00:00Z"  # UTC, start of the hour (TRY in solar time regridded)
    res = CliRunner().invoke(cli, ["profile", str(out), "--building", "NOPE"])
    assert res.exit_code == 2 and "NOPE" in res.output


def test_function_and_given_consumption_choose_the_load(town):
    from solarkataster.cadastre import with_household_economics
    from solarkataster.sky import clear_sky_weather

    result, _ = town
    tables = pv.build_yield_tables(clear_sky_weather(49.44, 7.77, 250.0, year=2025, freq="1h"), 49.44, 7.77, 250.0)
    derived = E.HOUSEHOLD_FIELDS + ("consumption_kwh", "load_profile")
    buildings = result.buildings.drop(columns=[c for c in result.buildings.columns if c.startswith(derived)])
    with_pv = buildings.index[buildings["kwp"] > 0]
    fp = result.footprints.copy()
    fp["function"] = None
    fp["consumption_kwh"] = np.nan
    fp.loc[fp["building_id"] == buildings.loc[with_pv[0], "building_id"], "function"] = "31001_2020"  # office
    fp.loc[fp["building_id"] == buildings.loc[with_pv[1], "building_id"], "consumption_kwh"] = 2500.0
    out, profiles = with_household_economics(buildings, result.roofs, result.walls, fp, tables, pv.PVOptions())
    assert out.loc[with_pv[0], "load_profile"] == "G25" and out.loc[with_pv[1], "load_profile"] == "H25"
    assert out.loc[with_pv[1], "consumption_kwh"] == 2500
    # the clear-sky profile sums to the clear-sky yield of the same faces
    roofs = result.roofs[result.roofs["kwp"] > 0]
    flat = roofs["tilt"] < 10
    spec = np.where(flat, tables.rack.specific_yield(15.0, 180.0, roofs["shading_loss"]),
                    tables.roof.specific_yield(roofs["tilt"], roofs["azimuth"], roofs["shading_loss"]))
    np.testing.assert_allclose(profiles.faces.sum(axis=1), roofs["kwp"] * spec, rtol=1e-4)


def test_merge_profiles(town, tmp_path):
    from solarkataster.io.profiles import merge_profiles

    _, out = town
    merged = tmp_path / "merged"
    merged.mkdir()
    assert merge_profiles([out, tmp_path / "no_profiles"], merged) == ["profiles.npy", "profiles.json"]
    a, b = ProfileStore(out), ProfileStore(merged)
    for bid in a.index["buildings"]:
        np.testing.assert_array_equal(a.profile(bid), b.profile(bid))
