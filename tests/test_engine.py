"""Acceptance of the irradiance engine on rasters: open planes against pvlib, windows, nodata."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scenes

from solarkataster.horizon import halo_width
from solarkataster.pipeline import EngineOptions, Site, build_sky, compute_irradiance, irradiation_raster
from solarkataster.sky import clear_sky_weather

TILTS = (0, 15, 30, 45, 60)
AZIMUTHS = (0, 45, 90, 135, 180, 225, 270, 315)
ORIENTATIONS = [(0, 180)] + [(t, a) for t in TILTS[1:] for a in AZIMUTHS]
INTERIOR = (slice(2, -2), slice(2, -2))  # the 3x3 plane fit of the outermost pixels uses edge padding
OPEN_PLANE = EngineOptions(sectors=16)  # open planes need few sectors


@pytest.fixture(scope="module")
def site():
    # every ramp passes through BASE_HEIGHT at its centre pixel: the same engine site for all of them
    return Site.from_grid(scenes.ramp(30, 180))


@pytest.fixture(scope="module")
def pvlib_year(site):
    """Clear sky of 2025 at 1-minute steps (values at minute midpoints), sun above the horizon only.

    Reference: pvlib Location.get_clearsky (Ineichen-Perez with pvlib's Linke turbidity climatology),
    solar position by NREL SPA, extraterrestrial DNI by Spencer; independent of the engine's code path.
    """
    import pvlib

    times = pd.date_range("2025-01-01 00:00:30", "2026-01-01", freq="1min", tz="UTC", inclusive="left")
    loc = pvlib.location.Location(site.latitude, site.longitude, altitude=site.altitude, tz="UTC")
    sp = loc.get_solarposition(times)
    cs = loc.get_clearsky(times, model="ineichen", solar_position=sp)
    up = sp["apparent_zenith"].to_numpy() < 90.0
    return {"zenith": sp["apparent_zenith"][up], "azimuth": sp["azimuth"][up], "ghi": cs["ghi"][up],
            "dni": cs["dni"][up], "dhi": cs["dhi"][up],
            "dni_extra": pvlib.irradiance.get_extra_radiation(times[up])}


def pvlib_annual_global(year, surface_tilt, surface_azimuth, albedo=0.2):
    """Annual POA global [kWh/m²]: pvlib Perez transposition + isotropic ground reflection, 1-min sum."""
    import pvlib

    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt, surface_azimuth, year["zenith"], year["azimuth"], year["dni"], year["ghi"], year["dhi"],
        dni_extra=year["dni_extra"], albedo=albedo, model="perez")
    return float(np.nansum(poa["poa_global"].to_numpy())) / 60.0 / 1000.0


@pytest.fixture(scope="module")
def default_sky(site):
    """The engine's sky for the 'clear-sky' default: 10-min Ineichen records, 10-min sun steps."""
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, year=2025)
    return build_sky(weather, site, EngineOptions())


def test_flat_unobstructed_matches_clear_sky_ghi(pvlib_year, default_sky):
    irr = irradiation_raster(scenes.ramp(0, 180).z, 1.0, default_sky, OPEN_PLANE)
    ghi = float(pvlib_year["ghi"].sum()) / 60.0 / 1000.0
    interior = irr.global_[INTERIOR]
    assert abs(ghi - 1500) < 200  # sanity: clear-sky GHI near 49.4 N is 1.4-1.7 MWh/m²
    np.testing.assert_allclose(interior, ghi, rtol=0.01)
    # flat open ground: the sky view factor is 1 and nothing is reflected onto it
    np.testing.assert_allclose(irr.sky_view_factor[INTERIOR], 1.0, atol=1e-4)
    np.testing.assert_allclose(irr.reflected[INTERIOR], 0.0, atol=1e-3)


@pytest.mark.parametrize("surface_tilt, surface_azimuth", ORIENTATIONS)
def test_open_plane_matches_pvlib_perez(surface_tilt, surface_azimuth, pvlib_year, default_sky):
    ramp = scenes.ramp(surface_tilt, surface_azimuth)
    irr = irradiation_raster(ramp.z, ramp.cellsize, default_sky, OPEN_PLANE)
    expected = pvlib_annual_global(pvlib_year, surface_tilt, surface_azimuth)
    interior = irr.global_[INTERIOR]
    assert np.isfinite(interior).all()
    worst = float(np.max(np.abs(interior / expected - 1)))
    assert worst < 0.01, (f"tilt {surface_tilt} azimuth {surface_azimuth}: engine {interior.min():.1f}.."
                          f"{interior.max():.1f} vs pvlib {expected:.1f} kWh/m² (worst {worst:.2%})")
    # the components add up, and reflection is pvlib's isotropic albedo * GHI * (1 - cos tilt) / 2
    np.testing.assert_allclose(irr.beam + irr.diffuse + irr.reflected, irr.global_, rtol=1e-5)
    ghi = float(pvlib_year["ghi"].sum()) / 60000.0
    refl = 0.2 * ghi * (1 - math.cos(math.radians(surface_tilt))) / 2
    np.testing.assert_allclose(irr.reflected[INTERIOR], refl, rtol=0.01, atol=0.05)


