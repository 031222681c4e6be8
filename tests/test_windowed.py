"""Memory-bounded runs (solarkataster.windowed): windows with halos equal one window."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from solarkataster.errors import ParameterError
from solarkataster.windowed import parse_memory, plan_windows, run_windowed, window_pixels

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
TOWN = SAMPLE / "town_dsm.tif"


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform


@pytest.fixture(scope="module")
def weather():
    """One clear-sky year for both runs (a window otherwise resolves the weather at its own centre)."""
    from solarkataster.io.weather import resolve_weather

    return resolve_weather("clear-sky", latitude=51.0, longitude=7.0, altitude=80.0, year=2025)


def test_parse_memory():
    assert parse_memory("4GB") == 4 * 2**30
    assert parse_memory("1.5G") == int(1.5 * 2**30)
    assert parse_memory("800MB") == 800 * 2**20
    assert parse_memory(2e9) == 2_000_000_000
    for bad in ("lots", "4 parsecs", "10MB"):
        with pytest.raises(ParameterError, match="--max-memory"):
            parse_memory(bad)
    assert window_pixels(parse_memory("2.5GB")) > 4_000_000  # 16 Mpx in a handful of windows


def test_plan_covers_the_raster_once():
    bounds = (0.0, 0.0, 1500.0, 1200.0)  # 3000 x 2400 px at 0.5 m
    wins = plan_windows(bounds, 0.5, 4_000_000, 100.0, context=150.0, align_px=512)
    assert len(wins) > 1
    cover = np.zeros((2400, 3000), int)
    for w in wins:
        left, bottom, right, top = w.core
        cover[int(round((1200 - top) / 0.5)):int(round((1200 - bottom) / 0.5)),
              int(round(left / 0.5)):int(round(right / 0.5))] += 1
        # the window holds the core plus the halo (clipped to the raster) and starts on a 512 px block
        assert w.bounds[0] <= max(left - 150.0, 0.0) and w.bounds[2] >= min(right + 150.0, 1500.0)
        assert (w.bounds[0] / 0.5) % 512 == 0 and ((1200 - w.bounds[3]) / 0.5) % 512 == 0
        assert (w.bounds[2] - w.bounds[0]) * (w.bounds[3] - w.bounds[1]) / 0.25 <= 4_000_000
    assert (cover == 1).all()
    assert len(plan_windows(bounds, 0.5, 7_200_000, 100.0)) == 1


def test_windowed_irradiance_equals_one_window(tmp_path, weather):
    from solarkataster.pipeline import EngineOptions, compute_irradiance

    opts = EngineOptions(sectors=16, step_minutes=30)
    whole = compute_irradiance(TOWN, weather=weather, options=opts).irradiation
    # halo (250 m) larger than the town: every window sees all of it, so the results must agree
    run = run_windowed([TOWN], tmp_path / "w", job="irradiance", weather=weather, options=opts, halo=250.0,
                       core_px=256)
    assert len(run.windows) == 4
    got, _ = read(tmp_path / "w" / "irradiation.tif")
    ref = np.stack([whole.global_, whole.beam, whole.diffuse, whole.reflected])
    assert np.array_equal(np.isfinite(got), np.isfinite(ref))
    # a window computes the sun at its own centre (as a batch tile does): a few 0.1 kWh/m² in deep shade
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=0.5, equal_nan=True)
    monthly, _ = read(tmp_path / "w" / "irradiation_monthly.tif")
    np.testing.assert_allclose(monthly, whole.monthly, rtol=2e-3, atol=0.5, equal_nan=True)
    prov = json.loads((tmp_path / "w" / "run.json").read_text())
    assert len(prov["windowed"]["windows"]) == 4
    assert not (tmp_path / "w" / ".windows").exists()


def test_windowed_cadastre_equals_one_window(tmp_path, weather):
    import geopandas as gpd

    from solarkataster.cadastre import CadastreOptions, compute_cadastre
    from solarkataster.io.results import write_cadastre_results
    from solarkataster.pipeline import EngineOptions

    opts = CadastreOptions(engine=EngineOptions(sectors=16, step_minutes=30))
    common = dict(footprints=SAMPLE / "town_footprints.gpkg", dtm=SAMPLE / "town_dtm.tif", weather=weather,
                  options=opts)
    one = compute_cadastre(TOWN, **common)  # the ordinary run: one window
    write_cadastre_results(one, tmp_path / "one", overview=False, vector_tiles=False)
    run = run_windowed([TOWN], tmp_path / "w", core_px=256, **common)
    assert len(run.windows) == 4
    for name in ("irradiation", "sky_view_factor"):
        got, t_got = read(tmp_path / "w" / f"{name}.tif")
        ref, t_ref = read(tmp_path / "one" / f"{name}.tif")
        assert t_got == t_ref
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=0.5, equal_nan=True)
    for layer, key, value in (("buildings", "building_id", "yield_kwh"), ("roofs", "face_id", "yield_kwh"),
                              ("walls", "wall_id", "irradiation")):
        got = gpd.read_file(tmp_path / "w" / f"{layer}.geojson")
        ref = gpd.read_file(tmp_path / "one" / f"{layer}.geojson")
        assert got[key].is_unique and sorted(got[key]) == sorted(ref[key]), layer  # none lost or doubled
        got, ref = got.set_index(key).loc[ref[key]], ref.set_index(key)
        np.testing.assert_allclose(got[value].astype(float), ref[value].astype(float), rtol=2e-3, atol=0.5,
                                   equal_nan=True, err_msg=layer)
    assert run.report["buildings"] == one.report["buildings"] > 0 and run.report["faces"] == one.report["faces"]
    assert (tmp_path / "w" / "solarkataster.gpkg").exists()
