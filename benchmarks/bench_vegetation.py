"""Engine time with and without vegetation on a scene with trees (goal: vegetation adds at most 50 %).

Scene: the Gothenburg Kronenhuset block of the UMEP sample data (1 m DSM without trees, CDSM with 5.7 %
canopy, DEM), as it is and tiled 3 x 3 (669 x 702 pixels, the same canopy share). Clear-sky weather at the
site, default engine options. Each configuration is timed three times, alternating with the other, after
one warm-up run that compiles the kernels; the minimum of the three is printed. Wall time and the process's
CPU time are reported, since the machine may be shared.

    python benchmarks/bench_vegetation.py [--repeat 3] [--tiles 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from scenes import SHARED

GBG = SHARED / "goteborg-umep"


def _read(name):
    import rasterio

    with rasterio.open(GBG / f"{name}_KRbig.tif") as src:
        a = src.read(1).astype(np.float64)
        a[a < -1e30] = np.nan
        return a, src.transform, src.crs


def scene(tiles):
    """Opaque grid and vegetation of the Kronenhuset block, tiled ``tiles`` x ``tiles``."""
    from solarkataster.grid import Grid
    from solarkataster.vegetation import Vegetation

    dsm, transform, crs = _read("DSM")
    cdsm, _, _ = _read("CDSM")
    dem, _, _ = _read("DEM")
    dsm, cdsm, dem = (np.tile(a, (tiles, tiles)) for a in (dsm, cdsm, dem))
    return Grid(dsm, transform, crs, source={"path": str(GBG / "DSM_KRbig.tif")}), Vegetation(
        np.nan_to_num(cdsm), dem, source=str(GBG / "CDSM_KRbig.tif"))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(grid, sky, opts, veg):
    from solarkataster.horizon import canopy_horizon_codes, grid_anchor, horizon_codes
    from solarkataster.pipeline import irradiation_raster

    anchor = grid_anchor(grid.transform)
    t0, c0 = time.perf_counter(), cpu()
    irr = irradiation_raster(grid.z, grid.cellsize, sky, opts, anchor=anchor, vegetation=veg)
    t1, c1 = time.perf_counter(), cpu()
    horizon_codes(grid.z, grid.cellsize, opts.sectors, anchor=anchor)
    t2 = time.perf_counter()
    if veg is not None:
        canopy_horizon_codes(grid.z, grid.cellsize, veg, opts.sectors, anchor=anchor)
    t3 = time.perf_counter()
    return {"engine_s": t1 - t0, "engine_cpu_s": c1 - c0, "opaque_horizon_s": t2 - t1, "canopy_horizon_s": t3 - t2,
            "mean_global": float(np.nanmean(irr.global_)),
            "mean_vegetation_loss": float(np.nanmean(irr.vegetation_loss))}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiles", type=int, nargs="*", default=[1, 3])
    args = ap.parse_args()
    from solarkataster.pipeline import EngineOptions, Site, build_sky, resolve_weather

    opts = EngineOptions()
    for tiles in args.tiles:
        grid, veg = scene(tiles)
        site = Site.from_grid(grid)
        weather = resolve_weather("clear-sky", site)
        sky = build_sky(weather, site, opts, vegetation=veg)
        one(grid, sky, opts, veg)  # warm-up: JIT compilation
        runs = {"without": [], "with": []}
        for _ in range(args.repeat):
            runs["without"].append(one(grid, sky, opts, None))
            runs["with"].append(one(grid, sky, opts, veg))
        best = {k: {m: min(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        added = best["with"]["engine_s"] / best["without"]["engine_s"] - 1.0
        added_cpu = best["with"]["engine_cpu_s"] / best["without"]["engine_cpu_s"] - 1.0
        print(json.dumps({"scene": f"Kronenhuset KRbig x{tiles}", "pixels": int(grid.z.size),
                          "canopy_share": round(float(veg.mask.mean()), 4), "sectors": opts.sectors,
                          "without": best["without"], "with": best["with"],
                          "vegetation_adds": f"{added:+.0%} wall, {added_cpu:+.0%} cpu (goal <= +50 %)"}, indent=1))


if __name__ == "__main__":
    main()
