"""The roof of each building: eaves overhangs, its outline, and the face or excluded class of each roof pixel."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._kernels.roofs import absorb, grow_on_planes, grow_rings
from ._planes import plane_height


def nearest_any_face(face_labels):
    ir, ic = ndimage.distance_transform_edt(face_labels == 0, return_distances=False, return_indices=True)
    return face_labels[ir, ic]


def nearest_face(face_labels, face_building, roof, near=None):
    """Face of every roof pixel: the nearest face pixel of the same building (0 where the building has none).

    ``near`` is the nearest face of any building (:func:`nearest_any_face`), if already known.
    """
    if near is None:
        near = nearest_any_face(face_labels)
    bad = (roof > 0) & (face_building[near] != roof)
    if not bad.any():
        return np.where(roof > 0, near, 0)
    # another building's face was nearer: take the face of a neighbour of the same building, repeatedly
    out = np.where(bad | (roof <= 0), 0, near).astype(np.int32)
    return absorb(out, bad, roof.astype(np.int32), max(roof.shape)).astype(near.dtype)


def outside_owner(building_labels):
    """Distance [px] of every pixel to the nearest building pixel, and that pixel's label."""
    dist, (ir, ic) = ndimage.distance_transform_edt(building_labels == 0, return_indices=True)
    return dist, building_labels[ir, ic]


def overhang_roof(z, ground, building_labels, near, coef, face_building, cellsize, opts, outside=None):
    """Roof pixels outside the building labels that continue a face's plane (eaves overhangs).

    They reach ``opts.max_overhang`` beyond the labels, or ``opts.max_flat_overhang`` where the nearest
    face is flat (tilt under 5°).
    """
    rings = int(np.floor(opts.max_overhang / cellsize + 0.5))
    flat_rings = max(int(np.floor(opts.max_flat_overhang / cellsize + 0.5)), rings)
    roof = building_labels.astype(np.int32).copy()
    if flat_rings <= 0 or not (near > 0).any():
        return roof
    dist, owner = outside if outside is not None else outside_owner(building_labels)
    # the plane test only where the growth may reach (reach <= flat_rings)
    rows, cols = np.nonzero((building_labels == 0) & (dist <= flat_rings) & (near > 0)
                            & (face_building[near] == owner))
    f = near[rows, cols]
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        fits = np.abs(z[rows, cols] - plane_height(coef, f, rows, cols, cellsize)) * nu <= opts.distance_tolerance
        if ground is not None:
            fits &= (z[rows, cols] - ground[rows, cols]) >= 1.0
    # a flat roof may project further (an upper storey over the ground floor, a canopy): tilt under 5°
    reach = np.where(nu >= np.cos(np.radians(5.0)), flat_rings, rings)
    ok = fits & (dist[rows, cols] <= reach)
    cand = np.zeros(z.shape, bool)
    cand[rows[ok], cols[ok]] = True
    grown = grow_rings(building_labels > 0, cand, flat_rings)
    over = grown & (building_labels == 0)
    roof[over] = owner[over]
    return roof


def _thick(lab, n, min_spread=0.3):
    """Whether each labelled blob is more than a line: spread across its principal axis >= ``min_spread`` [px]."""
    rr, cc = np.nonzero(lab)
    k = lab[rr, cc]
    cnt = np.maximum(np.bincount(k, minlength=n + 1), 1)

    def mean(v):
        return np.bincount(k, weights=v, minlength=n + 1) / cnt

    mr, mc = mean(rr), mean(cc)
    vrr, vcc, vrc = mean(rr * rr) - mr ** 2, mean(cc * cc) - mc ** 2, mean(rr * cc) - mr * mc
    lam = 0.5 * (vrr + vcc) - np.sqrt(0.25 * (vrr - vcc) ** 2 + vrc ** 2)
    out = np.sqrt(np.maximum(lam, 0.0)) >= min_spread
    out[0] = False
    return out


def raised_in_outline(z, filled, near, coef, outlines, transform, opts):
    """Pixels inside the roof outlines but off the roof that stand above the nearest face's plane.

    With footprints the outline is the footprint moved out by the mean overhang along each edge, so it
    also covers pixels next to the eaves overhang that the overhang growth left out: a small dormer or
    superstructure standing on the eave, more than 1.5 ``distance_tolerance`` above the plane. Left
    alone they take the nearest face; :func:`excluded_pixels` excludes them where they form a blob with
    the superstructure's pixels on the roof. (Pixels below the plane there are mostly ground along a
    slanted footprint edge; the face keeps them, as its polygon follows the outline.)
    """
    from rasterio import features

    out = np.zeros(filled.shape, bool)
    shapes = [(g, int(b)) for b, g in outlines.items() if g is not None and not g.is_empty]
    if not shapes:
        return out
    inside = features.rasterize(shapes, out_shape=filled.shape, transform=transform, fill=0, dtype="int32")
    rows, cols = np.nonzero((inside > 0) & (filled == 0) & (near > 0))
    f = near[rows, cols]
    with np.errstate(invalid="ignore"):
        above = z[rows, cols] - plane_height(coef, f, rows, cols, float(transform.a)) > 1.5 * opts.distance_tolerance
    out[rows[above], cols[above]] = True
    return out


