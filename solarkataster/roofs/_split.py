"""Faces that hold a second plane: split where two planes explain the pixels much better than one.

A face takes every roof pixel the fill gives it, and the segmentation gives it the pixels within
``distance_tolerance`` of its plane. A plane under about 3 px wide in plan next to it (a steep mansard
side 1-2 px wide, a kicked eave 1 m wide, a dormer cheek) then ends up inside the face: its first pixel
column lies within the tolerance, the others form a 1 px line that no blob test keeps. Its pixels are not
noise, though: their residuals from the face's plane have one sign and grow away from the break line.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import ndimage

from ._frame import building_frame, face_table
from ._planes import plane_height, raster_planes
from .segmentation import MAX_FACE_TILT

log = logging.getLogger(__name__)


#: Narrowest second plane split off a face, as the spread of its pixels across its axis [px]: 0.35 px is a
#: strip about 1.2 px wide in plan (a kicked eave 0.6 m wide at 0.5 m), which is excluded; a face needs
#: 0.5 px (2 px wide). A line of mixed pixels along an eave or ridge spreads under 0.3 px.
NARROW_SPREAD = 0.35

#: Smallest angle [°] between a face's plane and a second plane split off it: a kink of a few degrees
#: between two pitches of one roof side (region growing with ``angle_tolerance`` walks over it) is two
#: planes when the F-test of :func:`_two_planes` says so; 3° is the coplanar limit of
#: :func:`merge_coplanar_faces`, below which two fits of one plane differ by the noise.
MIN_KINK = 3.0

#: Band [in ``distance_tolerance``] within which a RANSAC plane's supporting pixels lie: near a hip or a
#: kink the pixels of both planes lie within the whole tolerance (0.15 m) of a compromise plane between
#: them, which then wins; half of it (0.075 m, 2.5 times the 3 cm height noise, more on a steep plane)
#: does not reach the other plane's pixels.
RANSAC_SUPPORT = 0.5


def _lstsq_plane(x, y, zz):
    """Least-squares plane ``z = a x + b y + c`` (NaN where the points are collinear)."""
    xm, ym, zm = x.mean(), y.mean(), zz.mean()
    design = np.column_stack([x - xm, y - ym, np.ones(len(x))])
    sol, _, rank, _ = np.linalg.lstsq(design, zz - zm, rcond=None)
    if rank < 3:
        return np.full(3, np.nan)
    return np.array([sol[0], sol[1], zm + sol[2] - sol[0] * xm - sol[1] * ym])


def _perp(p, x, y, zz):
    """Perpendicular distance [m] of points from the plane ``p`` (a, b, c)."""
    return np.abs(zz - p[0] * x - p[1] * y - p[2]) / np.sqrt(p[0] ** 2 + p[1] ** 2 + 1.0)


def _cos_angle(p, q):
    u = np.array([-p[0], -p[1], 1.0])
    v = np.array([-q[0], -q[1], 1.0])
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def _min_spread(x, y):
    """Return the spread [m] of the points across their principal axis (a strip's width / sqrt(12))."""
    c = np.cov(np.vstack([x, y]))
    return float(np.sqrt(max(0.5 * (c[0, 0] + c[1, 1]) - np.sqrt(0.25 * (c[0, 0] - c[1, 1]) ** 2 + c[0, 1] ** 2),
                             0.0)))


def _two_planes(x, y, zz, seed, face_plane, opts, cellsize, shape_rc):
    """Second plane of a face grown from the ``seed`` pixels: its pixels (bool per pixel) and width, or None.

    Two-plane assignment (k-planes): each pixel goes to the nearer plane, the second plane is refitted on its
    pixels, kept to its connected parts that meet the seed, three times. Accepted when its pixels spread
    across their axis by at least :data:`NARROW_SPREAD` px, are tilted from the face's plane by more than
    :data:`MIN_KINK`, no steeper than :data:`MAX_FACE_TILT`, lie on it within the noise (RMS under a
    third of ``distance_tolerance``) and lie off the face's plane by at least twice that, the F-test of one
    plane against two for these pixels. Returns ``(pixels, wide)``, ``wide`` when they are at least 2 px
    wide (spread 0.5 px), so that the plane may become a face.
    """
    rr, cc, local = shape_rc
    b = _lstsq_plane(x[seed], y[seed], zz[seed])
    a = face_plane
    inb = seed
    floor = opts.distance_tolerance / 3.0
    for _ in range(3):
        if not np.isfinite(b).all():
            return None
        db, da = _perp(b, x, y, zz), _perp(a, x, y, zz)
        cand = (db < da) & (db <= opts.distance_tolerance)
        local[:] = 0
        local[rr[cand], cc[cand]] = 1
        comp, _ = ndimage.label(local)
        keep = np.unique(comp[rr[cand & seed], cc[cand & seed]])
        keep = keep[keep > 0]
        inb = cand & np.isin(comp[rr, cc], keep)
        if inb.sum() < 3:
            return None
        b = _lstsq_plane(x[inb], y[inb], zz[inb])
        if (~inb).sum() >= 3:
            rest = ~inb & (da <= opts.distance_tolerance)
            if rest.sum() >= 3:
                a = _lstsq_plane(x[rest], y[rest], zz[rest])
                if not np.isfinite(a).all():
                    return None
    if not np.isfinite(b).all() or inb.sum() * cellsize ** 2 < opts.min_excluded_area:
        return None
    rms_b = np.sqrt(np.mean(_perp(b, x[inb], y[inb], zz[inb]) ** 2))
    rms_a = np.sqrt(np.mean(_perp(a, x[inb], y[inb], zz[inb]) ** 2))
    tilt_b = np.degrees(np.arccos(1.0 / np.sqrt(b[0] ** 2 + b[1] ** 2 + 1.0)))
    spread = _min_spread(x[inb], y[inb])
    ok = (rms_b <= floor and rms_a >= 2 * floor and tilt_b <= MAX_FACE_TILT
          and _cos_angle(a, b) < np.cos(np.radians(MIN_KINK))
          and spread >= NARROW_SPREAD * cellsize)
    return (inb, spread >= 0.5 * cellsize) if ok else None


def _plane_rms(x, y, zz):
    """Least-squares plane of the points and their RMS perpendicular distance [m] from it."""
    plane = _lstsq_plane(x, y, zz)
    return plane, float(np.sqrt(np.mean(_perp(plane, x, y, zz) ** 2)))


def _touching_faces(filled, rows, cols, face, face_building, n_planes):
    """Faces of ``face``'s building other than it, with a plane (id under ``n_planes``), 8-adjacent to the pixels."""
    nr, nc = filled.shape
    r = np.clip(rows[:, None] + np.array([-1, -1, -1, 0, 0, 1, 1, 1])[None, :], 0, nr - 1)
    c = np.clip(cols[:, None] + np.array([-1, 0, 1, -1, 1, -1, 0, 1])[None, :], 0, nc - 1)
    ids = np.unique(filled[r, c])
    ids = ids[(ids > 0) & (ids < n_planes) & (ids != face)]
    return ids[face_building[ids] == face_building[face]]


def _coplanar_neighbour(z, filled, rows, cols, face, face_building, coef, cellsize, opts):
    """Face id next to the pixels (8-neighbours) whose plane they continue, else 0.

    A face that region growing carried over a kink holds a piece of a neighbouring face's plane: its
    pixels (``rows``, ``cols`` of the heights ``z`` [m]) join that face when the normal of their plane is
    within :data:`MIN_KINK` of its, and one plane through both leaves an RMS distance of at most 1.5
    times the larger of their own (or a third of ``distance_tolerance``), the test of
    :func:`merge_coplanar_faces`. Only faces with a plane in ``coef`` take part.
    """
    x, y, zz = (cols + 0.5) * cellsize, -(rows + 0.5) * cellsize, z[rows, cols]
    plane, own = _plane_rms(x, y, zz)
    if not np.isfinite(plane).all():
        return 0
    for g in _touching_faces(filled, rows, cols, face, face_building, len(coef)):
        if _cos_angle(coef[g], plane) < np.cos(np.radians(MIN_KINK)):
            continue
        gr, gc = np.nonzero((filled == g) & np.isfinite(z))
        gx, gy, gz = (gc + 0.5) * cellsize, -(gr + 0.5) * cellsize, z[gr, gc]
        _, own_g = _plane_rms(gx, gy, gz)
        _, joint = _plane_rms(np.concatenate([x, gx]), np.concatenate([y, gy]), np.concatenate([zz, gz]))
        if joint <= max(1.5 * max(own, own_g), opts.distance_tolerance / 3.0):
            return int(g)
    return 0


def _candidates(z, filled, coef, cellsize, opts):
    """Find connected parts of a face's pixels off its plane by more than the noise, on one side of it.

    Returns (face, rows, cols) per 8-connected part of at least ``min_excluded_area``.
    """
    rows, cols = np.indices(z.shape)
    f = np.maximum(filled, 0)
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        perp = (z - plane_height(coef, f, rows, cols, cellsize)) * nu
    floor = opts.distance_tolerance / 3.0
    out = []
    min_px = opts.min_excluded_area / cellsize ** 2
    for side in (perp > floor, perp < -floor):
        # 8-connected, no opening: a diagonal strip 1-2 px wide has no 2 x 2 block (_two_planes tests width)
        mask = side & (filled > 0)
        comp, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        rr, cc = np.nonzero(mask)
        key = comp[rr, cc].astype(np.int64) * (int(filled.max()) + 1) + filled[rr, cc]
        keys, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for k in np.flatnonzero(counts >= min_px):
            idx = order[starts[k]:starts[k] + counts[k]]
            out.append((int(filled[rr[idx[0]], cc[idx[0]]]), rr[idx], cc[idx]))
    out.sort(key=lambda t: -len(t[1]))
    return out


def split_two_plane_faces(z, cellsize, filled, seg, coef, face_building, opts):
    """Split off the second plane of faces whose pixels two planes explain much better than one.

    Parameters
    ----------
    z : ndarray
        Surface heights [m].
    cellsize : float
        Pixel size [m].
    filled : ndarray of int
        Face id of every roof pixel, 0 outside, -1 excluded.
    seg : RoofSegmentation
        Segmentation whose face table ``filled`` refers to (face ids 1..n).
    coef : ndarray, shape (n + 1, 3)
        Plane coefficients per face id (:func:`raster_planes`).
    face_building : ndarray of int
        Building of each face id.
    opts : RoofOptions
        Tolerances.

    Returns
    -------
    tuple
        ``(filled, seg, coef, face_building)`` with the second planes as new faces (ids n+1..) where they
        cover ``min_face_area`` and are 2 px wide, excluded (-1) where smaller or narrower, and the split
        faces refitted. A second plane, or the rest of the face, that continues the plane of a
        neighbouring face joins it (:func:`_coplanar_neighbour`); a face left without pixels keeps its
        row, which gets no polygon.
    """
    n = len(face_building) - 1
    cands = _candidates(z, filled, coef, cellsize, opts) if n else []
    if not cands:
        return filled, seg, coef, face_building
    filled = filled.copy()
    new_faces, changed = [], set()
    local = np.zeros(z.shape, np.int8)
    for f, cr, cc_ in cands:
        if not (filled[cr, cc_] == f).all():
            continue
        rr, cc = np.nonzero(filled == f)
        ok = np.isfinite(z[rr, cc])
        rr, cc = rr[ok], cc[ok]
        x, y, zz = (cc + 0.5) * cellsize, -(rr + 0.5) * cellsize, z[rr, cc]
        local[:] = 0
        local[cr, cc_] = 1
        seed = local[rr, cc] > 0
        found = _two_planes(x, y, zz, seed, coef[f], opts, cellsize, (rr, cc, local))
        if found is None or (~found[0]).sum() * cellsize ** 2 < opts.min_face_area:
            continue
        inb, wide = found
        changed.add(f)
        if not (wide and inb.sum() * cellsize ** 2 >= opts.min_face_area):
            filled[rr[inb], cc[inb]] = -1
            continue
        g = _coplanar_neighbour(z, filled, rr[inb], cc[inb], f, face_building, coef, cellsize, opts)
        if g:
            changed.add(g)
            filled[rr[inb], cc[inb]] = g
        else:
            new_faces.append(f)
            filled[rr[inb], cc[inb]] = n + len(new_faces)
        # the rest may as well be the piece of a neighbour's plane that growing carried over the kink
        g = _coplanar_neighbour(z, filled, rr[~inb], cc[~inb], f, face_building, coef, cellsize, opts)
        if g:
            # f keeps no pixel, and its row no polygon
            changed.add(g)
            changed.discard(f)
            filled[rr[~inb], cc[~inb]] = g
    if not changed:
        return filled, seg, coef, face_building
    log.debug("%d faces split, %d second planes became faces", len(changed), len(new_faces))
    ids = np.array(sorted(changed) + list(range(n + 1, n + len(new_faces) + 1)), np.int64)
    face_building = np.concatenate([face_building, face_building[np.array(new_faces, np.int64)]])
    sel = np.isin(filled, ids)
    fr = building_frame(z, cellsize, np.where(sel, face_building[np.maximum(filled, 0)], 0))
    local_id = np.zeros(len(face_building), np.int64)
    local_id[ids] = np.arange(1, len(ids) + 1)
    table = face_table(fr, local_id[filled[fr.rr, fr.cc]], len(ids), cellsize, opts.distance_tolerance / 3)
    table["face"] = ids
    keep = seg.faces[~seg.faces["face"].isin(ids)]
    faces = pd.concat([keep, table], ignore_index=True).sort_values("face", kind="stable").reset_index(drop=True)
    coef = raster_planes(faces, len(face_building) - 1)
    return filled, type(seg)(seg.face_labels, faces), coef, face_building


def _sample_planes(x, y, zz, rem, rng, tries, radius):
    """Planes through random triples of the pixels ``rem`` (indices), the 2nd and 3rd within ``radius`` [m]."""
    a = rng.choice(rem, tries)
    planes = []
    for i in a:
        d = np.maximum(np.abs(x[rem] - x[i]), np.abs(y[rem] - y[i]))
        near = rem[(d <= radius) & (d > 0)]
        if len(near) < 2:
            continue
        j, k = rng.choice(near, 2, replace=False)
        m = np.array([[x[i], y[i], 1.0], [x[j], y[j], 1.0], [x[k], y[k], 1.0]])
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        planes.append(np.linalg.solve(m, np.array([zz[i], zz[j], zz[k]])))
    return np.array(planes).reshape(-1, 3)


def _largest_part(rr, cc, sel):
    """Mask of the largest 8-connected part of the pixels ``sel`` (rows ``rr``, columns ``cc``)."""
    r0, c0 = rr.min(), cc.min()
    grid = np.zeros((rr.max() - r0 + 1, cc.max() - c0 + 1), bool)
    grid[rr[sel] - r0, cc[sel] - c0] = True
    comp, n = ndimage.label(grid, structure=np.ones((3, 3), bool))
    if n == 0:
        return sel
    lab = comp[rr - r0, cc - c0]
    sizes = np.bincount(lab[sel], minlength=n + 1)
    sizes[0] = 0
    return sel & (lab == np.argmax(sizes))


def _one_plane(x, y, zz, rr, cc, rem, rng, cellsize, opts):
    """Best-supported plane of the pixels ``rem``: its connected inliers (bool per pixel) or None.

    A sampled plane's support is its pixels within :data:`RANSAC_SUPPORT` ``distance_tolerance``.
    """
    planes = _sample_planes(x, y, zz, rem, rng, 200, 2.0 * cellsize)
    if len(planes) == 0:
        return None
    nu = 1.0 / np.sqrt(planes[:, 0] ** 2 + planes[:, 1] ** 2 + 1.0)
    planes, nu = planes[nu >= np.cos(np.radians(MAX_FACE_TILT))], nu[nu >= np.cos(np.radians(MAX_FACE_TILT))]
    if len(planes) == 0:
        return None
    dist = np.abs(zz[rem][None, :] - planes[:, :1] * x[rem] - planes[:, 1:2] * y[rem] - planes[:, 2:]) * nu[:, None]
    best = planes[np.argmax((dist <= RANSAC_SUPPORT * opts.distance_tolerance).sum(1))]
    mask = np.zeros(len(x), bool)
    mask[rem] = True
    inl = None
    # the second refit on the inliers within half the tolerance: near their intersection lines, pixels of
    # small planes next to a steep one lie within the tolerance of its plane and tilt the fit
    for band in (opts.distance_tolerance, 0.5 * opts.distance_tolerance):
        inl = _largest_part(rr, cc, mask & (_perp(best, x, y, zz) <= band))
        if inl.sum() < 3:
            return None
        best = _lstsq_plane(x[inl], y[inl], zz[inl])
        if not np.isfinite(best).all():
            return None
    inl = _largest_part(rr, cc, mask & (_perp(best, x, y, zz) <= opts.distance_tolerance))
    tilt = np.degrees(np.arccos(1.0 / np.sqrt(best[0] ** 2 + best[1] ** 2 + 1.0)))
    ok = (inl.sum() * cellsize ** 2 >= opts.min_face_area and tilt <= MAX_FACE_TILT
          and np.sqrt(np.mean(_perp(best, x[inl], y[inl], zz[inl]) ** 2)) <= opts.distance_tolerance / 3.0
          and _min_spread(x[inl], y[inl]) >= 0.5 * cellsize)
    return inl if ok else None


def sequential_group_planes(fr, group, k, skip, cellsize, opts, max_planes=4):
    """Planes of pixel groups that no single plane explains, found one after another (RANSAC).

    Parameters
    ----------
    fr : Frame
        The groups' pixels (:func:`building_frame`, restricted to the grouped pixels).
    group : ndarray of int
        Group id 1..k of every pixel of ``fr``.
    k : int
        Number of groups.
    skip : ndarray of bool, shape (k + 1,)
        Groups already explained by one plane.
    cellsize : float
        Pixel size [m].
    opts : RoofOptions
        Tolerances.
    max_planes : int
        Most planes taken from one group.

    Returns
    -------
    ndarray of int
        Per pixel 0 or a plane id 1..m; each plane's pixels are one connected part of at least
        ``min_face_area``, at least 2 px wide, within a third of ``distance_tolerance`` RMS of the plane.

    Notes
    -----
    A group of unexplained pixels along the outline can hold parts of several planes: a steep mansard
    side 1-2 px wide, a flat strip beside it and the corner of the next side. One trimmed fit to all of
    them matches none. Here the plane supported by most pixels (within :data:`RANSAC_SUPPORT`
    ``distance_tolerance``) among 200 planes through random triples of nearby pixels (RANSAC [4]_, a
    fixed seed) is refitted to its connected inliers, the second time to those within half the
    tolerance, taken with its inliers, and the search repeats on the rest.

    References
    ----------
    .. [4] Fischler, M. A., & Bolles, R. C. (1981). Random sample consensus: a paradigm for model fitting
       with applications to image analysis and automated cartography. Communications of the ACM, 24(6),
       381-395. https://doi.org/10.1145/358669.358692
    """
    rng = np.random.default_rng(0)
    out = np.zeros(len(group), np.int64)
    min_px = opts.min_face_area / cellsize ** 2
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=k + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    m = 0
    for g in np.flatnonzero((counts >= min_px) & ~skip):
        if g == 0:
            continue
        idx = order[starts[g]:starts[g] + counts[g]]
        x, y, zz, rr, cc = fr.x[idx], fr.y[idx], fr.zl[idx], fr.rr[idx], fr.cc[idx]
        free = np.ones(len(idx), bool)
        for _ in range(max_planes):
            rem = np.flatnonzero(free)
            if len(rem) < min_px:
                break
            inl = _one_plane(x, y, zz, rr, cc, rem, rng, cellsize, opts)
            if inl is None:
                break
            m += 1
            out[idx[inl]] = m
            free &= ~inl
    return out


def _dominant_plane(z, rr, cc, plane, cellsize, opts, rng):
    """Pixels of the plane most of a face's pixels support, when it explains them much better than ``plane``.

    Returns a bool per pixel, or None unless the pixels lie off ``plane`` by more than half the noise floor
    (a sixth of ``distance_tolerance``, RMS), the RANSAC plane (:func:`_one_plane`) holds more than half
    of the pixels, its pixels lie on it with an RMS distance of at most a third of theirs from ``plane``
    (one plane explains them much worse than their own: a ratio, as the noise of a steep plane's pixels is
    not that of a flat one's), and it is tilted from ``plane`` by more than :data:`MIN_KINK`. ``rr``,
    ``cc`` are the face's pixels in the heights ``z`` [m], ``plane`` its coefficients (a, b, c).
    """
    x, y, zz = (cc + 0.5) * cellsize, -(rr + 0.5) * cellsize, z[rr, cc]
    # pixels within half the noise floor of their plane (RMS) hold no second plane worth the search
    if np.sqrt(np.mean(_perp(plane, x, y, zz) ** 2)) <= opts.distance_tolerance / 6.0:
        return None
    inl = _one_plane(x, y, zz, rr, cc, np.arange(len(x)), rng, cellsize, opts)
    if inl is None or 2 * inl.sum() <= len(x):
        return None
    own = _lstsq_plane(x[inl], y[inl], zz[inl])
    rms_own = np.sqrt(np.mean(_perp(own, x[inl], y[inl], zz[inl]) ** 2))
    rms_face = np.sqrt(np.mean(_perp(plane, x[inl], y[inl], zz[inl]) ** 2))
    if rms_face < 3.0 * rms_own or _cos_angle(plane, own) >= np.cos(np.radians(MIN_KINK)):
        return None
    return inl


def refit_mixed_faces(z, cellsize, filled, seg, coef, face_building, opts):
    """Orient faces that hold pixels of a second plane by the plane most of their pixels lie on.

    Where two planes meet at a corner (the hip of a mansard, a cheek beside a valley), a face can keep a
    few pixels of the next plane that are too few for a face of their own (under ``min_face_area``). Its
    robust plane is then a compromise between the two, tilted off both by several degrees. When the plane
    that most of its pixels support (RANSAC, :func:`_one_plane`) explains them much better
    (:func:`_dominant_plane`), the face takes that plane, fitted robustly to its inliers; its pixels stay
    as they are.

    Parameters
    ----------
    z, cellsize, filled, seg, coef, face_building, opts
        As :func:`split_two_plane_faces`.

    Returns
    -------
    tuple
        ``(seg, coef)`` with the refitted faces' orientation, plane and area in the table, and their planes.
    """
    n = len(face_building) - 1
    rng = np.random.default_rng(0)
    mask = np.zeros(z.shape, np.int64)
    ids = []
    good = (filled > 0) & np.isfinite(z)
    rr_all, cc_all = np.nonzero(good)
    lab = filled[rr_all, cc_all]
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=n + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for f in np.flatnonzero(counts * cellsize ** 2 >= opts.min_face_area):
        idx = order[starts[f]:starts[f] + counts[f]]
        inl = _dominant_plane(z, rr_all[idx], cc_all[idx], coef[f], cellsize, opts, rng)
        if inl is not None:
            ids.append(f)
            mask[rr_all[idx[inl]], cc_all[idx[inl]]] = len(ids)
    if not ids:
        return seg, coef
    log.debug("%d faces refitted to their dominant plane", len(ids))
    return _reorient(z, cellsize, mask, np.array(ids, np.int64), seg, face_building, opts)


def _reorient(z, cellsize, mask, ids, seg, face_building, opts):
    """Faces ``ids`` oriented by the plane fitted to their pixels ``mask == k`` (k = 1.. per id); ``(seg, coef)``."""
    n = len(face_building) - 1
    fb = np.zeros(len(ids) + 1, np.int64)
    fb[1:] = face_building[ids]
    fr = building_frame(z, cellsize, fb[mask])
    table = face_table(fr, mask[fr.rr, fr.cc], len(ids), cellsize, opts.distance_tolerance / 3)
    faces = seg.faces.copy()
    rows = faces.index[faces["face"].isin(ids)]
    cols = ["normal_e", "normal_n", "normal_u", "offset", "z_centroid", "tilt", "azimuth"]
    pos = np.searchsorted(ids, faces.loc[rows, "face"].to_numpy())
    faces.loc[rows, cols] = table[cols].to_numpy()[pos]
    faces.loc[rows, "area"] = faces.loc[rows, "area_horizontal"] / faces.loc[rows, "normal_u"]
    return type(seg)(seg.face_labels, faces), raster_planes(faces, n)



def _on_plane_of(z, filled, rows, cols, face, face_building, coef, cellsize, opts):
    """Touching face of one building on whose plane the pixels of ``face`` lie, else 0.

    The normal of the pixels' own plane is within :data:`MIN_KINK` of the touching face's, and they lie
    on its plane within the noise (RMS perpendicular distance at most a third of ``distance_tolerance``).
    ``rows``, ``cols`` are the pixels of ``face`` in the heights ``z`` [m].
    """
    x, y, zz = (cols + 0.5) * cellsize, -(rows + 0.5) * cellsize, z[rows, cols]
    plane, _ = _plane_rms(x, y, zz)
    if not np.isfinite(plane).all():
        return 0
    for g in _touching_faces(filled, rows, cols, face, face_building, len(coef)):
        if (_cos_angle(coef[g], plane) >= np.cos(np.radians(MIN_KINK))
                and np.sqrt(np.mean(_perp(coef[g], x, y, zz) ** 2)) <= opts.distance_tolerance / 3.0):
            return int(g)
    return 0


def join_coplanar_pieces(z, cellsize, filled, seg, coef, face_building, opts):
    """Join faces that lie on the plane of a touching face of their building (pieces of one plane).

    Splitting a face at a corner can leave one plane in two touching faces: the second plane carved out
    of a face and the face's rest, once :func:`refit_mixed_faces` has oriented the rest by the plane most
    of its pixels lie on (Zürich scene 13, noise seed 200: a 56° mansard side of 15.7 m² as two faces of
    8.1 and 9.3 m²). Faces are visited from the smallest; one whose pixels lie on a touching
    face's plane (:func:`_on_plane_of`) joins it. A face that has taken pixels is not moved on. The
    joined face's plane is fitted robustly to its pixels within ``distance_tolerance`` of its former
    plane, as it may hold a few pixels of the next plane.

    Parameters
    ----------
    z, cellsize, filled, seg, coef, face_building, opts
        As :func:`split_two_plane_faces`.

    Returns
    -------
    tuple
        ``(filled, seg, coef)``: a joined face's pixels take the id of the face it joined, whose row takes
        the refitted orientation and plane; the joined face keeps its row, which gets no polygon.
    """
    n = len(face_building) - 1
    # each face's pixels once (a face's pixels change only when it grows, and a grown face is not moved)
    rr_all, cc_all = np.nonzero(filled > 0)
    lab = filled[rr_all, cc_all]
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=n + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    filled = filled.copy()
    grown = set()
    for f in np.argsort(counts, kind="stable"):
        if counts[f] < 3 or f in grown:
            continue
        idx = order[starts[f]:starts[f] + counts[f]]
        fin = idx[np.isfinite(z[rr_all[idx], cc_all[idx]])]
        g = 0
        if len(fin) >= 3:
            g = _on_plane_of(z, filled, rr_all[fin], cc_all[fin], f, face_building, coef, cellsize, opts)
        if g:
            filled[rr_all[idx], cc_all[idx]] = g
            grown.add(g)
    if not grown:
        return filled, seg, coef
    log.debug("%d faces grew by a coplanar piece", len(grown))
    ids = np.array(sorted(grown), np.int64)
    rows, cols = np.nonzero(np.isin(filled, ids) & np.isfinite(z))
    f = filled[rows, cols]
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    on = np.abs(z[rows, cols] - plane_height(coef, f, rows, cols, cellsize)) * nu <= opts.distance_tolerance
    mask = np.zeros(z.shape, np.int64)
    mask[rows[on], cols[on]] = np.searchsorted(ids, f[on]) + 1
    seg, coef = _reorient(z, cellsize, mask, ids, seg, face_building, opts)
    return filled, seg, coef
