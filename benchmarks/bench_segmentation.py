"""Roof segmentation and face polygons on the Essen 1 km² DOM1 tile (1 m, no footprints): speed and geometry.

Prints the time of detection, segmentation and the polygon step per km², and the geometry figures of
issue 11: face count, share of MultiPolygon faces, overlap area of faces of one building, median coverage
of the building outline by its faces, share of footprint edges at exact multiples of 90°, and face parts
under 1 m²; for today's path (pixel-outline footprints, ``segment_roofs`` and ``face_polygons`` clipped
to the footprints) and for ``roof_faces`` (outlines, segmentation and polygons), one after the other in
the same process, and the ratio of their times.

With ``--stages`` it also prints the time of each step of ``roof_faces`` (a profile without the overhead of
cProfile: the steps are timed by wrapping the functions that ``solarkataster.roofs.faces`` calls).

With ``--only legacy`` or ``--only roof_faces`` it times just that path once, without detection (cached
inputs: the buildings are detected first, untimed), and prints one line ``<path> <seconds>``. Run it
alternately for two checkouts (``PYTHONPATH=<checkout>``) in separate processes and take the minimum of
several runs: on a shared machine a single run varies by up to 30 %.

With ``--compare OLD NEW`` (two checkouts) it runs ``--only legacy`` and ``--only roof_faces`` of each
checkout in separate processes, alternating old and new ``--repeat`` times, and prints the minimum CPU
seconds of each and the ratio of roof_faces to a reference time (``--reference``, default the legacy path at
the start of issue 11's polygon step: 2.02 s).

Run: .venv/bin/python benchmarks/bench_segmentation.py [path/to/dom1.tif] [--png out.png] [--stages] [--cpu]
     [--only legacy|roof_faces] [--compare OLD NEW [--repeat 3] [--reference 2.02]]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rasterio
import shapely

from solarkataster.detection import building_polygons, detect_buildings, ground_from_dsm
from solarkataster.roofs import face_polygons, segment_roofs

DEFAULT = Path(__file__).resolve().parents[2] / "shared/validation/nrw-essen-dom1/dom1_32_356_5699_1_nw_2020.tif"


def edge_angles(polys):
    """Direction [°, 0-180) and length [m] of every ring edge of the polygons."""
    ang, length = [], []
    for g in polys:
        for p in shapely.get_parts(g):
            for ring in [p.exterior, *p.interiors]:
                xy = np.asarray(ring.coords)
                d = np.diff(xy, axis=0)
                ang.append(np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180)
                length.append(np.hypot(d[:, 0], d[:, 1]))
    return np.concatenate(ang), np.concatenate(length)


def geometry_figures(face_polys, face_building, outlines):
    """Issue-11 figures of face polygons ``{face: geom}`` with ``{face: building}`` and ``{building: outline}``."""
    geoms = list(face_polys.values())
    multi = np.mean([g.geom_type == "MultiPolygon" for g in geoms]) if geoms else 0.0
    parts = shapely.get_parts(np.array(geoms, dtype=object)) if geoms else np.array([])
    small = int((shapely.area(parts) < 1.0).sum()) if len(parts) else 0
    by_b = {}
    for f, g in face_polys.items():
        by_b.setdefault(face_building[f], []).append(g)
    overlap, coverage = 0.0, []
    for b, gs in by_b.items():
        union = shapely.union_all(gs)
        overlap += sum(g.area for g in gs) - union.area
        out = outlines.get(b)
        if out is not None and out.area > 0:
            coverage.append(union.intersection(out).area / out.area)
    ang, length = edge_angles(list(outlines.values()))
    at90 = np.isclose(ang % 90, 0, atol=1e-6) | np.isclose(ang % 90, 90, atol=1e-6)
    return dict(faces=len(geoms), multipolygon_share=round(float(multi), 3), parts_under_1m2=small,
                overlap_m2=round(overlap, 1), median_coverage=round(float(np.median(coverage)), 3) if coverage else 0,
                edges_at_90_share=round(float(at90.mean()), 3),
                edge_length_at_90_share=round(float(length[at90].sum() / length.sum()), 3))


#: The clock of legacy() and current(): wall time, or CPU time of this process with --cpu (less sensitive to
#: other processes on a shared machine).
_CLOCK = [time.perf_counter]


def legacy(z, transform, ground):
    cs = float(transform.a)
    t = {}
    t0 = _CLOCK[0]()
    labels = detect_buildings(z, cs, ground)
    t["detection_s"] = _CLOCK[0]() - t0
    t0 = _CLOCK[0]()
    # today's footprints: the pixel outlines simplified by a pixel
    footprints = building_polygons(labels, transform, regularise=False)
    t["footprints_s"] = _CLOCK[0]() - t0
    t0 = _CLOCK[0]()
    seg = segment_roofs(z, cs, labels)
    t["segmentation_s"] = _CLOCK[0]() - t0
    t0 = _CLOCK[0]()
    fb = dict(zip(seg.faces["face"], seg.faces["building"]))
    polys = face_polygons(seg.face_labels, transform, clip={f: footprints.get(b) for f, b in fb.items()})
    t["polygons_s"] = _CLOCK[0]() - t0
    return t, geometry_figures(polys, fb, footprints)


def current(z, transform, ground):
    from solarkataster.roofs import roof_faces

    cs = float(transform.a)
    t = {}
    t0 = _CLOCK[0]()
    labels = detect_buildings(z, cs, ground)
    t["detection_s"] = _CLOCK[0]() - t0
    t0 = _CLOCK[0]()
    # regularised outlines of the roof pixels (overhangs included) are made inside
    rf = roof_faces(z, transform, labels, ground=ground)
    t["segmentation_and_polygons_s"] = _CLOCK[0]() - t0
    f = rf.faces
    polys = dict(zip(f["face"], f.geometry))
    fb = dict(zip(f["face"], f["building"]))
    outlines = dict(zip(rf.buildings["building"], rf.buildings.geometry))
    return t, geometry_figures(polys, fb, outlines), rf


#: Steps of roof_faces timed with --stages (names in solarkataster.roofs.faces and ._polygons).
STAGES = {"faces": ["segment_roofs", "raised_ring", "add_misfit_planes", "drop_ridge_strips", "merge_coplanar_faces",
                    "drop_stray_pixels", "nearest_any_face", "overhang_roof", "roof_outlines", "nearest_face",
                    "excluded_pixels", "face_geometries", "merge_small_parts", "tidy_faces", "fill_slivers",
                    "resolve_overlaps", "rasterise_faces", "_tables"],
          "_polygons": ["_fine_buildings", "_boundary_rules", "assign_subpixels", "_absorb_small_parts",
                        "_partition_polygons", "_snap_to_rules"]}


def timed_stages():
    """Wrap the steps of roof_faces with timers; returns the dict of accumulated seconds per step."""
    import importlib
    from collections import defaultdict

    seconds = defaultdict(float)

    def wrap(module, name):
        fn = getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - t0

        setattr(module, name, timed)

    for mod, names in STAGES.items():
        module = importlib.import_module(f"solarkataster.roofs.{mod}")
        for name in names:
            wrap(module, name)
    return seconds


def main(path=DEFAULT, png=None, stages=False, cpu=False):
    if cpu:
        _CLOCK[0] = time.process_time
    with rasterio.open(path) as ds:
        z = ds.read(1).astype(np.float64)
        transform = ds.transform
    cs = float(transform.a)
    ground = ground_from_dsm(z, cs)
    km2 = z.size * cs ** 2 / 1e6
    # numba compile / cache load, not timed
    segment_roofs(z[:50, :50], cs, np.ones((50, 50), int))
    current(z[:200, :200], transform, ground[:200, :200])
    seconds = timed_stages() if stages else None
    print(f"{path.name}: {z.shape[0]} x {z.shape[1]} px at {cs} m")
    t_old, fig_old = legacy(z, transform, ground)
    t_new, fig_new, rf = current(z, transform, ground)
    for name, t, fig in (("today: building_polygons + segment_roofs + face_polygons", t_old, fig_old),
                         ("roof_faces", t_new, fig_new)):
        print(name)
        for k, v in t.items():
            print(f"{k:>30s}: {v:6.2f} s  ({v / km2:.2f} s/km²)")
        for k, v in fig.items():
            print(f"{k:>30s}: {v}")
    ratio = t_new["segmentation_and_polygons_s"] / (t_old["footprints_s"] + t_old["segmentation_s"]
                                                    + t_old["polygons_s"])
    print(f"roof_faces / (building_polygons + segment_roofs + face_polygons): {ratio:.2f}")
    if seconds is not None:
        print("steps of roof_faces (s; face_geometries includes the _polygons steps below it):")
        for name, sec in sorted(seconds.items(), key=lambda kv: -kv[1]):
            print(f"{name:>30s}: {sec:6.2f}")
    if png:
        _picture(z, rf, png)


def _picture(z, rf, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(16, 16), dpi=60)
    tr = rf.transform
    ext = (tr.c, tr.c + tr.a * z.shape[1], tr.f + tr.e * z.shape[0], tr.f)
    gy, gx = np.gradient(z)
    ax.imshow(np.cos(np.arctan(np.hypot(gx, gy))), cmap="gray", extent=ext)
    rf.faces.boundary.plot(ax=ax, color="r", linewidth=0.6)
    rf.buildings.boundary.plot(ax=ax, color="c", linewidth=0.8)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(png)
    print(f"wrote {png}")


def only(path, which, cpu=True):
    """Time one path (``legacy``: pixel outlines + segment_roofs + face_polygons; or ``roof_faces``)."""
    from solarkataster.roofs import roof_faces

    clock = time.process_time if cpu else time.perf_counter
    with rasterio.open(path) as ds:
        z = ds.read(1).astype(np.float64)
        transform = ds.transform
    cs = float(transform.a)
    ground = ground_from_dsm(z, cs)
    labels = detect_buildings(z, cs, ground)

    def run(zz, lab, gr):
        if which == "roof_faces":
            roof_faces(zz, transform, lab, ground=gr)
            return
        footprints = building_polygons(lab, transform, regularise=False)
        seg = segment_roofs(zz, cs, lab)
        fb = dict(zip(seg.faces["face"], seg.faces["building"]))
        face_polygons(seg.face_labels, transform, clip={f: footprints.get(b) for f, b in fb.items()})

    run(z[:200, :200], labels[:200, :200], ground[:200, :200])  # numba compile / cache load, not timed
    t0 = clock()
    run(z, labels, ground)
    print(f"{which} {clock() - t0:.2f}")


def compare(path, old, new, repeat=3, reference=2.02):
    """Alternate ``--only`` runs of two checkouts; print the minimum CPU seconds per path and checkout."""
    import os
    import subprocess
    import sys

    times = {}
    for _ in range(repeat):
        for name, checkout in (("old", old), ("new", new)):
            for which in ("legacy", "roof_faces"):
                env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()))
                script = Path(checkout) / "benchmarks" / "bench_segmentation.py"
                out = subprocess.run([sys.executable, str(script), str(path), "--only", which], env=env,
                                     capture_output=True, text=True, check=True).stdout.split()
                times.setdefault((name, which), []).append(float(out[-1]))
    print(f"CPU s, minimum of {repeat} alternating runs (detection cached); reference {reference:.2f} s")
    print(f"{'':>12s} {'legacy':>8s} {'roof_faces':>11s} {'roof_faces / reference':>24s}")
    for name in ("old", "new"):
        leg, rf = min(times[(name, "legacy")]), min(times[(name, "roof_faces")])
        print(f"{name:>12s} {leg:8.2f} {rf:11.2f} {rf / reference:24.2f}")
    print("all runs:", {f"{k[0]} {k[1]}": v for k, v in times.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--png", default=None)
    parser.add_argument("--stages", action="store_true", help="time each step of roof_faces")
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process instead of wall time")
    parser.add_argument("--only", choices=["legacy", "roof_faces"], default=None,
                        help="time only this path, detection cached (CPU time unless --wall)")
    parser.add_argument("--wall", action="store_true", help="with --only: wall time instead of CPU time")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), default=None,
                        help="two checkouts: alternate --only runs of both and print the minima")
    parser.add_argument("--repeat", type=int, default=3, help="with --compare: runs per checkout and path")
    parser.add_argument("--reference", type=float, default=2.02,
                        help="with --compare: reference CPU seconds (the legacy path at the issue's start)")
    args = parser.parse_args()
    if args.compare:
        compare(args.path, *args.compare, repeat=args.repeat, reference=args.reference)
    elif args.only:
        only(args.path, args.only, cpu=not args.wall)
    else:
        main(args.path, png=args.png, stages=args.stages, cpu=args.cpu)
