"""Benchmark scenes built from the real data in ../shared/validation (never copied into the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOLARKATASTER_SHARED", REPO.parent / "shared")) / "validation"
ESSEN = SHARED / "nrw-essen-dom1" / "dom1_32_356_5699_1_nw_2020.tif"


def essen_grid():
    """The real 1 km² Essen DSM at 1 m (1000 x 1000)."""
    from solarkataster.io.raster import read_surface

    if not ESSEN.exists():
        raise SystemExit(f"needs {ESSEN}")
    return read_surface(ESSEN)


def essen_half_metre(size=1000):
    """A ``size`` x ``size`` DSM at 0.5 m: the Essen tile's centre bilinearly upsampled to 0.5 m."""
    from affine import Affine
    from scipy.ndimage import map_coordinates

    from solarkataster.grid import Grid

    g = essen_grid()
    r0 = (g.shape[0] - size / 2) / 2
    c0 = (g.shape[1] - size / 2) / 2
    rr, cc = np.mgrid[0:size, 0:size] * 0.5
    z = map_coordinates(g.z, [rr + r0, cc + c0], order=1)
    t = g.transform * Affine.translation(c0, r0) * Affine.scale(0.5)
    return Grid(z, t, g.crs, source={"path": str(ESSEN), "note": f"centre {size}x{size} upsampled to 0.5 m"})
