"""Numba kernels of the module layout (points in a polygon's interior, many points at once) and of its hourly yield.

Private: plain arrays in the caller's units. The test is GEOS's own rule for a point in an areal geometry
(the parity of the crossings of a ray with every ring segment, shell and holes alike), in floating point;
a point closer to an edge than ``tol`` is left undecided so that the caller asks GEOS's exact predicate
for it, and the answers equal ``shapely.contains_xy`` point for point.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Code of a point the kernel leaves to the exact predicate (closer than the tolerance to an edge).
UNDECIDED = 2


@njit(cache=True, nogil=True)
def grid_in_rings(xs, ys, ring_x, ring_y, ring_start, tol, out):
    """Classify the points ``(xs[j], ys[i])``: ``out[i, j]`` 1 inside, 0 outside, :data:`UNDECIDED` near an edge.

    One row of points at a time, over the points sorted by x: only the segments that reach within ``tol``
    of the row's ``y`` can cross its rays or lie near its points. A point's parity is the number of those
    crossings right of it; the nearness test runs only for the points in the x interval where a segment can
    come within ``tol`` (its x range, narrowed to the band around its line's crossing for segments steeper
    than 0.6°, a band twice as wide as the distance allows). Each point so meets a few crossings in one
    sweep, not every segment: the same comparisons as testing every segment at every point, so the same
    answers.

    Parameters
    ----------
    xs : ndarray of float64, shape (nx,)
    ys : ndarray of float64, shape (ny,)
        The points' coordinates.
    ring_x, ring_y : ndarray of float64
        Ring vertices, each ring closed (last vertex = first), rings one after another.
    ring_start : ndarray of int64, shape (rings + 1,)
        Offsets of the rings in ``ring_x``/``ring_y`` (the last one = their length).
    tol : float
        Points closer than this to a segment are undecided.
    out : ndarray of int8, shape (ny, nx)

    Returns
    -------
    int
        The number of undecided points.
    """
    tol2 = tol * tol
    undecided = 0
    seg = np.empty(ring_x.size, np.int64)
    cross = np.empty(ring_x.size, np.float64)
    order = np.argsort(xs, kind="mergesort")
    sx = xs[order]
    near = np.zeros(xs.size, np.bool_)
    for iy in range(ys.size):
        py = ys[iy]
        m = 0
        nc = 0
        for r in range(ring_start.size - 1):
            for i in range(ring_start[r], ring_start[r + 1] - 1):
                y0 = ring_y[i]
                y1 = ring_y[i + 1]
                if min(y0, y1) - tol <= py <= max(y0, y1) + tol:
                    seg[m] = i
                    m += 1
                    if (y0 > py) != (y1 > py):
                        x0 = ring_x[i]
                        cross[nc] = x0 + (py - y0) * (ring_x[i + 1] - x0) / (y1 - y0)
                        nc += 1
        crossings = np.sort(cross[:nc])
        near[:] = False
        for s in range(m):
            i = seg[s]
            x0 = ring_x[i]
            y0 = ring_y[i]
            x1 = ring_x[i + 1]
            y1 = ring_y[i + 1]
            dx = x1 - x0
            dy = y1 - y0
            ll = dx * dx + dy * dy
            lo = min(x0, x1) - tol
            hi = max(x0, x1) + tol
            length = np.sqrt(ll)
            if abs(dy) >= 0.01 * length and ll > 0:
                # nearer than tol to the segment means nearer than tol to its line: |x - x_line| |dy| / length
                x_line = x0 + (py - y0) * dx / dy
                w = 2.0 * tol * length / abs(dy) + 2.0 * tol
                lo = max(lo, x_line - w)
                hi = min(hi, x_line + w)
            j = np.searchsorted(sx, lo)
            while j < sx.size and sx[j] <= hi:
                px = sx[j]
                if not near[j] and min(x0, x1) - tol <= px <= max(x0, x1) + tol:
                    t = ((px - x0) * dx + (py - y0) * dy) / ll if ll > 0 else 0.0
                    t = min(max(t, 0.0), 1.0)
                    ex = px - (x0 + t * dx)
                    ey = py - (y0 + t * dy)
                    if ex * ex + ey * ey < tol2:
                        near[j] = True
                j += 1
        # parity: crossings right of each point (px < crossing), points and crossings both ascending
        right = nc
        c = 0
        for j in range(sx.size):
            px = sx[j]
            while c < nc and not px < crossings[c]:
                c += 1
            right = nc - c
            out[iy, order[j]] = UNDECIDED if near[j] else (1 if right % 2 == 1 else 0)
            undecided += near[j]
    return undecided


#: :func:`box_in_rings` answers: the box lies inside (clear of every edge), outside (an edge crosses it), or
#: near an edge, for GEOS to decide.
BOX_OUT, BOX_IN, BOX_NEAR = 0, 1, 2


@njit(cache=True, nogil=True)
def box_in_rings(x0, y0, x1, y1, ring_x, ring_y, ring_start, tol):
    """Whether an edge of a valid region passes through the box ``[x0, x1] x [y0, y1]``, whose corners are inside.

    Returns :data:`BOX_OUT` when a ring segment passes through the box shrunk by ``2 tol`` (so boundary, and
    with it the exterior, reaches into the box), :data:`BOX_IN` when every segment lies over ``tol`` away
    (its bounding box, or all four corners over ``2 tol`` from its line on one side: the box then lies in
    the interior), else :data:`BOX_NEAR`. The margins are many times the rounding of these tests.
    """
    near = False
    m = 2.0 * tol
    for r in range(ring_start.size - 1):
        for i in range(ring_start[r], ring_start[r + 1] - 1):
            sx0 = ring_x[i]
            sy0 = ring_y[i]
            sx1 = ring_x[i + 1]
            sy1 = ring_y[i + 1]
            if max(sx0, sx1) < x0 - tol or min(sx0, sx1) > x1 + tol or max(sy0, sy1) < y0 - tol \
                    or min(sy0, sy1) > y1 + tol:
                continue
            dx = sx1 - sx0
            dy = sy1 - sy0
            margin = m * np.sqrt(dx * dx + dy * dy)
            d0 = (x0 - sx0) * dy - (y0 - sy0) * dx
            d1 = (x1 - sx0) * dy - (y0 - sy0) * dx
            d2 = (x0 - sx0) * dy - (y1 - sy0) * dx
            d3 = (x1 - sx0) * dy - (y1 - sy0) * dx
            if min(min(d0, d1), min(d2, d3)) > margin or max(max(d0, d1), max(d2, d3)) < -margin:
                continue
            # Liang-Barsky: does the segment meet the shrunk box?
            t0 = 0.0
            t1 = 1.0
            for p, q in ((-dx, sx0 - (x0 + m)), (dx, (x1 - m) - sx0), (-dy, sy0 - (y0 + m)), (dy, (y1 - m) - sy0)):
                if p == 0.0:
                    if q < 0.0:
                        t1 = -1.0
                elif p < 0.0:
                    t0 = max(t0, q / p)
                else:
                    t1 = min(t1, q / p)
            if t0 < t1:
                return BOX_OUT
            near = True
    return BOX_NEAR if near else BOX_IN


@njit(cache=True, nogil=True)
def best_grid(corner_in, xs, ys, n_offsets_u, n_offsets_v, nu, nv, convex, ring_x, ring_y, ring_start, tol):
    """Find the grid offset with the most module rectangles inside a region: (count, rows, sure).

    The rule of :func:`solarkataster.pv._best_grid` in one pass. ``corner_in`` holds the tests of the
    corners, rows ``ys`` (near and far side, v offset, v index) by columns ``xs`` (near and far side, u
    offset, u index). A rectangle is a candidate when its four corners are inside. On a convex region the
    candidates are inside, and the best offset is the first with the most. On another region the offsets
    are checked best first, until no remaining one's candidates can beat the best checked count, each
    rectangle by :func:`box_in_rings`; when one is near an edge, the answer is not ``sure`` and the caller
    asks GEOS instead.

    Parameters
    ----------
    corner_in : ndarray of bool, shape (2 * n_offsets_v * nv, 2 * n_offsets_u * nu)
    xs, ys : ndarray of float64
        Coordinates of the corner columns and rows [m].
    n_offsets_u, n_offsets_v : int
        Grid offsets tried along u and v.
    nu, nv : int
        Rectangles per offset along u and v.
    convex : bool
    ring_x, ring_y, ring_start : ndarray
        :func:`ring_arrays` of the region, a valid one (unused when convex).
    tol : float
        Distance from an edge within which a rectangle is near it [m].

    Returns
    -------
    count, rows : int
        Rectangles inside at the best offset, and the rows (v indices) of its candidates.
    sure : bool
    """
    n_off = n_offsets_u * n_offsets_v
    far_row = n_offsets_v * nv
    far_col = n_offsets_u * nu
    inside = np.zeros((n_off, nu * nv), np.bool_)
    counts = np.zeros(n_off, np.int64)
    for iu in range(n_offsets_u):
        for iv in range(n_offsets_v):
            k = iu * n_offsets_v + iv
            for a in range(nu):
                c0 = iu * nu + a
                for b in range(nv):
                    r0 = iv * nv + b
                    if (corner_in[r0, c0] and corner_in[r0, c0 + far_col] and corner_in[r0 + far_row, c0]
                            and corner_in[r0 + far_row, c0 + far_col]):
                        inside[k, a * nv + b] = True
                        counts[k] += 1
    if not convex:
        exact = np.zeros(n_off, np.int64)
        best_exact = 0
        for k in np.argsort(-counts, kind="mergesort"):
            if counts[k] <= best_exact:
                break
            iu, iv = k // n_offsets_v, k % n_offsets_v
            for j in range(nu * nv):
                if inside[k, j]:
                    c0 = iu * nu + j // nv
                    r0 = iv * nv + j % nv
                    where = box_in_rings(xs[c0], ys[r0], xs[c0 + far_col], ys[r0 + far_row], ring_x, ring_y,
                                         ring_start, tol)
                    if where == BOX_NEAR:
                        return 0, 0, False
                    inside[k, j] = where == BOX_IN
                    exact[k] += inside[k, j]
            best_exact = max(best_exact, exact[k])
        counts = exact
    best = np.argmax(counts)
    rows = 0
    for b in range(nv):
        for a in range(nu):
            if inside[best, a * nv + b]:
                rows += 1
                break
    return counts[best], rows, True


@njit(cache=True, nogil=True)
def grid_layout(minx, miny, maxx, maxy, cell_u, cell_v, pitch_v, n_offsets, band_ulps, convex, ring_x, ring_y,
                ring_start):
    """:func:`solarkataster.pv._best_grid` of a region with ring arrays in one call: (count, rows, sure).

    The same arithmetic, in the same order, as the Python steps it stands for: the candidate counts along
    u and v, the grid offsets (``k / n_offsets`` of the pitch and the centred one), the corner grid
    (``x0 = minx + offset + i * cell + 1e-6`` and ``x0 + cell - 2e-6`` on the far side), the band of
    ``band_ulps`` units in the last place of the largest coordinate, :func:`grid_in_rings` and
    :func:`best_grid`. Not ``sure`` when a corner is undecided or a rectangle lies near an edge: the caller
    then takes the Python path, which asks GEOS.

    Parameters
    ----------
    minx, miny, maxx, maxy : float
        Bounds of the region [m].
    cell_u, cell_v, pitch_v : float
        Rectangle size and row pitch [m].
    n_offsets : int
        Offsets tried per axis besides the centred one.
    band_ulps : float
        Width of the band around the edges left to GEOS, in units in the last place.
    convex : bool
    ring_x, ring_y, ring_start : ndarray
        :func:`ring_arrays` of the region (valid unless convex).

    Returns
    -------
    count, rows : int
    sure : bool
    """
    nu = int(np.floor((maxx - minx) / cell_u + 1e-9))
    nv = int(np.floor((maxy - miny - cell_v) / pitch_v + 1e-9)) + 1 if maxy - miny >= cell_v - 1e-9 else 0
    if nu < 1 or nv < 1:
        return 0, 0, True
    eps = 1e-6
    ou = _offsets(maxx - minx, cell_u, cell_u, n_offsets)
    ov = _offsets(maxy - miny, cell_v, pitch_v, n_offsets)
    xs = np.empty(2 * ou.size * nu)
    ys = np.empty(2 * ov.size * nv)
    for i in range(ou.size):
        for a in range(nu):
            x0 = minx + ou[i] + a * cell_u + eps
            xs[i * nu + a] = x0
            xs[ou.size * nu + i * nu + a] = x0 + cell_u - 2 * eps
    for i in range(ov.size):
        for b in range(nv):
            y0 = miny + ov[i] + b * pitch_v + eps
            ys[i * nv + b] = y0
            ys[ov.size * nv + i * nv + b] = y0 + cell_v - 2 * eps
    scale = max(max(max(abs(minx), abs(miny)), max(abs(maxx), abs(maxy))),
                max(np.abs(xs).max(), np.abs(ys).max()))
    tol = band_ulps * math.ldexp(1.0, math.frexp(scale)[1] - 53)  # numpy.spacing of a positive normal number
    code = np.empty((ys.size, xs.size), np.int8)
    if grid_in_rings(xs, ys, ring_x, ring_y, ring_start, tol, code):
        return 0, 0, False
    return best_grid(code == 1, xs, ys, ou.size, ov.size, nu, nv, convex, ring_x, ring_y, ring_start, tol)


@njit(cache=True, nogil=True)
def _offsets(extent, cell, pitch, n_offsets):
    """Grid offsets along one axis, as :func:`solarkataster.pv._grid_offsets`."""
    out = np.empty(n_offsets + 1)
    for k in range(n_offsets):
        out[k] = k / n_offsets * pitch
    n = np.floor((extent - cell) / pitch) + 1.0 if extent >= cell else 0.0
    out[n_offsets] = 0.5 * (extent - cell - (n - 1) * pitch) if n != 0.0 else 0.0
    return out

@njit(cache=True, nogil=True)
def scaled_rows(values, corner, weight, ok, scale, out):
    """``out[k] = scale[k] * sum_c weight[c, k] * values[corner[c, :, k]]``, NaN as 0 (interpolated hourly yields).

    The sum runs over the corners in order, in float64, as the numpy interpolation of
    :meth:`solarkataster.pv.YieldTable._interpolate` does (so the results are the same to the bit); rows
    that are not ``ok`` are NaN, hence 0, and infinities become the largest finite float64, as
    :func:`numpy.nan_to_num` makes them, before the scaling and the cast to float32.

    Parameters
    ----------
    values : ndarray of float32, shape (tilts, azimuths, shading, records)
    corner : ndarray of int64, shape (corners, 3, n)
        Tilt, azimuth and shading index of each corner of each row.
    weight : ndarray of float64, shape (corners, n)
    ok : ndarray of bool, shape (n,)
    scale : ndarray of float64, shape (n,)
    out : ndarray of float32, shape (n, records)
    """
    big = np.finfo(np.float64).max
    # corner by corner over a whole row: the same sums in the same order per record, but the record loop is
    # innermost and contiguous, so it vectorises (the corner loop inside it did not)
    acc = np.empty(out.shape[1], np.float64)
    for k in range(out.shape[0]):
        if not ok[k]:
            out[k, :] = np.float32(scale[k] * 0.0)
            continue
        acc[:] = 0.0
        for c in range(corner.shape[0]):
            w = weight[c, k]
            row = values[corner[c, 0, k], corner[c, 1, k], corner[c, 2, k]]
            for h in range(acc.size):
                acc[h] = acc[h] + w * np.float64(row[h])
        s = scale[k]
        for h in range(acc.size):
            a = acc[h]
            if a != a:
                a = 0.0
            elif a == np.inf:
                a = big
            elif a == -np.inf:
                a = -big
            out[k, h] = np.float32(s * a)


def ring_arrays(region):
    """Vertex arrays of a (Multi)Polygon's rings for :func:`grid_in_rings`; None for other geometries."""
    import shapely

    if region.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    rings = shapely.get_rings(shapely.get_parts(region))
    xy, index = shapely.get_coordinates(rings, return_index=True)
    start = np.zeros(len(rings) + 1, np.int64)
    np.cumsum(np.bincount(index, minlength=len(rings)), out=start[1:])
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]), start


