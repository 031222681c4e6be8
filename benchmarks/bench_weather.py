"""Benchmark: the engine's cost does not depend on the weather source.

Times, on one 500 x 500 DSM with its horizons computed once (geometry once, weather many times):

* reading the weather (``pipeline.resolve_weather``),
* building the sky table (``pipeline.build_sky``: sub-steps, sun positions, Perez, integration),
* evaluating every pixel (``irradiation.irradiation_from_slopes``),

for four sources: clear sky on 10-min records, the default weather ('auto': the DWD TRY 2010 of the site's
climate region, read from demandlib), the hourly DWD TRY 2010 Mannheim file (from ../shared/validation,
else an hourly CSV written here) and a 10-min CSV written here (clear sky dimmed by a random,
autocorrelated clear-sky index). With the default 10-min sun step all have 52 560 sub-steps,
so the per-pixel time should agree within noise; the sky table may differ slightly (only steps with beam or
circumsolar irradiance enter it, and cloudy steps have neither).

The DSM is the centre 500 x 500 of the Essen tile when ../shared/validation has it, else a synthetic town.

Last, the cost of putting hourly outputs on whole UTC hours (``io.weather.to_utc_hours``) for the default
weather, whose DWD TRY 2010 records start minutes past the UTC hour (true solar time): once for a roof yield
table's hourly values (tilts x azimuths x shading x records) and once for 10,000 building profiles.

Run: ``python benchmarks/bench_weather.py [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenes import ESSEN, SHARED  # noqa: E402

TRY_MANNHEIM = SHARED / "dwd-try2010" / "TRY2010_12_Jahr.dat"
SIZE = 500


def town_grid(size=SIZE, seed=11):
    """The Essen centre crop at 1 m, or a synthetic town of gable-roofed blocks in EPSG:25832."""
    from affine import Affine

    from solarkataster.grid import Grid

    if ESSEN.exists():
        from solarkataster.io.raster import read_surface

        g = read_surface(ESSEN)
        r0, c0 = (g.shape[0] - size) // 2, (g.shape[1] - size) // 2
        return g.window(r0, r0 + size, c0, c0 + size), f"Essen DSM centre {size}x{size} at 1 m"
    rng = np.random.default_rng(seed)
    z = np.full((size, size), 250.0)
    rows, cols = np.mgrid[0:size, 0:size]
    for _ in range(size * size // 900):
        r, c = rng.integers(0, size - 20, 2)
        h, w = rng.integers(8, 20, 2)
        eaves = rng.uniform(4, 15)
        ridge_along_rows = rng.random() < 0.5
        rr, cc = rows[r:r + h, c:c + w] - r, cols[r:r + h, c:c + w] - c
        dist = np.minimum(cc, w - 1 - cc) if ridge_along_rows else np.minimum(rr, h - 1 - rr)
        z[r:r + h, c:c + w] = np.maximum(z[r:r + h, c:c + w], 250.0 + eaves + 0.7 * dist)
    grid = Grid(z, Affine(1.0, 0, 410_500.0, 0, -1.0, 5_477_500.0), "EPSG:25832", source={"path": None})
    return grid, f"synthetic town {size}x{size} at 1 m"


def ten_minute_csv(path, site, year=2025, seed=5):
    """A 10-min CSV (interval starts, UTC): clear sky times an AR(1) clear-sky index in [0.1, 1]."""
    from solarkataster.sky import clear_sky_weather

    cs = clear_sky_weather(site.latitude, site.longitude, site.altitude, year, freq="10min").data
    rng = np.random.default_rng(seed)
    k = np.empty(len(cs))
    k[0] = 0.7
    noise = rng.normal(0, 0.08, len(cs))
    for i in range(1, len(cs)):
        k[i] = 0.7 + 0.97 * (k[i - 1] - 0.7) + noise[i]
    k = np.clip(k, 0.1, 1.0)
    ghi = np.round(cs["ghi"].to_numpy() * k, 1)
    beam_share = np.clip((k - 0.3) / 0.7, 0, 1) ** 2  # overcast: all diffuse
    dhi = np.round(np.minimum(ghi, ghi - (cs["ghi"] - cs["dhi"]).to_numpy() * beam_share * k), 1)
    frame = pd.DataFrame({"time": cs.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "ghi": ghi, "dhi": dhi,
                          "temp_air": 10.0, "wind_speed": 2.0})
    frame.to_csv(path, index=False)
    return path


def hourly_csv(path, site, year=2025):
    """Fallback for the TRY file: hourly means of the 10-min CSV's clear sky (no shared data)."""
    from solarkataster.sky import clear_sky_weather

    cs = clear_sky_weather(site.latitude, site.longitude, site.altitude, year, freq="1h").data
    frame = pd.DataFrame({"time": cs.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                          "ghi": np.round(cs["ghi"].to_numpy() * 0.7, 1),
                          "dhi": np.round(cs["dhi"].to_numpy() + cs["ghi"].to_numpy() * 0.2, 1)})
    frame["dhi"] = np.minimum(frame["dhi"], frame["ghi"])
    frame.to_csv(path, index=False)
    return path


