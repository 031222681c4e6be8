"""Timings of ground filter, building detection and roof segmentation on the Essen 1 km² DOM1 tile (1 m).

Run: .venv/bin/python benchmarks/bench_roofs.py [path/to/dom1.tif]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from solarkataster.detection import building_polygons, detect_buildings, ground_from_dsm
from solarkataster.roofs import face_polygons, segment_roofs

DEFAULT = Path(__file__).resolve().parents[2] / "shared/validation/nrw-essen-dom1/dom1_32_356_5699_1_nw_2020.tif"


def main(path=DEFAULT):
    with rasterio.open(path) as ds:
        z = ds.read(1).astype(np.float64)
        transform = ds.transform
    cs = float(transform.a)
    segment_roofs(z[:50, :50], cs, np.ones((50, 50), int))  # numba compile / cache load, not timed
    timings = {}
    t = time.perf_counter()
    ground = ground_from_dsm(z, cs)
    timings["ground_from_dsm"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = detect_buildings(z, cs, ground)
    timings["detect_buildings"] = time.perf_counter() - t
    t = time.perf_counter()
    footprints = building_polygons(labels, transform)
    timings["building_polygons"] = time.perf_counter() - t
    t = time.perf_counter()
    seg = segment_roofs(z, cs, labels)
    timings["segment_roofs"] = time.perf_counter() - t
    t = time.perf_counter()
    faces = face_polygons(seg.face_labels, transform, clip=footprints.get and (lambda f: footprints.get(
        int(seg.faces.at[f - 1, "building"]))))
    timings["face_polygons"] = time.perf_counter() - t
    print(f"{path.name}: {z.shape[0]} x {z.shape[1]} px at {cs} m")
    print(f"buildings: {labels.max()}, roof faces: {len(seg.faces)}, face polygons: {len(faces)}, "
          f"roof pixels in faces: {(seg.face_labels > 0).sum() / max((labels > 0).sum(), 1):.0%}")
    for name, s in timings.items():
        print(f"{name:>18s}: {s:6.2f} s")
    print(f"{'total':>18s}: {sum(timings.values()):6.2f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
