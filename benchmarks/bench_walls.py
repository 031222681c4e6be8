"""Benchmark: all facades of the 1 km² Essen tile (1 m DSM), buildings detected from the DSM.

Run: ``python benchmarks/bench_walls.py [--march]``; prints the wall count, sample count and the time of each
stage. Target: <= 60 s for segments + samples + horizons + irradiation on 2 cores. ``--march`` also times the
former per-sample march (``wall_horizons(..., method='march')``) and prints how far it is from the sweep.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

TILE = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nrw-essen-dom1" / \
    "dom1_32_356_5699_1_nw_2020.tif"


def main():
    from solarkataster import detection, walls
    from solarkataster.io.raster import read_surface
    from solarkataster.sky import clear_sky_weather, sky_table, sun_steps

    if not TILE.exists():
        print(f"tile not found: {TILE}", file=sys.stderr)
        return 1
    grid = read_surface(TILE)
    lon, lat = grid.center_lonlat()
    t = {}
    t0 = time.perf_counter()
    ground = detection.ground_from_dsm(grid.z, grid.cellsize)
    labels = detection.detect_buildings(grid.z, grid.cellsize, ground)
    footprints = {str(k): v for k, v in detection.building_polygons(labels, grid.transform).items()}
    t["detection"] = time.perf_counter() - t0
    weather = clear_sky_weather(lat, lon, 100.0, 2025, freq="1h")
    sky = sky_table(sun_steps(weather, lat, lon, 100.0, step_minutes=10))
    t0 = time.perf_counter()
    segs, problems = walls.wall_segments(footprints, grid, ground)
    t["segments"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = walls.wall_samples(segs, grid)
    t["samples"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hor = walls.wall_horizons(samples, grid)
    t["horizons"] = time.perf_counter() - t0
    if "--march" in sys.argv:
        t0 = time.perf_counter()
        old = walls.wall_horizons(samples, grid, method="march")
        t["horizons (march)"] = time.perf_counter() - t0
        both = (np.abs(hor) < 89.9) & (np.abs(old) < 89.9)
        d = np.abs(hor - old)[both]
        print(f"sweep vs march: median {np.median(d):.2f}°, p90 {np.percentile(d, 90):.2f}°")
    t0 = time.perf_counter()
    per_wall, _ = walls.wall_irradiation(segs, samples, hor, sky)
    t["irradiation"] = time.perf_counter() - t0
    total = sum(v for k, v in t.items() if k not in ("detection", "horizons (march)"))
    print(f"buildings {len(footprints)}, walls {len(segs)} ({int(segs.shared.sum())} shared), "
          f"samples {len(samples)}, problems {len(problems)}")
    print("  ".join(f"{k} {v:.1f} s" for k, v in t.items()))
    print(f"walls total (segments..irradiation, excl. detection, incl. numba compile): {total:.1f} s")
    print(f"median wall irradiation {np.nanmedian(per_wall.irradiation):.0f} kWh/m²")
    return 0


if __name__ == "__main__":
    sys.exit(main())