@njit(cache=True, nogil=True, inline="always")
def _disk_span(px, py, dx, dy, cx, cy, r):
    """Parameters ``t`` where ``p + t d`` lies within ``r`` of ``c``: (lo, hi), empty when lo > hi."""
    a = dx * dx + dy * dy
    ex, ey = px - cx, py - cy
    b = ex * dx + ey * dy
    disc = b * b - a * (ex * ex + ey * ey - r * r)
    if disc < 0.0:
        return 1.0, 0.0
    root = math.sqrt(disc)
    return (-b - root) / a, (-b + root) / a


@njit(cache=True, nogil=True, inline="always")
def _slab_span(lo, hi, s0, ds, smin, smax):
    """Narrow (lo, hi) to the ``t`` where ``s0 + t ds`` lies in [smin, smax]."""
    if ds == 0.0:
        if s0 < smin or s0 > smax:
            return 1.0, 0.0
        return lo, hi
    t0, t1 = (smin - s0) / ds, (smax - s0) / ds
    if t0 > t1:
        t0, t1 = t1, t0
    return max(lo, t0), min(hi, t1)


@njit(cache=True, nogil=True)
def _capsule_span(px, py, dx, dy, ax, ay, bx, by, r):
    """Parameters ``t`` where ``p + t d`` lies within ``r`` of the segment a-b (a convex capsule: one span)."""
    lo, hi = 1e300, -1e300
    for cx, cy in ((ax, ay), (bx, by)):
        t0, t1 = _disk_span(px, py, dx, dy, cx, cy, r)
        if t0 <= t1:
            lo, hi = min(lo, t0), max(hi, t1)
    gx, gy = bx - ax, by - ay
    length = math.sqrt(gx * gx + gy * gy)
    if length > 0.0:
        gx, gy = gx / length, gy / length
        ex, ey = px - ax, py - ay
        t0, t1 = _slab_span(-1e300, 1e300, ex * gx + ey * gy, dx * gx + dy * gy, 0.0, length)
        t0, t1 = _slab_span(t0, t1, ex * gy - ey * gx, dx * gy - dy * gx, -r, r)
        if t0 <= t1:
            lo, hi = min(lo, t0), max(hi, t1)
    return lo, hi


