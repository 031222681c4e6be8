"""Synthetic surface models with known geometry for the engine tests (EPSG:25832 near Kaiserslautern).

Every builder returns a :class:`solarkataster.grid.Grid` whose upper-left corner sits at ``ORIGIN`` (UTM
32N, about 49.44 N 7.77 E) and whose heights are around ``BASE_HEIGHT`` metres above sea level.
"""
from __future__ import annotations

import math

import numpy as np
from affine import Affine

from solarkataster.grid import Grid

CRS = "EPSG:25832"
#: Upper-left corner [m] in UTM 32N: Kaiserslautern's centre, 49.444 N 7.769 E.
ORIGIN = (410_500.0, 5_477_500.0)
BASE_HEIGHT = 250.0


def transform(cellsize, origin=ORIGIN):
    """North-up transform with square ``cellsize`` [m] pixels."""
    return Affine(cellsize, 0.0, origin[0], 0.0, -cellsize, origin[1])


def grid_of(z, cellsize=1.0, origin=ORIGIN):
    """Wrap a height array [m] into a Grid on the test site."""
    return Grid(np.asarray(z, dtype=np.float64), transform(cellsize, origin), CRS, source={"path": None})


def ramp(surface_tilt, surface_azimuth, size=41, cellsize=1.0):
    """A plane tilted by ``surface_tilt`` [°] facing ``surface_azimuth`` [°] (clockwise from north).

    The plane passes through ``BASE_HEIGHT`` at the centre pixel, so the median height (the engine's
    site altitude) is ``BASE_HEIGHT`` for every orientation. Its upward normal is
    (sin t sin a, sin t cos a, cos t) in (east, north, up), i.e. it descends towards ``surface_azimuth``.
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    mid = (size - 1) / 2.0
    east = (cols - mid) * cellsize
    north = (mid - rows) * cellsize
    slope = math.tan(math.radians(surface_tilt))
    a = math.radians(surface_azimuth)
    z = BASE_HEIGHT - slope * (math.sin(a) * east + math.cos(a) * north)
    return grid_of(z, cellsize)


def wall(height=20.0, size=200, cellsize=1.0, wall_col=150, thickness=10):
    """Flat ground at ``BASE_HEIGHT`` with a north-south wall block ``height`` [m] tall.

    The block fills columns ``wall_col:wall_col + thickness`` over every row. On the bilinear surface
    the wall's top edge runs along the centres of column ``wall_col``: a ground pixel in column c sees
    it to the east at horizontal distance ``(wall_col - c) * cellsize``.
    """
    z = np.full((size, size), BASE_HEIGHT)
    z[:, wall_col:wall_col + thickness] += height
    return grid_of(z, cellsize)


def blocks(size=120, cellsize=1.0, seed=7, n_blocks=12, max_height=15.0, nodata_holes=()):
    """Flat ground with random box buildings (3-15 m tall) and optional NaN holes.

    Parameters
    ----------
    nodata_holes : sequence of (row0, row1, col0, col1)
        Rectangles set to NaN (missing data).
    """
    rng = np.random.default_rng(seed)
    z = np.full((size, size), BASE_HEIGHT)
    for _ in range(n_blocks):
        h = rng.uniform(3.0, max_height)
        r0, c0 = rng.integers(0, size - 12, 2)
        dr, dc = rng.integers(5, 12, 2)
        z[r0:r0 + dr, c0:c0 + dc] = BASE_HEIGHT + h
    for r0, r1, c0, c1 in nodata_holes:
        z[r0:r1, c0:c1] = np.nan
    return grid_of(z, cellsize)
