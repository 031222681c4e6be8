"""Speed kernels of the roof faces and outlines equal plain numpy/scipy/Python references bit for bit."""
import math

import numpy as np
import pytest
from scipy import ndimage

from solarkataster._kernels.roofs import (
    Planes,
    assign_subpixels,
    boundary_pairs,
    fill_from_window_max,
    group_minima,
    grow_on_planes,
    grow_rings,
    lower_medians,
    neighbour_pairs,
    pair_keys,
    reassign,
    strip_neighbours,
    uniform_3x3,
)


def test_group_minima_equal_ndimage_minimum():
    rng = np.random.default_rng(5)
    group = rng.integers(0, 30, 4000).astype(np.int32)
    rows, cols, vals = rng.integers(0, 500, 4000), rng.integers(0, 500, 4000), rng.normal(size=4000) * 50
    r0, c0, v0 = group_minima(rows, cols, vals, group, 30)
    index = np.arange(30)
    assert np.array_equal(r0, ndimage.minimum(rows, group, index=index).astype(np.int64))
    assert np.array_equal(c0, ndimage.minimum(cols, group, index=index).astype(np.int64))
    assert np.array_equal(v0, ndimage.minimum(vals, group, index=index))


@pytest.mark.parametrize("kind", ["normal", "ties", "sorted", "reversed", "nan"])
def test_lower_medians_equal_sort(kind):
    rng = np.random.default_rng(13)
    lab = rng.integers(0, 25, 3000)
    vals = {"normal": rng.normal(size=3000), "ties": np.round(rng.normal(size=3000), 1),
            "sorted": np.sort(rng.normal(size=3000)), "reversed": -np.sort(rng.normal(size=3000)),
            "nan": np.where(rng.random(3000) < 0.3, np.nan, rng.normal(size=3000))}[kind]
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=27)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    expect = [np.sort(vals[lab == k])[(c - 1) // 2] if c else 0.0 for k, c in enumerate(counts)]
    assert np.array_equal(lower_medians(vals, order, starts, counts), expect, equal_nan=True)


def test_pair_keys_equal_numpy():
    rng = np.random.default_rng(6)
    label = rng.integers(0, 12, 300)
    i, j = rng.integers(0, 300, 5000), rng.integers(0, 300, 5000)
    a, b = label[i], label[j]
    ok = (a != b) & (a > 0) & (b > 0)
    expect = np.minimum(a, b)[ok] * 13 + np.maximum(a, b)[ok]
    assert np.array_equal(pair_keys(label, i, j, 13), expect)


def test_neighbour_pairs_equal_shifted_arrays():
    rng = np.random.default_rng(4)
    inside = rng.random((23, 31)) < 0.7
    pix = np.full(inside.shape, -1, np.int64)
    pix[inside] = np.arange(inside.sum())
    group = rng.integers(0, 3, inside.sum())
    shifts = np.array([(0, 1), (1, -1), (1, 0), (2, 2), (2, -2), (1, -2)], np.int64)
    rows, cols = inside.shape
    ei, ej = [], []
    for dr, dc in shifts:
        a = pix[:rows - dr, max(0, -dc):cols - max(0, dc)]
        b = pix[dr:, max(0, dc):cols - max(0, -dc)]
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        ei.append(a[group[a] == group[b]])
        ej.append(b[group[a] == group[b]])
    pi, pj = neighbour_pairs(pix, group, shifts)
    assert np.array_equal(pi, np.concatenate(ei)) and np.array_equal(pj, np.concatenate(ej))


@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (37, 29)])
def test_fill_from_window_max_equals_maximum_filter(shape):
    rng = np.random.default_rng(7)
    labels = np.where(rng.random(shape) < 0.85, -1, rng.integers(0, 50, shape)).astype(np.int32)
    expect = np.where(labels >= 0, labels, ndimage.maximum_filter(labels, size=5))
    assert np.array_equal(fill_from_window_max(labels, 2), expect)


def test_uniform_3x3_and_strip_neighbours_equal_numpy():
    rng = np.random.default_rng(10)
    lab = ndimage.median_filter(rng.integers(0, 6, (41, 37)), 3).astype(np.int32)
    core = ndimage.grey_erosion(lab, size=(3, 3)) == ndimage.grey_dilation(lab, size=(3, 3))
    assert np.array_equal(uniform_3x3(lab), core)
    building = np.array([-1, 0, 0, 0, 1, 1])
    cand, steep = rng.random(6) < 0.5, rng.random(6) < 0.5
    expect = set()
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = lab[:lab.shape[0] - dr, max(0, -dc):lab.shape[1] - max(dc, 0)]
        b = lab[dr:, max(dc, 0):lab.shape[1] + min(dc, 0)]
        ok = (a > 0) & (b > 0) & (a != b) & (building[a] == building[b])
        for f, g in ((a[ok], b[ok]), (b[ok], a[ok])):
            sel = cand[f] & steep[g]
            expect.update(zip(f[sel].tolist(), g[sel].tolist()))
    f, g = strip_neighbours(lab, building, cand, steep)
    assert set(zip(f.tolist(), g.tolist())) == expect and expect


