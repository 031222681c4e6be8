"""Convergence of annual global irradiation in the engine's numerical settings, to justify the defaults.

On a 300 x 300 crop of the 1 m Essen tile, each setting is varied alone from the defaults and compared
with a high-resolution run of ours (sectors 128, 2-min sun steps, 720 azimuth bins, whole-scene horizon).
Prints the mean absolute and the 99th percentile relative error of annual global per setting, the time,
and which settings stay below 1 % p99.

    python benchmarks/convergence.py [--crop 300]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SECTORS = (8, 16, 24, 32, 48, 64, 96)
DISTANCES = (25, 50, 100, 200, None)
STEPS = (5, 10, 15, 30, 60)
BINS = (90, 180, 360, 720)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crop", type=int, default=300)
    args = ap.parse_args()

    from scenes import essen_grid

    from solarkataster.pipeline import EngineOptions, Site, build_sky, irradiation_raster, resolve_weather

    grid = essen_grid()
    r0 = (grid.shape[0] - args.crop) // 2
    z = grid.z[r0:r0 + args.crop, r0:r0 + args.crop]
    site = Site.from_grid(grid)
    weather = resolve_weather("clear-sky", site)
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    print(f"Essen 1 m, centre crop {args.crop} x {args.crop}; defaults {EngineOptions()}")

    skies = {}

    def sky_for(opts):
        key = (opts.step_minutes, opts.azimuth_bins)
        if key not in skies:
            skies[key] = build_sky(weather, site, opts)
        return skies[key]

    def run(opts):
        sky = sky_for(opts)
        t = time.perf_counter()
        g = irradiation_raster(z, 1.0, sky, opts).global_
        return g, time.perf_counter() - t

    ref_opts = EngineOptions(sectors=128, step_minutes=2, azimuth_bins=720)
    reference, t_ref = run(ref_opts)
    ok = np.isfinite(reference) & (reference > 50)  # relative errors on near-dark pixels say little
    print(f"reference: sectors 128, step 2 min, bins 720: {t_ref:.1f} s (raster part; "
          f"median {np.median(reference[ok]):.0f} kWh/m²)\n")
    print(f"{'setting':<22}{'mean |rel|':>11}{'p99 |rel|':>11}{'time [s]':>10}")
    base = EngineOptions()
    below = []
    for name, field, values in (("sectors", "sectors", SECTORS), ("max distance [m]", "max_distance", DISTANCES),
                                ("step [min]", "step_minutes", STEPS), ("azimuth bins", "azimuth_bins", BINS)):
        for v in values:
            opts = dataclasses.replace(base, **{field: v})
            g, t = run(opts)
            rel = np.abs(g[ok] / reference[ok] - 1.0)
            mean, p99 = float(rel.mean()), float(np.percentile(rel, 99))
            label = f"{name} = {v if v is not None else 'all'}"
            print(f"{label:<22}{mean:>10.2%}{p99:>11.2%}{t:>10.1f}")
            if p99 < 0.01:
                below.append(label)
        print()
    print("settings with p99 < 1 % (others at their defaults): " + (", ".join(below) or "none"))
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