@njit(cache=True, nogil=True)
def shared_edges(first, second, edge_start, ex0, ey0, ex1, ey1, tol, min_length):
    """Pieces of face ``first[k]``'s edges within ``tol`` of face ``second[k]``'s boundary, pair by pair.

    Face f's edges (every ring, as segments ``(ex0, ey0)-(ex1, ey1)``) are ``edge_start[f]`` to
    ``edge_start[f + 1]``. Along each edge of the first face, the parameters within ``tol`` of any edge of
    the second face form one span per such edge (the line meets a capsule in one span); overlapping spans
    merge, and every merged piece at least ``min_length`` long is returned: start and end points, and the
    pair's index ``k``, pair by pair and along each edge. The pieces are those of the first face's boundary
    inside the ``tol`` buffer of the second's, with round (exact) buffer ends.
    """
    n_out = 0
    cap = 64
    px0, py0 = np.empty(cap), np.empty(cap)
    px1, py1 = np.empty(cap), np.empty(cap)
    pair = np.empty(cap, np.int64)
    span_lo = np.empty(0)
    span_hi = np.empty(0)
    for k in range(first.shape[0]):
        i, j = first[k], second[k]
        nj = edge_start[j + 1] - edge_start[j]
        if span_lo.shape[0] < nj:
            span_lo, span_hi = np.empty(nj), np.empty(nj)
        for e in range(edge_start[i], edge_start[i + 1]):
            dx, dy = ex1[e] - ex0[e], ey1[e] - ey0[e]
            edge_length = math.sqrt(dx * dx + dy * dy)
            if edge_length == 0.0:
                continue
            m = 0
            for f in range(edge_start[j], edge_start[j + 1]):
                lo, hi = _capsule_span(ex0[e], ey0[e], dx, dy, ex0[f], ey0[f], ex1[f], ey1[f], tol)
                lo, hi = max(lo, 0.0), min(hi, 1.0)
                if lo < hi:
                    span_lo[m], span_hi[m] = lo, hi
                    m += 1
            if m == 0:
                continue
            order = np.argsort(span_lo[:m])
            lo, hi = span_lo[order[0]], span_hi[order[0]]
            for q in range(1, m + 1):
                if q < m and span_lo[order[q]] <= hi:
                    hi = max(hi, span_hi[order[q]])
                    continue
                if (hi - lo) * edge_length >= min_length:
                    if n_out == cap:
                        cap *= 2
                        px0, py0, px1, py1, pair = (_grown(px0, cap), _grown(py0, cap), _grown(px1, cap),
                                                    _grown(py1, cap), _grown(pair, cap))
                    px0[n_out], py0[n_out] = ex0[e] + lo * dx, ey0[e] + lo * dy
                    px1[n_out], py1[n_out] = ex0[e] + hi * dx, ey0[e] + hi * dy
                    pair[n_out] = k
                    n_out += 1
                if q < m:
                    lo, hi = span_lo[order[q]], span_hi[order[q]]
    return px0[:n_out], py0[:n_out], px1[:n_out], py1[:n_out], pair[:n_out]


@njit(cache=True, nogil=True)
def _grown(a, size):
    out = np.empty(size, a.dtype)
    out[:a.shape[0]] = a
    return out