@pytest.mark.parametrize("rings", [1, 2, 5])
def test_grow_rings_equals_binary_dilation(rings):
    rng = np.random.default_rng(11)
    grown = rng.random((45, 52)) < 0.05
    cand = rng.random((45, 52)) < 0.6
    expect = grown.copy()
    for _ in range(rings):
        ring = ndimage.binary_dilation(expect, structure=np.ones((3, 3), bool)) & cand & ~expect
        if not ring.any():
            break
        expect |= ring
    got = grow_rings(grown, cand, rings)
    assert np.array_equal(got, expect) and not np.array_equal(got, grown)


def _grow_on_planes_reference(labels, z, owner, face_building, coef, cellsize, tol, passes):
    out = labels.copy()
    rows, cols = np.indices(z.shape)
    x, y = (cols + 0.5) * cellsize, -(rows + 0.5) * cellsize
    for _ in range(passes):
        best, best_d = np.zeros_like(out), np.full(z.shape, tol)
        padded = np.pad(out, 1)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                f = padded[1 + dr:1 + dr + z.shape[0], 1 + dc:1 + dc + z.shape[1]]
                d = np.abs(z - (coef[f, 0] * x + coef[f, 1] * y + coef[f, 2])) / np.sqrt(
                    coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
                ok = (f > 0) & (face_building[f] == owner) & (owner > 0) & (out == 0) & np.isfinite(z)
                take = ok & ((d < best_d) | ((d == best_d) & ((best == 0) | (f < best))))
                best, best_d = np.where(take, f, best), np.where(take, d, best_d)
        if not (best > 0).any():
            break
        out = np.where(best > 0, best, out)
    return out


def test_grow_on_planes_equals_reference_and_follows_the_plane():
    """Faces grow over unlabelled cells on their planes only; a strip on face 1's plane in front of face 2
    (an eave in front of a dormer) takes face 1 although face 2 is nearer."""
    cs = 0.5
    rows, cols = np.indices((30, 40))
    x, y = (cols + 0.5) * cs, -(rows + 0.5) * cs
    coef = np.array([[0.0, 0.0, 0.0], [0.0, 0.7, 20.0], [0.0, 0.18, 10.0], [0.0, 0.0, 5.0]])
    z1 = coef[1, 0] * x + coef[1, 1] * y + coef[1, 2]
    z = z1.copy()
    labels = np.zeros(z.shape, np.int32)
    labels[:20, :] = 1
    labels[20:27, 10:30] = 2                                   # the dormer reaches row 27
    z[20:27, 10:30] = (coef[2, 1] * y + coef[2, 2])[20:27, 10:30]
    labels[20:27, :10] = 1
    labels[20:27, 30:] = 1
    labels[27:, :] = 0                                         # the eave rows in front of it: unlabelled
    labels[10, 5] = 0
    owner = np.ones(z.shape, np.int64)
    owner[:, 38:] = 0
    face_building = np.array([-1, 1, 1, 2])
    rng = np.random.default_rng(2)
    z = z + rng.uniform(-0.02, 0.02, z.shape)
    z[28, 3] = np.nan
    for passes in (1, 3, 12):
        got = grow_on_planes(labels, z, owner, face_building, coef, cs, 0.15, passes)
        expect = _grow_on_planes_reference(labels, z, owner, face_building, coef, cs, 0.15, passes)
        assert np.array_equal(got, expect)
    assert got[28, 3] == 0 and (got[27:, :38] == 1).sum() == 3 * 38 - 1
    assert (got[:, 38:] == labels[:, 38:]).all() and got[10, 5] == 1
    # a face of another building, or a plane that does not fit, takes nothing
    assert np.array_equal(grow_on_planes(labels, z + 1.0, owner, face_building, coef, cs, 0.15, 12)[27:], labels[27:])
    assert np.array_equal(grow_on_planes(labels, z, owner * 2, face_building, coef, cs, 0.15, 12), labels)


def _reassign_reference(face, z, bidx, planes, cellsize, dist_tol, radius):
    """One pass of reassign in plain Python: nearest plane among the building's faces in the window."""
    out = np.zeros_like(face)
    rows, cols = face.shape
    for r in range(rows):
        for c in range(cols):
            bi = bidx[r, c]
            if bi < 0 or not np.isfinite(z[r, c]):
                continue
            win = face[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1]
            same = bidx[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1] == bi
            x, y = (c - planes.col0[bi]) * cellsize, (planes.row0[bi] - r) * cellsize
            zl = z[r, c] - planes.zref[bi]
            d = {int(f): abs(zl - (planes.a[f] * x + planes.b[f] * y + planes.c[f])) / planes.norm[f]
                 for f in np.unique(win[(win > 0) & same])}
            fits = sorted((dist, f) for f, dist in d.items() if dist < dist_tol)
            out[r, c] = fits[0][1] if fits else 0
    return out


def test_reassign_repeated_equals_reference_passes():
    """Later passes recompute only around changed pixels, and still equal full passes."""
    rng = np.random.default_rng(11)
    rows, cols, n = 40, 50, 12
    bidx = np.where(rng.random((rows, cols)) < 0.1, -1, np.arange(cols)[None, :] // 25).astype(np.int64)
    face = rng.integers(0, n + 1, (rows, cols)).astype(np.int32)
    z = rng.normal(size=(rows, cols)) * 0.3
    z[3, 4] = np.nan
    a, b, c = rng.normal(size=(3, n + 1)) * 0.05
    planes = Planes(np.zeros(2, np.int64), np.array([0, 25]), np.zeros(2), a, b, c, np.sqrt(a ** 2 + b ** 2 + 1.0))
    ref = face
    for times in (1, 2, 3, 4):
        ref = _reassign_reference(ref, z, bidx, planes, 1.0, 0.3, 2)
        assert np.array_equal(reassign(face, z, bidx, planes, 1.0, 0.3, 2, times), ref)


def test_boundary_pairs_equal_shifted_arrays():
    rng = np.random.default_rng(12)
    filled = ndimage.median_filter(rng.integers(-1, 7, (33, 28)), 3).astype(np.int32)
    face_building = np.array([-1, 0, 0, 1, 1, 1, 2, 2])
    out = []
    for dr, dc in ((0, 1), (1, 0)):
        a = filled[:filled.shape[0] - dr, :filled.shape[1] - dc]
        b = filled[dr:, dc:]
        ok = (a > 0) & (b > 0) & (a != b)
        ok &= face_building[np.maximum(a, 0)] == face_building[np.maximum(b, 0)]
        r, c = np.nonzero(ok)
        fa, fb = a[r, c], b[r, c]
        swap = fa > fb
        out.append((np.where(swap, fb, fa), np.where(swap, fa, fb), np.where(swap, r + dr, r),
                    np.where(swap, c + dc, c), np.where(swap, r, r + dr), np.where(swap, c, c + dc)))
    expect = [np.concatenate(v) for v in zip(*out)]
    got = boundary_pairs(filled, face_building)
    assert len(expect[0]) > 10
    for g, e in zip(got, expect):
        assert g.dtype == e.dtype and np.array_equal(g, e)


def _assign_reference(fine_building, filled, face_building, keys, rules, extents, factor, radius, cellsize, touch):
    """Per sub-pixel, as the docstring of assign_subpixels says, in plain Python."""
    out = np.zeros(fine_building.shape, np.int32)
    m1 = len(face_building)
    rule = {int(k): rules[i] for i, k in enumerate(keys)}
    extent = {int(k): extents[i] for i, k in enumerate(keys)}

    def along(key, x, y):
        g = rule[key]
        s = (-g[1] * x + g[0] * y) / max(math.hypot(g[0], g[1]), 1e-12)
        return extent[key][0] <= s <= extent[key][1]

    rows, cols = filled.shape
    sub = cellsize / factor
    for fr, fc in zip(*np.nonzero(fine_building >= 0)):
        b, r, c = fine_building[fr, fc], fr // factor, fc // factor
        own = filled[r, c]
        if own == -1:
            out[fr, fc] = -1
            continue
        cand, best, best_d, near = [], 0, 1 << 30, {}
        for rr in range(max(r - radius, 0), min(r + radius + 1, rows)):
            for cc in range(max(c - radius, 0), min(c + radius + 1, cols)):
                f = filled[rr, cc]
                if f <= 0 or face_building[f] != b:
                    continue
                d = (rr - r) ** 2 + (cc - c) ** 2
                if d < best_d:
                    best, best_d = f, d
                if f not in cand:
                    cand.append(f)
                near[f] = min(near.get(f, radius), max(abs(rr - r), abs(cc - c)))
        if not cand:
            continue
        has_own = own > 0 and face_building[own] == b
        cur = own if has_own else best
        x, y = (fc + 0.5) * sub, -(fr + 0.5) * sub
        for _ in range(len(cand) + 1):
            changed = False
            for f in cand:
                lo, hi = min(f, cur), max(f, cur)
                g = rule.get(lo * m1 + hi) if f != cur else None
                if g is None or (has_own and near[f] > touch and not along(lo * m1 + hi, x, y)):
                    continue
                win = lo if g[0] * x + g[1] * y + g[2] > 0 else hi
                if win != cur:
                    cur, changed = win, True
            if not changed:
                break
        out[fr, fc] = cur
    return out


def test_assign_subpixels_equals_reference():
    rng = np.random.default_rng(8)
    rows, cols, factor = 14, 17, 3
    face_building = np.array([-1, 0, 0, 0, 1, 1], np.int32)
    filled = rng.choice([-1, 0, 1, 2, 3, 4, 5], size=(rows, cols), p=[.05, .1, .25, .2, .15, .15, .1]).astype(np.int32)
    fine_building = rng.choice([-1, 0, 1], size=(rows * factor, cols * factor)).astype(np.int32)
    pairs = [(1, 2), (1, 3), (2, 3), (4, 5)]
    keys = np.array([lo * 6 + hi for lo, hi in pairs], np.int64)
    rules = rng.normal(size=(len(pairs), 3))
    # extents from none to all of the raster along each line, so that both sides of the rule are exercised
    centre = rng.uniform(-10, 10, len(pairs))
    for touch, width in ((1, 0.0), (1, 8.0), (1, 1e9), (2, 0.0)):
        extents = np.column_stack([centre - width, centre + width])
        got = assign_subpixels(fine_building, filled, face_building, keys, rules, extents, factor, 2, 1.0, touch)
        expect = _assign_reference(fine_building, filled, face_building, keys, rules, extents, factor, 2, 1.0,
                                   touch)
        assert np.array_equal(got, expect)
    # the extent decides: a narrow one and the whole line give different owners somewhere
    wide = assign_subpixels(fine_building, filled, face_building, keys, rules, np.column_stack([centre - 1e9,
                            centre + 1e9]), factor, 2, 1.0, 1)
    none = assign_subpixels(fine_building, filled, face_building, keys, rules, np.column_stack([centre, centre]),
                            factor, 2, 1.0, 1)
    assert (wide != none).any()


# --- the former pure-Python regularise_outline (reference for the kernels of _kernels.detection) ---

def _ref_edge_lines(ring, cellsize, theta, snap):
    """Straight edges of a pixel ring as lines (point, direction, length).

    Douglas-Peucker segments (tolerance one pixel), each a line through the mean of the pixel corners it
    replaces, snapped to theta + k 90° where within ``snap``; unsnapped ones up to 5 pixels long
    (chamfered corners) are dropped. Vectorised over the segments: the corner means are differences of
    one cumulative sum over the ring (taken relative to its first corner, so no precision is lost).
    """
    coords = np.asarray(ring.coords)
    raw = coords[:-1]
    simple = np.asarray(ring.simplify(cellsize).coords)[:-1]
    # Douglas-Peucker keeps a subset of the vertices, in order
    at = np.flatnonzero(np.isin(raw[:, 0] + 1j * raw[:, 1], simple[:, 0] + 1j * simple[:, 1]))
    if len(simple) < 3 or len(at) != len(simple):
        return None
    n = len(raw)
    start = at
    end = np.roll(at, -1)
    end = np.where(end <= start, end + n, end)
    twice = np.concatenate([raw, raw]) - raw[0]
    csum = np.vstack([np.zeros((1, 2)), np.cumsum(twice, axis=0)])
    mean = (csum[end + 1] - csum[start]) / (end - start + 1)[:, None] + raw[0]
    d = twice[end] - twice[start]
    length = np.hypot(d[:, 0], d[:, 1])
    phi = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    delta = (phi - theta + 45.0) % 90.0 - 45.0
    snapped = np.abs(delta) <= snap
    phi = np.where(snapped, phi - delta, phi)
    u = np.stack([np.cos(np.radians(phi)), np.sin(np.radians(phi))], axis=1)
    return [[mean[k], u[k], float(length[k])] for k in np.flatnonzero(snapped | (length > 5.0 * cellsize))]


def _ref_merge_collinear(lines, tol):
    """Merge consecutive lines of the same direction less than ``tol`` apart (length-weighted)."""
    i = 0
    while len(lines) > 3 and i < len(lines):
        j = (i + 1) % len(lines)
        a, b = lines[i], lines[j]
        cross = a[1][0] * b[1][1] - a[1][1] * b[1][0]
        off = abs((b[0] - a[0])[0] * a[1][1] - (b[0] - a[0])[1] * a[1][0])
        if abs(cross) < 1e-9 and np.dot(a[1], b[1]) > 0 and off < tol:
            w = a[2] + b[2]
            lines[i] = [(a[0] * a[2] + b[0] * b[2]) / w, a[1], w]
            del lines[j]
            if j < i:
                i -= 1
            continue
        i += 1
    return lines


def _ref_meet(a, b):
    """Where line ``a`` ends and line ``b`` starts: their intersection, or a perpendicular step if parallel."""
    (pa, ua, _), (pb, ub, _) = a, b
    cross = ua[0] * ub[1] - ua[1] * ub[0]
    if abs(cross) < 1e-6:
        c = 0.5 * (pa + pb)
        return [pa + np.dot(c - pa, ua) * ua, pb + np.dot(c - pb, ub) * ub]
    w = pb - pa
    return [pa + (w[0] * ub[1] - w[1] * ub[0]) / cross * ua]


def _ref_ring_from_lines(lines, min_edge):
    """Vertices where consecutive lines meet; lines whose edge ends up shorter than ``min_edge`` are dropped.

    The shortest edge goes first; dropping a line changes only the corner where its neighbours now meet
    and the lengths of those two neighbours.
    """
    lines = list(lines)
    corners = [_ref_meet(lines[k - 1], lines[k]) for k in range(len(lines))]

    def edge(k):
        return float(np.dot(corners[(k + 1) % len(lines)][0] - corners[k][-1], lines[k][1]))

    length = [edge(k) for k in range(len(lines))]
    while len(lines) > 3:
        k = int(np.argmin(length))
        if length[k] >= min_edge:
            break
        del lines[k], corners[k], length[k]
        k %= len(lines)
        corners[k] = _ref_meet(lines[k - 1], lines[k])
        length[k - 1] = edge(k - 1)
        length[k] = edge(k)
    return np.asarray([v for c in corners for v in c])


def _ref_regular_ring(ring, cellsize, theta, snap):
    lines = _ref_edge_lines(ring, cellsize, theta, snap)
    if lines is None or len(lines) < 3:
        return np.asarray(ring.simplify(cellsize).coords)
    lines = _ref_merge_collinear(lines, cellsize)
    if len(lines) < 3:
        return np.asarray(ring.simplify(cellsize).coords)
    return _ref_ring_from_lines(lines, cellsize)


def _ref_regularise(polygon, cellsize, theta, snap_angle=15.0):
    import shapely
    from shapely.geometry import Polygon

    from solarkataster.detection import MAX_AREA_CHANGE, polygonal

    out = []
    for p in shapely.get_parts(polygon):
        simple = p.simplify(cellsize)
        rings = [_ref_regular_ring(r, cellsize, theta, snap_angle) for r in (p.exterior, *p.interiors)]
        try:
            reg = Polygon(rings[0], [r for r in rings[1:] if len(r) >= 3])
        except (ValueError, shapely.errors.GEOSException):
            reg = simple
        tolerance = min(0.5 * cellsize * p.length, MAX_AREA_CHANGE * p.area)
        if not reg.is_valid or reg.is_empty or abs(reg.area - p.area) > tolerance:
            reg = simple
        out.append(reg)
    return polygonal(shapely.union_all(out)) if len(out) > 1 else polygonal(out[0])


def test_regularise_outline_equals_python_reference():
    """Random blobs with holes and several parts, turned by various angles: the same outline, bit for bit."""
    import shapely
    from affine import Affine

    from solarkataster.detection import label_orientations, label_polygons, regularise_outline

    rng = np.random.default_rng(9)
    field = ndimage.gaussian_filter(rng.normal(size=(160, 160)), 4)
    labels, _ = ndimage.label(field > 0.02)
    polys = label_polygons(labels, Affine(0.5, 0, 1000, 0, -0.5, 2000), simplify=0)
    theta = label_orientations(labels)
    assert len(polys) > 10 and any(len(shapely.get_parts(g)) > 1 or g.interiors for g in polys.values()
                                   if g.geom_type == "Polygon")
    for k, g in polys.items():
        for t in (theta[k], 0.0, 33.0):
            got, ref = regularise_outline(g, 0.5, orientation=t), _ref_regularise(g, 0.5, t)
            assert (got is None) == (ref is None)
            if ref is not None:
                assert shapely.to_wkb(got) == shapely.to_wkb(ref), (k, t)
