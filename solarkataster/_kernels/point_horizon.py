"""Numba kernels for the horizons of arbitrary points (wall samples): tangent queries on the sweep's line hulls.

Private: cell units. The lines, samples, hulls and blending are those of the pixel sweep in
:mod:`solarkataster._kernels.horizon` (whose helpers this module uses); each line's surface is sampled only
where the line crosses the raster, not over the raster's whole along-track extent: a diagonal line near a
corner crosses a few cells, not the diagonal's length. Index space and conventions as in that module.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .horizon import NEG, angle_code, bilinear, blend, crossings, direction, hull_push, hull_tangent, line_frame


@njit(cache=True, nogil=True, inline="always")
def _raster_span(rows, cols, r0, c0, dr, dc, anchor_r, anchor_c):
    """Along-track interval [cells] where the line ``(r0, c0) + t (dr, dc)`` lies on the raster, plus one cell.

    Returns ``(a, b)`` with ``a > b`` when the line misses the raster.
    """
    a = -1e30
    b = 1e30
    for p0, d, lo, hi in ((r0, dr, anchor_r, anchor_r + rows - 1.0), (c0, dc, anchor_c, anchor_c + cols - 1.0)):
        if abs(d) > 1e-12:
            ta = (lo - p0) / d
            tb = (hi - p0) / d
            a = max(a, min(ta, tb) - 1.0)
            b = min(b, max(ta, tb) + 1.0)
        elif p0 < lo - 1.0 or p0 > hi + 1.0:
            return 1e30, -1e30
    return a, b


@njit(cache=True, nogil=True, inline="always")
def _point_start(dc, dr, sn, cn, has_wall, step0, clearance):
    """Along-ray distance [cells] where a point's march starts; -1 when the azimuth lies behind its wall."""
    if not has_wall:
        return step0
    cos_t = dc * sn - dr * cn
    if cos_t < -1e-9:
        return -1.0
    return max(step0, clearance / max(cos_t, 0.05))


@njit(cache=True, nogil=True)
def _point_lines(col_rows, col_cols, col_normal, dc, dr, lc, lr, du, anchor_r, anchor_c, k_first, n_lines, step0,
                 clearance, e_line, e_dir):
    """Lines and directions of every column's query; line -1 where the column needs no query.

    Entry ``4 * j + 2 * dir + side`` is column j, direction dir (0: along +t, 1: -t), line floor(u) + side.
    """
    m = col_rows.shape[0]
    for j in range(m):
        sn = col_normal[j, 0]
        cn = col_normal[j, 1]
        has_wall = np.isfinite(sn)
        u = ((col_cols[j] + anchor_c) * lc + (col_rows[j] + anchor_r) * lr) / du
        k0 = int(math.floor(u)) - k_first
        for d in range(2):
            e0 = 4 * j + 2 * d
            e_line[e0] = -1
            e_line[e0 + 1] = -1
            sgn = 1.0 if d == 0 else -1.0
            if _point_start(sgn * dc, sgn * dr, sn, cn, has_wall, step0, clearance) < 0.0:
                continue
            for s in range(2):
                k = k0 + s
                if 0 <= k < n_lines:
                    e_line[e0 + s] = k
                    e_dir[e0 + s] = d


@njit(cache=True, nogil=True)
def column_normals(col_facing):
    """Sine and cosine of each column's wall normal ``col_facing`` [rad] (NaN: no wall), shape (m, 2).

    Taken once per call: each azimuth pair's lines and near field reuse them (scalar ``math.sin``, as the
    kernels had it, so the same values).
    """
    out = np.empty((col_facing.shape[0], 2), np.float64)
    for j in range(col_facing.shape[0]):
        out[j, 0] = math.sin(col_facing[j])
        out[j, 1] = math.cos(col_facing[j])
    return out


