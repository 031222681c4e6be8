"""Recall and speed of building detection on the Essen 1 km² DOM1 tile (1 m), with a before/after picture.

Recall without footprints: the share of "elevated, locally planar" area (more than 2.5 m above the
filtered ground and a 5 x 5 plane-fit RMS residual under 0.15 m, opened 3 x 3) that detected buildings
cover; the road embankment in the north-west is terrain by design and is reported apart. Tree-likeness:
mean 3 x 3 plane residual of detected pixels versus the undetected raised ones (crowns).

Run: .venv/bin/python benchmarks/bench_detection.py [path/to/dom1.tif] [--png out.png]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from solarkataster.detection import detect_buildings, ground_from_dsm, local_roughness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from detection_metrics import EMBANKMENT, planar_elevated  # noqa: E402  (shared with tests/test_detection.py)

DEFAULT = Path(__file__).resolve().parents[2] / "shared/validation/nrw-essen-dom1/dom1_32_356_5699_1_nw_2020.tif"


def hillshade(z, azimuth=315.0, altitude=45.0):
    gy, gx = np.gradient(z)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)
    az, alt = np.radians(azimuth), np.radians(altitude)
    return np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)


def main(path=DEFAULT, png=None):
    with rasterio.open(path) as ds:
        z = ds.read(1).astype(np.float64)
        cs = float(ds.transform.a)
    detect_buildings(z[:64, :64], cs)  # numba compile / cache load, not timed
    t = time.perf_counter()
    ground = ground_from_dsm(z, cs)
    t_ground = time.perf_counter() - t
    t = time.perf_counter()
    labels = detect_buildings(z, cs, ground)
    t_detect = time.perf_counter() - t
    planar = planar_elevated(z, ground)
    outside = planar.copy()
    outside[EMBANKMENT] = False
    rough = local_roughness(z, cs)
    rest = ((z - ground) > 2.5) & (labels == 0)
    print(f"{path.name}: {z.shape[0]} x {z.shape[1]} px at {cs} m")
    print(f"buildings: {labels.max()}, building area: {(labels > 0).sum() * cs ** 2:.0f} m²")
    print(f"planar-elevated area covered: {(labels[planar] > 0).mean():.3f} "
          f"({(labels[outside] > 0).mean():.3f} without the embankment)")
    print(f"mean 3x3 roughness: detected {rough[labels > 0].mean():.2f} m, "
          f"undetected raised {rough[rest].mean():.2f} m")
    print(f"ground_from_dsm: {t_ground:.2f} s, detect_buildings: {t_detect:.2f} s")
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(20, 20), dpi=60)
        ax.imshow(hillshade(z), cmap="gray")
        overlay = np.zeros(z.shape + (4,))
        overlay[labels > 0] = [1, 0, 0, 0.25]
        overlay[planar & (labels == 0)] = [0, 0, 1, 0.7]  # missed planar raised area
        ax.imshow(overlay)
        ax.contour(labels > 0, [0.5], colors="r", linewidths=1)
        ax.set_axis_off()
        fig.tight_layout()
        fig.savefig(png)
        print(f"wrote {png}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--png", default=None)
    args = parser.parse_args()
    main(args.path, args.png)
