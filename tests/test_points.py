"""Point irradiance time series (solarkataster.points) and the ``point`` command.

References: pvlib's Perez plane-of-array irradiance on the same records for an open point; the sun-step
mean of a shaded point equals zero beam when a wall blocks the sun (geometry by hand); measurements at the
Gothenburg GVC and Kronenhuset sites (tests/gothenburg.py, also run by benchmarks/validate_gothenburg.py).
"""
from __future__ import annotations

import gothenburg
import numpy as np
import pandas as pd
import pvlib
import pytest
from click.testing import CliRunner
from conftest import shared_file
from test_walls import ALT, GROUND, LAT, LON, X0, Y0, at, scene

from solarkataster.errors import ParameterError
from solarkataster.points import point_irradiance
from solarkataster.sky import clear_sky_weather

DAY = ("2025-06-21", "2025-06-22")


@pytest.fixture(scope="module")
def june():
    w = clear_sky_weather(LAT, LON, ALT, 2025, freq="1h")
    return w


def test_open_point_matches_pvlib(june):
    grid = scene([])
    frames = point_irradiance(grid, [X0 + 40] * 2, [Y0 + 40] * 2, [GROUND + 1] * 2, [30, 90], [180, 90], june,
                              start=DAY[0], end=DAY[1], step_minutes=1)
    assert len(frames[0]) == 24 and frames[0].index[0] == pd.Timestamp(DAY[0], tz="UTC")
    d = june.data.loc[DAY[0]:"2025-06-21 23:00"]
    horizontal = point_irradiance(grid, X0 + 40, Y0 + 40, GROUND + 1, 0, 0, june, start=DAY[0], end=DAY[1])[0]
    # a horizontal open plane receives exactly the records' GHI (beam energy preserved per record)
    np.testing.assert_allclose(horizontal["poa_global"].to_numpy(), d["ghi"].to_numpy(), atol=0.5)
    # vertical east plane vs pvlib Perez on the record midpoints, daily total within 2 %
    mid = d.index + pd.Timedelta(minutes=30)
    sp = pvlib.solarposition.get_solarposition(mid, LAT, LON, ALT)
    ref = pvlib.irradiance.get_total_irradiance(90, 90, sp["apparent_zenith"], sp["azimuth"], d["dni"].values,
                                                d["ghi"].values, d["dhi"].values,
                                                dni_extra=pvlib.irradiance.get_extra_radiation(mid),
                                                airmass=pvlib.atmosphere.get_relative_airmass(sp["apparent_zenith"]),
                                                model="perez", albedo=0.2)
    assert frames[1]["poa_global"].sum() == pytest.approx(np.nansum(ref["poa_global"]), rel=0.02)


def test_wall_blocks_the_morning_sun(june):
    # a 20 m wall 3 m east of the point: no beam on a horizontal sensor while the sun is low in the east
    grid = scene([(at(45, 40, 4, 60), 20.0)])
    f = point_irradiance(grid, X0 + 40, Y0 + 40, GROUND + 1, 0, 0, june, start=DAY[0], end=DAY[1])[0]
    open_ = point_irradiance(scene([]), X0 + 40, Y0 + 40, GROUND + 1, 0, 0, june, start=DAY[0], end=DAY[1])[0]
    morning = f.loc["2025-06-21 05:00":"2025-06-21 07:00"]
    assert (morning["poa_beam"] == 0).all() and (morning["sun_visible"] == 0).all()
    assert (open_.loc[morning.index, "poa_beam"] > 50).all()
    evening = f.loc["2025-06-21 15:00":"2025-06-21 17:00"]
    np.testing.assert_allclose(evening["poa_beam"], open_.loc[evening.index, "poa_beam"], rtol=1e-9)


def test_points_inside_buildings_or_outside_are_errors(june):
    grid = scene([(at(40, 40, 10, 10), 10.0)])
    with pytest.raises(ParameterError, match="point 1 .*below the surface model"):
        point_irradiance(grid, [X0 + 10, X0 + 40], [Y0 + 10, Y0 + 40], [GROUND + 1, GROUND + 5], 0, 0, june)
    with pytest.raises(ParameterError, match="outside the surface model"):
        point_irradiance(grid, X0 - 50, Y0, GROUND + 1, 0, 0, june)
    # on the roof: fine
    point_irradiance(grid, X0 + 40, Y0 + 40, GROUND + 10.5, 0, 0, june, start=DAY[0], end=DAY[1])
    with pytest.raises(ParameterError, match="no weather records"):
        point_irradiance(grid, X0 + 10, Y0 + 10, GROUND + 1, 0, 0, june, start="2030-01-01", end="2030-01-02")


