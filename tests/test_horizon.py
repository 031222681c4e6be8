"""Acceptance of horizons and shadows on the real 1 m Essen DSM against brute-force ray marching.

Reference: tests/reference.py (bilinear march every 0.1 cell for horizons, a ray cast every 0.25 cell
towards the exact sun azimuth for shadows), vectorised over queries.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scenes
from conftest import shared_file
from reference import brute_horizon, brute_horizon_many, brute_sun_visible_many

from solarkataster.errors import ParameterError
from solarkataster.horizon import (
    DEFAULT_SECTORS,
    MISSING_CODE,
    OPEN_CODE,
    angles_to_codes,
    grid_anchor,
    horizon_angles,
    horizon_codes,
    horizon_slopes,
    sector_azimuths,
    shadow_mask,
)
from solarkataster.irradiation import irradiation_from_slopes
from solarkataster.sky import DEFAULT_AZIMUTH_BINS, SunSteps, sky_table

ESSEN = ("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")
CROP = (slice(350, 650), slice(350, 650))  # 300 x 300 px in the tile's centre
N_PAIRS = 3000
N_SHADOW_PIXELS = 20_000


@pytest.fixture(scope="module")
def essen():
    from solarkataster.io.raster import read_surface

    return read_surface(shared_file(*ESSEN))


@pytest.fixture(scope="module")
def essen_slopes(essen):
    """Engine horizons of the whole tile with the default sectors (tan of elevation)."""
    return horizon_slopes(essen.z, essen.cellsize, DEFAULT_SECTORS)


def _pairs(shape, sectors, n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, shape[0], n), rng.integers(0, shape[1], n), rng.integers(0, sectors, n)


def _report(errors):
    err = np.abs(errors)
    return float(np.median(err)), float(np.percentile(err, 90)), float(err.max())


def test_brute_force_vectorised_matches_scalar_reference(essen):
    # the vectorised reference must be the same march as reference.brute_horizon
    rows, cols, _ = _pairs(essen.shape, 1, 40, seed=3)
    az = np.random.default_rng(4).uniform(0, 360, 40)
    many = brute_horizon_many(essen.z, essen.cellsize, rows, cols, az)
    one = [brute_horizon(essen.z, essen.cellsize, int(r), int(c), a) for r, c, a in zip(rows, cols, az)]
    np.testing.assert_allclose(many, one, atol=1e-9)


def test_horizon_angles_on_crop_match_brute_force(essen):
    z = essen.z[CROP]
    hor = horizon_angles(z, essen.cellsize)
    rows, cols, k = _pairs(z.shape, DEFAULT_SECTORS, N_PAIRS, seed=11)
    az = sector_azimuths(DEFAULT_SECTORS)[k]
    ref = brute_horizon_many(z, essen.cellsize, rows, cols, az, step=0.1)
    med, p90, worst = _report(hor[k, rows, cols] - ref)
    print(f"crop 300x300: |error| median {med:.3f}°, p90 {p90:.3f}°, max {worst:.2f}°")
    assert med <= 0.5
    assert p90 <= 2.0


def test_horizon_angles_on_full_raster_match_brute_force(essen, essen_slopes):
    # the same window's pixels, now seeing the whole 1 km tile
    rows, cols, k = _pairs((300, 300), DEFAULT_SECTORS, N_PAIRS, seed=12)
    rows, cols = rows + CROP[0].start, cols + CROP[1].start
    hor = np.degrees(np.arctan(essen_slopes[k, rows, cols].astype(np.float64)))
    hor[essen_slopes[k, rows, cols] <= -1e29] = -90.0
    az = sector_azimuths(DEFAULT_SECTORS)[k]
    ref = brute_horizon_many(essen.z, essen.cellsize, rows, cols, az, step=0.1)
    med, p90, worst = _report(hor - ref)
    print(f"full 1000x1000: |error| median {med:.3f}°, p90 {p90:.3f}°, max {worst:.2f}°")
    assert med <= 0.5
    assert p90 <= 2.0


# --- windows: the sweep lines lie on a global lattice ------------------------------------------------

def _window_codes_vs_mosaic(z, cellsize, anchor, crop, sectors):
    """Codes of ``crop`` computed alone, and those of the same pixels in a mosaic that holds only the crop.

    Outside the crop the mosaic is missing data (no terrain), so the window sees exactly what the mosaic
    sees: any difference comes from the kernels depending on the raster's extent (line positions, sample
    positions, float order).
    """
    (r0, r1), (c0, c1) = crop
    mosaic = np.full_like(z, np.nan)
    mosaic[r0:r1, c0:c1] = z[r0:r1, c0:c1]
    whole = horizon_codes(mosaic, cellsize, sectors, anchor=anchor)[:, r0:r1, c0:c1]
    window = horizon_codes(np.ascontiguousarray(z[r0:r1, c0:c1]), cellsize, sectors,
                           anchor=(anchor[0] + r0, anchor[1] + c0))
    return window, whole


def test_window_horizon_codes_equal_mosaic_synthetic():
    city = scenes.blocks(size=160, cellsize=1.0, seed=4, n_blocks=40, max_height=20.0)
    window, whole = _window_codes_vs_mosaic(city.z, city.cellsize, grid_anchor(city.transform),
                                            ((37, 121), (50, 143)), DEFAULT_SECTORS)
    assert (whole != OPEN_CODE).mean() > 0.5
    np.testing.assert_array_equal(window, whole)


def test_window_horizon_codes_equal_mosaic_essen(essen):
    """A window with a 40 m halo cut from 200 m x 200 m of the Essen DSM, at its global lattice position."""
    (a, b), (c, d) = (350, 550), (350, 550)
    anchor = grid_anchor(essen.transform)
    window, whole = _window_codes_vs_mosaic(essen.z[a:b, c:d], essen.cellsize, (anchor[0] + a, anchor[1] + c),
                                            ((30, 170), (20, 150)), DEFAULT_SECTORS)
    np.testing.assert_array_equal(window, whole)


def test_horizon_angles_are_slopes_rounded_to_codes():
    # horizon_angles is documented as atan of horizon_slopes rounded to 0.01° codes, -90 where open
    z = np.zeros((20, 20))
    z[5:8, 5:8] = 10.0
    a = horizon_angles(z, 1.0, 8)
    s = horizon_slopes(z, 1.0, 8)
    open_ = s <= -1e29
    np.testing.assert_allclose(a[~open_], np.degrees(np.arctan(s[~open_])), atol=0.0051)
    assert (a[open_] == -90.0).all() and open_.any()


# Sun positions at Essen (51.43 N, 6.94 E), UTC: winter/equinox/summer mornings, noons, evenings.
SUN_TIMES = ["2025-12-21 08:45", "2025-12-21 11:30", "2025-12-21 14:15", "2025-03-20 07:00",
             "2025-03-20 11:30", "2025-06-21 05:00", "2025-06-21 11:30", "2025-06-21 18:00"]


def _sun_positions(essen):
    import pvlib

    lon, lat = essen.center_lonlat()
    times = pd.DatetimeIndex(SUN_TIMES, tz="UTC")
    sp = pvlib.solarposition.get_solarposition(times, lat, lon, altitude=float(np.median(essen.z)))
    return times, sp["apparent_zenith"].to_numpy(), sp["azimuth"].to_numpy()


def _single_step_sky(time, zenith, azimuth):
    """A sky table holding one sun step (1000 W/m² beam, no diffuse) at the given position."""
    one = np.ones(1)
    return sky_table(SunSteps(time=pd.DatetimeIndex([time]), weight=one, apparent_zenith=np.array([zenith]),
                              azimuth=np.array([azimuth]), dni=1000.0 * one, dhi=0 * one,
                              ghi=1000.0 * np.cos(np.radians([zenith])), f1=0 * one, f2=0 * one,
                              month=np.array([time.month - 1]), record=np.zeros(1, np.int64)),
                     DEFAULT_AZIMUTH_BINS)


def _shadow_agreement(essen, sunlit_at):
    """Agreement of ``sunlit_at(rows, cols, time, zenith, azimuth)`` with an exact ray cast, per sun position."""
    rng = np.random.default_rng(2026)
    flat = rng.choice(essen.z.size, N_SHADOW_PIXELS, replace=False)
    rows, cols = np.unravel_index(flat, essen.shape)
    times, zenith, azimuth = _sun_positions(essen)
    agreement = {}
    for t, zen, az in zip(times, zenith, azimuth):
        assert zen < 86, f"pick sun positions above 4° ({t}: zenith {zen:.1f}°)"
        ours = sunlit_at(rows, cols, t, zen, az)
        ref_sunlit = brute_sun_visible_many(essen.z, essen.cellsize, rows, cols, az, 90.0 - zen, step=0.1)
        agreement[f"{t:%Y-%m-%d %H:%M} el {90 - zen:4.1f} az {az:5.1f}"] = (
            float((ours == ref_sunlit).mean()), float(ref_sunlit.mean()))
    print("\nshadow agreement per sun position (agreement, sunlit share by brute force):")
    for key, (agree, lit) in agreement.items():
        print(f"  {key}: {agree:.4f}  ({lit:.2f} sunlit)")
    return agreement


def test_shadow_masks_match_brute_force_ray_cast(essen):
    """The engine's shadow for a sun position (one sweep along its exact azimuth) vs an exact ray cast."""
    anchor = grid_anchor(essen.transform)

    def sunlit(rows, cols, t, zen, az):
        return shadow_mask(essen.z, essen.cellsize, az, 90.0 - zen, anchor=anchor)[rows, cols]

    agreement = _shadow_agreement(essen, sunlit)
    worst = min(a for a, _ in agreement.values())
    assert worst >= 0.99, agreement


