"""Numba kernels for horizon angles. Private: plain arrays in, cell units, no validation.

Index space: ``c`` grows east, ``r`` grows south; pixel centres sit at integers. A direction with azimuth
``phi`` (clockwise from north) is ``(dc, dr) = (sin phi, -cos phi)``; its lateral unit vector is
``(lc, lr) = (cos phi, sin phi)``. The sweep works in global index coordinates (pixel (0, 0) of a raster
at its anchor), so lines, samples and queries, and therefore the float arithmetic, are the same for a
window as for the mosaic it was cut from.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

NEG = -1.0e30  # slope meaning "no terrain found" (fits float32)
EPS = 1e-4  # [cells] offset for the surface slope at a point
FOOT_MAX_SLOPE = 2.0  # lateral slope up to which a line is queried from the foot point (a plane)


@njit(cache=True, nogil=True, inline="always")
def bilinear(z, r, c):
    """Bilinear height at fractional index (r, c); NaN outside the raster or next to missing data."""
    rows, cols = z.shape
    if not (r >= 0.0 and c >= 0.0 and r <= rows - 1 and c <= cols - 1):
        return np.nan
    r0 = int(r)
    c0 = int(c)
    return _bilinear_cell(z, r0, c0, r - r0, c - c0)


@njit(cache=True, nogil=True, inline="always")
def _bilinear_cell(z, r0, c0, fr, fc):
    """Bilinear height at (r0 + fr, c0 + fc), 0 <= fr, fc < 1, inside the raster.

    A neighbour with zero weight is not read: on a row or column line only that line's pixels count, so a
    window gives the same heights along its border as the larger raster it was cut from.
    """
    top = z[r0, c0]
    if fc > 0.0:
        top = (1.0 - fc) * top + fc * z[r0, c0 + 1]
    if fr > 0.0:
        bot = z[r0 + 1, c0]
        if fc > 0.0:
            bot = (1.0 - fc) * bot + fc * z[r0 + 1, c0 + 1]
        return (1.0 - fr) * top + fr * bot
    return top


@njit(cache=True, nogil=True, inline="always")
def _bilinear_near(z, r, c, off_r, off_c):
    """Bilinear height at pixel (r, c) plus a small offset (|off| < 1 cell); NaN outside or at missing data.

    The offset's fraction is computed apart from the pixel index, so any window gives the same value.
    """
    rows, cols = z.shape
    r0 = r + (-1 if off_r < 0.0 else 0)
    c0 = c + (-1 if off_c < 0.0 else 0)
    fr = off_r + 1.0 if off_r < 0.0 else off_r
    fc = off_c + 1.0 if off_c < 0.0 else off_c
    if r0 < 0 or c0 < 0 or r0 > rows - 1 or c0 > cols - 1:
        return np.nan
    if (fr > 0.0 and r0 + 1 > rows - 1) or (fc > 0.0 and c0 + 1 > cols - 1):
        return np.nan
    return _bilinear_cell(z, r0, c0, fr, fc)


@njit(cache=True, nogil=True)
def hull_push(ht, hz, n, t, zz, forward):
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


@njit(cache=True, nogil=True, inline="always")
def _steeper(ht, hz, a, b, tq, zq):
    """Tell whether hull point a is seen from (tq, zq) at a larger slope than point b (no divisions)."""
    return (hz[a] - zq) * abs(ht[b] - tq) > (hz[b] - zq) * abs(ht[a] - tq)


@njit(cache=True, nogil=True)
def hull_tangent(ht, hz, n, tq, zq, dmax, hint):
    """Index of the hull point seen at the largest slope from (tq, zq), or -1 if none within dmax.

    Stack index 0 is the farthest point, n-1 the nearest; the slope along the stack is unimodal, so a
    short walk from ``hint`` (the previous query's answer) usually finds it; else a binary search.
    """
    if n == 0:
        return -1
    lo = 0
    if dmax > 0.0:
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
            return -1
    i = min(max(hint, lo), n - 1)
    for _ in range(8):
        if i + 1 < n and _steeper(ht, hz, i + 1, i, tq, zq):
            i += 1
        elif i - 1 >= lo and _steeper(ht, hz, i - 1, i, tq, zq):
            i -= 1
        else:
            return i
    hi = n - 1
    while lo < hi:
        m = (lo + hi) // 2
        if _steeper(ht, hz, m + 1, m, tq, zq):
            lo = m + 1
        else:
            hi = m
    return lo


@njit(cache=True, nogil=True, inline="always")
def direction(phi):
    """Along-track ``(dc, dr)`` and lateral ``(lc, lr)`` unit vectors of azimuth ``phi`` [rad].

    Components below 1e-12 are exactly 0: along the axes a ray then stays on its row or column instead of
    drifting off the raster's first row by 1e-17 cells.
    """
    s = math.sin(phi)
    c = math.cos(phi)
    if abs(s) < 1e-12:
        s = 0.0
    if abs(c) < 1e-12:
        c = 0.0
    return s, -c, c, s


@njit(cache=True, nogil=True, inline="always")
def _on_column(z, rows, cols, r, c):
    """:func:`bilinear` at (r, c) with c on a column line (an integer): the same value, fewer steps."""
    if not (r >= 0.0 and c >= 0.0 and r <= rows - 1 and c <= cols - 1):
        return np.nan
    r0 = int(r)
    c0 = int(c)
    fr = r - r0
    top = z[r0, c0]
    if fr > 0.0:
        return (1.0 - fr) * top + fr * z[r0 + 1, c0]
    return top


@njit(cache=True, nogil=True, inline="always")
def _on_row(z, rows, cols, r, c):
    """:func:`bilinear` at (r, c) with r on a row line (an integer): the same value, fewer steps."""
    if not (r >= 0.0 and c >= 0.0 and r <= rows - 1 and c <= cols - 1):
        return np.nan
    r0 = int(r)
    c0 = int(c)
    fc = c - c0
    top = z[r0, c0]
    if fc > 0.0:
        return (1.0 - fc) * top + fc * z[r0, c0 + 1]
    return top


@njit(cache=True, nogil=True)
def crossings(r0, c0, dr, dc, t0, t1, tbuf, zbuf, z, anchor_r, anchor_c):
    """Sample the bilinear surface along a ray at every grid-line crossing between t0 and t1 [cells].

    The ray is ``(r0, c0) + t (dr, dc)`` in global index coordinates, where pixel (0, 0) of ``z`` sits at
    (``anchor_r``, ``anchor_c``). Each crossing's t is computed from the crossed line's exact global
    index, never accumulated, so a window of a mosaic samples exactly the same points as the mosaic.
    Along a straight line the bilinear surface is piecewise quadratic between crossings and, on
    ordinary (non-saddle) cells, takes its extremes at them, so these samples carry the profile's
    maxima. Returns the number of samples written (t ascending); missing data is skipped.
    """
    n = 0
    sc = 1.0 if dc > 0 else -1.0
    sr = 1.0 if dr > 0 else -1.0
    inv_dc = 1.0 / dc if abs(dc) > 1e-12 else 0.0
    inv_dr = 1.0 / dr if abs(dr) > 1e-12 else 0.0
    if abs(dc) > 1e-12:
        cc = c0 + t0 * dc
        nxt_c = math.floor(cc) + 1.0 if dc > 0 else math.ceil(cc) - 1.0
        tc = (nxt_c - c0) * inv_dc
    else:
        tc = 1e30
        nxt_c = 0.0
    if abs(dr) > 1e-12:
        rr = r0 + t0 * dr
        nxt_r = math.floor(rr) + 1.0 if dr > 0 else math.ceil(rr) - 1.0
        tr = (nxt_r - r0) * inv_dr
    else:
        tr = 1e30
        nxt_r = 0.0
    rows, cols = z.shape
    while True:
        # bilinear() on a grid line: the crossed line's own fraction is 0, so one interpolation, two reads
        if tc <= tr:
            t = tc
            if t > t1:
                break
            zz = _on_column(z, rows, cols, (r0 + t * dr) - anchor_r, nxt_c - anchor_c)
            nxt_c += sc
            tc = (nxt_c - c0) * inv_dc
        else:
            t = tr
            if t > t1:
                break
            zz = _on_row(z, rows, cols, nxt_r - anchor_r, (c0 + t * dc) - anchor_c)
            nxt_r += sr
            tr = (nxt_r - r0) * inv_dr
        if np.isfinite(zz):
            tbuf[n] = t
            zbuf[n] = zz
            n += 1
    return n


@njit(cache=True, nogil=True)
def _line_entries(z, k, du, dc, dr, lc, lr, anchor_r, anchor_c, pix, side, weight, tq):
    """Pixels between global line ``k`` and its neighbours (u in [u_k - du, u_k + du)), sorted by along-track t.

    ``side`` is 0 when the line is the pixel's lower neighbour (floor(u)), 1 when it is the upper one.
    Returns the number of entries written. The per-pixel test is written out in the loop: a helper call
    per candidate pixel with the five arrays costs about ten times the test itself in numba.
    """
    rows, cols = z.shape
    uk = k * du
    ar = int(anchor_r)
    ac = int(anchor_c)
    n = 0
    # walk in the direction of increasing t so the insertion sort below stays linear: along the columns
    # when the line is closer to the rows' direction, else along the rows
    by_col = abs(lr) >= abs(lc)
    for oi in range(cols if by_col else rows):
        if by_col:
            o = oi if dc >= 0 else cols - 1 - oi
            a = (uk - du - (o + anchor_c) * lc) / lr
            b = (uk + du - (o + anchor_c) * lc) / lr
            lo = max(0, int(math.floor(min(a, b))) - ar)
            hi = min(rows - 1, int(math.ceil(max(a, b))) - ar)
        else:
            o = oi if dr >= 0 else rows - 1 - oi
            a = (uk - du - (o + anchor_r) * lr) / lc
            b = (uk + du - (o + anchor_r) * lr) / lc
            lo = max(0, int(math.floor(min(a, b))) - ac)
            hi = min(cols - 1, int(math.ceil(max(a, b))) - ac)
        for i in range(lo, hi + 1):
            r = i if by_col else o
            c = o if by_col else i
            if not np.isfinite(z[r, c]):
                continue
            u = ((c + anchor_c) * lc + (r + anchor_r) * lr) / du  # as _lateral
            k0 = int(math.floor(u))
            if k0 == k:
                side[n] = 0
                weight[n] = 1.0 - (u - k0)
            elif k0 == k - 1:
                side[n] = 1
                weight[n] = u - k0
            else:
                continue
            pix[n] = r * cols + c
            tq[n] = (c + anchor_c) * dc + (r + anchor_r) * dr
            n += 1
    # the walk is nearly sorted by t: insertion sort finishes in about linear time
    for i in range(1, n):
        t = tq[i]
        p = pix[i]
        sd = side[i]
        w = weight[i]
        j = i - 1
        while j >= 0 and tq[j] > t:
            tq[j + 1] = tq[j]
            pix[j + 1] = pix[j]
            side[j + 1] = side[j]
            weight[j + 1] = weight[j]
            j -= 1
        tq[j + 1] = t
        pix[j + 1] = p
        side[j + 1] = sd
        weight[j + 1] = w
    return n


@njit(cache=True, nogil=True, inline="always")
def _lateral(r, c, lc, lr, du, anchor_r, anchor_c):
    """Lateral position of pixel (r, c) in line spacings, global: line k passes at k."""
    return ((c + anchor_c) * lc + (r + anchor_r) * lr) / du


@njit(cache=True, nogil=True, parallel=True)
def sweep_pair(z, gc, gr, cellsize, phi, near, max_dist, du, anchor_r, anchor_c, out_fwd, out_bwd):
    """Horizon slopes (tan of elevation) for azimuth ``phi`` [rad] and ``phi + pi``.

    Far field: upper convex hulls of bilinear profiles along parallel lines ``du`` cells apart, each queried
    from the pixel's foot point on it and blended between the two neighbouring lines by lateral distance. Near
    field (up to ``near + 1`` cells): the pixel's own ray, sampled at grid crossings plus the surface
    slope at the pixel. ``max_dist`` [cells] limits the hull vertices considered (<= 0: unlimited).
    Lines, samples and queries are placed in global index coordinates, pixel (0, 0) of ``z`` at
    (``anchor_r``, ``anchor_c``), so a window of a mosaic computes exactly what the mosaic computes.
    ``gc``, ``gr``: :func:`central_gradients` of ``z``.
    Writes float32 slopes into ``out_fwd`` / ``out_bwd``; NEG where nothing lies along the ray, NaN
    where ``z`` is NaN.
    """
    rows, cols = z.shape
    dc, dr, lc, lr = direction(phi)
    t_min, t_max, k_first, n_lines = line_frame(rows, cols, dc, dr, lc, lr, du, anchor_r, anchor_c)
    res_fwd = np.full((rows * cols, 2), NEG, np.float32)
    res_bwd = np.full((rows * cols, 2), NEG, np.float32)
    n_tasks = (n_lines + LINES_PER_TASK - 1) // LINES_PER_TASK
    for task in prange(n_tasks):
        scr = _line_scratch(rows, cols, du, t_min, t_max)
        for i in range(task * LINES_PER_TASK, min(n_lines, (task + 1) * LINES_PER_TASK)):
            _sweep_line(z, gc, gr, cellsize, k_first + i, du, dc, dr, lc, lr, anchor_r, anchor_c, t_min, t_max,
                        near, max_dist, scr, res_fwd, res_bwd)
    for r in prange(rows):
        _near_field_row(z, r, cellsize, near, dc, dr, lc, lr, du, anchor_r, anchor_c, res_fwd, res_bwd, out_fwd,
                        out_bwd)


@njit(cache=True, nogil=True, inline="always")
def line_frame(rows, cols, dc, dr, lc, lr, du, anchor_r, anchor_c):
    """Global along-track extent ``(t_min, t_max)`` [cells], first line index and line count of a raster.

    The extent covers the pixel centres with one cell to spare; line k lies at lateral position k * du.
    """
    t_min = 1e30
    t_max = -1e30
    u_min = 1e30
    u_max = -1e30
    for cr in range(2):
        for cc in range(2):
            rr = cr * (rows - 1.0) + anchor_r
            c_ = cc * (cols - 1.0) + anchor_c
            t_min = min(t_min, c_ * dc + rr * dr)
            t_max = max(t_max, c_ * dc + rr * dr)
            u_min = min(u_min, c_ * lc + rr * lr)
            u_max = max(u_max, c_ * lc + rr * lr)
    k_first = int(math.floor((u_min - 1.0) / du))
    n_lines = int(math.floor((u_max + 1.0) / du)) - k_first + 2
    return t_min - 1.0, t_max + 1.0, k_first, n_lines


#: Sweep lines per parallel task: the task allocates its scratch arrays once, and adjacent lines write
#: to the same pixels' results.
LINES_PER_TASK = 32


@njit(cache=True, nogil=True)
def _line_scratch(rows, cols, du, t_min, t_max):
    """Scratch arrays of one line's sweep, reused line after line (see :func:`_line_queries`, :func:`_sweep_line`).

    Entries: ``pix, side, weight, tq, zq``; samples: ``tb, zb`` and the canopy's ``zt, zl, tt, tl``; the hull
    stack ``ht, hz``.
    """
    ecap = int(4 * (max(rows, cols) + 2) * 2 * max(1.0, du))
    cap = int(2.0 * (t_max - t_min)) + 8
    return (np.empty(ecap, np.int64), np.empty(ecap, np.int64), np.empty(ecap, np.float64),
            np.empty(ecap, np.float64), np.empty(ecap, np.float64), np.empty(cap, np.float64),
            np.empty(cap, np.float64), np.empty(cap, np.float64), np.empty(cap, np.float64),
            np.empty(cap + 1, np.float64), np.empty(cap + 1, np.float64), np.empty(cap + 1, np.float64),
            np.empty(cap + 1, np.float64))


@njit(cache=True, nogil=True)
def _line_queries(z, gc, gr, cellsize, k, du, lc, lr, dc, dr, anchor_r, anchor_c, pix, side, weight, tq, zq):
    """Collect the queries of line ``k``: its entries (:func:`_line_entries`) and their foot heights ``zq`` [cells].

    A pixel queries the line from its foot point, where the line passes beside it: its height plus its
    lateral gradient times the lateral offset, which makes the line's profile relative to the query exact
    on planes (roofs up to ~60°) whatever the offset. Across a wall (lateral slope above FOOT_MAX_SLOPE)
    the pixel's own height is kept. Returns the number of entries.
    """
    ne = _line_entries(z, k, du, dc, dr, lc, lr, anchor_r, anchor_c, pix, side, weight, tq)
    u = k * du
    inv_cs = 1.0 / cellsize
    cols = z.shape[1]
    g_max = FOOT_MAX_SLOPE * cellsize
    for e in range(ne):
        r = pix[e] // cols
        c = pix[e] % cols
        delta = u - ((c + anchor_c) * lc + (r + anchor_r) * lr)
        g = gc[r, c] * lc + gr[r, c] * lr
        zq[e] = (z[r, c] + delta * g if abs(g) <= g_max else z[r, c]) * inv_cs
    return ne


@njit(cache=True, nogil=True)
def _sweep_line(z, gc, gr, cellsize, k, du, dc, dr, lc, lr, anchor_r, anchor_c, t_min, t_max, near, max_dist, scr,
                res_fwd, res_bwd):
    """Far-field slopes of the pixels beside line ``k`` in both directions, into ``res_fwd`` / ``res_bwd``.

    ``scr``: :func:`_line_scratch`.
    """
    pix, side, weight, tq, zq, tb, zb, _, _, _, _, ht, hz = scr
    ne = _line_queries(z, gc, gr, cellsize, k, du, lc, lr, dc, dr, anchor_r, anchor_c, pix, side, weight, tq, zq)
    if ne == 0:
        return
    u = k * du
    inv_cs = 1.0 / cellsize
    # the line's point at t = 0 is the foot of the global origin: t is the global along-track coordinate
    ns = crossings(u * lr, u * lc, dr, dc, t_min, t_max, tb, zb, z, anchor_r, anchor_c)
    for i in range(ns):
        zb[i] *= inv_cs
    _hull_sweep(tb, zb, ns, tq, zq, pix, side, ne, near, max_dist, True, ht, hz, res_fwd)
    _hull_sweep(tb, zb, ns, tq, zq, pix, side, ne, near, max_dist, False, ht, hz, res_bwd)


@njit(cache=True, nogil=True, inline="always")
def _hull_sweep(tb, zb, ns, tq, zq, pix, side, ne, near, max_dist, forward, ht, hz, res):
    """Sweep one line against the view direction: hull of the samples beyond each query plus ``near``.

    ``forward``: queries from far (large t) to near, the view towards +t; else the reverse. Samples
    ``(tb, zb)`` and queries ``(tq, zq)`` are sorted by t; ``ht``, ``hz`` are the hull's scratch stack.
    """
    n = 0
    hint = 0
    i = ns - 1 if forward else 0
    for step in range(ne):
        e = ne - 1 - step if forward else step
        t = tq[e]
        if forward:
            while i >= 0 and tb[i] > t + near:
                n = hull_push(ht, hz, n, tb[i], zb[i], True)
                i -= 1
        else:
            while i < ns and tb[i] < t - near:
                n = hull_push(ht, hz, n, tb[i], zb[i], False)
                i += 1
        j = hull_tangent(ht, hz, n, t, zq[e], max_dist, hint)
        if j >= 0:
            hint = j
            res[pix[e], side[e]] = (hz[j] - zq[e]) / abs(ht[j] - t)


@njit(cache=True, nogil=True)
def _near_field_row(z, r, cellsize, near, dc, dr, lc, lr, du, anchor_r, anchor_c, res_fwd, res_bwd, out_fwd,
                    out_bwd):
    """Blend the two lines' far-field slopes of each pixel in row ``r`` and add its exact near field."""
    cols = z.shape[1]
    inv_cs = 1.0 / cellsize
    nb = int(near) + 3
    tb = np.empty(4 * nb, np.float64)
    zb = np.empty(4 * nb, np.float64)
    for c in range(cols):
        z0 = z[r, c]
        if not np.isfinite(z0):
            out_fwd[r, c] = np.nan
            out_bwd[r, c] = np.nan
            continue
        p = r * cols + c
        u = _lateral(r, c, lc, lr, du, anchor_r, anchor_c)
        w1 = u - math.floor(u)
        sf = blend(res_fwd[p, 0], res_fwd[p, 1], w1)
        sb = blend(res_bwd[p, 0], res_bwd[p, 1], w1)
        out_fwd[r, c] = _near_field(z, r, c, z0, inv_cs, near, dr, dc, sf, tb, zb, anchor_r, anchor_c)
        out_bwd[r, c] = _near_field(z, r, c, z0, inv_cs, near, -dr, -dc, sb, tb, zb, anchor_r, anchor_c)


@njit(cache=True, nogil=True, inline="always")
def _near_field(z, r, c, z0, inv_cs, near, dr, dc, s, tb, zb, anchor_r, anchor_c):
    """Largest of slope ``s``, the surface slope at pixel (r, c) and its ray's samples up to ``near + 1``."""
    # along a ramp the angle is steepest right at the pixel: include the start derivative
    zf = _bilinear_near(z, r, c, EPS * dr, EPS * dc)
    if np.isfinite(zf):
        s = max(s, (zf - z0) * inv_cs / EPS)
    return _ray_max_slope(z, r + anchor_r, c + anchor_c, dr, dc, near + 1.0, z0 * inv_cs, inv_cs, s, anchor_r,
                          anchor_c)


@njit(cache=True, nogil=True, inline="always")
def _ray_max_slope(z, r0, c0, dr, dc, t1, z0s, inv_cs, s, anchor_r, anchor_c):
    """Largest of ``s`` and the slopes from height ``z0s`` [cells] to the ray's :func:`crossings` in (0, t1].

    The samples are those of :func:`crossings` from t = 1e-9 (same t, same heights), folded into the
    maximum as they come instead of through buffers.
    """
    sc = 1.0 if dc > 0 else -1.0
    sr = 1.0 if dr > 0 else -1.0
    inv_dc = 1.0 / dc if abs(dc) > 1e-12 else 0.0
    inv_dr = 1.0 / dr if abs(dr) > 1e-12 else 0.0
    t0 = 1e-9
    tc = 1e30
    nxt_c = 0.0
    tr = 1e30
    nxt_r = 0.0
    if abs(dc) > 1e-12:
        cc = c0 + t0 * dc
        nxt_c = math.floor(cc) + 1.0 if dc > 0 else math.ceil(cc) - 1.0
        tc = (nxt_c - c0) * inv_dc
    if abs(dr) > 1e-12:
        rr = r0 + t0 * dr
        nxt_r = math.floor(rr) + 1.0 if dr > 0 else math.ceil(rr) - 1.0
        tr = (nxt_r - r0) * inv_dr
    rows, cols = z.shape
    while True:
        # bilinear() on a grid line: the crossed line's own fraction is 0, so one interpolation, two reads
        if tc <= tr:
            t = tc
            if t > t1:
                break
            zz = _on_column(z, rows, cols, (r0 + t * dr) - anchor_r, nxt_c - anchor_c)
            nxt_c += sc
            tc = (nxt_c - c0) * inv_dc
        else:
            t = tr
            if t > t1:
                break
            zz = _on_row(z, rows, cols, nxt_r - anchor_r, (c0 + t * dc) - anchor_c)
            nxt_r += sr
            tr = (nxt_r - r0) * inv_dr
        if np.isfinite(zz):
            v = (zz * inv_cs - z0s) / t
            if v > s:
                s = v
    return s


@njit(cache=True, nogil=True, parallel=True)
def central_gradients(z, gc, gr):
    """Central-difference gradients [m per cell] along columns and rows; 0 where a neighbour is missing."""
    rows, cols = z.shape
    for r in prange(rows):
        for c in range(cols):
            a = z[r, c - 1] if c > 0 else np.nan
            b = z[r, c + 1] if c < cols - 1 else np.nan
            gc[r, c] = 0.5 * (b - a) if np.isfinite(a) and np.isfinite(b) else 0.0
            a = z[r - 1, c] if r > 0 else np.nan
            b = z[r + 1, c] if r < rows - 1 else np.nan
            gr[r, c] = 0.5 * (b - a) if np.isfinite(a) and np.isfinite(b) else 0.0


@njit(cache=True, nogil=True, inline="always")
def blend(s0, s1, w1):
    """Blend two lines' slopes by lateral weight; a line without terrain defers to the other."""
    if s0 > NEG and s1 > NEG:
        return (1.0 - w1) * s0 + w1 * s1
    if s0 > NEG:
        return s0
    if s1 > NEG:
        return s1
    return NEG


@njit(cache=True, nogil=True, parallel=True)
def march_points(z, cellsize, rows_f, cols_f, heights, azimuths, step0, growth, max_dist, facing, clearance,
                 out):
    """Horizon angles [°] from arbitrary points by marching the bilinear surface along each azimuth.

    The step grows geometrically with distance (``step0 * (1 + growth * d)`` cells); the horizon is
    the largest elevation angle of any sample. Points: fractional (row, col) index, absolute height [m].
    ``azimuths`` [rad], shape (n_az,); ``out`` shape (n_points, n_az).
    ``facing`` [rad] per point (NaN: none): a wall's outward normal. Azimuths behind the wall get +90,
    and along a ray at angle θ from the normal the march starts at ``clearance / cos θ`` cells, so
    nothing closer to the wall plane than ``clearance`` cells counts (the bilinear ramp of its own roof).
    """
    n_pts = rows_f.shape[0]
    n_az = azimuths.shape[0]
    for i in prange(n_pts):
        r0 = rows_f[i]
        c0 = cols_f[i]
        z0 = heights[i]
        has_wall = np.isfinite(facing[i])
        sn = math.sin(facing[i]) if has_wall else 0.0
        cn = math.cos(facing[i]) if has_wall else 0.0
        for a in range(n_az):
            dc = math.sin(azimuths[a])
            dr = -math.cos(azimuths[a])
            d = step0
            if has_wall:
                cos_t = dc * sn - dr * cn
                if cos_t < -1e-9:
                    out[i, a] = 90.0
                    continue
                d = max(step0, clearance / max(cos_t, 0.05))
            best = NEG
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


@njit(cache=True, nogil=True, parallel=True)
def slopes_to_codes(slopes, out):
    """float32 slopes (tan of elevation; NEG = open, NaN = missing) to int16 hundredths of a degree."""
    rows, cols = slopes.shape
    for r in prange(rows):
        for c in range(cols):
            s = slopes[r, c]
            if not np.isfinite(s):
                out[r, c] = 32767
            elif s <= NEG:
                out[r, c] = -32768
            else:
                out[r, c] = int(round(math.degrees(math.atan(s)) * 100.0))


@njit(cache=True, nogil=True)
def angles_to_codes(angles, out):
    """Horizon angles [°] (flat; -90 or below open, NaN missing) to int16 hundredths of a degree, clipped to ±89.99°.

    NumPy's arithmetic of :func:`solarkataster.horizon.angles_to_codes` (float64 product, rounding half to
    even), so the same codes, in one pass without temporaries.
    """
    for i in range(angles.shape[0]):
        out[i] = angle_code(np.float64(angles[i]))


@njit(cache=True, nogil=True, inline="always")
def angle_code(a):
    """One angle [°] (float64) to its int16 code: :func:`angles_to_codes`' rule."""
    if np.isnan(a):
        return np.int16(32767)
    if a <= -89.999:
        return np.int16(-32768)
    return np.int16(np.rint(min(max(a, -89.99), 89.99) * 100.0))


@njit(cache=True, nogil=True, parallel=True)
def sweep_pair_vegetation(z, gc, gr, z_top, z_low, near_canopy, cellsize, phi, near, max_dist, du, anchor_r,
                          anchor_c, out):
    """Opaque, canopy-top and canopy-bottom horizon slopes for azimuth ``phi`` [rad] and ``phi + pi``, one sweep.

    The opaque slopes are exactly those of :func:`sweep_pair` (same lines, samples, hulls and near field).
    The same line walk samples ``z_top`` (the opaque surface with the canopy tops on it, NaN where ``z`` is)
    and ``z_low`` (the *negated* height of the canopy bottom on canopy pixels, NaN elsewhere). The canopy
    top's far field is the larger of the opaque hull's and a hull of only the samples where the canopy
    rises above the opaque surface (a few per cent of them), so it equals a sweep over ``z_top``; the
    bottom's hull holds only canopy samples and is queried from the negated query heights, which gives
    minus the lowest slope at which a ray meets the canopy. The canopy near fields are marched only on
    pixels flagged in ``near_canopy`` (canopy within the near-field reach); elsewhere they follow from the
    far field and the opaque near field. ``out`` (6, rows, cols) float32: opaque fwd/bwd, top fwd/bwd
    (never below the opaque), bottom fwd/bwd negated (NEG where no canopy lies along the ray).
    """
    rows, cols = z.shape
    dc, dr, lc, lr = direction(phi)
    t_min, t_max, k_first, n_lines = line_frame(rows, cols, dc, dr, lc, lr, du, anchor_r, anchor_c)
    res = np.full((6, rows * cols, 2), NEG, np.float32)
    n_tasks = (n_lines + LINES_PER_TASK - 1) // LINES_PER_TASK
    for task in prange(n_tasks):
        scr = _line_scratch(rows, cols, du, t_min, t_max)
        for i in range(task * LINES_PER_TASK, min(n_lines, (task + 1) * LINES_PER_TASK)):
            _sweep_line_vegetation(z, gc, gr, z_top, z_low, cellsize, k_first + i, du, dc, dr, lc, lr, anchor_r,
                                   anchor_c, t_min, t_max, near, max_dist, scr, res)
    for r in prange(rows):
        _near_field_row(z, r, cellsize, near, dc, dr, lc, lr, du, anchor_r, anchor_c, res[0], res[1], out[0],
                        out[1])
        _near_field_row_canopy(z, z_top, z_low, near_canopy, r, cellsize, near, dc, dr, lc, lr, du, anchor_r,
                               anchor_c, res, out)


@njit(cache=True, nogil=True)
def _sweep_line_vegetation(z, gc, gr, z_top, z_low, cellsize, k, du, dc, dr, lc, lr, anchor_r, anchor_c, t_min,
                           t_max, near, max_dist, scr, res):
    """Far-field slopes beside line ``k``: ``res[0..5]`` = opaque, canopy-only top, negated bottom (fwd, bwd).

    The opaque part is :func:`_sweep_line`'s (same queries, samples and hulls); ``scr``: :func:`_line_scratch`.
    """
    pix, side, weight, tq, zq, tb, zb, zt, zl, tt, tl, ht, hz = scr
    ne = _line_queries(z, gc, gr, cellsize, k, du, lc, lr, dc, dr, anchor_r, anchor_c, pix, side, weight, tq, zq)
    if ne == 0:
        return
    u = k * du
    inv_cs = 1.0 / cellsize
    ns = _crossings3(u * lr, u * lc, dr, dc, t_min, t_max, tb, zb, zt, zl, z, z_top, z_low, anchor_r, anchor_c)
    # canopy samples: top above the opaque surface; bottom where there is canopy (compacted in place, t order)
    nt = 0
    nl = 0
    for i in range(ns):
        if zt[i] > zb[i]:
            tt[nt] = tb[i]
            zt[nt] = zt[i] * inv_cs
            nt += 1
        if np.isfinite(zl[i]):
            tl[nl] = tb[i]
            zl[nl] = zl[i] * inv_cs
            nl += 1
    for i in range(ns):
        zb[i] *= inv_cs
    _hull_sweep(tb, zb, ns, tq, zq, pix, side, ne, near, max_dist, True, ht, hz, res[0])
    _hull_sweep(tb, zb, ns, tq, zq, pix, side, ne, near, max_dist, False, ht, hz, res[1])
    if nt > 0:
        _hull_sweep(tt, zt, nt, tq, zq, pix, side, ne, near, max_dist, True, ht, hz, res[2])
        _hull_sweep(tt, zt, nt, tq, zq, pix, side, ne, near, max_dist, False, ht, hz, res[3])
    if nl > 0:
        for e in range(ne):
            zq[e] = -zq[e]
        _hull_sweep(tl, zl, nl, tq, zq, pix, side, ne, near, -1.0, True, ht, hz, res[4])
        _hull_sweep(tl, zl, nl, tq, zq, pix, side, ne, near, -1.0, False, ht, hz, res[5])


@njit(cache=True, nogil=True)
def _crossings3(r0, c0, dr, dc, t0, t1, tbuf, zbuf, ztop, zlow, z, z_top, z_low, anchor_r, anchor_c):
    """:func:`crossings` of ``z`` that also samples ``z_top`` and ``z_low`` at the same points.

    The t and ``z`` samples are computed exactly as :func:`crossings` computes them.
    """
    n = 0
    sc = 1.0 if dc > 0 else -1.0
    sr = 1.0 if dr > 0 else -1.0
    inv_dc = 1.0 / dc if abs(dc) > 1e-12 else 0.0
    inv_dr = 1.0 / dr if abs(dr) > 1e-12 else 0.0
    if abs(dc) > 1e-12:
        cc = c0 + t0 * dc
        nxt_c = math.floor(cc) + 1.0 if dc > 0 else math.ceil(cc) - 1.0
        tc = (nxt_c - c0) * inv_dc
    else:
        tc = 1e30
        nxt_c = 0.0
    if abs(dr) > 1e-12:
        rr = r0 + t0 * dr
        nxt_r = math.floor(rr) + 1.0 if dr > 0 else math.ceil(rr) - 1.0
        tr = (nxt_r - r0) * inv_dr
    else:
        tr = 1e30
        nxt_r = 0.0
    while True:
        if tc <= tr:
            t = tc
            if t > t1:
                break
            ri = (r0 + t * dr) - anchor_r
            ci = nxt_c - anchor_c
            nxt_c += sc
            tc = (nxt_c - c0) * inv_dc
        else:
            t = tr
            if t > t1:
                break
            ri = nxt_r - anchor_r
            ci = (c0 + t * dc) - anchor_c
            nxt_r += sr
            tr = (nxt_r - r0) * inv_dr
        zz = bilinear(z, ri, ci)
        if np.isfinite(zz):
            tbuf[n] = t
            zbuf[n] = zz
            ztop[n] = bilinear(z_top, ri, ci)
            zlow[n] = bilinear(z_low, ri, ci)
            n += 1
    return n


@njit(cache=True, nogil=True)
def _near_field_row_canopy(z, z_top, z_low, near_canopy, r, cellsize, near, dc, dr, lc, lr, du, anchor_r, anchor_c,
                           res, out):
    """Canopy top and bottom of the pixels in row ``r`` from the far fields in ``res`` and the opaque ``out``."""
    cols = z.shape[1]
    inv_cs = 1.0 / cellsize
    nb = int(near) + 3
    tb = np.empty(4 * nb, np.float64)
    zb = np.empty(4 * nb, np.float64)
    for c in range(cols):
        z0 = z[r, c]
        if not np.isfinite(z0):
            for q in range(2, 6):
                out[q, r, c] = np.nan
            continue
        p = r * cols + c
        u = _lateral(r, c, lc, lr, du, anchor_r, anchor_c)
        w1 = u - math.floor(u)
        for d in range(2):
            sgn = 1.0 if d == 0 else -1.0
            top = blend(max(res[d, p, 0], res[2 + d, p, 0]), max(res[d, p, 1], res[2 + d, p, 1]), w1)
            low = blend(res[4 + d, p, 0], res[4 + d, p, 1], w1)
            if near_canopy[r, c]:
                top = _near_field(z_top, r, c, z0, inv_cs, near, sgn * dr, sgn * dc, top, tb, zb, anchor_r, anchor_c)
                low = _near_field(z_low, r, c, -z0, inv_cs, near, sgn * dr, sgn * dc, low, tb, zb, anchor_r,
                                  anchor_c)
            out[2 + d, r, c] = max(top, out[d, r, c])
            out[4 + d, r, c] = low


@njit(cache=True, nogil=True, parallel=True)
def slopes_to_codes_low(slopes, out):
    """Negated canopy-bottom slopes (see :func:`sweep_pair_canopy`) to int16 codes of the bottom elevation.

    NEG (no canopy) becomes 9000 (90°: no ray meets the canopy); NaN 32767 (missing).
    """
    rows, cols = slopes.shape
    for r in prange(rows):
        for c in range(cols):
            s = slopes[r, c]
            if not np.isfinite(s):
                out[r, c] = 32767
            elif s <= NEG:
                out[r, c] = 9000
            else:
                out[r, c] = int(round(math.degrees(math.atan(-s)) * 100.0))


@njit(cache=True, nogil=True, parallel=True)
def plane_normals(z, cellsize, out):
    """Write the unit normals (east, north, up) of the 3 x 3 least-squares plane (Horn weights) of each pixel.

    A missing neighbour (NaN or outside the raster) takes the centre's height; NaN where ``z`` is NaN.
    ``out``: (3, rows, cols) float64. The arithmetic follows :func:`solarkataster.surface.surface_normals`
    term by term.
    """
    rows, cols = z.shape
    inv = 8 * cellsize
    for r in prange(rows):
        for c in range(cols):
            z0 = z[r, c]
            if not np.isfinite(z0):
                out[0, r, c] = np.nan
                out[1, r, c] = np.nan
                out[2, r, c] = np.nan
                continue
            nw = _neighbour(z, r - 1, c - 1, z0)
            n_ = _neighbour(z, r - 1, c, z0)
            ne = _neighbour(z, r - 1, c + 1, z0)
            w_ = _neighbour(z, r, c - 1, z0)
            e_ = _neighbour(z, r, c + 1, z0)
            sw = _neighbour(z, r + 1, c - 1, z0)
            s_ = _neighbour(z, r + 1, c, z0)
            se = _neighbour(z, r + 1, c + 1, z0)
            dzdx = ((ne + 2 * e_ + se) - (nw + 2 * w_ + sw)) / inv
            dzdy = ((nw + 2 * n_ + ne) - (sw + 2 * s_ + se)) / inv
            norm = math.sqrt(dzdx * dzdx + dzdy * dzdy + 1.0)
            out[0, r, c] = -dzdx / norm
            out[1, r, c] = -dzdy / norm
            out[2, r, c] = 1.0 / norm


@njit(cache=True, nogil=True, inline="always")
def _neighbour(z, r, c, z0):
    """Height of pixel (r, c), or ``z0`` where it is missing or outside the raster."""
    if r < 0 or c < 0 or r >= z.shape[0] or c >= z.shape[1]:
        return z0
    v = z[r, c]
    return v if np.isfinite(v) else z0