def excluded_pixels(z, roof, face_labels, filled, coef, cellsize, opts, below=True, beyond=None):
    """Excluded: unassigned roof pixels off the plane around them, in blobs of at least ``min_excluded_area``.

    Off: more than two ``distance_tolerance`` above the plane (chimneys, dormers, installations); with
    ``below`` (footprints given), more than 1.5 tolerances above or below it: also a small plane that is
    no face (a kicked eave strip, a step) or no roof (ground, courtyard, a footprint beyond the roof).
    Without footprints the outline is the roof pixels', and pixels below the plane there are mostly mixed
    eave pixels, which stay with their face; a blob must then survive a 2 x 2 opening. With footprints a
    blob is 8-connected and may include the pixels ``beyond`` the roof (:func:`raised_in_outline`): a
    dormer of 1-2 m² at the eave is a diagonal blob of 4-6 pixels at 0.5 m that an opening removes; only
    lines (spread across their axis under 0.3 px: mixed pixels along an eave or step) are left out. With
    footprints, an unassigned blob that is a plane of its own, tilted from its face's, is excluded too
    (:func:`_other_planes`).
    """
    # the plane test at the unassigned roof pixels only
    rows, cols = np.nonzero((roof > 0) & (face_labels == 0) & (filled > 0))
    zz = z[rows, cols]
    with np.errstate(invalid="ignore"):
        dz = zz - plane_height(coef, filled[rows, cols], rows, cols, cellsize)
        off = (np.abs(dz) > 1.5 * opts.distance_tolerance) if below else (dz > 2 * opts.distance_tolerance)
    off |= ~np.isfinite(zz)
    cand = np.zeros(z.shape, bool)
    cand[rows[off], cols[off]] = True
    if below:
        if beyond is not None:
            cand |= beyond
        lab, n = ndimage.label(cand, structure=np.ones((3, 3), bool))
        lab = np.where(_thick(lab, n)[lab], lab, 0)
    else:
        # a superstructure is at least 2 x 2 pixels: lines of mixed pixels along eaves and steps are not
        cand = ndimage.binary_opening(cand, structure=np.ones((2, 2), bool))
        lab, n = ndimage.label(cand)
    big = np.bincount(lab.ravel(), minlength=n + 1) * cellsize ** 2 >= opts.min_excluded_area
    big[0] = False
    out = big[lab]
    if below:
        out |= _other_planes(z, roof, face_labels, filled, coef, cellsize, opts)
    return out


def _other_planes(z, roof, face_labels, filled, coef, cellsize, opts):
    """Unassigned pixels on a plane of their own, tilted from their face's: excluded, not absorbed.

    A blob is one connected unassigned part, split by the face the fill gives its pixels. Its dominant
    plane is a trimmed least-squares fit (:func:`trimmed_planes`: a kicked eave strip or a dormer cheek
    too small to be a face, next to mixed eave pixels or the face's own overhang). The pixels within
    ``distance_tolerance`` of that plane and closer to it than to the face's plane are excluded when they
    cover at least ``min_excluded_area`` and the plane is tilted from the face's by more than
    ``angle_tolerance`` and flatter than it: on real LiDAR (Gothenburg, 1 m) the steeper blob planes are
    lines of mixed eave and ridge pixels, which stay with their face.
    """
    from types import SimpleNamespace

    from ._planes import trimmed_planes

    mask = (roof > 0) & (face_labels == 0) & (filled > 0) & np.isfinite(z)
    comp, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    rows, cols = np.nonzero(mask)
    out = np.zeros(z.shape, bool)
    if len(rows) == 0:
        return out
    f = filled[rows, cols].astype(np.int64)
    keys, b = np.unique(comp[rows, cols].astype(np.int64) * (int(f.max()) + 1) + f, return_inverse=True)
    b = b.ravel() + 1
    n = len(keys)
    x, y, zz = (cols + 0.5) * cellsize, -(rows + 0.5) * cellsize, z[rows, cols]
    own = trimmed_planes(b, SimpleNamespace(x=x - x.mean(), y=y - y.mean(), zl=zz - zz.mean()), n,
                         opts.distance_tolerance)
    fine = np.isfinite(own[:, 0])
    own = np.where(fine[:, None], own, 0.0)
    nu_own = 1.0 / np.sqrt(own[b, 0] ** 2 + own[b, 1] ** 2 + 1.0)
    off_own = np.abs(zz - zz.mean() - own[b, 0] * (x - x.mean()) - own[b, 1] * (y - y.mean()) - own[b, 2]) * nu_own
    nu_face = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    off_face = np.abs(zz - plane_height(coef, f, rows, cols, cellsize)) * nu_face
    inlier = (off_own <= opts.distance_tolerance) & (off_own < off_face)
    area = np.bincount(b, weights=inlier, minlength=n + 1) * cellsize ** 2
    # both planes are z = a x + b y + c with x = (col + 0.5) cellsize, y = -(row + 0.5) cellsize
    face = np.zeros(n + 1, np.int64)
    face[b] = f
    nf = np.column_stack([-coef[face, 0], -coef[face, 1], np.ones(n + 1)])
    no = np.column_stack([-own[:, 0], -own[:, 1], np.ones(n + 1)])
    cosang = np.einsum("ij,ij->i", nf, no) / np.linalg.norm(nf, axis=1) / np.linalg.norm(no, axis=1)
    # a kicked eave is flatter than its face; a steeper blob plane is mostly mixed eave or ridge pixels
    flatter = np.abs(no[:, 2]) / np.linalg.norm(no, axis=1) > np.abs(nf[:, 2]) / np.linalg.norm(nf, axis=1)
    ok = (fine & flatter & (area >= opts.min_excluded_area)
          & (cosang < np.cos(np.radians(opts.angle_tolerance))))
    ok[0] = False
    out[rows, cols] = ok[b] & inlier
    return out