def test_annual_integral_shadows_close_to_ray_cast(essen, essen_slopes):
    """Sunlit in the annual integral (its own kernel: beam > 0 for one sun step on a horizontal surface),
    which interpolates horizons between the default sectors. Its effect on annual sums is what
    benchmarks/convergence.py measures; per moment it agrees less than the exact shadow masks."""
    def sunlit(rows, cols, t, zen, az):
        hor = np.ascontiguousarray(essen_slopes[:, rows, cols])
        res = irradiation_from_slopes(hor, 0.0, 180.0, _single_step_sky(t, zen, az), albedo=0.0)
        return res.beam > 0

    agreement = _shadow_agreement(essen, sunlit)
    worst = min(a for a, _ in agreement.values())
    assert worst >= 0.95, agreement


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_angles_to_codes_equal_numpy_rounding(dtype):
    """The one-pass kernel gives NumPy's codes (clip to ±89.99°, x 100, round half to even; open at -89.999°
    and below, missing at NaN), also at half codes, at the sentinels' edges and on strided input."""
    rng = np.random.default_rng(5)
    a = np.concatenate([rng.uniform(-95.0, 95.0, 20000), np.arange(-9000, 9001) / 100.0 + 0.005,
                        np.arange(-719, 720) * 0.125,  # exact half codes: 12.5 -> 12, 37.5 -> 38
                        [np.nan, np.inf, -np.inf, -90.0, 90.0, -89.999, -89.9989, -89.995, 89.995, 0.005, -0.015]])
    a = a.astype(dtype)
    a = np.concatenate([a, a])[::2].reshape(-1, 1)[:, 0]  # strided view
    wide = a.astype(np.float64)
    with np.errstate(invalid="ignore"):
        expected = np.round(np.clip(wide, -89.99, 89.99) * 100.0)
    expected = np.where(wide <= -89.999, OPEN_CODE, expected)
    expected = np.where(np.isnan(wide), MISSING_CODE, expected).astype(np.int16)
    got = angles_to_codes(a.reshape(-1, 7) if a.size % 7 == 0 else a)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got.ravel(), expected)
    assert angles_to_codes(np.float32(-89.999)) == OPEN_CODE and angles_to_codes(0.005) == 0