@pytest.mark.parametrize("surface_tilt, surface_azimuth", [(30, 180), (45, 225)])
def test_compute_irradiance_on_a_grid_matches_pvlib(surface_tilt, surface_azimuth, pvlib_year):
    # the whole path: Grid -> site -> clear-sky weather -> sky table -> raster
    result = compute_irradiance(scenes.ramp(surface_tilt, surface_azimuth), weather="clear-sky", sectors=16)
    expected = pvlib_annual_global(pvlib_year, surface_tilt, surface_azimuth)
    np.testing.assert_allclose(result.irradiation.global_[INTERIOR], expected, rtol=0.01)
    assert result.irradiation.monthly.shape == (12, 41, 41)
    np.testing.assert_allclose(result.irradiation.monthly.sum(axis=0), result.irradiation.global_, rtol=1e-5)


# --- windows with a halo match the full raster ------------------------------------------------------
# A window sees nothing beyond its halo, so it equals the full raster only where nothing beyond the halo
# matters; the halo rule makes what it misses subtend less than its minimum elevation. With the same
# surroundings the window equals the full raster exactly (test_window_equals_mosaic_of_its_extent).

def _window_vs_full(z, cellsize, sky, window, halo_m, options):
    """Irradiation of ``window`` computed on a crop with ``halo_m`` of context, and the crop's extent."""
    (r0, r1), (c0, c1) = window
    h = int(math.ceil(halo_m / cellsize))
    a0, a1 = max(0, r0 - h), min(z.shape[0], r1 + h)
    b0, b1 = max(0, c0 - h), min(z.shape[1], c1 + h)
    irr = irradiation_raster(z[a0:a1, b0:b1], cellsize, sky, options, anchor=(a0, b0))
    return irr.global_[r0 - a0:r1 - a0, c0 - b0:c1 - b0], (a1 - a0) * (b1 - b0)


def _agreement(window_values, full_values):
    ok = np.isfinite(full_values)
    rel = np.abs(window_values[ok] / full_values[ok] - 1.0)
    return float((rel <= 0.01).mean()), float(rel.max())


@pytest.fixture(scope="module")
def town():
    from pathlib import Path

    from solarkataster.io.raster import read_surface

    return read_surface(Path(__file__).resolve().parents[1] / "sample_data" / "town_dsm.tif")


@pytest.fixture(scope="module")
def town_full(town, default_sky):
    return irradiation_raster(town.z, town.cellsize, default_sky, EngineOptions())


@pytest.mark.parametrize("window", [((0, 100), (0, 100)), ((150, 250), (190, 290)), ((0, 80), (200, 300))],
                         ids=["nw-corner", "centre", "n-edge"])
def test_town_window_with_halo_matches_full_raster(town, town_full, default_sky, window):
    """Sample town (240 m x 200 m at 0.5 m): window + halo vs the full raster.

    The halo rule's default (obstacles subtending < 5°) asks for relief / tan 5° = 314 m, more than the
    town itself, which would make the window the whole raster. 20° (74 m here) still cuts the raster,
    so this tests both the kernels' independence of the extent and the size of the halo.
    """
    relief = float(np.nanmax(town.z) - np.nanmin(town.z))
    halo = halo_width(relief, min_elevation=20.0)
    win, crop_px = _window_vs_full(town.z, town.cellsize, default_sky, window, halo, EngineOptions())
    assert crop_px < town.z.size  # the crop really leaves part of the town out
    (r0, r1), (c0, c1) = window
    share, worst = _agreement(win, town_full.global_[r0:r1, c0:c1])
    print(f"window {window}: halo {halo:.0f} m, {share:.4%} within 1 %, max rel. difference {worst:.2%}")
    np.testing.assert_array_equal(np.isnan(win), np.isnan(town_full.global_[r0:r1, c0:c1]))
    assert share >= 0.999