@njit(cache=True, nogil=True)
def _group_by_line(e_line, n_lines, counts, order):
    """Group the entries by line (a counting sort) and return their number.

    ``counts`` gets the prefix sums (length n_lines + 1), ``order`` the entry indices line by line.
    """
    for j in range(n_lines + 1):
        counts[j] = 0
    for e in range(e_line.shape[0]):
        if e_line[e] >= 0:
            counts[e_line[e] + 1] += 1
    for j in range(n_lines):
        counts[j + 1] += counts[j]
    fill = counts[:n_lines].copy()
    for e in range(e_line.shape[0]):
        k = e_line[e]
        if k >= 0:
            order[fill[k]] = e
            fill[k] += 1
    return counts[n_lines]


@njit(cache=True, nogil=True)
def sweep_points_pair(z, cellsize, phi, col_rows, col_cols, col_normal, starts, heights, step0, clearance, near,
                      max_dist, du, anchor_r, anchor_c, far_fwd, far_bwd, out_fwd, out_bwd):
    """Horizon slopes of arbitrary points (wall samples) for azimuth ``phi`` [rad] and ``phi + pi``.

    The point counterpart of :func:`sweep_pair` on the same lines (global frame, ``du`` apart, samples at
    grid-line crossings): each point queries the upper hulls of the two lines beside it from its own
    height, blended by lateral distance, plus an exact near field of ``near + 1`` cells along its own ray.
    Points come in columns (a wall's samples one above the other): column j is the fractional (row, col)
    index ``col_rows[j], col_cols[j]`` of ``z`` with the wall normal's sine and cosine ``col_normal[j]``
    (:func:`column_normals`; NaN: no wall), and holds the points ``starts[j]`` to ``starts[j + 1]``
    (absolute ``heights`` [m]). A column finds its lines, its place on them and its near-field samples once
    for all its points.
    A point with a wall ignores everything closer to the wall plane than ``clearance`` [cells]: along its
    ray at angle θ from the normal the march starts at ``clearance / cos θ`` (at least ``step0``), and on a
    line beside it at the distance where that line is ``clearance`` off the wall plane; azimuths behind the
    wall get +inf. Writes slopes (tan of elevation) into ``out_fwd`` / ``out_bwd`` (one per point); NEG
    where nothing lies along the ray; the lines' part alone (beyond the near field) into ``far_fwd`` /
    ``far_bwd``. Serial and without the GIL: callers run azimuth pairs in threads.
    """
    rows, cols = z.shape
    m = col_rows.shape[0]
    n = heights.shape[0]
    dc, dr, lc, lr = direction(phi)
    t_min, t_max, k_first, n_lines = line_frame(rows, cols, dc, dr, lc, lr, du, anchor_r, anchor_c)
    counts = np.empty(n_lines + 1, np.int64)
    order = np.empty(4 * m, np.int64)
    e_line = np.empty(4 * m, np.int64)
    e_dir = np.empty(4 * m, np.int64)
    _point_lines(col_rows, col_cols, col_normal, dc, dr, lc, lr, du, anchor_r, anchor_c, k_first, n_lines, step0,
                 clearance, e_line, e_dir)
    _group_by_line(e_line, n_lines, counts, order)
    res = np.full(4 * n, NEG, np.float64)
    scr = _point_line_scratch(counts, n_lines, t_min, t_max)
    for j in range(n_lines):
        if counts[j + 1] > counts[j]:
            _point_line(z, cellsize, k_first + j, du, dc, dr, lc, lr, anchor_r, anchor_c, t_min, t_max,
                        order[counts[j]:counts[j + 1]], e_dir, col_rows, col_cols, col_normal, starts, heights,
                        step0, clearance, near, max_dist, scr, res)
    _blend_lines(col_rows, col_cols, lc, lr, du, anchor_r, anchor_c, starts, res, far_fwd, far_bwd)
    near_points_pair(z, cellsize, phi, col_rows, col_cols, col_normal, starts, heights, step0, clearance, near,
                     anchor_r, anchor_c, far_fwd, far_bwd, out_fwd, out_bwd)


