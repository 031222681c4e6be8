"""CPU seconds of the roof stages of a cadastre run on the Essen 1 km² DOM1 tile (1 m, detected buildings).

Runs :func:`solarkataster.cadastre.compute_cadastre` once (clear sky) and prints, for the three stages
that follow the engine in the caller's thread, the CPU seconds of that thread (``time.thread_time``: the
walls run in a thread beside them and do not count): ``segmentation`` (:func:`solarkataster.roofs.roof_faces`),
``roofs_pv`` (face statistics, layout and assessment) and ``economics`` (buildings layer and household
economics); then the run's own wall-clock stage timings (``report["timings_s"]``), the process CPU
seconds and the load average. With ``--repeat N`` the three stages are run N more times on the inputs of
the first run, in this process and without the walls thread, and the minimum CPU seconds of each are
printed (on a shared machine a single run varies by up to 30 %). With ``--save FILE`` the roofs and
buildings layers of the first run are pickled, so that two checkouts can be compared exactly
(``--against FILE``: prints whether the layers are identical, column by column).

Run: .venv/bin/python benchmarks/bench_face_stages.py [path/to/dom1.tif] [--repeat 3] [--save F] [--against F]
"""
from __future__ import annotations

import argparse
import os
import pickle
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/validation/nrw-essen-dom1/dom1_32_356_5699_1_nw_2020.tif"


def _timed(seconds, name, fn):
    """Wrap ``fn`` so that its CPU seconds in the calling thread add to ``seconds[name]``."""

    def timed(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.thread_time() - t0

    return timed


def run_once(path):
    """Run the cadastre with the stage functions wrapped; return (result, CPU seconds per stage, stage inputs)."""
    import solarkataster.cadastre as C
    import solarkataster.roofs as R

    seconds, inputs = {}, {}
    originals = {"roof_faces": R.roof_faces, "_face_layer": C._face_layer, "_roof_areas": C._roof_areas,
                 "_building_layer": C._building_layer, "with_household_economics": C.with_household_economics}

    def capture(name, fn):
        def call(*args, **kwargs):
            inputs.setdefault(name, (args, kwargs))
            return fn(*args, **kwargs)
        return call

    stage = {"roof_faces": "segmentation", "_face_layer": "roofs_pv", "_roof_areas": "economics",
             "_building_layer": "economics", "with_household_economics": "economics"}
    R.roof_faces = _timed(seconds, "segmentation", capture("roof_faces", originals["roof_faces"]))
    for name in ("_face_layer", "_roof_areas", "_building_layer", "with_household_economics"):
        setattr(C, name, _timed(seconds, stage[name], capture(name, originals[name])))
    try:
        result = C.compute_cadastre(path, weather="clear-sky")
    finally:
        R.roof_faces = originals["roof_faces"]
        for name in ("_face_layer", "_roof_areas", "_building_layer", "with_household_economics"):
            setattr(C, name, originals[name])
    return result, seconds, inputs


def rerun(inputs):
    """Run the three stages again on the captured inputs; return their CPU seconds and the two layers."""
    import solarkataster.cadastre as C
    from solarkataster.roofs import roof_faces

    seconds = {}
    args, kwargs = inputs["roof_faces"]
    crs = inputs["_face_layer"][0][2].grid.crs
    t0 = time.thread_time()
    rf = roof_faces(*args, **kwargs)
    rf.faces, rf.buildings = rf.faces.set_crs(crs), rf.buildings.set_crs(crs)
    seconds["segmentation"] = time.thread_time() - t0
    args, kwargs = inputs["_face_layer"]
    t0 = time.thread_time()
    roofs, monthly = C._face_layer(rf, *args[1:], **kwargs)
    seconds["roofs_pv"] = time.thread_time() - t0
    args, kwargs = inputs["_building_layer"]
    fp, own = args[0], args[1]
    t0 = time.thread_time()
    buildings = C._building_layer(fp, own, args[2], roofs, monthly, *args[5:],
                                  **{**kwargs, "areas": C._roof_areas(rf, fp)})
    args, kwargs = inputs["with_household_economics"]
    buildings, _ = C.with_household_economics(buildings, roofs, None, fp, *args[4:], **kwargs)
    seconds["economics"] = time.thread_time() - t0
    return seconds, roofs, buildings


def identical(a, b):
    """Columns of two layers whose values (or geometries, by WKB) differ; [] when identical."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return ["<shape or columns>"]
    differ = []
    for col in a.columns:
        x, y = a[col].to_list(), b[col].to_list()
        if col == "geometry":
            same = all((g is None and h is None) or (g is not None and h is not None and g.wkb == h.wkb)
                       for g, h in zip(x, y))
        else:
            same = all(repr(u) == repr(v) for u, v in zip(x, y))
        if not same:
            differ.append(col)
    return differ


def main(path=DEFAULT, repeat=0, save=None, against=None):
    cpu0 = time.process_time()
    result, seconds, inputs = run_once(path)
    print("run: caller-thread CPU s per stage", {k: round(v, 3) for k, v in seconds.items()})
    print("run: wall s per stage (report)", result.report["timings_s"])
    print(f"run: process CPU {time.process_time() - cpu0:.1f} s, load average {os.getloadavg()}")
    layers = {"roofs": result.roofs, "buildings": result.buildings}
    if save:
        with open(save, "wb") as f:
            pickle.dump(layers, f)
    if against:
        with open(against, "rb") as f:
            other = pickle.load(f)
        for name, layer in layers.items():
            differ = identical(layer.reset_index(drop=True), other[name].reset_index(drop=True))
            print(f"{name}: {'identical' if not differ else 'DIFFERENT in ' + ', '.join(differ)}")
    best = {}
    for k in range(repeat):
        s, _, _ = rerun(inputs)
        best = {n: min(best.get(n, float("inf")), v) for n, v in s.items()}
        print(f"rerun {k + 1}: CPU s", {n: round(v, 3) for n, v in s.items()}, flush=True)
    if best:
        print("rerun minimum: CPU s", {n: round(v, 3) for n, v in best.items()}, "load average", os.getloadavg())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=0, help="reruns of the three stages on the same inputs")
    parser.add_argument("--save", default=None, help="pickle the roofs and buildings layers here")
    parser.add_argument("--against", default=None, help="compare the layers with a pickle of --save")
    a = parser.parse_args()
    main(a.path, a.repeat, a.save, a.against)