def test_blocks_window_with_default_halo_matches_full_raster(default_sky):
    """A 600 m block town at 2 m: the default halo (5°) is smaller than the scene, so it is exercised."""
    city = scenes.blocks(size=300, cellsize=2.0, seed=5, n_blocks=150, max_height=15.0)
    relief = float(np.nanmax(city.z) - np.nanmin(city.z))
    halo = halo_width(relief)
    options = EngineOptions(sectors=32)
    full = irradiation_raster(city.z, city.cellsize, default_sky, options)
    for window in (((120, 180), (120, 180)), ((0, 60), (240, 300))):
        win, crop_px = _window_vs_full(city.z, city.cellsize, default_sky, window, halo, options)
        assert crop_px < city.z.size
        (r0, r1), (c0, c1) = window
        share, worst = _agreement(win, full.global_[r0:r1, c0:c1])
        print(f"blocks window {window}: halo {halo:.0f} m, {share:.4%} within 1 %, max rel. diff. {worst:.2%}")
        assert share >= 0.999


def test_window_equals_mosaic_of_its_extent(default_sky):
    """A window with a halo, computed alone at its global position, equals the same pixels of a larger
    raster that holds nothing else (missing data around it): the engine does not depend on the extent."""
    city = scenes.blocks(size=140, cellsize=2.0, seed=8, n_blocks=45, max_height=18.0)
    (a, b), (c, d) = (20, 110), (35, 125)  # window + halo
    core = (slice(a + 15, b - 15), slice(c + 15, d - 15))
    mosaic = np.full_like(city.z, np.nan)
    mosaic[a:b, c:d] = city.z[a:b, c:d]
    options = EngineOptions(sectors=32)
    whole = irradiation_raster(mosaic, city.cellsize, default_sky, options, anchor=(0, 0))
    window = irradiation_raster(np.ascontiguousarray(city.z[a:b, c:d]), city.cellsize, default_sky, options,
                                anchor=(a, c))
    local = (slice(core[0].start - a, core[0].stop - a), slice(core[1].start - c, core[1].stop - c))
    for name in ("global_", "beam", "diffuse", "reflected", "sky_view_factor"):
        np.testing.assert_array_equal(getattr(window, name)[local], getattr(whole, name)[core], err_msg=name)
    np.testing.assert_array_equal(window.monthly[:, local[0], local[1]], whole.monthly[:, core[0], core[1]])


# --- nodata --------------------------------------------------------------------------------------------

def test_nodata_stays_local():
    holes = [(20, 26, 30, 36), (0, 4, 0, 4), (50, 60, 55, 60)]  # interior, corner, edge
    grid = scenes.blocks(size=60, seed=3, n_blocks=6, nodata_holes=holes)
    result = compute_irradiance(grid, weather="clear-sky", sectors=16, step_minutes=30)
    irr = result.irradiation
    missing = np.isnan(grid.z)
    assert missing.sum() == 36 + 16 + 50
    for name in ("global_", "beam", "diffuse", "reflected", "sky_view_factor"):
        values = getattr(irr, name)
        np.testing.assert_array_equal(np.isnan(values), missing, err_msg=name)
    for month in irr.monthly:
        np.testing.assert_array_equal(np.isnan(month), missing)
    # the ring of pixels around the interior hole has data and plausible values
    ring = np.zeros_like(missing)
    ring[19:27, 29:37] = True
    ring &= ~missing
    assert np.isfinite(irr.global_[ring]).all()
    assert (irr.global_[ring] > 100).all()


@pytest.mark.parametrize("user_policy, spin", [(None, "0"), ("ACTIVE", "30000000000")])
def test_openmp_threads_sleep_between_kernels_unless_the_user_chose(user_policy, spin):
    """Spinning OpenMP threads would take the core that a cadastre's other stages use (solarkataster._kernels).

    libgomp prints the spin count it started with (OMP_DISPLAY_ENV=VERBOSE): 0 (threads sleep at once) by
    default, where libgomp's own default is 300,000; an active policy that the user set is kept.
    """
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"
    if user_policy:
        env["OMP_WAIT_POLICY"] = user_policy
    code = "from solarkataster._kernels import threading_layer; print('layer', threading_layer())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    if "layer omp" not in done.stdout:
        pytest.skip(f"numba's threading layer is not OpenMP here: {done.stdout.strip()}")
    assert f"GOMP_SPINCOUNT = '{spin}'" in done.stderr
