"""Latency of /api/roofs?bbox= over real HTTP (uvicorn on loopback), sequential requests.

Usage::

    python benchmarks/bench_service.py [RESULTS_DIR] [--queries 200] [--large-faces 100000] [--no-large]

Without RESULTS_DIR the synthetic demo-size fixture (tests/results_fixture.py) is built in a temporary
folder. Then the same runs on a synthetic folder with ``--large-faces`` roof faces. Each query is a random
map view of about 250 m x 180 m (a zoom-18 browser window) inside the data extent. Targets: p95 <= 50 ms
(demo size) and <= 100 ms (100k faces).
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

VIEW_W_M, VIEW_H_M = 250.0, 180.0


def _serve(app):
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def bench(results_dir, n_queries=200, seed=1, label=""):
    """Print and return (p50, p95) [ms] of ``n_queries`` sequential bbox queries."""
    import httpx

    from solarkataster.service import create_app

    t0 = time.perf_counter()
    app = create_app(results_dir, preload=True)
    load_s = time.perf_counter() - t0
    store = app.state.store
    extent = store.extent()
    n_faces = len(store.layer("roofs"))
    server, thread, base = _serve(app)
    rng = np.random.default_rng(seed)
    lat_mid = (extent[1] + extent[3]) / 2
    dlat = VIEW_H_M / 111_320.0
    dlon = VIEW_W_M / (111_320.0 * np.cos(np.radians(lat_mid)))
    times, returned = [], []
    with httpx.Client(base_url=base, timeout=30) as client:
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
    server.should_exit = True
    thread.join(timeout=5)
    p50, p95 = np.percentile(times, [50, 95])
    print(f"{label}: {n_faces} faces, load {load_s:.2f} s; {n_queries} views of {VIEW_W_M:.0f} x {VIEW_H_M:.0f} m "
          f"(mean {np.mean(returned):.0f} faces each): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms; "
          f"whole extent ({whole['numberReturned']} of {whole['numberMatched']} faces, truncated="
          f"{whole['truncated']}): {whole_ms:.1f} ms")
    return p50, p95


def main(argv=None):
    from results_fixture import write_large_results, write_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", nargs="?", help="results folder (default: build the demo fixture)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--large-faces", type=int, default=100_000)
    parser.add_argument("--no-large", action="store_true", help="skip the synthetic large folder")
    args = parser.parse_args(argv)
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
