"""Module layout speed: faces per second of :func:`solarkataster.pv.module_layout` on random rotated faces.

Run: ``python benchmarks/bench_layout.py [N]``.
"""
import sys
import time

import numpy as np
import shapely
import shapely.affinity

from solarkataster import pv


def main(n=500):
    rng = np.random.default_rng(1)
    faces = [shapely.affinity.rotate(shapely.box(0, 0, w, h), a)
             for w, h, a in zip(rng.uniform(4, 20, n), rng.uniform(3, 10, n), rng.uniform(0, 90, n))]
    tilts, azimuths = rng.uniform(0, 50, n), rng.uniform(0, 360, n)
    start = time.perf_counter()
    for face, tilt, azimuth in zip(faces, tilts, azimuths):
        pv.module_layout(face, tilt, azimuth)
    print(f"module_layout: {n / (time.perf_counter() - start):.0f} faces/s ({n} faces)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
