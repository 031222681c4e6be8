"""Detection metrics shared by tests/test_detection.py and benchmarks/bench_detection.py (tests never
import from benchmarks/; the benchmark imports from here)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

#: rows, cols of the road embankment on the Essen DOM1 tile (raised above the terrain, runs into the street)
EMBANKMENT = np.s_[100:210, 0:220]


def planar_elevated(z, ground):
    """Pixels > 2.5 m above ground whose 5 x 5 least-squares plane has an RMS residual < 0.15 m, opened 3 x 3.

    Independent of the detector's 3 x 3 tests: on a regular 5 x 5 grid the plane fit decouples
    (sum x² = sum y² = 50), so SSE = sum z² - (sum z)²/25 - (sum xz)²/50 - (sum yz)²/50.
    """
    k = np.tile(np.arange(-2.0, 3.0), (5, 1))
    s = ndimage.uniform_filter(z, 5, mode="nearest") * 25
    s2 = ndimage.uniform_filter(z * z, 5, mode="nearest") * 25
    sx = ndimage.correlate(z, k, mode="nearest")
    sy = ndimage.correlate(z, k.T, mode="nearest")
    rms = np.sqrt(np.maximum(s2 - s * s / 25 - sx * sx / 50 - sy * sy / 50, 0) / 25)
    return ndimage.binary_opening(((z - ground) > 2.5) & (rms < 0.15), structure=np.ones((3, 3), bool))
