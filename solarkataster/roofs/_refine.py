"""Refinements of the segmentation: steep planes the growing missed, ridge strips, stray pixels."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from scipy import ndimage

from .._kernels.roofs import part_sizes
from ._frame import building_frame, degenerate_faces, face_table
from ._outline import nearest_face
from ._planes import plane_height, raster_planes, trimmed_planes
from .segmentation import MAX_FACE_TILT, RoofSegmentation

log = logging.getLogger(__name__)


def _connected(fr, group, k, shape, share=0.9):
    """Per group 0..k: its pixels (``group > 0``) form one 4-connected part holding ``share`` of them."""
    raster = np.zeros(shape, np.int32)
    raster[fr.rr, fr.cc] = group
    size = part_sizes(raster)[fr.rr, fr.cc]
    largest = np.zeros(k + 1, np.int64)
    np.maximum.at(largest, group, size)
    return largest >= share * np.bincount(group, minlength=k + 1)


def add_misfit_planes(z, cellsize, building_labels, seg, opts):
    """Planes of unassigned pixels that the faces next to them do not explain (steep mansard sides).

    The unassigned pixels of each building that lie off the plane of their nearest face are grouped by
    connectivity and by that nearest face; the pixels of a group within ``distance_tolerance`` of its
    robust plane become a face if they cover ``min_face_area`` and are 2 pixels wide. Region growing misses
    such planes when they are 2-3 pixels wide in plan: their 3 x 3 normals straddle the edges.
    """
    fr = building_frame(z, cellsize, building_labels)
    n = len(seg.faces)
    if fr is None or n == 0:
        return seg
    coef = raster_planes(seg.faces, n)
    face_building = np.full(n + 1, -1, np.int64)
    face_building[seg.faces["face"].to_numpy()] = seg.faces["building"].to_numpy()
    filled = nearest_face(seg.face_labels, face_building, np.where(fr.inside, building_labels, 0))
    rows, cols = np.indices(z.shape)
    nu = 1.0 / np.sqrt(coef[filled, 0] ** 2 + coef[filled, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        off = np.abs(z - plane_height(coef, filled, rows, cols, cellsize)) * nu > opts.distance_tolerance
    mis = fr.inside & (seg.face_labels == 0) & (filled > 0) & off
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
    gc = trimmed_planes(group, fr, k, opts.distance_tolerance)
    fit = np.isfinite(gc[:, 0])
    gcf = np.where(np.isfinite(gc), gc, 0.0)
    res = fr.zl - (gcf[group, 0] * fr.x + gcf[group, 1] * fr.y + gcf[group, 2])
    nu = 1.0 / np.sqrt(gcf[:, 0] ** 2 + gcf[:, 1] ** 2 + 1.0)
    inlier = (group > 0) & (np.abs(res) * nu[group] <= opts.distance_tolerance)
    group_px = group
    group = np.where(inlier, group, 0)
    n_all = np.bincount(np.where(inlier, 0, group_px), minlength=k + 1)
    n_in = np.bincount(group, minlength=k + 1)
    tilt = np.degrees(np.arccos(np.clip(nu, 0, 1)))
    # a plane at least 2 pixels wide in plan: spread across it >= 2 px / sqrt(12); most of its group fits it
    ok = fit & (n_in * cellsize ** 2 >= opts.min_face_area) & (tilt <= MAX_FACE_TILT)
    # most of its group fits it, or a connected plane fits a good share (a mansard side next to dormers)
    ok &= (n_in >= 0.6 * (n_in + n_all)) | ((n_in >= 0.4 * (n_in + n_all)) & _connected(fr, group, k, z.shape))
    ok &= ~degenerate_faces(fr, group, k, cellsize, min_spread=0.5)
    ok[0] = False
    if not ok.any():
        return seg
    newid = np.zeros(k + 1, np.int64)
    newid[ok] = n + np.arange(1, ok.sum() + 1)
    added = np.where(newid[group] > 0, newid[group] - n, 0)
    table = face_table(fr, added, int(ok.sum()), cellsize, opts.distance_tolerance / 3)
    table["face"] += n
    face_labels = seg.face_labels.copy()
    face_labels[fr.rr[added > 0], fr.cc[added > 0]] = added[added > 0] + n
    log.debug("%d planes added from unexplained pixels", ok.sum())
    return RoofSegmentation(face_labels, pd.concat([seg.faces, table], ignore_index=True))


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
    core = np.bincount(lab[ndimage.grey_erosion(lab, size=(3, 3)) == ndimage.grey_dilation(lab, size=(3, 3))
                           ].ravel(), minlength=n + 1)
    cand = (tilt < max_tilt) & (core <= 0.1 * count) & (count > 0)
    cand[0] = False
    if not cand.any():
        return seg
    # steep faces next to each candidate: pairs of 8-adjacent pixels of different faces of one building
    pairs = set()
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = lab[max(0, -dr) if dr >= 0 else 0:lab.shape[0] - dr, max(0, -dc):lab.shape[1] - max(dc, 0)]
        b = lab[dr:, max(dc, 0):lab.shape[1] + min(dc, 0)]
        ok = (a > 0) & (b > 0) & (a != b) & (building[a] == building[b])
        for f, g in ((a[ok], b[ok]), (b[ok], a[ok])):
            sel = cand[f] & (tilt[g] >= min_neighbour_tilt)
            pairs.update(zip(f[sel].tolist(), g[sel].tolist()))
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
    """Strip faces whose pixels lie within a pixel of the intersection line of two of their steep neighbours.

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
        for i, g in enumerate(gs):
            for h in gs[i + 1:]:
                d = coef[g] - coef[h]
                dist = (d[0] * x + d[1] * y + d[2]) / max(np.hypot(d[0], d[1]), 1e-9)
                if np.sqrt(np.mean(dist ** 2)) <= cellsize:
                    drop.append(f)
                    break
            else:
                continue
            break
    return np.array(drop, np.int64)


def drop_stray_pixels(seg, min_pixels):
    """Unlabel the 4-connected parts of a face under ``min_pixels`` pixels (they take the nearest face).

    Along the intersection line of two planes that do not meet on the roof (the inner slope of a courtyard
    roof and the outer slope across the corner), both planes fit, and single pixels or diagonal chains
    of the far plane's face appear inside the other face. Left in, they would make that line a boundary.
    """
    lab = seg.face_labels
    stray = (lab > 0) & (part_sizes(lab) < min_pixels)
    if not stray.any():
        return seg
    return RoofSegmentation(np.where(stray, 0, lab).astype(lab.dtype), seg.faces)