def main(argv=None):
    from solarkataster.horizon import horizon_slopes
    from solarkataster.irradiation import irradiation_from_slopes
    from solarkataster.pipeline import EngineOptions, Site, build_sky, resolve_weather
    from solarkataster.surface import normal_to_tilt_azimuth, surface_normals

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    args = parser.parse_args(argv)

    grid, what = town_grid()
    site = Site.from_grid(grid)
    options = EngineOptions()  # 48 sectors, 10-min sun step, Perez, 360 azimuth bins
    t0 = time.perf_counter()
    hor = horizon_slopes(grid.z, grid.cellsize, options.sectors, options.max_distance)
    tilt, azimuth = normal_to_tilt_azimuth(surface_normals(grid.z, grid.cellsize))
    t_geometry = time.perf_counter() - t0
    pixels = grid.z.size
    print(f"DSM: {what}; {pixels} pixels, {options.sectors} sectors; horizons + normals {t_geometry:.1f} s "
          "(once, shared by all weather sources)")

    tmp = Path(tempfile.mkdtemp(prefix="bench_weather_"))
    sources = {"clear-sky, 10-min records": "clear-sky", "default (auto: region's DWD TRY)": "auto"}
    if TRY_MANNHEIM.exists():
        sources["DWD TRY 2010 Mannheim, hourly"] = str(TRY_MANNHEIM)
    else:
        sources["hourly CSV (no shared TRY file)"] = str(hourly_csv(tmp / "hourly.csv", site))
    sources["10-min CSV"] = str(ten_minute_csv(tmp / "ten_minute.csv", site))

    # warm-up: numba compilation must not count against the first source
    warm = build_sky(resolve_weather("clear-sky", site), site, options)
    irradiation_from_slopes(hor[:, :8, :8], tilt[:8, :8], azimuth[:8, :8], warm, options.albedo)

    header = (f"{'weather source':34s} {'records':>8s} {'steps':>7s} {'sun steps':>9s} {'read s':>7s} "
              f"{'sky s':>6s} {'pixels s':>8s} {'us/pixel':>8s} {'mean kWh/m2':>11s}")
    print(header)
    print("-" * len(header))
    for name, spec in sources.items():
        t0 = time.perf_counter()
        weather = resolve_weather(spec, site)
        t_read = time.perf_counter() - t0
        t_sky, t_px = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sky = build_sky(weather, site, options)
            t_sky.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            irr = irradiation_from_slopes(hor, tilt, azimuth, sky, options.albedo)
            t_px.append(time.perf_counter() - t0)
        print(f"{name:34s} {len(weather.data):8d} {sky.info['steps']:7d} {sky.info['sun_steps']:9d} "
              f"{t_read:7.2f} {min(t_sky):6.2f} {min(t_px):8.2f} {min(t_px) / pixels * 1e6:8.2f} "
              f"{float(np.nanmean(irr.global_)):11.1f}")
    rebin_timing(sources["default (auto: region's DWD TRY)"], site, args.repeat)
    return 0


def rebin_timing(spec, site, repeat):
    """Print the time of re-binning per-record results onto whole UTC hours (yield table, 10,000 profiles)."""
    from solarkataster.io.weather import to_utc_hours
    from solarkataster.pipeline import resolve_weather
    from solarkataster.pv import DEFAULT_AZIMUTHS, DEFAULT_SHADING, DEFAULT_TILTS

    weather = resolve_weather(spec, site)
    idx = weather.data.index
    off_hour = int((idx != idx.floor("h")).sum())
    rng = np.random.default_rng(1)
    arrays = {"yield table": rng.random((len(DEFAULT_TILTS), len(DEFAULT_AZIMUTHS), len(DEFAULT_SHADING),
                                         len(idx)), dtype=np.float32),
              "10,000 profiles": rng.random((10_000, len(idx)), dtype=np.float32)}
    print(f"\nre-binning onto whole UTC hours ({off_hour} of {len(idx)} records start off the hour)")
    for name, values in arrays.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            hours, hourly = to_utc_hours(values, idx, weather.interval, year=idx[len(idx) // 2].year)
            times.append(time.perf_counter() - t0)
        drift = abs(float(hourly.sum(dtype=np.float64)) / float(values.sum(dtype=np.float64)) - 1)
        print(f"{name:34s} {str(values.shape):>22s} -> {len(hours)} hours  {min(times):6.2f} s  "
              f"total kept within {drift:.1e}")


if __name__ == "__main__":
    sys.exit(main())
