"""Refinements of the segmentation: steep planes the growing missed, ridge strips, stray pixels."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from scipy import ndimage

from .._kernels.roofs import part_sizes, small_parts, strip_neighbours, uniform_3x3
from ._frame import building_frame, degenerate_faces, face_table
from ._outline import nearest_face
from ._planes import plane_height, raster_planes, trimmed_planes
from ._split import sequential_group_planes
from .segmentation import MAX_FACE_TILT, RoofSegmentation

log = logging.getLogger(__name__)


def _largest_parts(fr, group, k):
    """Per pixel: whether it lies in the largest 4-connected part of its group (``group > 0``)."""
    r0, c0 = fr.rr.min(), fr.cc.min()
    raster = np.zeros((fr.rr.max() - r0 + 1, fr.cc.max() - c0 + 1), np.int32)
    raster[fr.rr - r0, fr.cc - c0] = group
    size = part_sizes(raster)[fr.rr - r0, fr.cc - c0]
    largest = np.zeros(k + 1, np.int64)
    np.maximum.at(largest, group, size)
    return (group > 0) & (size == largest[group])


def _group_planes(fr, group, k, cellsize, opts):
    """Find the plane of each group that explains enough of it: per pixel the group id if accepted, else 0.

    A group's trimmed plane is accepted when its inliers (within ``distance_tolerance``) cover
    ``min_face_area``, are at least 2 pixels wide, no steeper than :data:`MAX_FACE_TILT`, and are 60 % of
    the group, or 40 % of it in one connected part (90 % of them; a mansard side next to dormers).
    """
    gc = trimmed_planes(group, fr, k, opts.distance_tolerance)
    fit = np.isfinite(gc[:, 0])
    gcf = np.where(np.isfinite(gc), gc, 0.0)
    res = fr.zl - (gcf[group, 0] * fr.x + gcf[group, 1] * fr.y + gcf[group, 2])
    nu = 1.0 / np.sqrt(gcf[:, 0] ** 2 + gcf[:, 1] ** 2 + 1.0)
    inlier = np.where((group > 0) & (np.abs(res) * nu[group] <= opts.distance_tolerance), group, 0)
    n_group = np.bincount(group, minlength=k + 1)
    n_in = np.bincount(inlier, minlength=k + 1)
    n_part = np.bincount(np.where(_largest_parts(fr, inlier, k), inlier, 0), minlength=k + 1)
    whole = (n_in >= 0.6 * n_group) | ((n_in >= 0.4 * n_group) & (n_part >= 0.9 * n_in))
    tilt = np.degrees(np.arccos(np.clip(nu, 0, 1)))
    ok = fit & whole & (n_in * cellsize ** 2 >= opts.min_face_area) & (tilt <= MAX_FACE_TILT)
    # at least 2 pixels wide in plan: spread across it >= 2 px / sqrt(12)
    ok &= ~degenerate_faces(fr, inlier, k, cellsize, min_spread=0.5)
    ok[0] = False
    return np.where(ok[inlier], inlier, 0)


def add_misfit_planes(z, cellsize, building_labels, seg, opts, several=False):
    """Planes of unassigned pixels that the faces next to them do not explain (steep mansard sides).

    The unassigned pixels of each building that lie off the plane of their nearest face are grouped by
    connectivity and by that nearest face. Each group's robust plane becomes a face where it explains
    enough of the group (:func:`_group_planes`). Region growing misses such planes when they are 2-3
    pixels wide in plan: their 3 x 3 normals straddle the edges. (Further rounds on the pixels a plane
    leaves found no more true planes on the Zürich LoD2 scenes and added steep fragments on Essen.)
    With ``several`` (footprints given), a group that no single plane explains may give several planes,
    found one after another (:func:`sequential_group_planes`).
    """
    fr = building_frame(z, cellsize, building_labels)
    n = len(seg.faces)
    if fr is None or n == 0:
        return seg
    coef = raster_planes(seg.faces, n)
    face_building = np.full(n + 1, -1, np.int64)
    face_building[seg.faces["face"].to_numpy()] = seg.faces["building"].to_numpy()
    filled = nearest_face(seg.face_labels, face_building, np.where(fr.inside, building_labels, 0))
    # off the plane: tested at the unassigned pixels only
    rows, cols = np.nonzero(fr.inside & (seg.face_labels == 0) & (filled > 0))
    f = filled[rows, cols]
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        off = np.abs(z[rows, cols] - plane_height(coef, f, rows, cols, cellsize)) * nu > opts.distance_tolerance
    mis = np.zeros(z.shape, bool)
    mis[rows[off], cols[off]] = True
    comp, _ = ndimage.label(mis)
    key = np.where(mis, comp.astype(np.int64) * (n + 1) + filled, 0)
    if not mis.any():
        return seg
    # only the misfit pixels take part from here
    sel = mis[fr.rr, fr.cc]
    fr = dataclasses.replace(fr, rr=fr.rr[sel], cc=fr.cc[sel], bi=fr.bi[sel], x=fr.x[sel], y=fr.y[sel],
                             zl=fr.zl[sel])
    _, group = np.unique(key[fr.rr, fr.cc], return_inverse=True)
    group = group.astype(np.int64) + 1
    k = int(group.max())
    accepted = _group_planes(fr, group, k, cellsize, opts)
    if several:
        accepted = _with_sequential_planes(fr, group, k, accepted, cellsize, opts)
    ids = np.unique(accepted[accepted > 0])
    m = len(ids)
    if m == 0:
        return seg
    newid = np.zeros(int(accepted.max()) + 1, np.int64)
    newid[ids] = np.arange(1, m + 1)
    added = newid[accepted]
    table = face_table(fr, added, m, cellsize, opts.distance_tolerance / 3)
    table["face"] += n
    face_labels = seg.face_labels.copy()
    face_labels[fr.rr[added > 0], fr.cc[added > 0]] = added[added > 0] + n
    log.debug("%d planes added from unexplained pixels", m)
    return RoofSegmentation(face_labels, pd.concat([seg.faces, table], ignore_index=True))


def _with_sequential_planes(fr, group, k, accepted, cellsize, opts):
    """Return the accepted group id per pixel, plus planes (ids k+1..) of groups no single plane explains."""
    skip = np.zeros(k + 1, bool)
    skip[accepted] = True
    more = sequential_group_planes(fr, group, k, skip, cellsize, opts)
    return np.where(more > 0, more + k, accepted)


def drop_ridge_strips(seg, cellsize, max_tilt=10.0, min_neighbour_tilt=15.0):
    """Remove thin near-flat faces that lie between two steeper faces of their building (ridge strips).

    Where two steep planes meet at a ridge, the pixels straddling it are flatter than either plane and can
    grow into a face of their own, one or two pixels wide. Such a strip is no roof plane: a face flatter
    than ``max_tilt`` [°] with almost no pixel left after a 3 x 3 erosion, touching at least two faces
    steeper than ``min_neighbour_tilt`` [°] of its building, is dropped; its pixels go to the nearest face
    and the boundary between the steep faces becomes their plane intersection (the upper envelope).
    """
    faces = seg.faces
    if len(faces) < 3:
        return seg
    lab = seg.face_labels
    n = int(faces["face"].max())
    tilt = np.zeros(n + 1)
    tilt[faces["face"].to_numpy()] = faces["tilt"].to_numpy()
    building = np.full(n + 1, -1, np.int64)
    building[faces["face"].to_numpy()] = faces["building"].to_numpy()
    count = np.bincount(lab.ravel(), minlength=n + 1)
    core = np.bincount(lab[uniform_3x3(lab)].ravel(), minlength=n + 1)
    cand = (tilt < max_tilt) & (core <= 0.1 * count) & (count > 0)
    cand[0] = False
    if not cand.any():
        return seg
    # steep faces next to each candidate: pairs of 8-adjacent pixels of different faces of one building
    f, g = strip_neighbours(lab, building, cand, tilt >= min_neighbour_tilt)
    pairs = set(zip(f.tolist(), g.tolist()))
    drop = _on_intersection(lab, sorted(pairs), raster_planes(faces, n), cellsize)
    if not drop.any():
        return seg
    keep = np.ones(n + 1, bool)
    keep[drop] = False
    keep[0] = False
    newid = np.zeros(n + 1, np.int64)
    newid[keep] = np.arange(1, keep.sum() + 1)
    kept = faces[keep[faces["face"].to_numpy()]].copy()
    kept["face"] = newid[kept["face"].to_numpy()]
    log.debug("%d ridge strips dropped", len(drop))
    return RoofSegmentation(newid[lab].astype(lab.dtype), kept.reset_index(drop=True))


def _on_intersection(lab, pairs, coef, cellsize):
    """Strip faces whose pixels lie within a pixel of intersection lines of pairs of their steep neighbours.

    ``pairs`` lists (strip face, steep neighbour); returns the strip face ids that run along a ridge.
    """
    neigh = {}
    for f, g in pairs:
        neigh.setdefault(f, []).append(g)
    drop = []
    if not neigh:
        return np.zeros(0, np.int64)
    want = np.zeros(int(lab.max()) + 1, bool)
    want[list(neigh)] = True
    rr, cc = np.nonzero(want[lab])
    order = np.argsort(lab[rr, cc], kind="stable")
    rr, cc = rr[order], cc[order]
    ids, starts = np.unique(lab[rr, cc], return_index=True)
    ends = np.append(starts[1:], len(rr))
    span = {int(f): (a, b) for f, a, b in zip(ids, starts, ends)}
    for f, gs in neigh.items():
        a, b = span[f]
        x, y = (cc[a:b] + 0.5) * cellsize, -(rr[a:b] + 0.5) * cellsize
        # each pixel's distance to the nearest intersection line of two steep neighbours: a strip along
        # the ridges of a courtyard roof follows several lines
        near = np.full(len(x), np.inf)
        for i, g in enumerate(gs):
            for h in gs[i + 1:]:
                d = coef[g] - coef[h]
                near = np.minimum(near, np.abs(d[0] * x + d[1] * y + d[2]) / max(np.hypot(d[0], d[1]), 1e-9))
        if np.sqrt(np.mean(near ** 2)) <= cellsize:
            drop.append(f)
    return np.array(drop, np.int64)


def drop_stray_pixels(seg, min_pixels):
    """Unlabel the 4-connected parts of a face under ``min_pixels`` pixels (they take the nearest face).

    Along the intersection line of two planes that do not meet on the roof (the inner slope of a courtyard
    roof and the outer slope across the corner), both planes fit, and single pixels or diagonal chains
    of the far plane's face appear inside the other face. Left in, they would make that line a boundary.
    """
    lab = seg.face_labels
    stray = small_parts(lab, min_pixels)
    if not stray.any():
        return seg
    return RoofSegmentation(np.where(stray, 0, lab).astype(lab.dtype), seg.faces)



def _coplanar_pairs(faces, cellsize, max_angle, max_offset):
    """Pairs (i, j), i < j, of face rows of one building that may be one plane.

    Their normals are within ``max_angle`` [°] and each plane passes within ``max_offset`` [m] of the
    other's centroid.
    """
    t = pd.DataFrame({"building": faces["building"].to_numpy(), "row": np.arange(len(faces))})
    pairs = t.merge(t, on="building")
    i, j = pairs["row_x"].to_numpy(), pairs["row_y"].to_numpy()
    keep = i < j
    i, j = i[keep], j[keep]
    nrm = faces[["normal_e", "normal_n", "normal_u"]].to_numpy()
    centre = np.column_stack([(faces["col_centroid"].to_numpy() + 0.5) * cellsize,
                              -(faces["row_centroid"].to_numpy() + 0.5) * cellsize, faces["z_centroid"].to_numpy()])
    offset = faces["offset"].to_numpy()
    ok = np.einsum("ij,ij->i", nrm[i], nrm[j]) >= np.cos(np.radians(max_angle))
    ok &= np.abs(np.einsum("ij,ij->i", nrm[i], centre[j]) - offset[i]) <= max_offset
    ok &= np.abs(np.einsum("ij,ij->i", nrm[j], centre[i]) - offset[j]) <= max_offset
    return i[ok], j[ok]


def _near(pixels, f, g, max_gap):
    """Whether the pixels of faces ``f`` and ``g`` come within ``max_gap`` pixels of each other.

    ``pixels[f]`` holds the rows and columns of face ``f``'s pixels, shape (k, 2).
    """
    from scipy.spatial import cKDTree

    a, b = pixels.get(f), pixels.get(g)
    if a is None or b is None:
        return False
    return bool(np.isfinite(cKDTree(b).query(a, k=1, distance_upper_bound=max_gap + 1e-9)[0]).any())


def _face_pixels(lab, wanted):
    """Rows and columns of the pixels of each face id in ``wanted``: ``{face: (k, 2) array}``."""
    want = np.zeros(int(lab.max()) + 1, bool)
    want[wanted] = True
    rr, cc = np.nonzero(want[lab])
    f = lab[rr, cc]
    order = np.argsort(f, kind="stable")
    ids, starts = np.unique(f[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    rc = np.column_stack([rr[order], cc[order]])
    return {int(i): rc[s:e] for i, s, e in zip(ids, starts, ends)}


def _joint_rmse(z, a, b, cellsize):
    """RMS vertical residual [m] of one least-squares plane through the pixels ``a`` and ``b`` (rows, columns)."""
    rc = np.concatenate([a, b])
    zz = z[rc[:, 0], rc[:, 1]]
    x, y = rc[:, 1] * cellsize, -rc[:, 0] * cellsize
    design = np.column_stack([x - x.mean(), y - y.mean(), np.ones(len(x))])
    coef = np.linalg.lstsq(design, zz - zz.mean(), rcond=None)[0]
    return float(np.sqrt(np.mean((zz - zz.mean() - design @ coef) ** 2)))


def _cut_between(z, a, b, cellsize, depth):
    """Whether the roof dips below the joint plane of the pixels ``a`` and ``b`` between them.

    Along the straight line between the closest pixels of ``a`` and ``b`` (rows, columns), a pixel more
    than ``depth`` [m] below the joint least-squares plane is a cut: a terrace or a lower roof that
    interrupts the plane, so the pieces are separate roof surfaces. A superstructure between them (a
    chimney, a dormer) stands above the plane, which runs on beneath it.
    """
    from scipy.spatial import cKDTree

    d, k = cKDTree(b).query(a, k=1)
    i = int(np.argmin(d))
    p, q = a[i].astype(float), b[k[i]].astype(float)
    steps = int(np.ceil(np.abs(q - p).max())) + 1
    t = np.linspace(0.0, 1.0, steps + 1)[1:-1]
    if len(t) == 0:
        return False
    line = np.unique(np.rint(p[None, :] + t[:, None] * (q - p)[None, :]).astype(np.int64), axis=0)
    rc = np.concatenate([a, b])
    design = np.column_stack([rc[:, 1] * cellsize, -rc[:, 0] * cellsize, np.ones(len(rc))])
    coef = np.linalg.lstsq(design, z[rc[:, 0], rc[:, 1]], rcond=None)[0]
    plane = coef[0] * line[:, 1] * cellsize - coef[1] * line[:, 0] * cellsize + coef[2]
    with np.errstate(invalid="ignore"):
        return bool((z[line[:, 0], line[:, 1]] < plane - depth).any())


def merge_coplanar_faces(z, cellsize, building_labels, seg, opts, max_angle=3.0, max_gap=3.0, sloped_gap_factor=2.0):
    """Merge faces of one building that lie on one plane and come within ``max_gap`` [m] of each other.

    Region growing stops at superstructures, so the parts of one roof plane between dormers, or on both
    sides of a chimney row, become faces of their own, and a flat roof with drainage slopes of a degree or
    two falls into patches. Two faces are one plane when their normals are within ``max_angle`` [°], each
    plane passes within two ``distance_tolerance`` of the other's centroid, and one plane fitted to the
    pixels of both leaves an RMS residual of at most 1.5 times the larger of their own (or a third of the
    tolerance); the merged face is refitted robustly. Two sloped faces (both tilted 5° or more) may be
    ``sloped_gap_factor`` times further apart: a dormer 3-6 m wide splits a mansard side or a pitched
    plane, and two sloped pieces on one plane within 0.3 m are one roof surface, whereas flat roofs at one
    height across such a gap are often separate roofs. Pieces with the roof more than two tolerances below
    their plane between them stay apart (:func:`_cut_between`). ``building_labels`` must cover every face
    pixel (the raised ring).
    """
    faces = seg.faces
    if len(faces) < 2:
        return seg
    i, j = _coplanar_pairs(faces, cellsize, max_angle, 2 * opts.distance_tolerance)
    ids = faces["face"].to_numpy()
    lab = seg.face_labels
    n = int(ids.max())
    target = np.arange(n + 1)

    def root(a):
        while target[a] != a:
            a = target[a]
        return a

    gap = max_gap / cellsize
    pixels = _face_pixels(lab, np.unique(np.concatenate([ids[i], ids[j]]))) if len(i) else {}
    own = np.zeros(n + 1)
    own[ids] = faces["rmse"].to_numpy()
    tilt = np.zeros(n + 1)
    tilt[ids] = faces["tilt"].to_numpy()
    for a, b in zip(ids[i], ids[j]):
        ra, rb = root(a), root(b)
        limit = max(1.5 * max(own[a], own[b]), opts.distance_tolerance / 3)
        reach = gap * (sloped_gap_factor if min(tilt[a], tilt[b]) >= 5.0 else 1.0)
        if (ra != rb and _near(pixels, a, b, reach) and _joint_rmse(z, pixels[a], pixels[b], cellsize) <= limit
                and not _cut_between(z, pixels[a], pixels[b], cellsize, 2 * opts.distance_tolerance)):
            target[max(ra, rb)] = min(ra, rb)
    target = np.array([root(a) for a in range(n + 1)])
    merged = np.flatnonzero(np.bincount(target, minlength=n + 1) > 1)
    if len(merged) == 0:
        return seg
    lab = target[lab].astype(lab.dtype)
    # refit the merged faces on their pixels
    face_b = np.zeros(n + 1, np.int64)
    face_b[ids] = faces["building"].to_numpy()
    mask = np.isin(lab, merged)
    fr = building_frame(z, cellsize, np.where(mask, face_b[lab], 0))
    local = np.zeros(n + 1, np.int64)
    local[merged] = np.arange(1, len(merged) + 1)
    table = face_table(fr, local[lab[fr.rr, fr.cc]], len(merged), cellsize, opts.distance_tolerance / 3)
    table["face"] = merged
    keep = faces[(target[ids] == ids) & ~np.isin(ids, merged)]
    out = pd.concat([keep, table], ignore_index=True).sort_values("face", kind="stable").reset_index(drop=True)
    log.debug("%d coplanar faces merged into %d", int(np.isin(target, merged).sum()), len(merged))
    newid = np.zeros(n + 1, np.int64)
    newid[out["face"].to_numpy()] = np.arange(1, len(out) + 1)
    out["face"] = newid[out["face"].to_numpy()]
    return RoofSegmentation(newid[lab].astype(lab.dtype), out)
