"""Numba kernels of the module layout (points in a polygon's interior, many points at once) and of its hourly yield.

Private: plain arrays in the caller's units. The test is GEOS's own rule for a point in an areal geometry
(the parity of the crossings of a ray with every ring segment, shell and holes alike), in floating point;
a point closer to an edge than ``tol`` is left undecided so that the caller asks GEOS's exact predicate
for it, and the answers equal ``shapely.contains_xy`` point for point.
"""
from __future__ import annotations

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
    """
    tol2 = tol * tol
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
