"""Numba kernels for horizon angles. Private: plain arrays in, cell units, no validation.

Index space: ``c`` grows east, ``r`` grows south; pixel centres sit at integers. A direction with azimuth
``phi`` (clockwise from north) is ``(dc, dr) = (sin phi, -cos phi)``; its lateral unit vector is
``(lc, lr) = (cos phi, sin phi)``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

NEG = -1.0e30  # slope meaning "no terrain found"
EPS = 1e-4  # [cells] offset for the surface slope at a point


@njit(cache=True, nogil=True, inline="always")
def bilinear(z, r, c):
    """Bilinear height at fractional index (r, c); NaN outside the raster or next to missing data."""
    rows, cols = z.shape
    if not (r >= 0.0 and c >= 0.0 and r <= rows - 1 and c <= cols - 1):
        return np.nan
    r0 = int(r)
    c0 = int(c)
    if r0 >= rows - 1:
        r0 = rows - 2
    if c0 >= cols - 1:
        c0 = cols - 2
    fr = r - r0
    fc = c - c0
    top = (1.0 - fc) * z[r0, c0] + fc * z[r0, c0 + 1]
    bot = (1.0 - fc) * z[r0 + 1, c0] + fc * z[r0 + 1, c0 + 1]
    return (1.0 - fr) * top + fr * bot


@njit(cache=True, nogil=True)
def _hull_push(ht, hz, n, t, zz, forward):
    """Add point (t, zz) to an upper hull stack (points added in order of approach) and return its size.

    ``forward``: points arrive with decreasing t (hull looks towards +t); otherwise increasing t.
    """
    while n >= 2:
        # a = top, b = below top; drop a if it lies on or under the segment new -> b
        ta = ht[n - 1]
        za = hz[n - 1]
        tb = ht[n - 2]
        zb = hz[n - 2]
        cross = (ta - t) * (zb - zz) - (za - zz) * (tb - t)
        if forward:
            drop = cross >= 0.0
        else:
            drop = cross <= 0.0
        if drop:
            n -= 1
        else:
            break
    ht[n] = t
    hz[n] = zz
    return n + 1


@njit(cache=True, nogil=True)
def _hull_tangent(ht, hz, n, tq, zq, dmax):
    """Largest slope dz/|dt| from (tq, zq) to the hull points within |dt| <= dmax (NEG if none).

    Stack index 0 is the farthest point, n-1 the nearest; the slope along the stack is unimodal.
    """
    if n == 0:
        return NEG
    lo = 0
    if dmax > 0.0:
        # skip hull points beyond dmax (stack is ordered far -> near)
        a = 0
        b = n
        while a < b:
            m = (a + b) // 2
            if abs(ht[m] - tq) > dmax:
                a = m + 1
            else:
                b = m
        lo = a
        if lo >= n:
            return NEG
    hi = n - 1
    while lo < hi:
        m = (lo + hi) // 2
        s0 = (hz[m] - zq) / abs(ht[m] - tq)
        s1 = (hz[m + 1] - zq) / abs(ht[m + 1] - tq)
        if s0 < s1:
            lo = m + 1
        else:
            hi = m
    return (hz[lo] - zq) / abs(ht[lo] - tq)


@njit(cache=True, nogil=True)
def crossings(r0, c0, dr, dc, t0, t1, tbuf, zbuf, z):
    """Sample the bilinear surface along a ray at every grid-line crossing between t0 and t1 [cells].

    Along a straight line the bilinear surface is piecewise quadratic between crossings and, on
    ordinary (non-saddle) cells, takes its extremes at them, so these samples carry the profile's
    maxima. Returns the number of samples written (t ascending); missing data is skipped.
    """
    n = 0
    # next crossing parameters for columns and rows
    if abs(dc) > 1e-12:
        step_c = 1.0 / abs(dc)
        cc = c0 + t0 * dc
        nxt_c = math.floor(cc) + 1.0 if dc > 0 else math.ceil(cc) - 1.0
        tc = t0 + (nxt_c - cc) / dc
    else:
        step_c = 1e30
        tc = 1e30
    if abs(dr) > 1e-12:
        step_r = 1.0 / abs(dr)
        rr = r0 + t0 * dr
        nxt_r = math.floor(rr) + 1.0 if dr > 0 else math.ceil(rr) - 1.0
        tr = t0 + (nxt_r - rr) / dr
    else:
        step_r = 1e30
        tr = 1e30
    while True:
        if tc <= tr:
            t = tc
            tc += step_c
        else:
            t = tr
            tr += step_r
        if t > t1:
            break
        zz = bilinear(z, r0 + t * dr, c0 + t * dc)
        if np.isfinite(zz):
            tbuf[n] = t
            zbuf[n] = zz
            n += 1
    return n


@njit(cache=True, nogil=True)
def _bucket_entries(z, dc, dr, lc, lr, t_min, u_min, n_lines, n_buckets):
    """Counting-sort every (pixel, neighbouring line) pair by line, then by along-track bucket (1 cell).

    Returns (start, pix, weight, entry): line k's entries are ``start[k]:start[k+1]`` ordered by bucket;
    ``entry[p, 0:2]`` are pixel p's two entries (or -1).
    """
    rows, cols = z.shape
    n_keys = n_lines * n_buckets
    count = np.zeros(n_keys + 1, np.int64)
    for r in range(rows):
        for c in range(cols):
            if not np.isfinite(z[r, c]):
                continue
            k0 = int(math.floor(c * lc + r * lr - u_min))
            j = int(math.floor(c * dc + r * dr - t_min))
            count[k0 * n_buckets + j + 1] += 1
            count[(k0 + 1) * n_buckets + j + 1] += 1
    for i in range(n_keys):
        count[i + 1] += count[i]
    total = count[n_keys]
    pix = np.empty(total, np.int64)
    weight = np.empty(total, np.float64)
    entry = np.full((rows * cols, 2), -1, np.int64)
    fill = count[:-1].copy()
    for r in range(rows):
        for c in range(cols):
            if not np.isfinite(z[r, c]):
                continue
            u = c * lc + r * lr - u_min
            k0 = int(math.floor(u))
            w1 = u - k0
            j = int(math.floor(c * dc + r * dr - t_min))
            p = r * cols + c
            for side in range(2):
                key = (k0 + side) * n_buckets + j
                e = fill[key]
                pix[e] = p
                weight[e] = w1 if side == 1 else 1.0 - w1
                entry[p, side] = e
                fill[key] += 1
    start = np.empty(n_lines + 1, np.int64)
    for k in range(n_lines + 1):
        start[k] = count[k * n_buckets]
    return start, pix, weight, entry


@njit(cache=True, nogil=True, parallel=True)
def sweep_pair(z, cellsize, phi, near, max_dist, out_fwd, out_bwd):
    """Horizon angles [°] for azimuth ``phi`` [rad] (into ``out_fwd``) and ``phi + pi`` (``out_bwd``).

    Far field: upper convex hulls of bilinear profiles along parallel lines one cell apart, queried with
    the pixel's own height and blended between the two neighbouring lines by lateral distance. Near
    field (up to ``near + 1`` cells): the pixel's own ray, sampled at grid crossings.
    ``max_dist`` [cells] limits the hull vertices considered (<= 0: unlimited).
    """
    rows, cols = z.shape
    dc = math.sin(phi)
    dr = -math.cos(phi)
    lc = math.cos(phi)
    lr = math.sin(phi)
    t_min = 1e30
    t_max = -1e30
    u_min = 1e30
    u_max = -1e30
    for cr in range(2):
        for cc in range(2):
            rr = cr * (rows - 1.0)
            c_ = cc * (cols - 1.0)
            t_min = min(t_min, c_ * dc + rr * dr)
            t_max = max(t_max, c_ * dc + rr * dr)
            u_min = min(u_min, c_ * lc + rr * lr)
            u_max = max(u_max, c_ * lc + rr * lr)
    t_min -= 1.0
    t_max += 1.0
    u_min -= 1.0
    u_max += 1.0
    n_lines = int(math.floor(u_max - u_min)) + 2
    n_buckets = int(math.floor(t_max - t_min)) + 2
    start, pix, weight, entry = _bucket_entries(z, dc, dr, lc, lr, t_min, u_min, n_lines, n_buckets)
    res_fwd = np.full(pix.shape[0], NEG)
    res_bwd = np.full(pix.shape[0], NEG)
    inv_cs = 1.0 / cellsize
    cap = int(2.0 * (t_max - t_min)) + 8

    for k in prange(n_lines):
        e0 = start[k]
        e1 = start[k + 1]
        if e1 == e0:
            continue
        u = u_min + k
        # line origin in index space at t = 0 of the local frame (t measured from t_min)
        r_o = t_min * dr + u * lr
        c_o = t_min * dc + u * lc
        tb = np.empty(cap, np.float64)
        zb = np.empty(cap, np.float64)
        ns = crossings(r_o, c_o, dr, dc, 0.0, t_max - t_min, tb, zb, z)
        for i in range(ns):
            zb[i] *= inv_cs
        ht = np.empty(ns + 1, np.float64)
        hz = np.empty(ns + 1, np.float64)
        # forward: hull of samples beyond bucket end + near, swept from far to near
        n = 0
        i = ns - 1
        e = e1 - 1
        while e >= e0:
            p = pix[e]
            r = p // cols
            c = p % cols
            tq = c * dc + r * dr - t_min
            limit = math.floor(tq) + 1.0 + near
            while i >= 0 and tb[i] > limit:
                n = _hull_push(ht, hz, n, tb[i], zb[i], True)
                i -= 1
            res_fwd[e] = _hull_tangent(ht, hz, n, tq, z[r, c] * inv_cs, max_dist)
            e -= 1
        # backward
        n = 0
        i = 0
        e = e0
        while e < e1:
            p = pix[e]
            r = p // cols
            c = p % cols
            tq = c * dc + r * dr - t_min
            limit = math.floor(tq) - near
            while i < ns and tb[i] < limit:
                n = _hull_push(ht, hz, n, tb[i], zb[i], False)
                i += 1
            res_bwd[e] = _hull_tangent(ht, hz, n, tq, z[r, c] * inv_cs, max_dist)
            e += 1

    nb = int(near) + 3
    for r in prange(rows):
        tb = np.empty(4 * nb, np.float64)
        zb = np.empty(4 * nb, np.float64)
        for c in range(cols):
            z0 = z[r, c]
            if not np.isfinite(z0):
                out_fwd[r, c] = np.nan
                out_bwd[r, c] = np.nan
                continue
            p = r * cols + c
            sf = NEG
            sb = NEG
            accf = 0.0
            wf = 0.0
            accb = 0.0
            wb = 0.0
            for side in range(2):
                e = entry[p, side]
                if e >= 0:
                    if res_fwd[e] > NEG:
                        accf += weight[e] * res_fwd[e]
                        wf += weight[e]
                    if res_bwd[e] > NEG:
                        accb += weight[e] * res_bwd[e]
                        wb += weight[e]
            if wf > 0.0:
                sf = accf / wf
            if wb > 0.0:
                sb = accb / wb
            z0s = z0 * inv_cs
            # along a ramp the angle is steepest right at the pixel: include the start derivative
            zf = bilinear(z, r + EPS * dr, c + EPS * dc)
            if np.isfinite(zf):
                sf = max(sf, (zf - z0) * inv_cs / EPS)
            zf = bilinear(z, r - EPS * dr, c - EPS * dc)
            if np.isfinite(zf):
                sb = max(sb, (zf - z0) * inv_cs / EPS)
            n = crossings(float(r), float(c), dr, dc, 1e-9, near + 1.0, tb, zb, z)
            for i in range(n):
                v = (zb[i] * inv_cs - z0s) / tb[i]
                if v > sf:
                    sf = v
            n = crossings(float(r), float(c), -dr, -dc, 1e-9, near + 1.0, tb, zb, z)
            for i in range(n):
                v = (zb[i] * inv_cs - z0s) / tb[i]
                if v > sb:
                    sb = v
            out_fwd[r, c] = math.degrees(math.atan(sf)) if sf > NEG else -90.0
            out_bwd[r, c] = math.degrees(math.atan(sb)) if sb > NEG else -90.0


@njit(cache=True, nogil=True, parallel=True)
def march_points(z, cellsize, rows_f, cols_f, heights, azimuths, step0, growth, max_dist, out):
    """Horizon angles [°] from arbitrary points by marching the bilinear surface along each azimuth.

    The step grows geometrically with distance (``step0 * (1 + growth * d)`` cells); the horizon is
    the largest elevation angle of any sample. Points: fractional (row, col) index, absolute height [m].
    ``azimuths`` [rad], shape (n_az,); ``out`` shape (n_points, n_az).
    """
    n_pts = rows_f.shape[0]
    n_az = azimuths.shape[0]
    for i in prange(n_pts):
        r0 = rows_f[i]
        c0 = cols_f[i]
        z0 = heights[i]
        for a in range(n_az):
            dc = math.sin(azimuths[a])
            dr = -math.cos(azimuths[a])
            best = NEG
            d = step0
            while d <= max_dist:
                rr = r0 + d * dr
                cc = c0 + d * dc
                if rr < 0.0 or cc < 0.0 or rr > z.shape[0] - 1 or cc > z.shape[1] - 1:
                    break
                zz = bilinear(z, rr, cc)
                if np.isfinite(zz):
                    v = (zz - z0) / (d * cellsize)
                    if v > best:
                        best = v
                d += step0 * (1.0 + growth * d)
            out[i, a] = math.degrees(math.atan(best)) if best > NEG else -90.0
