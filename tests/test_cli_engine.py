"""`solarkataster irradiance` and `solarkataster horizon`: bad input, output contract, provenance."""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import rasterio
import scenes
from affine import Affine
from click.testing import CliRunner

from solarkataster.cli import cli


def _write(path, z, transform=None, crs=scenes.CRS, nodata=np.nan):
    z = np.asarray(z, np.float32)
    profile = dict(driver="GTiff", dtype="float32", count=1, height=z.shape[0], width=z.shape[1],
                   transform=transform or scenes.transform(1.0), nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(z, 1)
    return path


def _run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result, result.output + (result.stderr if hasattr(result, "stderr") else "")


def _flat(n=20):
    return np.full((n, n), scenes.BASE_HEIGHT)


BAD_RASTERS = {
    # name: (writer, words the message must contain)
    "geographic": (lambda p: _write(p, _flat(), Affine(1e-5, 0, 7.77, 0, -1e-5, 49.44), "EPSG:4326"),
                   ["geographic"]),
    "no-crs": (lambda p: _write(p, _flat(), crs=None), ["no CRS"]),
    "all-nodata": (lambda p: _write(p, np.full((20, 20), np.nan)), ["nodata"]),
    "single-row": (lambda p: _write(p, np.full((1, 50), 250.0)), ["too small"]),
    "non-square": (lambda p: _write(p, _flat(), Affine(1.0, 0, scenes.ORIGIN[0], 0, -2.0, scenes.ORIGIN[1])),
                   ["square"]),
    "rotated": (lambda p: _write(p, _flat(), Affine(0.9, 0.3, scenes.ORIGIN[0], 0.3, -0.9, scenes.ORIGIN[1])),
                ["rotated"]),
    "not-a-raster": (lambda p: (p.write_text("this is not a GeoTIFF\n"), p)[1], ["raster"]),
}


def _assert_clean_failure(result, text, out, words):
    assert result.exit_code != 0, text
    for w in words:
        assert w.lower() in text.lower(), f"message should name {w!r}: {text!r}"
    assert "Traceback" not in text, text
    assert not out.exists() or not any(out.iterdir()), f"partial output left in {out}: {list(out.iterdir())}"


@pytest.mark.parametrize("case", sorted(BAD_RASTERS))
def test_irradiance_rejects_bad_raster(case, tmp_path):
    writer, words = BAD_RASTERS[case]
    dsm = writer(tmp_path / f"{case}.tif")
    out = tmp_path / "out"
    result, text = _run(["irradiance", dsm, "--out", out])
    _assert_clean_failure(result, text, out, words + [dsm.name])


BAD_OPTIONS = {
    # the core names its parameters (albedo, max_distance), the CLI its flags: either is fine here
    "albedo": (["--albedo", "2"], ["albedo"]),
    "sectors": (["--sectors", "0"], ["sectors"]),
    "max-distance": (["--max-distance", "-5"], ["max"]),
    "year": (["--year", "99999"], ["year"]),
    "weather": (["--weather", "sunshine-please"], ["sunshine-please"]),
    "step": (["--step", "0"], ["step"]),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_irradiance_rejects_absurd_options(case, tmp_path):
    dsm = _write(tmp_path / "dsm.tif", scenes.ramp(20, 180, size=20).z)
    out = tmp_path / "out"
    opts, words = BAD_OPTIONS[case]
    result, text = _run(["irradiance", dsm, "--out", out, *opts])
    _assert_clean_failure(result, text, out, words)


@pytest.mark.parametrize("opts, word", [(["--sectors", "0"], "sectors"), (["--max-distance", "-5"], "max")])
def test_horizon_rejects_absurd_options(opts, word, tmp_path):
    dsm = _write(tmp_path / "dsm.tif", _flat())
    out = tmp_path / "out" / "horizon.tif"
    result, text = _run(["horizon", dsm, "--out", out, *opts])
    _assert_clean_failure(result, text, out.parent, [word])


def test_horizon_command_on_a_wall(tmp_path):
    height, wall_col = 20.0, 150
    grid = scenes.wall(height=height, size=200, cellsize=1.0, wall_col=wall_col)
    dsm = _write(tmp_path / "wall.tif", grid.z)
    out = tmp_path / "horizon.tif"
    result, text = _run(["horizon", dsm, "--out", out, "--sectors", "8"])
    assert result.exit_code == 0, text
    with rasterio.open(out) as ds:
        assert ds.count == 8
        assert set(ds.dtypes) == {"float32"}
        assert ds.descriptions == tuple(f"azimuth_{a:g}" for a in np.arange(8) * 45.0)
        assert ds.crs.to_epsg() == 25832 and ds.transform == grid.transform
        hor = ds.read()
    for d in (10, 20, 40):
        r, c = 100, wall_col - d
        # analytic: the wall's top edge (column wall_col's centres) at horizontal distance d / sin(azimuth)
        for k, az in enumerate(np.arange(8) * 45.0):
            s = math.sin(math.radians(az))
            expected = math.degrees(math.atan(height * s / d)) if s > 1e-9 else 0.0  # flat ground: 0°
            assert hor[k, r, c] == pytest.approx(expected, abs=0.5), (d, az)


@pytest.fixture(scope="module")
def irradiance_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("irradiance")
    grid = scenes.blocks(size=48, seed=11, n_blocks=5, nodata_holes=[(10, 14, 20, 25)])
    dsm = _write(tmp / "dsm.tif", grid.z)
    out = tmp / "out"
    result, text = _run(["irradiance", dsm, "--out", out, "--weather", "clear-sky", "--sectors", "16", "--step", "30"])
    assert result.exit_code == 0, text
    return dsm, out, grid


def test_irradiance_output_contract(irradiance_run):
    dsm, out, grid = irradiance_run
    with rasterio.open(dsm) as src:
        crs, transform, shape = src.crs, src.transform, src.shape
    with rasterio.open(out / "irradiation.tif") as ds:
        assert ds.count == 4 and set(ds.dtypes) == {"float32"}
        assert ds.descriptions == ("global", "beam", "diffuse", "reflected")
        assert ds.crs == crs and ds.transform == transform and ds.shape == shape
        assert np.isnan(ds.nodata)
        glob, beam, diffuse, reflected = ds.read()
    with rasterio.open(out / "irradiation_monthly.tif") as ds:
        assert ds.count == 12 and set(ds.dtypes) == {"float32"}
        assert ds.crs == crs and ds.transform == transform
        monthly = ds.read()
    missing = np.isnan(grid.z)
    np.testing.assert_array_equal(np.isnan(glob), missing)
    ok = ~missing
    np.testing.assert_allclose((beam + diffuse + reflected)[ok], glob[ok], rtol=1e-5)
    np.testing.assert_allclose(monthly.sum(axis=0)[ok], glob[ok], rtol=1e-5)
    assert (glob[ok] > 0).all() and (glob[ok] < 2500).all()  # north walls get little, nothing > 2.5 MWh
    # summer months out-shine winter ones on open ground
    assert np.nanmedian(monthly[5]) > 3 * np.nanmedian(monthly[11])


def test_irradiance_run_json(irradiance_run):
    dsm, out, _ = irradiance_run
    run = json.loads((out / "run.json").read_text())
    (entry,) = run["inputs"]
    assert entry["sha256"] == hashlib.sha256(dsm.read_bytes()).hexdigest()
    assert run["weather"]["name"] == "clear-sky"
    assert run["options"]["sectors"] == 16 and run["options"]["sun_step_min"] == 30
    assert run["options"]["albedo"] == 0.2
    assert run["software"]["version"]
    assert run["timings_s"]["total_s"] > 0
    assert run["grid"]["crs"].endswith("25832")