#: Farthest the corner of two moved footprint edges may lie from the footprint's vertex, in multiples of
#: the larger depth: a right angle puts it at up to 1.41 depths, corners sharper than 60° and almost
#: collinear edges of different depths further (a vertex 0.5° off a straight eave put one 100 m out on a
#: Zürich LoD2 ground surface); those vertices are bevelled instead.
MITER_LIMIT = 2.0


def _offset_outline(footprint, points, cellsize, max_overhang):
    """Footprint with each exterior edge moved outward by the overhang its nearest roof pixels show.

    ``points`` are the centres (x, y) of the overhang pixels of this building, each counted for its nearest
    edge. Their centres sit at distances d, d + cs, ... from the edge, so the eave lies at their mean
    distance plus half their area per metre of edge.
    """
    import shapely
    from shapely.geometry import Polygon
    from shapely.geometry.polygon import orient

    poly = max(shapely.get_parts(footprint), key=lambda p: p.area)
    poly = orient(poly.simplify(0.01), 1.0)
    ring = np.asarray(poly.exterior.coords)[:-1]
    if len(points) == 0 or len(ring) < 3:
        return footprint
    p, q = ring, np.roll(ring, -1, axis=0)
    u = q - p
    length = np.maximum(np.hypot(u[:, 0], u[:, 1]), 1e-9)
    u = u / length[:, None]
    normal = np.column_stack([u[:, 1], -u[:, 0]])  # outward for a counter-clockwise ring
    rel = points[:, None, :] - p[None, :, :]
    t = np.clip((rel * u[None]).sum(-1), 0, length[None])
    dist = np.hypot(rel[..., 0] - t * u[None, :, 0], rel[..., 1] - t * u[None, :, 1])
    nearest = np.argmin(dist, axis=1)
    counts = np.bincount(nearest, minlength=len(p))
    # centres at d, d + cs, ... up to the eave: the eave lies half a pixel row beyond their mean distance
    mean_d = np.bincount(nearest, weights=dist[np.arange(len(points)), nearest], minlength=len(p))
    mean_d = mean_d / np.maximum(counts, 1)
    depth = np.clip(mean_d + 0.5 * counts * cellsize ** 2 / length, 0.0, max_overhang)
    depth[counts == 0] = 0.0
    depth[depth < 0.25 * cellsize] = 0.0
    if not depth.any():
        return footprint
    a = p + depth[:, None] * normal          # offset line of edge i: a_i + t u_i
    verts = []
    for i in range(len(p)):
        j = i - 1
        cross = u[j, 0] * u[i, 1] - u[j, 1] * u[i, 0]
        if abs(cross) >= 1e-6:
            w = a[i] - a[j]
            s = (w[0] * u[i, 1] - w[1] * u[i, 0]) / cross
            corner = a[j] + s * u[j]
            # the two offset lines meet near the vertex, unless the edges are almost collinear (or the
            # corner sharp) and their depths differ: then that point lies far out, a spike
            if np.hypot(*(corner - p[i])) <= MITER_LIMIT * max(depth[i], depth[j]):
                verts.append(corner)
                continue
        verts += [p[i] + depth[j] * normal[j], a[i]]
    grown = shapely.make_valid(Polygon(verts)).union(footprint)
    from ..detection import polygonal

    grown = polygonal(grown)
    limit = footprint.area + footprint.length * max_overhang * 1.2
    return footprint if grown is None or grown.area > limit else grown


