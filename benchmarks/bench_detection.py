"""Recall and speed of building detection on the Essen 1 km² DOM1 tile (1 m), with a before/after picture.

Recall without footprints: the share of "elevated, locally planar" area (more than 2.5 m above the
filtered ground and a 5 x 5 plane-fit RMS residual under 0.15 m, opened 3 x 3) that detected buildings
cover; the road embankment in the north-west is terrain by design and is reported apart. Tree-likeness:
mean 3 x 3 plane residual of detected pixels versus the undetected raised ones (crowns).

Run: .venv/bin/python benchmarks/bench_detection.py [path/to/dom1.tif] [--png out.png]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

from solarkataster.detection import detect_buildings, ground_from_dsm, local_roughness

DEFAULT = Path(__file__).resolve().parents[2] / "shared/validation/nrw-essen-dom1/dom1_32_356_5699_1_nw_2020.tif"
#: rows, cols of the road embankment on the Essen tile (raised above the terrain, runs into the street)
EMBANKMENT = np.s_[100:210, 0:220]


def planar_elevated(z, ground):
    """Pixels > 2.5 m above ground whose 5 x 5 least-squares plane has an RMS residual < 0.15 m, opened 3 x 3.

    Independent of the detector's 3 x 3 tests: on a regular 5 x 5 grid the plane fit decouples
    (sum x² = sum y² = 50), so SSE = sum z² - (sum z)²/25 - (sum xz)²/50 - (sum yz)²/50. Also used by
    tests/test_detection.py.
    """
    k = np.tile(np.arange(-2.0, 3.0), (5, 1))
    s = ndimage.uniform_filter(z, 5, mode="nearest") * 25
    s2 = ndimage.uniform_filter(z * z, 5, mode="nearest") * 25
    sx = ndimage.correlate(z, k, mode="nearest")
    sy = ndimage.correlate(z, k.T, mode="nearest")
    rms = np.sqrt(np.maximum(s2 - s * s / 25 - sx * sx / 50 - sy * sy / 50, 0) / 25)
    return ndimage.binary_opening(((z - ground) > 2.5) & (rms < 0.15), structure=np.ones((3, 3), bool))


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
