"""Sizing from a measurement: a synthetic city block of 16 Mpx at 0.5 m (4 km²), end to end.

1. ``batch`` on a dask LocalCluster (default one worker: its numba kernels use every core): the block
   cut into tiles, footprints and a DTM, all outputs (per-tile COGs, VRT mosaics, merged GeoJSON and
   GeoPackage, vector tiles, profiles).
   Prints km² per hour per core and the peak resident memory per worker (each tile's ``peak_rss_bytes``
   in the manifest), and what that means for a 140 km² city on one 2-core machine.
2. ``solarkataster run`` on the same block as one raster, with the CLI's default memory budget (or
   ``--max-memory SIZE``): its time, its windows and its peak memory (resident memory of the process
   tree sampled every 0.2 s). The issue's goal: under 2.5 GB at 16 Mpx.

The block is the sample town repeated on flat ground (:func:`scenes.town_mosaic`). The machine's load is
printed: on a shared machine the times are upper bounds.

Run: ``python benchmarks/bench_city.py [--size 4000] [--tile 2000] [--workers N] [--max-memory default|2.5GB]
[--skip-batch] [--skip-run]`` (``--skip-batch``: the memory figure alone, about 15 min of two cores).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenes import town_mosaic  # noqa: E402

CITY_KM2 = 140.0  # the README's reference city
CELLSIZE = 0.5


def cut_tiles(dsm, folder, tile):
    """Cut a GeoTIFF into ``tile`` x ``tile`` px GeoTIFFs in ``folder``; return the folder."""
    import rasterio
    from rasterio.windows import Window

    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(dsm) as src:
        prof = src.profile
        for r in range(0, src.height, tile):
            for c in range(0, src.width, tile):
                w = Window(c, r, min(tile, src.width - c), min(tile, src.height - r))
                with rasterio.open(folder / f"t_{r // tile:02d}_{c // tile:02d}.tif", "w",
                                   **dict(prof, width=w.width, height=w.height,
                                          transform=src.window_transform(w))) as dst:
                    dst.write(src.read(1, window=w), 1)
    return folder


def bench_batch(dsm, dtm, fp, tmp, tile, workers):
    """Run the batch; print km²/h/core and the peak memory per worker."""
    from solarkataster.batch import run_batch

    tiles = cut_tiles(dsm, tmp / "tiles", tile)
    out = tmp / "batch_out"
    t0 = time.perf_counter()
    summary = run_batch([tiles], out, footprints=fp, dtm=[dtm], weather="clear-sky", workers=workers)
    seconds = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    recs = [r for r in manifest["tiles"].values() if r.get("status") == "done"]
    peak = max(r.get("peak_rss_bytes", 0) for r in recs) if recs else 0
    km2 = _area_km2(dsm)
    cores = os.cpu_count() or 1  # each worker's numba kernels use every core
    rate = km2 / (seconds / 3600.0) / cores
    print(f"batch: {len(recs)} tiles of {tile} px on {workers} worker(s), {cores} cores, {km2:.2f} km² in "
          f"{seconds:.0f} s ({len(summary.failed)} failed)")
    print(f"  outputs: {', '.join(Path(p).name for p in summary.outputs)}")
    print(f"  {rate:.2f} km² per hour per core; peak memory per worker {peak / 2**30:.2f} GiB "
          f"(load {os.getloadavg()[0]:.1f})")
    print(f"  a {CITY_KM2:.0f} km² city at 0.5 m on one 2-core machine: {CITY_KM2 / (2 * rate):.1f} h")
    return rate, peak


def _area_km2(dsm):
    import rasterio

    with rasterio.open(dsm) as ds:
        return ds.width * ds.height * abs(ds.transform.a * ds.transform.e) / 1e6


def bench_run(dsm, dtm, fp, tmp, max_memory):
    """Run ``solarkataster run [--max-memory]`` in a subprocess; print its time and peak memory."""
    from bench_memory import sample

    exe = Path(sys.executable).with_name("solarkataster")
    cmd = [str(exe), "run", str(dsm), "--footprints", str(fp), "--dtm", str(dtm), "--weather", "clear-sky",
           "--out", str(tmp / "run_out")] + ([] if max_memory == "default" else ["--max-memory", max_memory])
    state = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    th = threading.Thread(target=sample, args=(proc, tmp / "run_out", state), daemon=True)
    th.start()
    out, _ = proc.communicate()
    th.join()
    peak = max(state.values(), default=0)
    seconds = time.perf_counter() - t0
    run_json = tmp / "run_out" / "run.json"
    windows = len(json.loads(run_json.read_text()).get("windowed", {}).get("windows", [])) \
        if run_json.exists() else 0
    print(f"run, memory budget {max_memory}: exit {proc.returncode}, {seconds:.0f} s, {windows or 1} window(s), "
          f"peak memory {peak / 2**30:.2f} GiB (load {os.getloadavg()[0]:.1f})")
    if proc.returncode:
        print(out[-3000:])
    return seconds, peak


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000, help="block side [px] at 0.5 m (4000: 16 Mpx)")
    ap.add_argument("--tile", type=int, default=2000, help="batch tile side [px]")
    ap.add_argument("--workers", type=int, default=1,
                    help="LocalCluster workers (each one's numba kernels use every core: workers x threads = cores)")
    ap.add_argument("--max-memory", default="default", help="run's memory budget ('default': the CLI's)")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-run", action="store_true")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_city_"))
    try:
        dsm, dtm, fp = town_mosaic(tmp / "city", args.size, args.size)
        print(f"city block {args.size} x {args.size} px at {CELLSIZE} m ({args.size ** 2 / 1e6:.0f} Mpx, "
              f"{_area_km2(dsm):.1f} km²); load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        if not args.skip_batch:
            bench_batch(dsm, dtm, fp, tmp, args.tile, args.workers)
        if not args.skip_run:
            bench_run(dsm, dtm, fp, tmp, args.max_memory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
