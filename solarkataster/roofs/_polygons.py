"""Face polygons: a sub-pixel partition with straight boundaries, snapped, simplified, clipped and tidied."""
from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np

from .._kernels.roofs import absorb, assign_subpixels, boundary_pairs, fill_from_window_max, small_parts
from ..detection import polygonal_array


def _boundary_pixels(filled, face_building):
    """Pairs of 4-adjacent pixels of different faces of one building: (lo, hi, r_lo, c_lo, r_hi, c_hi)."""
    # east neighbours, then south neighbours, each in raster order (kernel)
    return list(boundary_pairs(filled, face_building))


def _boundary_rules(filled, face_building, coef, cellsize, tolerance):
    """Straight boundary of each pair of adjacent faces: their planes' intersection, else a fitted step line.

    Returns sorted keys ``lo * (m + 1) + hi``, rules ``(k, 3)``: ``g = r0 x + r1 y + r2`` is positive
    on lo's side (x, y as in :class:`RoofSegmentation`), and extents ``(k, 2)``: the interval of the
    shared pixel boundary along each rule's line, half a pixel beyond its ends (``s = (-r1 x + r0 y) /
    |(r0, r1)|``, see :func:`solarkataster._kernels.roofs.assign_subpixels`).
    """
    m1 = len(face_building)
    lo, hi, r_lo, c_lo, r_hi, c_hi = _boundary_pixels(filled, face_building)
    if len(lo) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 2))
    keys, inv = np.unique(lo.astype(np.int64) * m1 + hi, return_inverse=True)
    klo, khi = keys // m1, keys % m1
    x_lo, y_lo = (c_lo + 0.5) * cellsize, -(r_lo + 0.5) * cellsize
    x_hi, y_hi = (c_hi + 0.5) * cellsize, -(r_hi + 0.5) * cellsize
    xm, ym = 0.5 * (x_lo + x_hi), 0.5 * (y_lo + y_hi)
    n = np.bincount(inv).astype(float)

    def mean(v):
        return np.bincount(inv, weights=v, minlength=len(keys)) / n

    mx, my = mean(xm), mean(ym)
    cxx, cyy, cxy = mean((xm - mx[inv]) ** 2), mean((ym - my[inv]) ** 2), mean((xm - mx[inv]) * (ym - my[inv]))
    half = np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy ** 2)
    lam_min, lam_max = 0.5 * (cxx + cyy) - half, 0.5 * (cxx + cyy) + half
    theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)  # direction of the boundary's principal axis
    # plane intersection: D = plane_lo - plane_hi = 0
    d = coef[klo] - coef[khi]
    g = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
    dist = (d[inv, 0] * xm + d[inv, 1] * ym + d[inv, 2]) / g[inv]
    # the pixel boundary lies along the line: within 2 px, or where the planes differ in slope so that
    # 1 px off the line is a height step of over 2 tolerances, within 1 px (not the U around a dormer,
    # whose sides are steps)
    ridge = np.sqrt(mean(dist ** 2)) <= np.clip(2 * tolerance / g, cellsize, 2 * cellsize)
    side = mean(d[inv, 0] * (x_lo - x_hi) + d[inv, 1] * (y_lo - y_hi))
    rules = d * np.where(side >= 0, 1.0, -1.0)[:, None]
    # step edge: principal axis of the boundary midpoints
    nx, ny = -np.sin(theta), np.cos(theta)
    long = np.sqrt(12 * np.maximum(lam_max, 0)) >= 3 * cellsize
    # a long pixel boundary must run along the intersection line (not across it, as at a step)
    ridge &= ~long | (np.abs(-d[:, 1] * np.sin(theta) - d[:, 0] * np.cos(theta)) / g <= np.sin(np.radians(20)))
    step = ~ridge & (np.sqrt(np.maximum(lam_min, 0)) <= 0.75 * cellsize) & (n >= 3)
    step &= np.sqrt(12 * np.maximum(lam_max, 0)) >= 2 * cellsize
    s = np.where(mean(nx[inv] * (x_lo - x_hi) + ny[inv] * (y_lo - y_hi)) >= 0, 1.0, -1.0)
    rules[step] = (s[:, None] * np.column_stack([nx, ny, -(nx * mx + ny * my)]))[step]
    keep = ridge | step
    along = (-rules[inv, 1] * xm + rules[inv, 0] * ym) / np.maximum(np.hypot(rules[inv, 0], rules[inv, 1]), 1e-12)
    extents = np.column_stack([np.full(len(keys), np.inf), np.full(len(keys), -np.inf)])
    np.minimum.at(extents[:, 0], inv, along)
    np.maximum.at(extents[:, 1], inv, along)
    extents += np.array([-0.5, 0.5]) * cellsize
    return keys[keep], np.ascontiguousarray(rules[keep]), np.ascontiguousarray(extents[keep])