def test_cli_point_writes_csv(tmp_path):
    import rasterio

    from solarkataster.cli import cli

    grid = scene([(at(45, 40, 4, 60), 20.0)])
    dsm = tmp_path / "dsm.tif"
    with rasterio.open(dsm, "w", driver="GTiff", height=grid.shape[0], width=grid.shape[1], count=1,
                       dtype="float64", crs=grid.crs, transform=grid.transform) as ds:
        ds.write(grid.z, 1)
    out = tmp_path / "p.csv"
    args = ["point", str(dsm), "--x", str(X0 + 40), "--y", str(Y0 + 40), "--z", str(GROUND + 1), "--tilt", "90",
            "--azimuth", "180", "--weather", "clear-sky", "--start", "2025-06-21T00:00Z", "--end", "2025-06-22T00:00Z",
            "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, comment="#")
    assert list(table.columns) == ["time", "poa_global", "poa_beam", "poa_diffuse", "poa_reflected", "sun_visible"]
    assert len(table) == 144 and table["time"].iloc[0] == "2025-06-21T00:00:00Z"
    assert table["poa_global"].max() > 100
    bad = CliRunner().invoke(cli, args[:3] + [str(X0 + 45)] + args[4:])  # inside the wall
    assert bad.exit_code == 2 and "below the surface model" in bad.output


@pytest.fixture(scope="module")
def gvc_stats():
    """GVC, three clear July days 2010: modelled vs measured hourly shortwave per sensor (tests/gothenburg.py)."""
    shared_file("goteborg-umep", "validation_gvc", "measurements_gvc.csv")
    stats = gothenburg.compare("Etc/GMT-1", "start")
    print(stats.round(1))
    return stats


@pytest.fixture(scope="module")
def kronenhuset_stats():
    """Kronenhuset courtyard, 2005-10-07: the same comparison (tests/gothenburg.py)."""
    shared_file("goteborg-umep", "validation_kronenhuset", "measurements_kr.csv")
    stats = gothenburg.compare_kronenhuset("Etc/GMT-1", "end")
    print(stats.round(1))
    return stats


def test_gothenburg_vertical_sensors(gvc_stats):
    assert (gvc_stats["n"] == 30).all()
    assert gvc_stats.loc[["Kn", "Ke", "Kw"], "rmse"].max() < 70


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="goal: horizontal (Kdown) RMSE < 60 W/m² at GVC; measured 103 W/m² "
                   "(bias +45): in the 9 sunlit hours the station sensor reads 81 % of the met file's GHI, "
                   "and one hour is shaded in reality but sunlit in the 2 m DSM (README)")
def test_gothenburg_horizontal_sensor(gvc_stats):
    assert gvc_stats.loc["Kdown", "rmse"] < 60


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="goal: the south sensor within RMSE 70 W/m² like the other vertical "
                   "sensors at GVC; measured 101 W/m² (bias +70)")
def test_gothenburg_south_sensor(gvc_stats):
    assert gvc_stats.loc["Ks", "rmse"] < 70


def test_kronenhuset_measurements_against_rust_solweig(kronenhuset_stats):
    """The Rust SOLWEIG port reports Kdown RMSE 47.1 W/m² on these hours (REPORT.md in the data folder);
    the point API must do at least as well on the horizontal sensor (measured: 34.6 W/m², bias -21.9)."""
    stats = kronenhuset_stats
    assert stats.loc["Kdown", "n"] >= 10
    assert stats.loc["Kdown", "rmse"] < 47.1
    assert stats.loc[["Kn", "Ke", "Ks"], "rmse"].max() < 40


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="goal: the west sensor within RMSE 40 W/m² like the other vertical "
                   "sensors at Kronenhuset; measured 114.6 W/m² (bias -40.6: afternoon sun-to-shade timing)")
def test_kronenhuset_west_sensor(kronenhuset_stats):
    assert kronenhuset_stats.loc["Kw", "rmse"] < 40