def test_point_horizons_same_from_a_float32_surface(monkeypatch):
    """A surface whose heights are float32 values is queried as float32 (half the bytes for the rays): the
    horizons equal those of the float64 surface, bit for bit, with walls, NaN holes and a window anchor."""
    import solarkataster.horizon as H

    rng = np.random.default_rng(11)
    z = rng.uniform(0.0, 3.0, (80, 90))
    z[20:35, 30:50] += 14.25
    z[50:60, 10:18] = np.nan
    z = z.astype(np.float32).astype(np.float64)  # a DSM read from a float32 file
    n = 400
    rows, cols = rng.uniform(0, 79, n), rng.uniform(0, 89, n)
    heights, facing = rng.uniform(0.0, 20.0, n), rng.uniform(0.0, 360.0, n)
    facing[::5] = np.nan
    kw = dict(facing=facing, clearance=0.5, near=8.0, line_spacing=1.0, anchor=(3, 7))
    azimuths = np.arange(36) * 10.0 + 1.0
    assert H._compact_surface(z).dtype == np.float32
    fast = H.point_horizons(z, 0.5, rows, cols, heights, azimuths, **kw)
    monkeypatch.setattr(H, "_compact_surface", lambda a: np.ascontiguousarray(a, dtype=np.float64))
    wide = H.point_horizons(z, 0.5, rows, cols, heights, azimuths, **kw)
    assert (np.abs(wide) < 90).mean() > 0.3
    np.testing.assert_array_equal(fast, wide)
    assert H._compact_surface(z + 1e-9).dtype == np.float64  # not float32 values: kept as they are


