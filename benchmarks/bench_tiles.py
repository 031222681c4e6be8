"""Vector tiles of a city: build time, largest tile, ``serve`` start-up and range-request latency.

Usage::

    python benchmarks/bench_tiles.py [--buildings 50000] [--faces 5] [--walls 20] [--threads 2]
        [--requests 500] [--keep DIR]

A synthetic results folder is written first: ``--buildings`` rectangular buildings on a grid (45 m apart,
about 10 km x 10 km for 50,000) near Essen, each with ``--faces`` roof faces and ``--walls`` wall segments,
with every contract column (monthly arrays and height bands included, so the encoder parses files of a real
run's size). The defaults give 250,000 roof faces and 1,000,000 walls (the issue's city).

Measured and printed (never asserted):

* tile build time (``build_vector_tiles`` with tippecanoe limited to ``--threads`` threads); goal <= 5 min
  on 2 cores;
* the largest stored tile and the tile count per zoom; goal: no tile > 500 KB;
* start-up of the service: ``create_app(warm=True)`` (layers load in a background thread) until the first
  answer on real HTTP (uvicorn on loopback), then the time until every layer is loaded,
  and with ``--preload``, for comparison, ``create_app(preload=True)``, what ``solarkataster serve`` does today;
* p50/p95 latency of ``--requests`` sequential range requests of 16 KiB at random offsets of the archive
  (what MapLibre's pmtiles protocol sends); goal p95 <= 20 ms.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

LON0, LAT0 = 7.0, 51.44  # Essen
M_PER_DEG_LAT = 111_320.0
SPACING = 45.0  # [m] between building centres
MONTHS = (0.03, 0.05, 0.08, 0.11, 0.13, 0.14, 0.14, 0.12, 0.09, 0.06, 0.03, 0.02)
CLASSES = ("very good", "good", "limited", "unsuitable")


def _fmt(x, y):
    """Local metres -> '[lon,lat]' text."""
    lon = LON0 + x / (M_PER_DEG_LAT * math.cos(math.radians(LAT0)))
    return f"[{lon:.7f},{LAT0 + y / M_PER_DEG_LAT:.7f}]"


def _head(name):
    return ('{"type": "FeatureCollection", "metadata": {"layer": "%s", "created": "2026-11-30T00:00:00+00:00"}, '
            '"features": [' % name)


def write_city(folder, n_buildings, n_faces, n_walls, seed=1):
    """Write roofs/walls/buildings GeoJSON of a synthetic city (the writer's layout: one feature per line)."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n_buildings))
    files = {name: open(Path(folder) / f"{name}.geojson", "w", encoding="utf-8")
             for name in ("roofs", "walls", "buildings")}
    first = dict.fromkeys(files, True)

    def put(name, text):
        files[name].write(("\n" if first[name] else ",\n") + text)
        first[name] = False

    for name, f in files.items():
        f.write(_head(name))
    for k in range(n_buildings):
        cx, cy = (k % side) * SPACING, (k // side) * SPACING
        w, d = rng.uniform(10, 20), rng.uniform(8, 14)
        x0, y0 = cx - w / 2, cy - d / 2
        bid = f"B{k:07d}"
        irr = rng.uniform(500, 1150, n_faces)
        for j in range(n_faces):  # strips of the footprint
            xa, xb = x0 + w * j / n_faces, x0 + w * (j + 1) / n_faces
            ring = ",".join(_fmt(x, y) for x, y in ((xa, y0), (xb, y0), (xb, y0 + d), (xa, y0 + d), (xa, y0)))
            monthly = ",".join(f"{irr[j] * s:.2f}" for s in MONTHS)
            kwp = 0.2 * 0.7 * w * d / n_faces
            put("roofs", '{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[%s]]}, '
                '"properties": {"building_id": "%s", "face_id": "%s-F%02d", "source": "lidar", "tilt": %.2f, '
                '"azimuth": %.2f, "area": %.2f, "footprint_area": %.2f, "height": 9.5, "plane_rmse": 0.05, '
                '"plane_share": 0.95, "irradiation": %.2f, "irradiation_p10": %.2f, "irradiation_p50": %.2f, '
                '"irradiation_p90": %.2f, "monthly_irradiation": [%s], "shading_loss": 0.1, '
                '"usable_area": %.2f, "modules": 9, "kwp": %.3f, "yield_kwh": %.1f, "specific_yield": 900.0, '
                '"co2_savings_kg": 1000.0, "potential_kwp": %.3f, "potential_yield_kwh": 1000.0, '
                '"suitability": "%s"}}' % (ring, bid, bid, j, 30.0, 180.0, w * d / n_faces, w * d / n_faces,
                                            irr[j], 0.9 * irr[j], irr[j], 1.05 * irr[j], monthly,
                                            0.7 * w * d / n_faces, kwp, 0.8 * kwp * irr[j], kwp,
                                            CLASSES[j % 4]))
        corners = ((x0, y0), (x0 + w, y0), (x0 + w, y0 + d), (x0, y0 + d), (x0, y0))
        per_side = max(n_walls // 4, 1)
        for j in range(n_walls):
            s, t = divmod(j, per_side)
            s = min(s, 3)
            (ax, ay), (bx, by) = corners[s], corners[s + 1]
            f0, f1 = t / per_side, (t + 1) / per_side
            line = f"{_fmt(ax + (bx - ax) * f0, ay + (by - ay) * f0)},{_fmt(ax + (bx - ax) * f1, ay + (by - ay) * f1)}"
            put("walls", '{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [%s]}, '
                '"properties": {"building_id": "%s", "wall_id": "%s-W%03d", "azimuth": %.2f, "length": 3.0, '
                '"height": 9.0, "area": 27.0, "irradiation": 600.0, "monthly_irradiation": [%s], '
                '"bands": [{"z_min": 0.0, "z_max": 3.0, "irradiation": 550.0}, {"z_min": 3.0, "z_max": 6.0, '
                '"irradiation": 600.0}], "sky_view_factor": 0.45, "covered_share": 0.0, "usable_area": 10.0, '
                '"kwp": 1.5, "yield_kwh": 700.0, "potential_kwp": 1.5, "potential_yield_kwh": 700.0, '
                '"suitability": "limited", "shared": false}}' % (line, bid, bid, j, (90.0 * (s + 2)) % 360,
                                                                 ",".join("50.0" for _ in MONTHS)))
        ring = ",".join(_fmt(x, y) for x, y in corners)
        put("buildings", '{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[%s]]}, '
            '"properties": {"building_id": "%s", "source": "footprints", "status": "ok", "partly_outside": false, '
            '"faces": %d, "footprint_area": %.2f, "roof_area": %.2f, "usable_area": %.2f, "kwp": 10.0, '
            '"yield_kwh": 9000.0, "suitability": "good", "address": "Teststraße %d"}}'
            % (ring, bid, n_faces, w * d, w * d, 0.7 * w * d, k + 1))
    for f in files.values():
        f.write("\n]}\n")
        f.close()


def bench_service(folder, archive, n_requests, preload=False):
    """Print start-up and range latency; returns (start-up [s], p95 [ms])."""
    import httpx

    from solarkataster.service import create_app
    from solarkataster.service.background import serving

    t0 = time.perf_counter()
    app = create_app(folder, warm=True)
    with serving(app) as url, httpx.Client() as client:
        base = url.rstrip("/")
        r = client.get(f"{base}/tiles/solarkataster.pmtiles", headers={"Range": "bytes=0-16383"})
        startup = time.perf_counter() - t0
        assert r.status_code == 206, r.status_code
        while len(app.state.store.loaded_layers()) < 3:  # the layers load behind; measure once they have
            time.sleep(0.1)
        print(f"layers loaded in the background after {time.perf_counter() - t0:.1f} s")
        size = archive.stat().st_size
        rng = np.random.default_rng(2)
        times = []
        for start in rng.integers(0, max(size - 16384, 1), n_requests):
            t = time.perf_counter()
            r = client.get(f"{base}/tiles/solarkataster.pmtiles",
                           headers={"Range": f"bytes={start}-{start + 16383}"})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 206 and len(r.content) == min(16384, size - start)
    p50, p95 = np.percentile(times, [50, 95])
    print(f"serve (warm=True) start-up to the first range answer: {startup:.2f} s  (goal < 2 s)")
    print(f"range requests (16 KiB, {n_requests} sequential, loopback HTTP): p50 {p50:.1f} ms, "
          f"p95 {p95:.1f} ms  (goal p95 <= 20 ms)")
    if preload:
        t0 = time.perf_counter()
        create_app(folder, preload=True)
        print(f"create_app(preload=True), what 'serve' does today: {time.perf_counter() - t0:.1f} s")
    return startup, p95


def main(argv=None):
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buildings", type=int, default=50_000)
    p.add_argument("--faces", type=int, default=5)
    p.add_argument("--walls", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--keep", default=None, help="write the folder here and keep it")
    p.add_argument("--no-serve", action="store_true")
    p.add_argument("--preload", action="store_true", help="also time create_app(preload=True) (slow, much memory)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from solarkataster.io.vector_tiles import build_vector_tiles, tile_sizes

    tmp = None if args.keep else tempfile.TemporaryDirectory()
    folder = Path(args.keep or tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_city(folder, args.buildings, args.faces, args.walls)
    mb = sum((folder / f"{n}.geojson").stat().st_size for n in ("roofs", "walls", "buildings")) / 1e6
    print(f"synthetic city: {args.buildings} buildings, {args.buildings * args.faces} roof faces, "
          f"{args.buildings * args.walls} walls; {mb:.0f} MB GeoJSON in {time.perf_counter() - t0:.0f} s")
    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    archive = build_vector_tiles(folder, threads=args.threads)
    build_s = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    sizes = tile_sizes(archive)
    per_zoom = Counter(z for z, _, _ in sizes)
    largest = max(sizes, key=sizes.get)
    print(f"tile build ({args.threads} threads): {build_s:.0f} s wall, {cpu_s:.0f} s CPU of tippecanoe "
          f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs)  "
          f"(goal <= 300 s for 250k faces + 1M walls; CPU time bounds the wall time of an idle machine)")
    print(f"archive {archive.stat().st_size / 1e6:.1f} MB, {len(sizes)} tiles "
          f"({', '.join(f'z{z}: {n}' for z, n in sorted(per_zoom.items()))})")
    print(f"largest tile {sizes[largest] / 1e3:.1f} KB at {largest}  (goal <= 500 KB)")
    if not args.no_serve:
        bench_service(folder, archive, args.requests, preload=args.preload)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