def roof_outlines(roof, building_labels, transform, footprints, opts):
    """Roof outline of every building: footprints grown by their overhangs, else the regularised roof pixels."""
    from ..detection import building_polygons

    if footprints is None:
        return building_polygons(roof, transform)
    cs = float(transform.a)
    over = (roof > 0) & (building_labels == 0)
    rows, cols = np.nonzero(over)
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    owner = roof[rows, cols]
    order = np.argsort(owner, kind="stable")
    labels, starts = np.unique(owner[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    by_label = {int(b): order[s:e] for b, s, e in zip(labels, starts, ends)}
    out = {}
    for b, fp in footprints.items():
        if fp is None or fp.is_empty:
            continue
        idx = by_label.get(int(b), np.zeros(0, int))
        out[int(b)] = _offset_outline(fp, np.column_stack([xs[idx], ys[idx]]), cs,
                                      max(opts.max_overhang, opts.max_flat_overhang))
    return out


def raised_ring(z, ground, building_labels, cellsize, max_overhang, outside=None):
    """Grow building labels by up to ``max_overhang`` over raised pixels (roof, not ground).

    Raised: at least 1 m above ``ground``, or without a ground model, above the lowest height within 10 m.
    """
    rings = int(np.floor(max_overhang / cellsize + 0.5))
    if rings <= 0 or not (building_labels > 0).any():
        return building_labels
    dist, owner = outside if outside is not None else outside_owner(building_labels)
    if ground is None:
        # the ground shows within a few metres of a wall: the lowest height within 10 m stands in for it
        size = 2 * int(np.ceil(10.0 / cellsize)) + 1
        ground = ndimage.minimum_filter(np.where(np.isfinite(z), z, np.inf), size=size, mode="nearest")
    with np.errstate(invalid="ignore"):
        raised = (z - ground) >= 1.0
    cand = (building_labels == 0) & (dist <= rings) & raised
    grown = grow_rings(building_labels > 0, cand, rings)
    return np.where(grown, owner, 0)


#: Farthest a face continues over unlabelled pixels on its plane [m]: half the width of a wide dormer
#: (8 m) at the eave, whose nearest face is the dormer while the eave row in front of it lies on the main
#: plane.
PLANE_CONTINUATION = 4.0


def plane_continuation(z, face_labels, building_labels, outside, coef, face_building, cellsize, opts, ground=None):
    """Face of each unlabelled pixel that a chain of pixels on one face's plane connects to that face.

    The pixels are the building's and those outside it up to ``max_flat_overhang`` (those raised 1 m
    above ``ground`` where given); each face grows over the unlabelled ones of its building ring by ring
    (8-neighbours) while they lie within ``distance_tolerance`` of its plane, up to
    :data:`PLANE_CONTINUATION` (:func:`grow_on_planes`: of two faces, the nearer plane). The nearest face
    is not always the plane a pixel continues: the eave row in front of a dormer, and the overhang beyond
    it, continue the main plane around the dormer, not the dormer's plane. Returns the face per pixel, 0
    where none continues (and at the labelled pixels).

    Parameters
    ----------
    z : ndarray
        Surface heights [m].
    face_labels : ndarray of int
        Face id of every pixel, 0 where none.
    building_labels : ndarray of int
        Building label of every pixel, 0 outside buildings.
    outside : tuple
        Distance [px] to the nearest building pixel and its label (:func:`outside_owner`).
    coef : ndarray, shape (n + 1, 3)
        Plane coefficients per face id (:func:`raster_planes`).
    face_building : ndarray of int
        Building label of each face id.
    cellsize : float
        Pixel size [m].
    opts : RoofOptions
        Tolerances and overhang widths.
    ground : ndarray, optional
        Terrain heights [m].
    """
    rings = max(int(np.floor(max(opts.max_overhang, opts.max_flat_overhang) / cellsize + 0.5)), 0)
    dist, owner = outside
    own = np.where(building_labels > 0, building_labels, np.where(dist <= rings, owner, 0))
    if ground is not None:
        with np.errstate(invalid="ignore"):
            own = np.where((building_labels > 0) | ((z - ground) >= 1.0), own, 0)
    passes = int(np.ceil(PLANE_CONTINUATION / cellsize))
    grown = grow_on_planes(face_labels.astype(np.int32), z, own.astype(np.int64), face_building, coef, cellsize,
                           opts.distance_tolerance, passes)
    return np.where(face_labels == 0, grown, 0)
