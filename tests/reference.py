"""Slow, obviously correct reference implementations that the fast kernels are tested against."""
from __future__ import annotations

import math

import numpy as np


def bilinear(z, r, c):
    rows, cols = z.shape
    if r < 0 or c < 0 or r > rows - 1 or c > cols - 1:
        return math.nan
    r0 = min(int(r), rows - 2)
    c0 = min(int(c), cols - 2)
    fr, fc = r - r0, c - c0
    return ((1 - fr) * ((1 - fc) * z[r0, c0] + fc * z[r0, c0 + 1])
            + fr * ((1 - fc) * z[r0 + 1, c0] + fc * z[r0 + 1, c0 + 1]))


def brute_horizon(z, cellsize, r, c, azimuth_deg, step=0.1, max_cells=None, z0=None):
    """Horizon angle [°] from pixel (r, c) by marching the bilinear surface every ``step`` cells."""
    a = math.radians(azimuth_deg)
    dc, dr = math.sin(a), -math.cos(a)
    z0 = z[r, c] if z0 is None else z0
    best = -math.inf
    d = step
    limit = max_cells if max_cells is not None else math.hypot(*z.shape)
    while d <= limit:
        zz = bilinear(z, r + d * dr, c + d * dc)
        if math.isnan(zz):
            if not (0 <= r + d * dr <= z.shape[0] - 1 and 0 <= c + d * dc <= z.shape[1] - 1):
                break
        else:
            best = max(best, (zz - z0) / (d * cellsize))
        d += step
    return math.degrees(math.atan(best)) if best > -math.inf else -90.0


def sun_visible(z, cellsize, r, c, sun_azimuth, sun_elevation, step=0.25):
    """True if the sun at (azimuth, elevation) [°] is above the bilinear surface seen from (r, c)."""
    return brute_horizon(z, cellsize, r, c, sun_azimuth, step) < sun_elevation


def brute_band_share(z, cellsize, r, c, z0, surface_azimuth, n_azimuths=72, band=6.5, max_cells=None):
    """Visible share of the Perez horizon band for a vertical surface facing ``surface_azimuth`` [°].

    The band (``band`` degrees high) is hidden linearly as the horizon rises through it; directions are
    weighted by the cosine to the surface normal and normalised so that an open horizon gives 1
    (Perez et al. 1987, https://doi.org/10.1016/S0038-092X(87)80031-2), by marching every azimuth.
    """
    total = 0.0
    for k in range(n_azimuths):
        phi = k * 360.0 / n_azimuths
        proj = math.cos(math.radians(phi - surface_azimuth))
        if proj <= 0:
            continue
        h = brute_horizon(z, cellsize, r, c, phi, step=0.1, max_cells=max_cells, z0=z0)
        total += proj * min(max(1.0 - max(h, 0.0) / band, 0.0), 1.0)
    return total * math.pi / n_azimuths