def _absorb_small_parts(fine, fine_building, min_cells):
    """Give connected parts of a face under ``min_cells`` sub-pixels to the adjacent faces of their building."""
    small = small_parts(fine, min_cells)
    if not small.any():
        return fine
    return absorb(fine, small, fine_building, int(np.sqrt(min_cells)) + 2)


def _fine_buildings(outlines, shape, fine_transform):
    """Label sub-pixels by building (-1 none): inside an outline, touched by it, or up to two cells outside."""
    from rasterio import features

    # GeoJSON mappings once for both rasterisations
    there = [(g, int(b)) for b, g in outlines.items() if g is not None and not g.is_empty]
    shapes = list(zip(_mappings([g for g, _ in there]), [b for _, b in there]))
    if not shapes:
        return np.full(shape, -1, np.int32)
    with _no_gc():
        centre = features.rasterize(shapes, out_shape=shape, transform=fine_transform, fill=-1, dtype="int32")
        touched = features.rasterize(shapes, out_shape=shape, transform=fine_transform, fill=-1, dtype="int32",
                                     all_touched=True)
    out = np.where(centre >= 0, centre, touched)
    # two more sub-pixels outside: ridges run past the outline and are cut exactly by it
    return fill_from_window_max(out, 2)


def _partition_polygons(fine, fine_transform, n_faces):
    """Polygon (or MultiPolygon) of every face id > 0 of the sub-pixel partition; None where absent."""
    import shapely

    from ..detection import label_pieces

    geoms = np.full(n_faces + 1, None, dtype=object)
    polys, values = label_pieces(fine, fine_transform)
    if len(values) == 0:
        return geoms
    order = np.argsort(values, kind="stable")
    polys = polys[order]
    ids, starts = np.unique(values[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for f, s, e in zip(ids, starts, ends):
        geoms[f] = polys[s] if e - s == 1 else shapely.MultiPolygon(list(polys[s:e]))
    return geoms


def _shared_lengths(a, b):
    """Length [m] of the boundary that each polygon of ``a`` shares with each of ``b``, shape (len(a), len(b)).

    Only pairs whose bounding boxes meet are intersected; the others share nothing.
    """
    import shapely

    ba, bb = shapely.bounds(a), shapely.bounds(b)
    meet = ((ba[:, None, 0] <= bb[None, :, 2]) & (bb[None, :, 0] <= ba[:, None, 2])
            & (ba[:, None, 1] <= bb[None, :, 3]) & (bb[None, :, 1] <= ba[:, None, 3]))
    out = np.zeros(meet.shape)
    i, j = np.nonzero(meet)
    if len(i):
        out[i, j] = shapely.length(shapely.intersection(shapely.boundary(a[i]), shapely.boundary(b[j])))
    return out


def merge_small_parts(geoms, face_building, min_area, min_face_area):
    """Small parts join the adjacent face of the same building with the longest shared boundary.

    Small: under ``min_area``, or a secondary part (not the largest) under ``min_face_area``. Parts with no
    such neighbour are dropped (they become excluded).
    """
    import shapely

    present = np.flatnonzero([g is not None for g in geoms])
    if len(present) == 0:
        return geoms
    parts, idx = shapely.get_parts(np.array(list(geoms[present]), dtype=object), return_index=True)
    owner = present[idx]
    area = shapely.area(parts)
    largest = np.zeros(len(parts), bool)
    order = np.lexsort((-area, owner))
    first = np.ones(len(order), bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    largest[order[first]] = True
    small = (area < min_area) | (~largest & (area < min_face_area))
    if not small.any():
        return geoms
    for f in np.unique(owner[small]):
        keep = parts[(owner == f) & ~small]
        geoms[f] = None if len(keep) == 0 else (keep[0] if len(keep) == 1 else shapely.MultiPolygon(list(keep)))
    # faces of each building with small parts, in id order
    order = np.argsort(face_building, kind="stable")
    by_building: dict = {}
    for b in np.unique(face_building[owner[small]]):
        lo, hi = np.searchsorted(face_building[order], [b, b + 1])
        by_building[b] = order[lo:hi].tolist()
    for k in np.flatnonzero(small):
        f = owner[k]
        same = np.array([j for j in by_building[face_building[f]] if j != f and geoms[j] is not None], dtype=np.int64)
        if len(same) == 0:
            continue
        shared = _shared_lengths(np.array([parts[k]], dtype=object), np.array(list(geoms[same]), dtype=object))[0]
        if shared.max() > 0:
            j = same[int(np.argmax(shared))]
            geoms[j] = _polygonal_union(geoms[j], parts[k])
    return geoms


def fill_slivers(geoms, face_building, outlines, min_area, max_width, rests=None):
    """Slivers between the faces and the outline join the face they share most boundary with.

    A sliver is a gap under ``min_area`` [m²] whose mean width (twice its area over its perimeter) is
    under ``max_width`` [m]: the simplification and the clipping to the outline leave such strips. A
    wider gap is a part that the pixels excluded (a superstructure, a kicked eave strip; at least
    ``min_excluded_area`` as pixels, it may lose a little to the faces' simplified edges) and stays excluded.

    ``rests``, a dict, if given, receives ``{building: (faces, outline minus their union)}`` for the faces
    before the gaps join them (:func:`building_rest` reuses it where the faces have not changed since).
    """
    import shapely

    present = np.flatnonzero([g is not None for g in geoms])
    gains: dict[int, list] = {}
    for b in np.unique(face_building[present]):
        outline = outlines.get(int(b))
        mine = present[face_building[present] == b]
        if outline is None or len(mine) == 0:
            continue
        faces = np.array(list(geoms[mine]), dtype=object)
        rest = outline.difference(faces_union(faces))
        if rests is not None:
            rests[int(b)] = (list(faces), rest)
        gaps = shapely.get_parts(rest)
        area = shapely.area(gaps)
        # mean width 2 area / perimeter: a sliver of the polygon operations, not a part the pixels excluded
        thin = 2 * area / np.maximum(shapely.length(gaps), 1e-12) < max_width
        gaps = gaps[(area > 1e-6) & (area < min_area) & thin]
        if len(gaps) == 0:
            continue
        shared = _shared_lengths(gaps, faces)
        for gap, row in zip(gaps, shared):
            if row.max() > 0:
                gains.setdefault(int(mine[int(np.argmax(row))]), []).append(gap)
    if gains:
        from ..detection import polygonal

        targets = np.array(list(gains), dtype=np.int64)
        grown = shapely.union(np.array(list(geoms[targets]), dtype=object),
                              np.array([shapely.union_all(gains[f]) for f in targets], dtype=object))
        # a face grown by a sliver has collinear vertices again (tidy_faces' tolerance): the ones it kept
        # where its neighbour's edge was straightened, so that both share one edge again
        for f, g in zip(targets, shapely.simplify(grown, 1e-3)):
            geoms[f] = polygonal(g)
    return geoms


def tidy_faces(geoms, width, face_building, outlines):
    """Remove slivers thinner than ``2 width`` [m] (mitred opening) and collinear vertices."""
    import shapely


    present = np.flatnonzero([g is not None for g in geoms])
    if len(present):
        tidy = np.array(list(geoms[present]), dtype=object)
        if width > 0:
            given = tidy
            opened = shapely.buffer(shapely.buffer(tidy, -width, join_style="mitre"), width, join_style="mitre")
            tidy = shapely.intersection(opened, tidy)  # a mitred corner may overshoot
            # a mitred corner may overshoot the outline by a hair
            clip = np.array([outlines.get(int(face_building[f])) for f in present], dtype=object)
            has = np.array([c is not None for c in clip])
            tidy[has] = shapely.intersection(tidy[has], clip[has])
            # a face without slivers keeps its own vertices: the overlays recompute them, and may round a
            # vertex that two faces share differently for each (1 ulp), so that they no longer share an edge
            same = np.abs(shapely.area(tidy) - shapely.area(given)) <= 1e-9 * np.maximum(shapely.area(given), 1.0)
            tidy[same] = given[same]
        geoms[present] = polygonal_array(shapely.simplify(tidy, 1e-3))
    return geoms


def resolve_overlaps(geoms, min_area):
    """Make the later of two overlapping faces give way (where a snapped vertex fell back).

    Parts under ``min_area`` that this leaves are dropped.
    """
    import shapely

    from ..detection import polygonal

    present = np.flatnonzero([g is not None for g in geoms])
    if len(present) < 2:
        return geoms
    arr = np.array(list(geoms[present]), dtype=object)
    # bounding-box pairs, each once (i < j; overlaps is symmetric), then the predicate on prepared faces: the
    # pairs and their order are those of a query with predicate="overlaps", for half the predicate tests
    left, right = shapely.STRtree(arr).query(arr)
    once = left < right
    left, right = left[once], right[once]
    shapely.prepare(arr)
    hit = shapely.overlaps(arr[left], arr[right])
    shapely.destroy_prepared(arr)
    left, right = left[hit], right[hit]
    for i, j in zip(left, right):
        if i >= j or geoms[present[i]] is None or geoms[present[j]] is None:
            continue
        rest = polygonal(geoms[present[j]].difference(geoms[present[i]]))
        if rest is not None:
            parts = [p for p in shapely.get_parts(rest) if p.area >= min_area]
            rest = None if not parts else (parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
        geoms[present[j]] = rest
    return geoms


def building_rest(outline, faces, rests, building):
    """Return the outline minus the union of its faces, from ``rests`` (:func:`fill_slivers`) if they are unchanged."""
    import shapely

    known = rests.get(building) if rests is not None else None
    if known is not None and len(known[0]) == len(faces) and all(a is b for a, b in zip(known[0], faces)):
        return known[1]
    covered = faces_union(faces) if len(faces) else shapely.Polygon()
    return outline.difference(covered) if not covered.is_empty else outline


def faces_union(faces):
    """Union of the faces of one building: the fast coverage union where they are noded as one."""
    import shapely

    try:
        union = shapely.coverage_union_all(faces)
        if union.is_valid:
            return union
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(faces)


def _polygonal_union(a, b):
    from ..detection import polygonal

    return polygonal(a.union(b).buffer(0))


def face_geometries(filled, face_building, coef, outlines, transform, opts):
    """Clean polygon of every face id (None where it vanishes): sub-pixel partition, simplified, clipped."""
    import shapely
    from affine import Affine

    cs = float(transform.a)
    n = len(face_building) - 1
    geoms = np.full(n + 1, None, dtype=object)
    if n == 0 or not (filled > 0).any():
        return geoms
    factor = int(np.clip(np.round(cs / opts.subcell), 2, 4))
    fine_tr = transform @ Affine.scale(1.0 / factor)
    shape = (filled.shape[0] * factor, filled.shape[1] * factor)
    fine_b = _fine_buildings(outlines, shape, fine_tr)
    keys, rules, extents = _boundary_rules(filled, face_building, coef, cs, opts.distance_tolerance)
    fine = assign_subpixels(fine_b, filled.astype(np.int32), face_building.astype(np.int32), keys, rules, extents,
                            factor, 2, cs, 1)
    fine = _absorb_small_parts(fine, fine_b, opts.min_part_area / (cs / factor) ** 2)
    raw = _partition_polygons(fine, fine_tr, n)
    present = np.flatnonzero([g is not None for g in raw])
    tol = opts.simplify if opts.simplify is not None else max(1.5 * cs / factor, 0.75 * cs)
    snapped = _snap_to_rules(np.array(list(raw[present]), dtype=object), fine, fine_tr, keys, rules, n + 1)
    simple = shapely.coverage_simplify(snapped, tol)
    clip = np.array([outlines.get(int(face_building[f])) for f in present], dtype=object)
    has = np.array([c is not None for c in clip])
    clipped = simple.copy()
    clipped[has] = shapely.intersection(simple[has], clip[has])
    geoms[present] = polygonal_array(clipped)
    return geoms


def _snap_to_rules(geoms, fine, fine_transform, keys, rules, m1):
    """Move the partition's vertices between exactly two faces onto their boundary line.

    A vertex sits on a sub-pixel corner; when the four sub-pixels around it belong to two faces with a
    boundary rule (and possibly to no face), it is projected onto that rule's line (if within 1.5
    sub-pixels). Both faces share the vertex, so they move together and the partition stays a coverage;
    the staircase becomes a straight line that the simplification reduces to its end points.
    """
    import shapely

    if len(keys) == 0 or len(geoms) == 0:
        return geoms
    xy = shapely.get_coordinates(geoms)
    sub = fine_transform.a
    col = np.rint((xy[:, 0] - fine_transform.c) / sub).astype(np.int64)
    row = np.rint((fine_transform.f - xy[:, 1]) / sub).astype(np.int64)
    rows, cols = fine.shape
    inside = (row >= 1) & (col >= 1) & (row < rows) & (col < cols)
    r, c = np.where(inside, row, 1), np.where(inside, col, 1)
    quad = np.stack([fine[r - 1, c - 1], fine[r - 1, c], fine[r, c - 1], fine[r, c]])
    # the two faces among the four sub-pixels (cells outside the faces do not count: ridge ends at eaves)
    pos = quad > 0
    lo = np.where(pos, quad, np.iinfo(np.int32).max).min(0).astype(np.int64)
    hi = quad.max(0).astype(np.int64)
    two = inside & (hi > 0) & (lo != hi) & ((quad == lo) | (quad == hi) | ~pos).all(0)
    key = lo * m1 + hi
    k = np.clip(np.searchsorted(keys, key), 0, len(keys) - 1)
    two &= keys[k] == key
    # rules are in raster-local coordinates: x = X - c, y = Y - f (the fine and coarse origins coincide)
    x, y = xy[:, 0] - fine_transform.c, xy[:, 1] - fine_transform.f
    a, b, g0 = rules[k, 0], rules[k, 1], rules[k, 2]
    norm = np.maximum(np.hypot(a, b), 1e-12)
    dist = (a * x + b * y + g0) / norm
    move = two & (np.abs(dist) <= 1.5 * sub)
    xy[move, 0] -= (dist * a / norm)[move]
    xy[move, 1] -= (dist * b / norm)[move]
    out = shapely.set_coordinates(geoms.copy(), xy)
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = geoms[bad]
    return out


@contextmanager
def _no_gc():
    """Pause the cyclic garbage collector while many small lists are built (they hold no cycles).

    Each burst of allocations would otherwise trigger full collections over every live object.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _mappings(geoms):
    """GeoJSON-like mappings of (Multi)Polygons for rasterio, their coordinates read in one array call.

    The same coordinates as ``__geo_interface__`` (rings as lists of [x, y]); other geometry types use it.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return []
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    ends = np.cumsum(np.bincount(ring_of, minlength=len(rings))).tolist()
    types = shapely.get_type_id(geoms).tolist()
    with _no_gc():
        points = xy.tolist()
        part_rings = [[] for _ in range(len(parts))]
        for p, s, e in zip(ring_part.tolist(), [0] + ends[:-1], ends):
            part_rings[p].append(points[s:e])
        geom_parts = [[] for _ in range(len(geoms))]
        for g, rs in zip(part_geom.tolist(), part_rings):
            geom_parts[g].append(rs)
        out = []
        for g, t, ps in zip(geoms, types, geom_parts):
            if t == 3 and len(ps) == 1:
                out.append({"type": "Polygon", "coordinates": ps[0]})
            elif t == 6:
                out.append({"type": "MultiPolygon", "coordinates": ps})
            else:
                out.append(g.__geo_interface__)
    return out


def rasterise_faces(geoms, shape, transform):
    from rasterio import features

    ids = [f for f, g in enumerate(geoms) if g is not None]
    if not ids:
        return np.zeros(shape, np.int32)
    shapes = list(zip(_mappings([geoms[f] for f in ids]), ids))
    with _no_gc():
        return features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")

