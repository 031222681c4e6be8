"""Reading one building's hourly profile, and the economics of one building, from a results folder.

Usage::

    python benchmarks/bench_profiles.py [--buildings 100000] [--reads 200] [--dense] [--results DIR]

Builds a synthetic ``profiles.npy`` + ``profiles.json`` with ``--buildings`` roof rows (float32, 8,760
hours) in a temporary folder with :func:`solarkataster.io.profiles.write_profiles`'s layout. Without
``--dense`` the matrix is a sparse file whose rows read are filled with data (3.5 GB for 100,000 buildings
would otherwise be written); with ``--dense`` every row is written. Prints: size per building-year, time to
open the store (parse the index, map the matrix), and per read (p50/p95) of one random building through
:class:`~solarkataster.io.profiles.ProfileStore` (target < 50 ms). Then the economics of one building
(:func:`solarkataster.economics.evaluate` with a cached H25, no battery and 5 kWh; target < 100 ms
for the endpoint). With ``--app``, minimal ``buildings.geojson`` / ``roofs.geojson`` layers are written
beside the synthetic store and ``GET /api/buildings/{id}/profile`` and ``/economics`` are timed through the
app on the full folder. With ``--results DIR`` (a real run), the endpoints are timed there too.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HOURS = 8760


def build(folder, n, reads, dense, rng):
    """Write a synthetic profile store; return the ids whose rows hold data."""
    from solarkataster.io.profiles import INDEX_FILE, PROFILES_FILE

    ids = [f"B{i:07d}" for i in range(n)]
    data = np.lib.format.open_memmap(folder / PROFILES_FILE, mode="w+", dtype=np.float32, shape=(n, HOURS))
    day = np.clip(np.sin(np.linspace(0, 2 * np.pi * 365, HOURS, endpoint=False) - np.pi / 2), 0, None)
    rows = np.arange(n) if dense else rng.choice(n, size=reads, replace=False)
    for r in rows:
        data[r] = (day * rng.uniform(1, 20)).astype(np.float32)
    data.flush()
    del data
    index = {"unit": "kWh", "dtype": "float32", "start": "2025-01-01T00:00:00+00:00", "step_s": 3600.0,
             "records": HOURS, "buildings": ids, "rows": {"roof": {b: i for i, b in enumerate(ids)}, "walls": {},
                                                          "faces": {}}}
    (folder / INDEX_FILE).write_text(json.dumps(index))
    return [ids[r] for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--dense", action="store_true")
    parser.add_argument("--results", default=None, help="a results folder of `solarkataster run`")
    parser.add_argument("--app", action="store_true", help="time the endpoints on the synthetic folder")
    args = parser.parse_args()
    from solarkataster import economics as E
    from solarkataster.io.profiles import INDEX_FILE, PROFILES_FILE, ProfileStore

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        filled = build(folder, args.buildings, args.reads, args.dense, rng)
        print(f"built {args.buildings} buildings in {time.perf_counter() - t0:.1f} s "
              f"({'dense' if args.dense else 'sparse file, rows read filled'})")
        size = (folder / PROFILES_FILE).stat().st_size
        print(f"profiles.npy {size / 1e9:.2f} GB = {size / args.buildings / 1e3:.1f} KB per building-year; "
              f"profiles.json {(folder / INDEX_FILE).stat().st_size / 1e6:.1f} MB")
        t0 = time.perf_counter()
        store = ProfileStore(folder)
        print(f"open store (parse index, map matrix): {1e3 * (time.perf_counter() - t0):.1f} ms")
        times = []
        for bid in rng.permutation(filled):
            t0 = time.perf_counter()
            values = store.profile(bid)
            times.append(time.perf_counter() - t0)
            assert values.shape == (HOURS,)
        ms = 1e3 * np.asarray(times)
        print(f"read one building: p50 {np.median(ms):.3f} ms, p95 {np.percentile(ms, 95):.3f} ms, "
              f"max {ms.max():.3f} ms over {len(ms)} reads (target < 50 ms)")
        cold = ProfileStore.__new__(ProfileStore)
        t0 = time.perf_counter()
        cold.__init__(folder)
        cold.profile(filled[0])
        print(f"open + read one building (no cache): {1e3 * (time.perf_counter() - t0):.1f} ms")
        pv_kwh = store.profile(filled[0]).astype(float)
        stamps = pd.date_range("2025-01-01", periods=HOURS, freq="1h", tz="UTC")
        t0 = time.perf_counter()
        E.load_profile(stamps, 4000.0)
        print(f"first H25 load profile of the year (then cached): {1e3 * (time.perf_counter() - t0):.0f} ms")
        E.evaluate(pv_kwh, E.load_profile(stamps, 4000.0), 10.0, battery_kwh=5.0)  # JIT warm-up
        for battery in (0.0, 5.0):
            t0 = time.perf_counter()
            for _ in range(20):
                E.evaluate(pv_kwh, E.load_profile(stamps, 4000.0), 10.0, battery_kwh=battery)
            print(f"economics of one building, battery {battery} kWh: "
                  f"{1e3 * (time.perf_counter() - t0) / 20:.2f} ms (target < 100 ms for the endpoint)")
        if args.app:
            write_layers(folder, args.buildings, rng)
            endpoints(folder, list(rng.permutation(filled)[:50]))
    if args.results:
        endpoints(args.results)


def write_layers(folder, n, rng):
    """Write ``buildings.geojson`` (n small squares with kWp and consumption) and an empty ``roofs.geojson``."""
    x0, y0 = 7.7, 49.4
    features = []
    for i in range(n):
        x, y = x0 + (i % 1000) * 2e-4, y0 + (i // 1000) * 2e-4
        ring = [[x, y], [x + 1e-4, y], [x + 1e-4, y + 1e-4], [x, y + 1e-4], [x, y]]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"building_id": f"B{i:07d}", "kwp": round(float(rng.uniform(3, 20)), 1),
                                        "consumption_kwh": 4000.0, "load_profile": "H25"}})
    t0 = time.perf_counter()
    (folder / "buildings.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    (folder / "roofs.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    print(f"wrote buildings.geojson ({n} features) in {time.perf_counter() - t0:.1f} s")


def endpoints(results, ids=None):
    """Time /api/buildings/{id}/profile and /economics of a results folder (in-process client)."""
    from fastapi.testclient import TestClient

    from solarkataster.service import create_app

    t0 = time.perf_counter()
    client = TestClient(create_app(results))
    print(f"create_app: {time.perf_counter() - t0:.1f} s")
    if ids is None:
        ids = [f["properties"]["building_id"] for f in
               json.loads((Path(results) / "buildings.geojson").read_text(encoding="utf-8"))["features"]]
    for path in ("profile", "economics?battery_kwh=5", "economics?battery_kwh=0&consumption_kwh=4000"):
        t0 = time.perf_counter()
        client.get(f"/api/buildings/{ids[0]}/{path}")  # warm: index, H25, JIT
        print(f"first GET /api/buildings/ID/{path} (cold): {1e3 * (time.perf_counter() - t0):.0f} ms")
        ms = []
        for bid in ids * 3:
            t0 = time.perf_counter()
            assert client.get(f"/api/buildings/{bid}/{path}").status_code == 200
            ms.append(1e3 * (time.perf_counter() - t0))
        print(f"GET /api/buildings/ID/{path}: p50 {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms "
              f"({len(ms)} requests)")


if __name__ == "__main__":
    main()
