"""GRASS r.sun side by side with our engine on the same 1 Mpx DSM (Essen, upsampled to 0.5 m).

r.sun (Hofierka & Suri 2002; the model behind PVGIS) uses its own clear-sky model (ESRA, Rigollier et al.
2000) with a constant Linke turbidity, solar time steps, and isotropic-plus-Muneer diffuse; ours uses
Ineichen-Perez clear sky + Perez transposition. Both get clear sky (ours ``weather='clear-sky'``: the
default 'auto' would take the DWD test reference year), Linke 3.0 and albedo 0.2, so a few percent of
difference is expected from the models alone. Ours is timed ``--repeat`` times (the best counts).

Conventions: r.slope.aspect writes aspect counter-clockwise from east (its default, no -n flag), which is
what r.sun expects (270 = south); r.horizon uses the same convention for its directions, and r.sun
reads its maps with ``horizon_basename``/``horizon_step``. We never mix their angles with ours.

r.sun is run for sampled days (every ``--day-step``-th day of the year) and its daily sums and time are
scaled to 365 days (days at the middle of each step: 7, 22, ..., 352 for every 15th day). Needs
``grass`` on PATH (``apt-get install grass-core``); skips with a message otherwise.

    python benchmarks/bench_rsun.py [--size 1000] [--day-step 15] [--nprocs 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def grass(location, *args):
    """Run a GRASS module in ``location``'s PERMANENT mapset; returns its stderr."""
    cmd = ["grass", str(location / "PERMANENT"), "--exec", *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return res.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000, help="DSM side [px] at 0.5 m")
    ap.add_argument("--day-step", type=int, default=15, help="run r.sun on every n-th day")
    ap.add_argument("--first-day", type=int, default=None,
                    help="first sampled day (default: the middle of the first step, so the sample is even)")
    ap.add_argument("--nprocs", type=int, default=os.cpu_count())
    ap.add_argument("--linke", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of ours (the best counts)")
    args = ap.parse_args()
    if shutil.which("grass") is None:
        print("SKIP: GRASS GIS ('grass') is not installed; apt-get install grass-core")
        return

    import rasterio
    from scenes import essen_half_metre

    from solarkataster.io.raster import write_raster
    from solarkataster.pipeline import compute_irradiance
    from solarkataster.surface import surface_orientation

    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    grid = essen_half_metre(args.size)
    sectors = 48
    compute_irradiance(grid.window(0, 8, 0, 8), weather="clear-sky", linke=args.linke, sectors=sectors)  # JIT warm-up
    runs = []
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        ours = compute_irradiance(grid, weather="clear-sky", linke=args.linke, albedo=0.2, sectors=sectors)
        t_run, c_run = time.perf_counter() - t0, time.process_time() - c0
        runs.append(t_run)
        print(f"ours: {grid.z.size / 1e6:.2f} Mpx, sectors {sectors}, 10-min steps, Linke {args.linke}: "
              f"{t_run:.1f} s wall, {c_run:.1f} s CPU (all threads), load average {load:.2f} -> "
              f"{os.getloadavg()[0]:.2f} ({ours.provenance['timings_s']})")
    t_ours = min(runs)
    print(f"ours: best of {len(runs)} {t_ours:.1f} s (median {np.median(runs):.1f} s)")

    first = args.first_day if args.first_day is not None else max(1, args.day_step // 2)
    days = list(range(first, 366, args.day_step))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dsm = write_raster(tmp / "dsm.tif", grid.z, grid)
        loc = tmp / "loc"
        subprocess.run(["grass", "-c", "EPSG:25832", "-e", str(loc)], check=True, capture_output=True)
        grass(loc, "r.in.gdal", f"input={dsm}", "output=dsm")
        grass(loc, "g.region", "raster=dsm")
        t = time.perf_counter()
        grass(loc, "r.slope.aspect", "elevation=dsm", "slope=slope", "aspect=aspect")
        t_slope = time.perf_counter() - t
        t = time.perf_counter()
        grass(loc, "r.horizon", "elevation=dsm", f"step={360 / sectors}", "output=hor")
        t_horizon = time.perf_counter() - t
        print(f"r.slope.aspect {t_slope:.1f} s, r.horizon (step {360 / sectors}°) {t_horizon:.1f} s")
        daily = []
        t_days = 0.0
        for i, day in enumerate(days):
            t = time.perf_counter()
            grass(loc, "r.sun", "elevation=dsm", "slope=slope", "aspect=aspect", "horizon_basename=hor",
                  f"horizon_step={360 / sectors}", f"day={day}", "step=0.25", f"linke_value={args.linke}",
                  "albedo_value=0.2", f"glob_rad=glob{day}", f"nprocs={args.nprocs}")
            t_days += time.perf_counter() - t
            out = tmp / f"glob{day}.tif"
            grass(loc, "r.out.gdal", f"input=glob{day}", f"output={out}", "type=Float32", "-c")
            with rasterio.open(out) as ds:
                daily.append(ds.read(1, masked=True).filled(np.nan))
            if i == 0:
                print(f"r.sun day {day}: {t_days:.1f} s")
    per_day = t_days / len(days)
    rsun_annual = np.nansum(daily, axis=0) * (365.0 / len(days)) / 1000.0  # Wh/m²/day -> kWh/m²/a
    rsun_annual[np.isnan(daily[0])] = np.nan
    t_rsun = t_slope + t_horizon + per_day * 365
    print(f"days sampled: {days[0]}..{days[-1]} every {args.day_step} ({len(days)} days), r.sun step 0.25 h")
    print(f"r.sun per day {per_day:.1f} s -> year: {t_slope:.1f} + {t_horizon:.1f} + {per_day:.1f} x 365 = "
          f"{t_rsun:.0f} s")
    print(f"ours {t_ours:.1f} s -> r.sun / ours = {t_rsun / t_ours:.0f}x")

    g = ours.irradiation.global_
    ok = np.isfinite(g) & np.isfinite(rsun_annual) & (rsun_annual > 0)
    ok[:2], ok[-2:], ok[:, :2], ok[:, -2:] = False, False, False, False  # GRASS leaves edge slopes null
    rel = g[ok] / rsun_annual[ok] - 1.0
    pct = np.percentile(rel, [5, 25, 50, 75, 95])
    print(f"annual global, ours / r.sun - 1 on {ok.sum()} pixels: p5 {pct[0]:+.1%}, p25 {pct[1]:+.1%}, "
          f"median {pct[2]:+.1%}, p75 {pct[3]:+.1%}, p95 {pct[4]:+.1%}")
    tilt, _ = surface_orientation(grid.z, grid.cellsize)
    flat_open = ok & (tilt < 5) & (ours.irradiation.sky_view_factor > 0.97)
    rel = g[flat_open] / rsun_annual[flat_open] - 1.0
    pct = np.percentile(rel, [5, 50, 95])
    print(f"flat open pixels (tilt < 5°, SVF > 0.97, n={flat_open.sum()}): ours median "
          f"{np.median(g[flat_open]):.0f}, r.sun median {np.median(rsun_annual[flat_open]):.0f} kWh/m²; "
          f"ours / r.sun - 1: p5 {pct[0]:+.1%}, median {pct[1]:+.1%}, p95 {pct[2]:+.1%}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
