"""Engine speed and memory on the Essen DSM upsampled to 0.5 m (1 Mpx and 4 Mpx), default settings.

Each measurement runs in a fresh subprocess: the cold one with an empty NUMBA_CACHE_DIR (so it includes
JIT compilation), the warm one reusing that cache. Peak memory is the subprocess's ru_maxrss. Besides wall
time each phase reports the process's CPU time (all threads), which a busy machine disturbs less.

    python benchmarks/bench_engine.py [--skip-4mpx]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
from scenes import essen_half_metre
from solarkataster.horizon import grid_anchor
from solarkataster.pipeline import EngineOptions, Site, build_sky, irradiation_raster, resolve_weather

size = {size}
grid = essen_half_metre(size)
opts = EngineOptions()
t0 = time.perf_counter()
site = Site.from_grid(grid)
weather = resolve_weather("clear-sky", site)
sky = build_sky(weather, site, opts)
t1 = time.perf_counter()
marks = {{}}

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

c1 = cpu()

def progress(done, total):
    if done >= opts.sectors and "horizon" not in marks:
        marks["horizon"] = (time.perf_counter(), cpu())

irr = irradiation_raster(grid.z, grid.cellsize, sky, opts, progress, anchor=grid_anchor(grid.transform))
t3, c3 = time.perf_counter(), cpu()
t2, c2 = marks.get("horizon", (t1, c1))
print(json.dumps({{"size": size, "pixels": grid.z.size, "sky_table_s": t1 - t0, "horizon_s": t2 - t1,
                   "irradiation_s": t3 - t2, "total_s": t3 - t0, "horizon_cpu_s": c2 - c1,
                   "irradiation_cpu_s": c3 - c2,
                   "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "median_global": float(__import__("numpy").nanmedian(irr.global_)),
                   "sectors": opts.sectors, "step_min": opts.step_minutes, "bins": opts.azimuth_bins}}))
"""


def run_child(size, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", CHILD.format(here=str(HERE), size=size)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(label, r):
    print(f"{label:<28} total {r['total_s']:6.1f} s  (sky table {r['sky_table_s']:5.1f}, horizon "
          f"{r['horizon_s']:5.1f}, irradiation {r['irradiation_s']:5.1f}; CPU: horizon {r['horizon_cpu_s']:5.1f}, "
          f"irradiation {r['irradiation_cpu_s']:5.1f})  peak RSS "
          f"{r['maxrss_bytes'] / 2**20:7.0f} MiB = {r['maxrss_bytes'] / r['pixels']:6.0f} B/px  "
          f"median global {r['median_global']:.0f} kWh/m²")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-4mpx", action="store_true")
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as cache:
        cold = run_child(1000, cache)
        print(f"settings: sectors {cold['sectors']}, step {cold['step_min']} min, azimuth bins {cold['bins']}, "
              "clear-sky 10-min records")
        show("1 Mpx (0.5 m) cold + JIT", cold)
        warm = run_child(1000, cache)
        show("1 Mpx (0.5 m) warm", warm)
        print(f"  JIT + first-call overhead ~ {cold['total_s'] - warm['total_s']:.1f} s; "
              f"warm throughput {warm['pixels'] / (warm['horizon_s'] + warm['irradiation_s']) / 1e3:.0f} kpx/s "
              "(horizon + irradiation)")
        if not args.skip_4mpx:
            big = run_child(2000, cache)
            show("4 Mpx (0.5 m) warm", big)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