@njit(cache=True, nogil=True)
def _blend_lines(col_rows, col_cols, lc, lr, du, anchor_r, anchor_c, starts, res, far_fwd, far_bwd):
    """Blend each point's slopes on the two lines beside it by lateral distance, per direction."""
    for j in range(col_rows.shape[0]):
        u = ((col_cols[j] + anchor_c) * lc + (col_rows[j] + anchor_r) * lr) / du
        w1 = u - math.floor(u)
        for i in range(starts[j], starts[j + 1]):
            far_fwd[i] = blend(res[4 * i], res[4 * i + 1], w1)
            far_bwd[i] = blend(res[4 * i + 2], res[4 * i + 3], w1)


@njit(cache=True, nogil=True)
def near_points_pair(z, cellsize, phi, col_rows, col_cols, col_normal, starts, heights, step0, clearance, near,
                     anchor_r, anchor_c, far_fwd, far_bwd, out_fwd, out_bwd):
    """Add the exact near field of every point to its far-field slope, for azimuth ``phi`` [rad] and ``phi + pi``.

    ``far_fwd`` / ``far_bwd``: slopes beyond the near field (from :func:`sweep_points_pair`'s lines, or
    interpolated between neighbouring azimuths); the rest as :func:`sweep_points_pair`. The near field's
    samples along a column's ray are found once and seen from each of its points.
    """
    dc, dr, _, _ = direction(phi)
    inv_cs = 1.0 / cellsize
    nb = int(near) + 3
    tb = np.empty(4 * nb, np.float64)
    zb = np.empty(4 * nb, np.float64)
    for j in range(col_rows.shape[0]):
        sn = col_normal[j, 0]
        cn = col_normal[j, 1]
        has_wall = np.isfinite(sn)
        r0 = col_rows[j] + anchor_r
        c0 = col_cols[j] + anchor_c
        for d in range(2):
            out = out_fwd if d == 0 else out_bwd
            far = far_fwd if d == 0 else far_bwd
            sgn = 1.0 if d == 0 else -1.0
            start = _point_start(sgn * dc, sgn * dr, sn, cn, has_wall, step0, clearance)
            if start < 0.0:
                for i in range(starts[j], starts[j + 1]):
                    out[i] = math.inf
                continue
            # the march's first point: nearest to the point, often the steepest (an obstacle's foot)
            zs = bilinear(z, col_rows[j] + sgn * dr * start, col_cols[j] + sgn * dc * start)
            nm = crossings(r0, c0, sgn * dr, sgn * dc, start, start + near + 1.0, tb, zb, z, anchor_r, anchor_c)
            for q in range(nm):  # once per column: each point then multiplies (a division costs ~10 of them)
                zb[q] *= inv_cs
                tb[q] = 1.0 / tb[q]
            for i in range(starts[j], starts[j + 1]):
                z0s = heights[i] * inv_cs
                s = far[i]
                if np.isfinite(zs):
                    s = max(s, (zs * inv_cs - z0s) / start)
                for q in range(nm):
                    s = max(s, (zb[q] - z0s) * tb[q])
                out[i] = s


