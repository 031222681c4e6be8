"""Numba kernel of the wall heights (:func:`solarkataster.walls.wall_segments` is its public wrapper).

Private: plain arrays in map units, no validation. The percentiles and medians are NumPy's (linear method)
to the bit: the same order statistics and the same interpolation arithmetic.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _percentile_sorted(v, n, q):
    """``np.percentile(v[:n], q)`` (linear method) of an ascending float64 buffer."""
    index = (n - 1) * (q / 100.0)
    k = int(math.floor(index))
    if k >= n - 1:
        return v[n - 1]
    a = v[k]
    b = v[k + 1]
    g = index - k
    diff = b - a
    return b - diff * (1.0 - g) if g >= 0.5 else a + diff * g


@njit(cache=True, nogil=True, inline="always")
def _median_sorted(v, n):
    """``np.median(v[:n])`` of an ascending float64 buffer."""
    h = n // 2
    if n % 2:
        return v[h]
    return (v[h - 1] + v[h]) / 2.0


@njit(cache=True, nogil=True, inline="always")
def _span(centres, lo, hi):
    """First and one-past-last index of the pixel centres within [lo, hi] (0, 0 when none)."""
    first = -1
    last = -1
    for i in range(centres.shape[0]):
        if lo <= centres[i] <= hi:
            if first < 0:
                first = i
            last = i
    return (first, last + 1) if first >= 0 else (0, 0)


@njit(cache=True, nogil=True)
def edge_heights(zw, label_w, label, gw, xs, ys, edges, near, outer, reach, eave_q, ground_q, roof_all, out):
    """Eave and ground height of each edge of one building, from the pixels of its window.

    ``zw``: DSM window [m]; ``label_w``: footprint labels of the window (``label`` is the building's, 0
    outside every footprint); ``gw``: DTM window [m], or a (0, 0) array without a DTM; ``xs``, ``ys``:
    pixel-centre x of the window's columns and y of its rows [m]; ``edges`` (n, 4): x0, y0, x1, y1 [m].
    The eave is the ``eave_q`` percentile of the building's pixels within ``near`` [m] of the edge (else
    ``roof_all``); the ground the DTM's median within ``near``, or without a DTM the ``ground_q``
    percentile of the DSM pixels outside every footprint within ``outer`` [m]; NaN when none. Only the
    pixels within ``reach`` [m] (at least ``max(near, outer)``) of the edge's bounding box are read.
    Writes ``out[e] = (eave, ground)``.
    """
    has_ground = gw.shape[0] > 0
    cap = zw.shape[0] * zw.shape[1]
    roof = np.empty(cap, np.float64)
    grd = np.empty(cap, np.float64)
    for e in range(edges.shape[0]):
        x0, y0, x1, y1 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        c0, c1 = _span(xs, min(x0, x1) - reach, max(x0, x1) + reach)
        r0, r1 = _span(ys, min(y0, y1) - reach, max(y0, y1) + reach)
        dx = x1 - x0
        dy = y1 - y0
        ll = max(dx * dx + dy * dy, 1e-12)
        n_roof = 0
        n_grd = 0
        for r in range(r0, r1):
            py = ys[r]
            for c in range(c0, c1):
                px = xs[c]
                t = min(max(((px - x0) * dx + (py - y0) * dy) / ll, 0.0), 1.0)
                dist = math.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
                zz = zw[r, c]
                finite = np.isfinite(zz)
                if dist <= near and finite and label_w[r, c] == label:
                    roof[n_roof] = zz
                    n_roof += 1
                if has_ground:
                    if dist <= near and np.isfinite(gw[r, c]):
                        grd[n_grd] = gw[r, c]
                        n_grd += 1
                elif dist <= outer and finite and label_w[r, c] == 0:
                    grd[n_grd] = zz
                    n_grd += 1
        if n_roof:
            roof[:n_roof].sort()
            out[e, 0] = _percentile_sorted(roof, n_roof, eave_q)
        else:
            out[e, 0] = roof_all
        if n_grd:
            grd[:n_grd].sort()
            out[e, 1] = _median_sorted(grd, n_grd) if has_ground else _percentile_sorted(grd, n_grd, ground_q)
        else:
            out[e, 1] = np.nan


@njit(cache=True, nogil=True)
def merge_collinear(pts, tolerance):
    """Vertices of a closed ring (without the repeated last one) after dropping collinear ones, one at a time.

    Each round drops the vertex nearest the line through its two neighbours (the first such, as ``np.argmin``)
    while that distance is at most ``tolerance`` and more than three vertices are left: the arithmetic of
    the array expression it replaced (``np.roll`` neighbours, ``np.linalg.norm`` of the chord), so the same
    vertices.
    """
    out = pts.copy()
    n = out.shape[0]
    while n > 3:
        k = 0
        best = math.inf
        for i in range(n):
            j = i - 1 if i > 0 else n - 1
            m = i + 1 if i < n - 1 else 0
            cx = out[m, 0] - out[j, 0]
            cy = out[m, 1] - out[j, 1]
            norm = math.sqrt(cx * cx + cy * cy)
            cross = abs(cx * (out[i, 1] - out[j, 1]) - cy * (out[i, 0] - out[j, 0]))
            dev = cross / max(norm, 1e-12) if norm > 1e-9 else 0.0
            if dev < best:
                best = dev
                k = i
        if best > tolerance:
            break
        for i in range(k, n - 1):
            out[i, 0] = out[i + 1, 0]
            out[i, 1] = out[i + 1, 1]
        n -= 1
    return out[:n]

