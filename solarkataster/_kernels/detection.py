"""Numba kernels of building detection. Private: plain arrays in, no validation."""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@njit(cache=True, nogil=True)
def continuous_surfaces(z, max_step):
    """Label 4-connected regions whose neighbouring heights differ by at most ``max_step`` (union-find).

    NaN pixels get label -1; the other labels are 0..n-1 in raster order of their first pixel.
    """
    rows, cols = z.shape
    n = rows * cols
    parent = np.arange(n)
    for r in range(rows):
        for c in range(cols):
            h = z[r, c]
            if not np.isfinite(h):
                continue
            i = r * cols + c
            for j in (i + 1 if c + 1 < cols else -1, i + cols if r + 1 < rows else -1):
                if j < 0:
                    continue
                hj = z[j // cols, j % cols]
                if np.isfinite(hj) and abs(hj - h) <= max_step:
                    a = i
                    while parent[a] != a:
                        parent[a] = parent[parent[a]]
                        a = parent[a]
                    b = j
                    while parent[b] != b:
                        parent[b] = parent[parent[b]]
                        b = parent[b]
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    labels = np.full((rows, cols), -1, np.int64)
    newid = np.full(n, -1, np.int64)
    k = 0
    for i in range(n):
        r = i // cols
        c = i % cols
        if not np.isfinite(z[r, c]):
            continue
        a = i
        while parent[a] != a:
            a = parent[a]
        if newid[a] < 0:
            newid[a] = k
            k += 1
        labels[r, c] = newid[a]
    return labels


@intrinsic
def _fma(typingctx, a, b, c):
    """Return ``a b + c`` rounded once (LLVM ``fma``)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, nogil=True)
def _dot2(ax, ay, bx, by):
    """Dot product of two 2-vectors as ``numpy.dot`` computes it (one fused multiply-add)."""
    return _fma(ay, by, ax * bx)


@njit(cache=True, nogil=True)
def ring_segments(xy, start, length, sxy, s_start, s_length):
    """Douglas-Peucker segments of pixel rings: mean of the corners each replaces, and its direction vector.

    ``xy`` holds the rings' corners (not closed), ring ``k``'s ``length[k]`` corners from ``start[k]``;
    ``sxy``, ``s_start``, ``s_length`` the same for the simplified rings, whose corners are a subset of
    the ring's in order. Segment ``j`` of ring ``k`` (row ``s_start[k] + j``) runs from simplified corner
    ``j`` to ``j + 1``: ``mean`` is the mean of the ring corners from the one to the other (both
    included), ``d`` the vector between them. ``ok[k]`` is False where the simplified ring has under 3
    corners or its corners do not match the ring's one to one.
    """
    n_rings = len(start)
    mean = np.zeros((len(sxy), 2))
    d = np.zeros((len(sxy), 2))
    ok = np.zeros(n_rings, np.bool_)
    for k in range(n_rings):
        n = length[k]
        m = s_length[k]
        if m < 3:
            continue
        p0 = start[k]
        q0 = s_start[k]
        at = np.empty(n, np.int64)
        na = 0
        for i in range(n):
            x = xy[p0 + i, 0]
            y = xy[p0 + i, 1]
            for j in range(m):
                if sxy[q0 + j, 0] == x and sxy[q0 + j, 1] == y:
                    at[na] = i
                    na += 1
                    break
        if na != m:
            continue
        ok[k] = True
        # corners relative to the first (twice round the ring) and their cumulative sums
        x0 = xy[p0, 0]
        y0 = xy[p0, 1]
        csum = np.zeros((2 * n + 1, 2))
        for i in range(2 * n):
            csum[i + 1, 0] = csum[i, 0] + (xy[p0 + i % n, 0] - x0)
            csum[i + 1, 1] = csum[i, 1] + (xy[p0 + i % n, 1] - y0)
        for j in range(m):
            s = at[j]
            e = at[(j + 1) % m]
            if e <= s:
                e += n
            cnt = float(e - s + 1)
            mean[q0 + j, 0] = (csum[e + 1, 0] - csum[s, 0]) / cnt + x0
            mean[q0 + j, 1] = (csum[e + 1, 1] - csum[s, 1]) / cnt + y0
            d[q0 + j, 0] = (xy[p0 + e % n, 0] - x0) - (xy[p0 + s, 0] - x0)
            d[q0 + j, 1] = (xy[p0 + e % n, 1] - y0) - (xy[p0 + s, 1] - y0)
    return ok, mean, d


@njit(cache=True, nogil=True)
def _meet(px, py, ux, uy, a, b, out, pos):
    """Write where line ``a`` ends and line ``b`` starts into ``out[pos]``: 1 point, or 2 if parallel."""
    cross = ux[a] * uy[b] - uy[a] * ux[b]
    if abs(cross) < 1e-6:
        cx = 0.5 * (px[a] + px[b])
        cy = 0.5 * (py[a] + py[b])
        t = _dot2(cx - px[a], cy - py[a], ux[a], uy[a])
        out[pos, 0] = px[a] + t * ux[a]
        out[pos, 1] = py[a] + t * uy[a]
        t = _dot2(cx - px[b], cy - py[b], ux[b], uy[b])
        out[pos + 1, 0] = px[b] + t * ux[b]
        out[pos + 1, 1] = py[b] + t * uy[b]
        return 2
    wx = px[b] - px[a]
    wy = py[b] - py[a]
    s = (wx * uy[b] - wy * ux[b]) / cross
    out[pos, 0] = px[a] + s * ux[a]
    out[pos, 1] = py[a] + s * uy[a]
    return 1


@njit(cache=True, nogil=True)
def _merge_collinear(px, py, ux, uy, w, n, tol):
    """Merge consecutive lines of the same direction less than ``tol`` apart (length-weighted); new count."""
    i = 0
    while n > 3 and i < n:
        j = (i + 1) % n
        cross = ux[i] * uy[j] - uy[i] * ux[j]
        off = abs((px[j] - px[i]) * uy[i] - (py[j] - py[i]) * ux[i])
        if abs(cross) < 1e-9 and _dot2(ux[i], uy[i], ux[j], uy[j]) > 0 and off < tol:
            ww = w[i] + w[j]
            px[i] = (px[i] * w[i] + px[j] * w[j]) / ww
            py[i] = (py[i] * w[i] + py[j] * w[j]) / ww
            w[i] = ww
            for q in range(j, n - 1):
                px[q] = px[q + 1]
                py[q] = py[q + 1]
                ux[q] = ux[q + 1]
                uy[q] = uy[q + 1]
                w[q] = w[q + 1]
            n -= 1
            if j < i:
                i -= 1
            continue
        i += 1
    return n


@njit(cache=True, nogil=True)
def _edge(corner, nc, px, py, ux, uy, k, n):
    """Length of line ``k``'s edge: from the last point of its start corner to the first of its end corner."""
    a = k % n
    b = (k + 1) % n
    last = nc[a] - 1
    return _dot2(corner[b, 0, 0] - corner[a, last, 0], corner[b, 0, 1] - corner[a, last, 1], ux[a], uy[a])


@njit(cache=True, nogil=True)
def _ring_from_lines(px, py, ux, uy, n, min_edge, out, pos):
    """Corners where consecutive lines meet, dropping lines whose edge is under ``min_edge``; into ``out[pos:]``.

    Returns the number of points written.
    """
    corner = np.zeros((n, 2, 2))
    nc = np.zeros(n, np.int64)
    tmp = np.zeros((2, 2))
    for k in range(n):
        nc[k] = _meet(px, py, ux, uy, (k - 1) % n, k, tmp, 0)
        corner[k] = tmp
    length = np.zeros(n)
    for k in range(n):
        length[k] = _edge(corner, nc, px, py, ux, uy, k, n)
    while n > 3:
        # the first smallest (a NaN first, as numpy.argmin)
        k = 0
        for q in range(1, n):
            if np.isnan(length[k]):
                break
            if np.isnan(length[q]) or length[q] < length[k]:
                k = q
        if length[k] >= min_edge:
            break
        for q in range(k, n - 1):
            px[q] = px[q + 1]
            py[q] = py[q + 1]
            ux[q] = ux[q + 1]
            uy[q] = uy[q + 1]
            corner[q] = corner[q + 1]
            nc[q] = nc[q + 1]
            length[q] = length[q + 1]
        n -= 1
        k %= n
        nc[k] = _meet(px, py, ux, uy, (k - 1) % n, k, tmp, 0)
        corner[k] = tmp
        length[(k - 1) % n] = _edge(corner, nc, px, py, ux, uy, k - 1 + n, n)
        length[k] = _edge(corner, nc, px, py, ux, uy, k, n)
    m = 0
    for k in range(n):
        for q in range(nc[k]):
            out[pos + m, 0] = corner[k, q, 0]
            out[pos + m, 1] = corner[k, q, 1]
            m += 1
    return m


@njit(cache=True, nogil=True)
def regular_rings(mean, u, length, keep, s_start, s_length, ok, cellsize):
    """Regular rings from the segments of :func:`ring_segments` (``u`` unit directions, ``keep`` kept lines).

    Per ring: the kept lines, consecutive collinear ones within a pixel merged, and the corners where
    consecutive lines meet, lines whose edge ends up under a pixel dropped. Returns the corners of all
    rings (``out[out_start[k]:out_start[k] + out_length[k]]``) and ``regular[k]``: False where the ring
    keeps its simplified form (not ``ok``, or under 3 lines).
    """
    n_rings = len(s_start)
    out = np.zeros((2 * len(mean) + 1, 2))
    out_start = np.zeros(n_rings, np.int64)
    out_length = np.zeros(n_rings, np.int64)
    regular = np.zeros(n_rings, np.bool_)
    pos = 0
    for k in range(n_rings):
        out_start[k] = pos
        if not ok[k]:
            continue
        q0 = s_start[k]
        n = 0
        for j in range(s_length[k]):
            if keep[q0 + j]:
                n += 1
        if n < 3:
            continue
        px = np.empty(n)
        py = np.empty(n)
        ux = np.empty(n)
        uy = np.empty(n)
        w = np.empty(n)
        i = 0
        for j in range(s_length[k]):
            if keep[q0 + j]:
                px[i] = mean[q0 + j, 0]
                py[i] = mean[q0 + j, 1]
                ux[i] = u[q0 + j, 0]
                uy[i] = u[q0 + j, 1]
                w[i] = length[q0 + j]
                i += 1
        n = _merge_collinear(px, py, ux, uy, w, n, cellsize)
        if n < 3:
            continue
        regular[k] = True
        m = _ring_from_lines(px, py, ux, uy, n, cellsize, out, pos)
        out_length[k] = m
        pos += m
    return out[:pos], out_start, out_length, regular


@njit(cache=True, nogil=True)
def third_lowest_3x3(z, out):
    """Third-lowest value of each pixel's 3 x 3 window, edges repeated (``ndimage.rank_filter(z, 2, 3, 'nearest')``).

    ``z`` holds no NaN; ``out`` has its shape and dtype.
    """
    rows, cols = z.shape
    for r in range(rows):
        for c in range(cols):
            a = np.inf  # the three lowest so far, a <= b <= d
            b = np.inf
            d = np.inf
            for dr in range(-1, 2):
                rr = min(max(r + dr, 0), rows - 1)
                for dc in range(-1, 2):
                    v = z[rr, min(max(c + dc, 0), cols - 1)]
                    if v < d:
                        if v < b:
                            d = b
                            if v < a:
                                b = a
                                a = v
                            else:
                                b = v
                        else:
                            d = v
            out[r, c] = d