def test_point_horizons_far_stride():
    """With ``far_stride=2`` the swept azimuths are unchanged, and the others too where everything that rises
    above a point's horizon stands in its exact near field (here: within 9 cells); a tower beyond it moves
    the others' horizons a little (the accuracy against a ray cast: tests/test_walls.py). Azimuths that are
    not k * 360 / n with n a multiple of 4 are refused. ``codes=True`` gives the angles' codes."""
    import solarkataster.horizon as H

    rng = np.random.default_rng(5)
    z = rng.uniform(0.0, 0.2, (120, 120))
    z[56:64, 66:70] += 12.0  # within 6-9 cells east of the points
    n = 200
    rows, cols = rng.uniform(55, 65, n), rng.uniform(58, 61, n)
    heights = rng.uniform(1.0, 8.0, n)
    azimuths = np.arange(72) * 5.0
    kw = dict(near=16.0, line_spacing=1.0)
    one = H.point_horizons(z, 1.0, rows, cols, heights, azimuths, **kw)
    two = H.point_horizons(z, 1.0, rows, cols, heights, azimuths, far_stride=2, **kw)
    np.testing.assert_array_equal(two[::2], one[::2])
    seen = one > 20.0  # the block, east of the points; elsewhere the far ground is above the near one
    assert seen[(azimuths > 45) & (azimuths < 135)].mean() > 0.5
    np.testing.assert_array_equal(two[seen], one[seen])
    # a tower far beyond the near field, 6° wide, with the walls' 2° sectors: its edges move by up to a
    # swept spacing (an obstacle narrower than that could fall between swept azimuths, as with coarser sectors)
    z[10:16, 100:106] += 60.0
    azimuths = np.arange(180) * 2.0
    one = H.point_horizons(z, 1.0, rows, cols, heights, azimuths, **kw)
    two = H.point_horizons(z, 1.0, rows, cols, heights, azimuths, far_stride=2, **kw)
    diff = np.abs(two.astype(float) - one)
    tower = (azimuths > 30) & (azimuths < 45)
    assert (one[tower] > 25).any(axis=0).all() and (two[tower] > 25).any(axis=0).all()
    assert diff.max() > 0.01 and diff.mean() < 0.2, (diff.max(), diff.mean())
    # as codes (the walls' irradiation input): the codes of the angles
    np.testing.assert_array_equal(
        H.point_horizons(z, 1.0, rows, cols, heights, azimuths, far_stride=2, codes=True, **kw),
        H.angles_to_codes(two))
    with pytest.raises(ParameterError, match="far_stride"):
        H.point_horizons(z, 1.0, rows, cols, heights, np.arange(70) * 360 / 70, far_stride=2, **kw)
