"""Peak memory and time of ``solarkataster run`` (or ``irradiance``) on a synthetic town at 0.5 m.

The town is the sample town repeated on flat ground (:func:`scenes.town_mosaic`) with footprints and a
DTM. The command runs in a subprocess with ``--max-memory SIZE`` (``default``: the CLI's budget, see
``solarkataster.windowed.default_budget``); the resident memory of its process tree is sampled every 0.1 s.
Printed: the time, the windows, the peak resident memory, and the peaks while the windows were computed and
while their outputs were merged (the merge begins when the first merged file appears in the results folder),
with the machine's load (on a shared machine the times are upper bounds; the memory is not affected).

Run: ``python benchmarks/bench_memory.py [--size 2000] [--max-memory default|2.5GB] [--job run|irradiance]
[--scene DIR]`` (``--scene``: reuse or keep the generated town there). The issue's goal: 16 Mpx
(``--size 4000``) under 2.5 GB with the default budget.
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


def scene(folder, size):
    """The town of ``size`` x ``size`` px in ``folder`` (made unless already there): dsm, dtm, footprints."""
    paths = [folder / "dsm.tif", folder / "dtm.tif", folder / "footprints.gpkg"]
    if all(p.exists() for p in paths):
        import rasterio

        with rasterio.open(paths[0]) as ds:
            if ds.shape == (size, size):
                return paths
    return list(town_mosaic(folder, size, size))


def sample(proc, out_dir, state):
    """Sample the resident memory of ``proc`` and its children until it ends; split windows / merge."""
    import psutil

    p = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
        except psutil.Error:
            break
        merging = out_dir.exists() and any(not e.name.startswith(".") for e in out_dir.iterdir())
        phase = "merge" if merging else "compute"
        state[phase] = max(state.get(phase, 0), rss)
        time.sleep(0.1)


def measure(job, dsm, dtm, fp, out_dir, max_memory):
    """Run the CLI once; return (exit code, seconds, peaks by phase [bytes], run.json or {}, output tail)."""
    exe = Path(sys.executable).with_name("solarkataster")
    cmd = [str(exe), job, str(dsm), "--weather", "clear-sky", "--out", str(out_dir)]
    if job == "run":
        cmd += ["--footprints", str(fp), "--dtm", str(dtm)]
    if max_memory != "default":
        cmd += ["--max-memory", max_memory]
    state = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    th = threading.Thread(target=sample, args=(proc, out_dir, state), daemon=True)
    th.start()
    out, _ = proc.communicate()
    th.join()
    seconds = time.perf_counter() - t0
    run_json = out_dir / "run.json"
    prov = json.loads(run_json.read_text()) if run_json.exists() else {}
    return proc.returncode, seconds, state, prov, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000, help="town side [px] at 0.5 m (4000: 16 Mpx)")
    ap.add_argument("--max-memory", default="default", help="the budget ('default': the CLI's)")
    ap.add_argument("--job", choices=("run", "irradiance"), default="run")
    ap.add_argument("--scene", type=Path, default=None, help="folder to reuse or keep the generated town in")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    try:
        dsm, dtm, fp = scene(args.scene or tmp / "town", args.size)
        load0 = os.getloadavg()[0]
        rc, seconds, peaks, prov, out = measure(args.job, dsm, dtm, fp, tmp / "out", args.max_memory)
        windows = prov.get("windowed", {}).get("windows", [])
        budget = prov.get("windowed", {}).get("memory_budget_bytes")
        peak = max(peaks.values(), default=0)
        print(f"{args.job} on {args.size} x {args.size} px at 0.5 m ({args.size ** 2 / 1e6:.0f} Mpx), --max-memory "
              f"{args.max_memory}" + (f" ({budget / 2**30:.2f} GiB)" if budget else "") + f": exit {rc}, "
              f"{seconds:.0f} s, {len(windows) or 1} window(s), peak {peak / 2**30:.2f} GiB "
              f"({peak / 1e9:.2f} GB)")
        print(f"  peak while computing {peaks.get('compute', 0) / 2**30:.2f} GiB, while "
              f"{'merging' if windows else 'writing'} {peaks.get('merge', 0) / 2**30:.2f} GiB; load {load0:.1f} at "
              f"start, {os.getloadavg()[0]:.1f} at end on {os.cpu_count()} CPUs")
        for w in windows:
            px = round((w["window"][2] - w["window"][0]) * (w["window"][3] - w["window"][1]) / 0.25)
            print(f"  window {w['id']}: {px / 1e6:.2f} Mpx, {w['seconds']:.0f} s, process peak so far "
                  f"{w['peak_rss_bytes'] / 2**30:.2f} GiB")
        if rc:
            print(out[-3000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