@njit(cache=True, nogil=True)
def _point_line(z, cellsize, k, du, dc, dr, lc, lr, anchor_r, anchor_c, t_min, t_max, entries, e_dir, col_rows,
                col_cols, col_normal, starts, heights, step0, clearance, near, max_dist, scr, res):
    """Far-field slopes of the column queries ``entries`` on line ``k``, both directions, into ``res``.

    ``scr``: :func:`_point_line_scratch`.
    """
    tq, cut, srt, stack, tb, zb, ht, hz = scr
    ne = entries.shape[0]
    inv_cs = 1.0 / cellsize
    u_line = k * du
    lo = 1e30
    hi = -1e30
    for q in range(ne):
        e = entries[q]
        j = e // 4
        sgn = 1.0 if e_dir[e] == 0 else -1.0
        r0 = col_rows[j] + anchor_r
        c0 = col_cols[j] + anchor_c
        t = c0 * dc + r0 * dr
        start = step0
        sn = col_normal[j, 0]
        if np.isfinite(sn):
            cn = col_normal[j, 1]
            cos_t = sgn * (dc * sn - dr * cn)
            # the line's offset from the point, along the wall's normal [cells]
            off = (u_line - (c0 * lc + r0 * lr)) * (lc * sn - lr * cn)
            start = max(step0, (clearance - off) / max(cos_t, 0.05))
        tq[q] = t
        cut[q] = t + sgn * (start + near)
        if sgn > 0.0:
            lo = min(lo, cut[q])
        else:
            hi = max(hi, cut[q])
    # only the stretch beyond the queries' cut-offs: forward views need t > lo, backward ones t < hi
    t0 = t_min if hi > -1e30 else max(t_min, lo)
    t1 = t_max if lo < 1e30 else min(t_max, hi)
    # and only where the line crosses the raster (outside it the surface is NaN and skipped anyway)
    a, b = _raster_span(z.shape[0], z.shape[1], u_line * lr, u_line * lc, dr, dc, anchor_r, anchor_c)
    t0 = max(t0, a)
    t1 = min(t1, b)
    ns = crossings(u_line * lr, u_line * lc, dr, dc, t0, t1, tb, zb, z, anchor_r, anchor_c)
    for s in range(ns):
        zb[s] *= inv_cs
    _argsort_into(cut, ne, srt, stack)
    for d in range(2):
        forward = d == 0
        n = 0
        hint = 0
        i_s = ns - 1 if forward else 0
        for step in range(ne):
            q = srt[ne - 1 - step] if forward else srt[step]
            e = entries[q]
            if e_dir[e] != d:
                continue
            c_ = cut[q]
            if forward:
                while i_s >= 0 and tb[i_s] > c_:
                    n = hull_push(ht, hz, n, tb[i_s], zb[i_s], True)
                    i_s -= 1
            else:
                while i_s < ns and tb[i_s] < c_:
                    n = hull_push(ht, hz, n, tb[i_s], zb[i_s], False)
                    i_s += 1
            slot = e % 4
            for i in range(starts[e // 4], starts[e // 4 + 1]):
                zq = heights[i] * inv_cs
                jh = hull_tangent(ht, hz, n, tq[q], zq, max_dist, hint)
                if jh >= 0:
                    hint = jh
                    res[4 * i + slot] = (hz[jh] - zq) / abs(ht[jh] - tq[q])


@njit(cache=True, nogil=True)
def slopes_to_angles(slopes, atans, out):
    """Slopes (tan of elevation; NEG open, +inf behind a wall) to angles [°] in ``out``: -90 open, +90 behind.

    ``atans``: ``np.arctan(slopes)`` (NumPy's vectorised arctan is several times faster than a scalar one);
    NumPy's ``degrees`` of them, written in ``out``'s dtype (float32).
    """
    for i in range(slopes.shape[0]):
        out[i] = -90.0 if slopes[i] <= NEG else math.degrees(atans[i])


@njit(cache=True, nogil=True)
def slopes_to_angle_codes(slopes, atans, out):
    """Slopes as :func:`slopes_to_angles` to the int16 codes of their float32 angles, in one pass.

    The codes of :func:`solarkataster._kernels.horizon.angles_to_codes` (float32 angle, widened, clipped to
    ±89.99°, hundredths rounded half to even; -32768 open, 32767 missing).
    """
    for i in range(slopes.shape[0]):
        if slopes[i] <= NEG:
            out[i] = -32768  # -90°: open
            continue
        out[i] = angle_code(np.float64(np.float32(math.degrees(atans[i]))))


@njit(cache=True, nogil=True)
def far_between(far_a, far_b, w, out):
    """Far-field slopes linear between two swept azimuths' (float32) at weight ``w`` of ``far_b``, into ``out``.

    Where one side has no terrain (NEG) the larger holds, as between two sweep lines (:func:`blend`); NumPy's
    arithmetic (float64, NaN propagates), so the same values as the array expression.
    """
    for i in range(out.shape[0]):
        sa = np.float64(far_a[i])
        sb = np.float64(far_b[i])
        if sa > NEG and sb > NEG:
            out[i] = (1.0 - w) * sa + w * sb
        elif np.isnan(sa) or np.isnan(sb):
            out[i] = np.nan
        else:
            out[i] = max(sa, sb)


@njit(cache=True, nogil=True)
def _point_line_scratch(counts, n_lines, t_min, t_max):
    """Scratch arrays of :func:`_point_line`, sized once per azimuth pair and reused line after line.

    Entries (the most on one line): ``tq, cut`` and their order ``srt``; the sort's ``stack``; samples ``tb, zb``
    (two grid-line crossings per cell of the raster's along-track extent, as :func:`crossings` needs); the hull
    stack ``ht, hz``.
    """
    ecap = 1
    for j in range(n_lines):
        ecap = max(ecap, counts[j + 1] - counts[j])
    cap = int(2.0 * (t_max - t_min)) + 8
    return (np.empty(ecap, np.float64), np.empty(ecap, np.float64), np.empty(ecap, np.int64),
            np.empty(2 * _SORT_STACK, np.int64), np.empty(cap, np.float64), np.empty(cap, np.float64),
            np.empty(cap + 1, np.float64), np.empty(cap + 1, np.float64))


#: Partitions pending in :func:`_argsort_into` (numba's quicksort's MAX_STACK): the larger part is pushed and
#: the smaller one sorted next, so the stack stays below log2 of the entries.
_SORT_STACK = 100
#: Below this many entries a partition is insertion-sorted (numba's SMALL_QUICKSORT).
_SORT_SMALL = 15


@njit(cache=True, nogil=True)
def _argsort_into(keys, n, order, stack):
    """``np.argsort(keys[:n])`` into ``order[:n]``, without allocating: numba's quicksort, step for step.

    Median-of-three partitions down to insertion sorts of fewer than :data:`_SORT_SMALL` entries, as numba's
    own ``np.argsort`` (``numba.misc.quicksort``), so equal keys come out in the same order, and with them
    the hull queries' hints. ``stack``: 2 * :data:`_SORT_STACK` integers.
    """
    for i in range(n):
        order[i] = i
    if n < 2:
        return
    stack[0] = 0
    stack[1] = n - 1
    ns = 1
    while ns > 0:
        ns -= 1
        low = stack[2 * ns]
        high = stack[2 * ns + 1]
        while high - low >= _SORT_SMALL:
            i = _partition(keys, order, low, high)
            if high - i > i - low:  # push the larger part, go on with the smaller
                if high > i:
                    stack[2 * ns] = i + 1
                    stack[2 * ns + 1] = high
                    ns += 1
                high = i - 1
            else:
                if i > low:
                    stack[2 * ns] = low
                    stack[2 * ns + 1] = i - 1
                    ns += 1
                low = i + 1
        for i in range(low + 1, high + 1):  # insertion sort of order[low:high + 1]
            k = order[i]
            v = keys[k]
            j = i
            while j > low and v < keys[order[j - 1]]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = k


@njit(cache=True, nogil=True, inline="always")
def _partition(keys, order, low, high):
    """Partition ``order[low:high + 1]`` around the median of three by ``keys`` (numba's); the pivot's index."""
    mid = (low + high) >> 1
    if keys[order[mid]] < keys[order[low]]:
        order[low], order[mid] = order[mid], order[low]
    if keys[order[high]] < keys[order[mid]]:
        order[high], order[mid] = order[mid], order[high]
    if keys[order[mid]] < keys[order[low]]:
        order[low], order[mid] = order[mid], order[low]
    pivot = keys[order[mid]]
    order[high], order[mid] = order[mid], order[high]
    i = low
    j = high - 1
    while True:
        while i < high and keys[order[i]] < pivot:
            i += 1
        while j >= low and pivot < keys[order[j]]:
            j -= 1
        if i >= j:
            break
        order[i], order[j] = order[j], order[i]
        i += 1
        j -= 1
    order[i], order[high] = order[high], order[i]
    return i
