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
    """A weather spec that each run resolves at its own site: the windows must resolve it at the whole's."""
    return "clear-sky"


def test_mosaic_site_is_the_one_window_site():
    """The windowed run's site (read strip by strip, median without holding the raster) is Site.from_grid's."""
    from solarkataster.io.tiles import discover_tiles, scan_tiles
    from solarkataster.pipeline import Site, load_grid
    from solarkataster.windowed import mosaic_site

    site = mosaic_site(scan_tiles(discover_tiles([TOWN])), block_rows=37)
    assert site == Site.from_grid(load_grid(TOWN))


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
    # every window computes the sun at the whole raster's site: the same numbers up to float32 rounding
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-4, equal_nan=True)
    monthly, _ = read(tmp_path / "w" / "irradiation_monthly.tif")
    np.testing.assert_allclose(monthly, whole.monthly, rtol=1e-6, atol=1e-4, equal_nan=True)
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
    # the same files (the one-window run also draws overview.png, not drawn in windowed mode)
    assert {p.name for p in (tmp_path / "one").iterdir()} <= {p.name for p in (tmp_path / "w").iterdir()}
    for name in ("irradiation", "irradiation_monthly", "sky_view_factor"):
        got, t_got = read(tmp_path / "w" / f"{name}.tif")
        ref, t_ref = read(tmp_path / "one" / f"{name}.tif")
        assert t_got == t_ref and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-4, equal_nan=True)
    for layer, key in (("buildings", "building_id"), ("roofs", "face_id"), ("walls", "wall_id")):
        got = gpd.read_file(tmp_path / "w" / f"{layer}.geojson")
        ref = gpd.read_file(tmp_path / "one" / f"{layer}.geojson")
        # each feature once: reported by the window whose core holds its building's representative point
        assert got[key].is_unique and sorted(got[key]) == sorted(ref[key]), layer
        assert list(got.columns) == list(ref.columns), layer
        got, ref = got.set_index(key).loc[ref[key]], ref.set_index(key)
        utm = ref.estimate_utm_crs()
        np.testing.assert_allclose(got.to_crs(utm).area, ref.to_crs(utm).area, rtol=1e-6, err_msg=layer)
        for col in ref.columns.drop("geometry"):
            if ref[col].dtype.kind in "fiu":
                np.testing.assert_allclose(got[col].astype(float), ref[col].astype(float), rtol=1e-6, atol=1e-4,
                                           equal_nan=True, err_msg=f"{layer}.{col}")
            else:
                assert (got[col].fillna("").astype(str) == ref[col].fillna("").astype(str)).all(), f"{layer}.{col}"
    assert run.report["buildings"] == one.report["buildings"] > 0 and run.report["faces"] == one.report["faces"]
    assert (tmp_path / "w" / "solarkataster.gpkg").exists()


def test_default_budget_fits_16_mpx_in_few_windows():
    """The default budget (2.5 GiB) cuts the 16 Mpx town (250 m halo) into 2 x 2 windows that fit it."""
    from solarkataster.windowed import DEFAULT_BUDGET, default_budget

    assert default_budget() <= DEFAULT_BUDGET == int(2.5 * 2**30)
    max_px = window_pixels(DEFAULT_BUDGET)
    for align in (1, 512):  # DTM given / ground filtered from the DSM
        wins = plan_windows((0.0, 0.0, 2000.0, 2000.0), 0.5, max_px, 250.0, context=150.0, align_px=align)
        assert len(wins) == 4
        for w in wins:
            assert (w.bounds[2] - w.bounds[0]) * (w.bounds[3] - w.bounds[1]) / 0.25 <= max_px
    # raster-only windows are not clipped at the edge: more of them
    wins = plan_windows((0.0, 0.0, 2000.0, 2000.0), 0.5, window_pixels(DEFAULT_BUDGET, 200), 250.0, clip=False)
    assert all((w.bounds[2] - w.bounds[0]) * (w.bounds[3] - w.bounds[1]) / 0.25 <= window_pixels(DEFAULT_BUDGET, 200)
               for w in wins)


@pytest.mark.parametrize("command", ["run", "irradiance"])
def test_cli_refuses_a_bad_budget(command, tmp_path):
    from click.testing import CliRunner

    from solarkataster.cli import cli

    res = CliRunner().invoke(cli, [command, str(TOWN), "--out", str(tmp_path / "o"), "--max-memory", "lots"])
    assert res.exit_code == 2 and "--max-memory 'lots'" in res.output and "Traceback" not in res.output
    assert "2.5GB" in CliRunner().invoke(cli, [command, "--help"]).output  # the default is documented
