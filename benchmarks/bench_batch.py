"""Batch throughput: the Essen DOM1 tile (1 km², 1 m) cut into 4 tiles, 1 vs 2 local workers.

Reports Mpx/s of tile cores, the scaling from 1 to 2 workers, each worker's peak RSS (getrusage maxrss,
recorded per tile in manifest.json) and the bytes per pixel of tile + halo, and sizes a 140 km² city at
0.5 m. The per-tile job is the raster engine (``irradiance_tile_job``, default 48 sectors); pass
``--cadastre`` for the full cadastre. Other processes on the machine change the numbers: the report prints
the load average.

``--tiling`` instead measures how much building detection depends on the tiling: the Essen tile's 4
quarters with the windows the batch plans (context halo, window corner snapped to the ground filter's
blocks) and, for comparison, unsnapped windows with several halos, each against the whole-raster detection:
the share of whole-run buildings matched with IoU >= 0.95 by the building owned by the tile that holds its
representative point, and the share of building pixels that differ.

    python benchmarks/bench_batch.py [--cadastre] [--sectors N] [--tiling]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

SHARED = Path(__file__).resolve().parents[2] / "shared" / "validation"
ESSEN = SHARED / "nrw-essen-dom1" / "dom1_32_356_5699_1_nw_2020.tif"


def cut(src_path, folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(src_path) as src:
        h, w = src.height // n, src.width // n
        for i in range(n):
            for j in range(n):
                win = Window(j * w, i * h, w, h)
                prof = dict(src.profile, width=w, height=h, transform=src.window_transform(win), tiled=True,
                            blockxsize=256, blockysize=256)
                with rasterio.open(folder / f"q{i}{j}.tif", "w", **prof) as dst:
                    dst.write(src.read(1, window=win), 1)
        return src.width * src.height


def _owned(labels, window, core):
    """Label image (whole-raster frame) of the buildings of ``labels`` whose representative point is in ``core``."""
    import shapely
    from affine import Affine

    from solarkataster.detection import building_polygons

    (R0, C0), (r0, r1, c0, c1) = window, core
    out = []
    for lab, g in building_polygons(labels, Affine.identity()).items():
        p = g.representative_point()
        if c0 - C0 <= p.x < c1 - C0 and r0 - R0 <= p.y < r1 - R0:
            out.append(shapely.affinity.translate(g, C0, R0))
    return out


def tiling_report(path=ESSEN, halos=(150, 250, 400)):
    import numpy as np
    import shapely
    from affine import Affine

    from solarkataster.batch import CONTEXT_HALO_M, ground_filter_alignment
    from solarkataster.batch.plan import tile_window
    from solarkataster.detection import building_polygons, detect_buildings

    with rasterio.open(path) as ds:
        z = ds.read(1, masked=True).astype(float).filled(np.nan)
        cs = ds.res[0]
    t0 = time.perf_counter()
    whole = list(building_polygons(detect_buildings(z, cs), Affine.identity()).values())
    print(f"whole raster: {len(whole)} buildings ({time.perf_counter() - t0:.1f} s)")
    n = z.shape[0] // 2
    cases = [("planned (context halo, snapped)", max(halos[0], CONTEXT_HALO_M), ground_filter_alignment(cs))]
    cases += [(f"halo {h} m, not snapped", h, 1) for h in halos]
    for name, halo, align in cases:
        tiled = []
        for i in range(2):
            for j in range(2):
                core_b = (j * n * cs, (1 - i) * n * cs, (j + 1) * n * cs, (2 - i) * n * cs)
                _, (left, bottom, right, top) = tile_window(core_b, halo, cs, (0.0, 2 * n * cs), align_px=align)
                R0, C0 = max(0, round((2 * n * cs - top) / cs)), max(0, round(left / cs))
                R1, C1 = min(2 * n, round((2 * n * cs - bottom) / cs)), min(2 * n, round(right / cs))
                labels = detect_buildings(z[R0:R1, C0:C1], cs)
                tiled += _owned(labels, (R0, C0), (i * n, (i + 1) * n, j * n, (j + 1) * n))
        tree = shapely.STRtree(tiled)
        iou = []
        for g in whole:
            cand = [tiled[k] for k in tree.query(g, predicate="intersects")]
            iou.append(max((g.intersection(c).area / g.union(c).area for c in cand), default=0.0))
        iou = np.array(iou)
        print(f"{name}: {len(tiled)} buildings vs {len(whole)}; IoU >= 0.95 for {np.mean(iou >= 0.95):.4f}, "
              f"median IoU {np.median(iou):.4f}", flush=True)


def main():
    from solarkataster.batch import BYTES_PER_PIXEL, default_tile_job, irradiance_tile_job, run_batch
    from solarkataster.pipeline import EngineOptions

    ap = argparse.ArgumentParser()
    ap.add_argument("--cadastre", action="store_true")
    ap.add_argument("--sectors", type=int, default=None)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tiling", action="store_true")
    args = ap.parse_args()
    if args.tiling:
        tiling_report()
        return
    job = default_tile_job() if args.cadastre else irradiance_tile_job
    opts = EngineOptions(sectors=args.sectors)
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    pixels = cut(ESSEN, tmp / "tiles")
    report = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "job": job.__name__,
              "sectors": opts.sectors, "core_pixels": pixels}
    runs = {}
    for n in args.workers:
        t0 = time.perf_counter()
        s = run_batch([tmp / "tiles"], tmp / f"out{n}", options=opts, workers=n, tile_job=job)
        dt = time.perf_counter() - t0
        m = json.loads((tmp / f"out{n}" / "manifest.json").read_text())
        recs = [r for r in m["tiles"].values() if r.get("status") == "done"]
        peak = max(r["peak_rss_bytes"] for r in recs)
        halo_px = max(r["pixels"] for r in recs)
        runs[n] = {"seconds": round(dt, 1), "mpx_per_s": round(pixels / 1e6 / dt, 4), "failed": s.failed,
                   "tile_seconds": [r["seconds"] for r in recs], "peak_rss_gib": round(peak / 2**30, 2),
                   "tile_plus_halo_px": halo_px, "halo_m": recs[0]["halo_m"],
                   "bytes_per_px_upper": round(peak / halo_px)}
        print(n, "workers:", json.dumps(runs[n]), flush=True)
    report["runs"] = runs
    if 1 in runs and 2 in runs:
        report["speedup_1_to_2"] = round(runs[1]["seconds"] / runs[2]["seconds"], 2)
    # sizing: 140 km² at 0.5 m = 560 tiles of 1 km² (4 Mpx core); per-tile work ~ tile + halo pixels
    best = runs[max(runs)]
    tile_s_1m = sum(best["tile_seconds"]) / len(best["tile_seconds"])  # one 500 m tile + halo at 1 m
    px_per_tile_here = best["tile_plus_halo_px"]
    halo_px_05 = int(round(best["halo_m"] / 0.5))
    px_city_tile = (2000 + 2 * halo_px_05) ** 2
    sec_per_city_tile = tile_s_1m * px_city_tile / px_per_tile_here
    n_tiles = 140
    report["city_140km2_05m"] = {
        "tiles_1km": n_tiles, "tile_plus_halo_px": px_city_tile,
        "seconds_per_tile_one_core": round(sec_per_city_tile),
        "hours_on_2_cores": round(n_tiles * sec_per_city_tile / 2 / 3600, 1),
        "cores_for_one_hour": int(-(-n_tiles * sec_per_city_tile // 3600)),
        "worker_memory_gib": round((400 * 2**20 + BYTES_PER_PIXEL * px_city_tile) / 2**30, 1)}
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
