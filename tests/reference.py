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


def _bilinear_many(z, r, c):
    """Vectorised :func:`bilinear` for index arrays already inside the raster."""
    rows, cols = z.shape
    r0 = np.minimum(r.astype(np.int64), rows - 2)
    c0 = np.minimum(c.astype(np.int64), cols - 2)
    fr, fc = r - r0, c - c0
    return ((1 - fr) * ((1 - fc) * z[r0, c0] + fc * z[r0, c0 + 1])
            + fr * ((1 - fc) * z[r0 + 1, c0] + fc * z[r0 + 1, c0 + 1]))


def _exit_distance(shape, r, c, dr, dc):
    """Distance [cells] along (dr, dc) from (r, c) to the edge of the pixel-centre rectangle."""
    rows, cols = shape
    with np.errstate(divide="ignore", invalid="ignore"):
        tr = np.where(dr > 1e-12, (rows - 1 - r) / dr, np.where(dr < -1e-12, -r / dr, np.inf))
        tc = np.where(dc > 1e-12, (cols - 1 - c) / dc, np.where(dc < -1e-12, -c / dc, np.inf))
    return np.minimum(tr, tc)


def brute_horizon_many(z, cellsize, rows, cols, azimuths, step=0.1, max_cells=None, chunk=256):
    """:func:`brute_horizon` for many (pixel, azimuth) queries at once, vectorised over queries.

    Same march (samples at ``step``, 2 ``step``, ... cells until the ray leaves the raster or passes
    ``max_cells``; missing data skipped), so it returns the same angles [°] (-90 where nothing is found).
    """
    z = np.asarray(z, dtype=np.float64)
    r = np.asarray(rows, dtype=np.float64).ravel()
    c = np.asarray(cols, dtype=np.float64).ravel()
    a = np.radians(np.broadcast_to(np.asarray(azimuths, dtype=np.float64), r.shape))
    dc, dr = np.sin(a), -np.cos(a)
    z0 = z[r.astype(np.int64), c.astype(np.int64)]
    limit = math.hypot(*z.shape) if max_cells is None else max_cells
    reach = np.minimum(_exit_distance(z.shape, r, c, dr, dc), limit)
    best = np.full(r.size, -np.inf)
    n_steps = int(limit / step) + 1
    for i0 in range(0, n_steps, chunk):
        d = step * np.arange(i0 + 1, i0 + chunk + 1)
        live = np.flatnonzero(reach >= d[0])
        if live.size == 0:
            break
        rr = r[live, None] + d[None, :] * dr[live, None]
        cc = c[live, None] + d[None, :] * dc[live, None]
        inside = d[None, :] <= reach[live, None]
        zz = _bilinear_many(z, np.clip(rr, 0, z.shape[0] - 1), np.clip(cc, 0, z.shape[1] - 1))
        slope = np.where(inside & np.isfinite(zz), (zz - z0[live, None]) / (d[None, :] * cellsize), -np.inf)
        best[live] = np.maximum(best[live], slope.max(axis=1))
    out = np.degrees(np.arctan(best))
    out[~np.isfinite(best)] = -90.0
    return out


def brute_sun_visible_many(z, cellsize, rows, cols, sun_azimuth, sun_elevation, step=0.25, chunk=128):
    """Vectorised :func:`sun_visible`: is the sun at (azimuth, elevation) [°] above the bilinear surface?

    Casts a ray from each pixel centre towards the sun, sampling every ``step`` cells; a pixel is shaded
    when any sample lies at or above the ray (angle >= elevation). A ray stops once it leaves the raster
    or rises above the highest point of the surface (nothing further can block it).
    """
    z = np.asarray(z, dtype=np.float64)
    r = np.asarray(rows, dtype=np.float64).ravel()
    c = np.asarray(cols, dtype=np.float64).ravel()
    a = math.radians(sun_azimuth)
    dc, dr = math.sin(a), -math.cos(a)
    tan_el = math.tan(math.radians(sun_elevation))
    z0 = z[r.astype(np.int64), c.astype(np.int64)]
    top = np.nanmax(z)
    reach = _exit_distance(z.shape, r, c, np.full(r.shape, dr), np.full(r.shape, dc))
    reach = np.minimum(reach, (top - z0) / (tan_el * cellsize) + step if tan_el > 0 else np.inf)
    visible = np.ones(r.size, bool)
    active = np.flatnonzero(reach >= step)
    i0 = 0
    while active.size:
        d = step * np.arange(i0 + 1, i0 + chunk + 1)
        rr = r[active, None] + d[None, :] * dr
        cc = c[active, None] + d[None, :] * dc
        inside = d[None, :] <= reach[active, None]
        zz = _bilinear_many(z, np.clip(rr, 0, z.shape[0] - 1), np.clip(cc, 0, z.shape[1] - 1))
        with np.errstate(invalid="ignore"):
            blocked = inside & ((zz - z0[active, None]) / (d[None, :] * cellsize) >= tan_el)
        hit = blocked.any(axis=1)
        visible[active[hit]] = False
        i0 += chunk
        active = active[~hit & (reach[active] >= step * (i0 + 1))]
    return visible
