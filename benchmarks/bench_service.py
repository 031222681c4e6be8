"""Service start-up and latency over real HTTP (uvicorn on loopback), sequential requests.

Usage::

    python benchmarks/bench_service.py [RESULTS_DIR] [--queries 200] [--large-faces 100000] [--no-large]
    python benchmarks/bench_service.py --city DIR [--queries 200] [--requests 500] [--old-store]

Without RESULTS_DIR the synthetic demo-size fixture (tests/results_fixture.py) is built in a temporary
folder. Then the same runs on a synthetic folder with ``--large-faces`` roof faces. Each query is a random
map view of about 250 m x 180 m (a zoom-18 browser window) inside the data extent. Targets: p95 <= 50 ms
(demo size) and <= 100 ms (100k faces).

``--city DIR``: the synthetic city that ``benchmarks/bench_tiles.py --keep DIR`` writes (250,000 roof faces,
1,000,000 walls, with ``solarkataster.pmtiles``). Printed: the time to write the columnar layer index (once,
by the writer), the service start-up (``create_app`` until /api/meta and a first 16 KiB range request of the
tiles are answered over HTTP; goal < 2 s), the time until every layer is open, the p50/p95 of ``--requests``
range requests (goal p95 <= 20 ms), of bbox views and of /api/buildings/{id}. ``--old-store`` also times the
previous store's start (parsing every GeoJSON layer; git revision 1f00d01), for a before/after figure.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

VIEW_W_M, VIEW_H_M = 250.0, 180.0


def bench(results_dir, n_queries=200, seed=1, label=""):
    """Print and return (p50, p95) [ms] of ``n_queries`` sequential bbox queries."""
    import httpx

    from solarkataster.service import create_app
    from solarkataster.service.background import serving

    t0 = time.perf_counter()
    app = create_app(results_dir, preload=True)
    load_s = time.perf_counter() - t0
    store = app.state.store
    extent = store.extent()
    n_faces = len(store.layer("roofs"))
    rng = np.random.default_rng(seed)
    lat_mid = (extent[1] + extent[3]) / 2
    dlat = VIEW_H_M / 111_320.0
    dlon = VIEW_W_M / (111_320.0 * np.cos(np.radians(lat_mid)))
    times, returned = [], []
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        client.get("/health")
        for _ in range(n_queries):
            lon0 = rng.uniform(extent[0], max(extent[0], extent[2] - dlon))
            lat0 = rng.uniform(extent[1], max(extent[1], extent[3] - dlat))
            bbox = f"{lon0:.7f},{lat0:.7f},{lon0 + dlon:.7f},{lat0 + dlat:.7f}"
            t = time.perf_counter()
            r = client.get("/api/roofs", params={"bbox": bbox})
            r.raise_for_status()
            body = r.json()
            times.append((time.perf_counter() - t) * 1e3)
            returned.append(body["numberReturned"])
        t = time.perf_counter()
        whole = client.get("/api/roofs", params={"bbox": ",".join(map(str, extent))}).json()
        whole_ms = (time.perf_counter() - t) * 1e3
    p50, p95 = np.percentile(times, [50, 95])
    print(f"{label}: {n_faces} faces, load {load_s:.2f} s; {n_queries} views of {VIEW_W_M:.0f} x {VIEW_H_M:.0f} m "
          f"(mean {np.mean(returned):.0f} faces each): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms; "
          f"whole extent ({whole['numberReturned']} of {whole['numberMatched']} faces, truncated="
          f"{whole['truncated']}): {whole_ms:.1f} ms")
    return p50, p95


def _timed_get(client, url, n, make_params, headers=None):
    times = []
    for k in range(n):
        params, hdrs = make_params(k)
        t = time.perf_counter()
        r = client.get(url if isinstance(url, str) else url(k), params=params, headers=hdrs or headers)
        times.append((time.perf_counter() - t) * 1e3)
        assert r.status_code in (200, 206), (r.status_code, r.text[:200])
    return np.percentile(times, [50, 95])


def bench_city(folder, n_queries=200, n_requests=500, old_store=False):
    """Print the start-up and latencies of the service on a city-sized folder (see the module docstring)."""
    import httpx

    from solarkataster import layers
    from solarkataster.io.layer_index import INDEX_DIR, write_layer_index
    from solarkataster.service import create_app
    from solarkataster.service.background import serving

    folder = Path(folder)
    t0 = time.perf_counter()
    write_layer_index(folder, {n: layers.id_field(n) for n in ("roofs", "walls", "buildings")})
    print(f"layer index ({INDEX_DIR}/) present or written in {time.perf_counter() - t0:.1f} s (once, by the writer)")
    t0 = time.perf_counter()
    app = create_app(folder)
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        meta = client.get("/api/meta").json()
        r = client.get("/tiles/solarkataster.pmtiles", headers={"Range": "bytes=0-16383"})
        startup = time.perf_counter() - t0
        assert r.status_code == 206
        app.state.store.load_all()
        all_open = time.perf_counter() - t0
        size = (folder / "solarkataster.pmtiles").stat().st_size
        starts = np.random.default_rng(2).integers(0, max(size - 16384, 1), n_requests)
        rng_p = _timed_get(client, "/tiles/solarkataster.pmtiles", n_requests,
                           lambda k: (None, {"Range": f"bytes={starts[k]}-{starts[k] + 16383}"}))
        extent = meta["extent"]
        rng = np.random.default_rng(1)
        dlat = VIEW_H_M / 111_320.0
        dlon = VIEW_W_M / (111_320.0 * np.cos(np.radians((extent[1] + extent[3]) / 2)))
        views = [(rng.uniform(extent[0], extent[2] - dlon), rng.uniform(extent[1], extent[3] - dlat))
                 for _ in range(n_queries)]
        bbox_p = _timed_get(client, "/api/roofs", n_queries, lambda k: (
            {"bbox": f"{views[k][0]:.7f},{views[k][1]:.7f},{views[k][0] + dlon:.7f},{views[k][1] + dlat:.7f}"},
            None))
        n_b = meta["counts"]["buildings"]
        ids = [f"B{int(i):07d}" for i in rng.integers(0, n_b, n_queries)]
        bld_p = _timed_get(client, lambda k: f"/api/buildings/{ids[k]}", n_queries, lambda k: (None, None))
        t = time.perf_counter()
        client.get("/api/search", params={"q": "Teststraße 4711"})
        first_search = time.perf_counter() - t
    print(f"city: {meta['counts']}")
    print(f"start-up (create_app until /api/meta and a first range request answered over HTTP): {startup:.2f} s "
          f"(goal < 2 s); every layer open after {all_open:.2f} s")
    print(f"range requests (16 KiB, {n_requests} sequential): p50 {rng_p[0]:.1f} ms, p95 {rng_p[1]:.1f} ms "
          f"(goal p95 <= 20 ms)")
    print(f"/api/roofs views of {VIEW_W_M:.0f} x {VIEW_H_M:.0f} m: p50 {bbox_p[0]:.1f} ms, p95 {bbox_p[1]:.1f} ms; "
          f"/api/buildings/{{id}}: p50 {bld_p[0]:.1f} ms, p95 {bld_p[1]:.1f} ms; first search (builds its "
          f"index) {first_search:.1f} s")
    if old_store:
        _bench_old_store(folder)
    return startup, rng_p[1]


def _bench_old_store(folder):
    """Time the previous store's full load (every GeoJSON layer parsed), from git revision 1f00d01."""
    import importlib.util
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    code = subprocess.run(["git", "-C", str(repo), "show", "1f00d01:solarkataster/service/store.py"],
                          capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_store.py"
    path.write_text(code.replace("from .. import", "from solarkataster import")
                    .replace("from ..errors import", "from solarkataster.errors import"))
    spec = importlib.util.spec_from_file_location("old_store", path)
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_store"] = old  # dataclasses look their module up
    spec.loader.exec_module(old)
    t0 = time.perf_counter()
    old.ResultsStore(folder).load_all()
    print(f"before: the previous store parses every layer in {time.perf_counter() - t0:.1f} s before /api/meta "
          f"can answer")


def main(argv=None):
    from results_fixture import write_large_results, write_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", nargs="?", help="results folder (default: build the demo fixture)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--large-faces", type=int, default=100_000)
    parser.add_argument("--no-large", action="store_true", help="skip the synthetic large folder")
    parser.add_argument("--city", default=None, help="folder written by bench_tiles.py --keep DIR")
    parser.add_argument("--requests", type=int, default=500, help="range requests (with --city)")
    parser.add_argument("--old-store", action="store_true", help="with --city: also time the previous store")
    args = parser.parse_args(argv)
    if args.city:
        bench_city(args.city, args.queries, args.requests, args.old_store)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.results_dir) if args.results_dir else write_results(Path(tmp) / "demo")
        _, p95_demo = bench(folder, args.queries, label=f"demo-size ({folder.name})")
        ok = p95_demo <= 50
        if not args.no_large:
            t = time.perf_counter()
            large = write_large_results(Path(tmp) / "large", n_faces=args.large_faces)
            print(f"(wrote the {args.large_faces}-face folder in {time.perf_counter() - t:.1f} s)")
            _, p95_large = bench(large, args.queries, label="large")
            ok = ok and p95_large <= 100
    print("targets (p95 <= 50 ms demo, <= 100 ms at 100k):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
