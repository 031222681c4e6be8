"""Roof faces: planar segments of the surface model inside building footprints.

Each building's pixels are split into planar faces in five steps:

1. per-pixel normals from the 3 x 3 least-squares plane (:func:`solarkataster.surface.surface_normals`),
   computed from the building's own pixels only, plus a planarity score (spread of the normals in 3 x 3);
2. region growing from the most planar seeds: a neighbour joins when its normal is within
   ``angle_tolerance`` of the region's plane and its perpendicular distance to that plane is below
   ``distance_tolerance``; the plane is refitted by least squares as the region grows [1]_;
3. adjacent regions whose union is still one plane (similar normals, residuals of the joint fit close to
   those of the separate fits) are merged;
4. every pixel (including ridge, edge and unassigned ones) is reassigned to the nearest plane among the
   faces within two pixels, if that plane is within ``distance_tolerance``; this puts ridges and valleys
   where the planes intersect;
5. faces smaller than ``min_face_area`` are dropped (their pixels join an adjacent plane if they fit it,
   else get label 0), and the planes are refitted robustly by iteratively reweighted least squares with
   Tukey's biweight [2]_.

Superstructures smaller than ``min_face_area`` (chimneys, vents, small dormers) are therefore *excluded*
(label 0) rather than reported as tiny faces; larger dormers become faces of their own.

:func:`roof_faces` turns that segmentation into faces a city can publish: steep planes the growing
missed are added from the pixels no face explains, the roof is grown by its eaves overhangs beyond the
footprint, every roof pixel takes a face or an excluded class, and the boundaries between faces are drawn
as straight lines, the planes' intersection (ridge, hip, valley) or a fitted step edge, on a sub-pixel
partition that is polygonised, snapped onto those lines, simplified as a coverage and clipped to the
outline. Faces never overlap and, with the excluded parts, tile the outline. Its cost is one pass over
the 4 to 16 sub-pixels of every roof pixel plus polygon operations per face; on the Essen 1 km² tile
(1 m) it takes about twice the time of the segmentation alone (``benchmarks/bench_segmentation.py``).

References
----------
.. [1] Vosselman, G., Gorte, B. G. H., Sithole, G., & Rabbani, T. (2004). Recognising structure in laser
   scanner point clouds. International Archives of Photogrammetry, Remote Sensing and Spatial Information
   Sciences, 46(8), 33-38.
.. [2] Holland, P. W., & Welsch, R. E. (1977). Robust regression using iteratively reweighted
   least-squares. Communications in Statistics - Theory and Methods, 6(9), 813-827.
   https://doi.org/10.1080/03610927708827533
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from ._kernels.roofs import Planes, absorb, assign_subpixels, grow_regions, part_sizes, reassign
from .errors import ParameterError, check_range
from .surface import normal_to_tilt_azimuth, surface_normals

log = logging.getLogger(__name__)

#: Steepest face recovered [°]: mansard sides reach about 75°, steeper strips are walls.
MAX_FACE_TILT = 75.0

FACE_COLUMNS = ["face", "building", "n_pixels", "normal_e", "normal_n", "normal_u", "offset", "row_centroid",
                "col_centroid", "z_centroid", "tilt", "azimuth", "rmse", "area_horizontal", "area"]


@dataclass
class RoofSegmentation:
    """Result of :func:`segment_roofs`.

    Attributes
    ----------
    face_labels : ndarray of int32, shape (rows, cols)
        Face number 1..m of every pixel, 0 where no face (outside buildings, superstructures, no data).
    faces : pandas.DataFrame
        One row per face, in face order. Columns: ``face``, ``building`` (building label), ``n_pixels``,
        ``normal_e``, ``normal_n``, ``normal_u`` (upward unit normal of the robust plane fit),
        ``offset`` [m] (plane ``normal_e*x + normal_n*y + normal_u*z = offset`` with ``x = (col + 0.5) *
        cellsize`` east and ``y = -(row + 0.5) * cellsize`` north of the raster's upper-left corner; add the
        transform's origin to get map coordinates), ``row_centroid``, ``col_centroid`` [px] and
        ``z_centroid`` [m] (plane height at the pixel centroid), ``tilt`` [°], ``azimuth`` [°] (clockwise
        from north, 180 for exactly flat), ``rmse`` [m] (RMS vertical residual of the face's pixels),
        ``area_horizontal`` [m²] (``n_pixels * cellsize²``) and ``area`` [m²] (sloped area,
        ``area_horizontal / cos(tilt)``).
    """

    face_labels: np.ndarray
    faces: pd.DataFrame


# ------------------------------------------------------------------------------------- vectorised helpers
def _moments(lab, x, y, zl, w, n_labels):
    """Weighted moment sums per label (index 0 unused)."""
    def bc(v):
        return np.bincount(lab, weights=v, minlength=n_labels + 1)

    return dict(sxx=bc(w * x * x), sxy=bc(w * x * y), syy=bc(w * y * y), sx=bc(w * x), sy=bc(w * y),
                n=bc(w), sxz=bc(w * x * zl), syz=bc(w * y * zl), sz=bc(w * zl), szz=bc(w * zl * zl))


def _planes_from_moments(m):
    """Vectorised solution of the 3 x 3 normal equations; NaN where degenerate."""
    A = np.empty(m["n"].shape + (3, 3))
    for i, row in enumerate((("sxx", "sxy", "sx"), ("sxy", "syy", "sy"), ("sx", "sy", "n"))):
        for j, key in enumerate(row):
            A[:, i, j] = m[key]
    rhs = np.stack([m["sxz"], m["syz"], m["sz"]], axis=-1)
    det = np.linalg.det(A)
    scale = np.maximum(np.maximum(m["sxx"], m["syy"]), 1.0) ** 2 * np.maximum(m["n"], 1.0)
    ok = np.abs(det) > 1e-9 * scale
    A[~ok] = np.eye(3)
    coef = np.linalg.solve(A, rhs[..., None])[..., 0]
    coef[~ok] = np.nan
    return coef


def _sse(m, coef):
    """Sum of squared vertical residuals of each label's pixels from planes ``coef`` (a, b, c)."""
    a, b, c = coef[:, 0], coef[:, 1], coef[:, 2]
    sse = (m["szz"] - 2 * (a * m["sxz"] + b * m["syz"] + c * m["sz"])
           + a * a * m["sxx"] + b * b * m["syy"] + c * c * m["n"]
           + 2 * (a * b * m["sxy"] + a * c * m["sx"] + b * c * m["sy"]))
    return np.maximum(sse, 0.0)


def _upward_normal(coef):
    nrm = np.sqrt(coef[:, 0] ** 2 + coef[:, 1] ** 2 + 1.0)
    return np.stack([-coef[:, 0] / nrm, -coef[:, 1] / nrm, 1.0 / nrm], axis=1)


def _merge_coplanar(face, pairs_i, pairs_j, x, y, zl, n_faces, cos_tol, noise_floor, max_rounds=50):
    """Merge adjacent regions of the same building whose union is one plane (greedy, best pairs first)."""
    lab = face.copy()
    for _ in range(max_rounds):
        la = lab[pairs_i]
        lb = lab[pairs_j]
        sel = (la > 0) & (lb > 0) & (la != lb)
        if not sel.any():
            break
        lo = np.minimum(la[sel], lb[sel]).astype(np.int64)
        hi = np.maximum(la[sel], lb[sel]).astype(np.int64)
        key = np.unique(lo * (n_faces + 1) + hi)
        lo = key // (n_faces + 1)
        hi = key % (n_faces + 1)
        m = _moments(lab, x, y, zl, np.ones_like(x), n_faces)
        coef = _planes_from_moments(m)
        sse = _sse(m, coef)
        mj = {k: v[lo] + v[hi] for k, v in m.items()}
        cj = _planes_from_moments(mj)
        nrm = _upward_normal(coef)
        cosang = np.einsum("ij,ij->i", nrm[lo], nrm[hi])
        # each part's residuals about the joint plane must stay close to its own fit's
        ml = {k: v[lo] for k, v in m.items()}
        mh = {k: v[hi] for k, v in m.items()}
        rms_lo = np.sqrt(_sse(ml, cj) / ml["n"])
        rms_hi = np.sqrt(_sse(mh, cj) / mh["n"])
        own_lo = np.sqrt(sse[lo] / m["n"][lo])
        own_hi = np.sqrt(sse[hi] / m["n"][hi])
        ok = ((cosang >= cos_tol) & np.isfinite(cj[:, 0])
              & (rms_lo <= np.maximum(1.5 * own_lo, noise_floor))
              & (rms_hi <= np.maximum(1.5 * own_hi, noise_floor)))
        ok |= ~np.isfinite(coef[lo, 0]) & np.isfinite(cj[:, 0]) & (rms_lo <= noise_floor) & (rms_hi <= noise_floor)
        if not ok.any():
            break
        cost = (rms_lo + rms_hi)[ok]
        lo, hi = lo[ok], hi[ok]
        order = np.argsort(cost, kind="stable")
        target = np.arange(n_faces + 1)
        used = np.zeros(n_faces + 1, bool)
        for k in order:
            a, b = lo[k], hi[k]
            if used[a] or used[b]:
                continue
            used[a] = used[b] = True
            target[b] = a
        lab = target[lab]
    return lab


def _robust_planes(lab, x, y, zl, n_faces, noise_floor, iterations=4):
    """Per-label planes by IRLS with Tukey's biweight (c = 4.685 robust sigma)."""
    w = np.ones_like(x)
    for it in range(iterations + 1):
        m = _moments(lab, x, y, zl, w, n_faces)
        coef = _planes_from_moments(m)
        if it == iterations:
            break
        good = np.isfinite(coef[lab, 0])
        res = np.where(good, zl - (coef[lab, 0] * x + coef[lab, 1] * y + coef[lab, 2]), 0.0)
        absr = np.abs(res)
        # robust sigma per label: 1.4826 * median absolute residual
        order = np.lexsort((absr, lab))
        counts = np.bincount(lab, minlength=n_faces + 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        mid = np.minimum(starts + np.maximum(counts - 1, 0) // 2, len(lab) - 1)
        med = absr[order][mid] if len(lab) else np.zeros(n_faces + 1)
        sigma = np.maximum(1.4826 * med, noise_floor)
        u = res / (4.685 * sigma[lab])
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if it == 0:
            coef_ls = coef
    if iterations > 0:
        # weights may leave too few points for a plane: fall back to least squares there
        bad = ~np.isfinite(coef[:, 0])
        coef[bad] = coef_ls[bad]
    return coef, m


def _empty_faces():
    df = pd.DataFrame({c: pd.Series(dtype=("int64" if c in ("face", "building", "n_pixels") else "float64"))
                       for c in FACE_COLUMNS})
    return df


@dataclass
class _Frame:
    """Building pixels of a raster in per-building local coordinates (see :func:`_building_frame`)."""

    inside: np.ndarray   # bool raster: pixel of a building with a valid height
    bidx: np.ndarray     # int32 raster: building index 0..n-1, -1 elsewhere
    ids: np.ndarray      # building label of each index + 1 (ids[0] = 0)
    rr: np.ndarray       # row of each building pixel (raster order)
    cc: np.ndarray       # column
    bi: np.ndarray       # building index of each building pixel
    row0: np.ndarray     # per building: local origin row, column and height
    col0: np.ndarray
    zref: np.ndarray
    x: np.ndarray        # local coordinates of each pixel [m]
    y: np.ndarray
    zl: np.ndarray


def _building_frame(z, cellsize, building_labels):
    inside = (building_labels > 0) & np.isfinite(z)
    if not inside.any():
        return None
    blab = np.where(inside, building_labels, 0).astype(np.int64)
    ids = np.concatenate([[0], np.unique(blab[inside])])
    bidx = (np.searchsorted(ids, blab) - 1).astype(np.int32)
    bidx[~inside] = -1
    n_bld = len(ids) - 1
    rr, cc = np.nonzero(inside)
    bi = bidx[rr, cc]
    row0 = ndimage.minimum(rr, bi, index=np.arange(n_bld)).astype(np.int64)
    col0 = ndimage.minimum(cc, bi, index=np.arange(n_bld)).astype(np.int64)
    zref = ndimage.minimum(z[rr, cc], bi, index=np.arange(n_bld)).astype(np.float64)
    x = (cc - col0[bi]) * cellsize
    y = (row0[bi] - rr) * cellsize
    return _Frame(inside, bidx, ids, rr, cc, bi, row0, col0, zref, x, y, z[rr, cc] - zref[bi])


def _seeds_by_planarity(fr, normal):
    """Seed pixels, most planar first: pixels whose 3 x 3 neighbours all belong to their building.

    Edge normals are biased, and a ring of eave pixels at one height would otherwise pass for a flat face.
    """
    rows, cols = fr.inside.shape
    nfin = np.nan_to_num(normal)
    cnt = ndimage.uniform_filter(fr.inside.astype(float), 3, mode="constant")
    mean_n = np.stack([ndimage.uniform_filter(nfin[k], 3, mode="constant") for k in range(3)])
    spread = 1.0 - np.sqrt((mean_n ** 2).sum(0)) / np.maximum(cnt, 1e-12)
    same = np.ones(fr.inside.shape, bool)
    padded = np.pad(fr.bidx, 1, constant_values=-1)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            same &= padded[1 + dr:rows + 1 + dr, 1 + dc:cols + 1 + dc] == fr.bidx
    seed_idx = np.flatnonzero(fr.inside & same & np.isfinite(normal[2]))
    return seed_idx[np.argsort(spread.ravel()[seed_idx], kind="stable")].astype(np.int64)


def _neighbour_pairs(fr):
    """Pairs of pixels (indices into the pixel list) up to 2 px apart in the same building."""
    rows, cols = fr.inside.shape
    pix = np.full(fr.inside.shape, -1, np.int64)
    pix[fr.rr, fr.cc] = np.arange(len(fr.rr))
    pi_list, pj_list = [], []
    for dr, dc in [(0, 1), (1, -1), (1, 0), (1, 1), (0, 2), (2, 0), (2, 2), (2, -2), (1, 2), (2, 1), (1, -2),
                   (2, -1)]:
        # dr >= 0 for every shift, so (r, c) pairs with (r + dr, c + dc)
        a = pix[:rows - dr, max(0, -dc):cols - max(0, dc)]
        b = pix[dr:, max(0, dc):cols - max(0, -dc)]
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        same = fr.bi[a] == fr.bi[b]
        pi_list.append(a[same])
        pj_list.append(b[same])
    return np.concatenate(pi_list), np.concatenate(pj_list)


def _fit_planes(fr, lab, n_faces, noise_floor, robust):
    if robust:
        coef, _ = _robust_planes(lab, fr.x, fr.y, fr.zl, n_faces, noise_floor)
    else:
        coef = _planes_from_moments(_moments(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), n_faces))
    return np.where(np.isfinite(coef), coef, 0.0)


def _reassign_pixels(fr, z, lab, coef, cellsize, distance_tolerance, times):
    """Each pixel joins the nearest plane among the faces within two pixels (0 if none is close)."""
    planes = Planes(fr.row0, fr.col0, fr.zref, coef[:, 0].copy(), coef[:, 1].copy(), coef[:, 2].copy(),
                    np.sqrt(coef[:, 0] ** 2 + coef[:, 1] ** 2 + 1.0))
    face = np.zeros(z.shape, np.int32)
    face[fr.rr, fr.cc] = lab
    for _ in range(times):
        face = reassign(face, z, fr.bidx, planes, cellsize, distance_tolerance, 2)
    return face[fr.rr, fr.cc].astype(np.int64)


def _degenerate_faces(fr, lab, n_faces, cellsize, min_spread=0.75):
    """Faces whose pixels define no plane: on a line, or strips under about 3 px wide (ridge or eave lines)."""
    mom = _moments(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), n_faces)
    bad = ~np.isfinite(_planes_from_moments(mom)[:, 0])
    nn_ = np.maximum(mom["n"], 1.0)
    cxx = mom["sxx"] / nn_ - (mom["sx"] / nn_) ** 2
    cyy = mom["syy"] / nn_ - (mom["sy"] / nn_) ** 2
    cxy = mom["sxy"] / nn_ - mom["sx"] * mom["sy"] / nn_ ** 2
    lam_min = 0.5 * (cxx + cyy) - np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy ** 2)
    return bad | (np.sqrt(np.maximum(lam_min, 0.0)) < min_spread * cellsize)


def _clean_faces(fr, z, lab, n_faces, pairs, cellsize, tol):
    """Reassign pixels to local planes, drop small and degenerate faces, merge coplanar ones (steps 4, 5)."""
    cos_tol, distance_tolerance, noise_floor, min_px = tol
    lab = _reassign_pixels(fr, z, lab, _fit_planes(fr, lab, n_faces, noise_floor, True), cellsize,
                           distance_tolerance, 3)
    counts = np.bincount(lab, minlength=n_faces + 1)
    small = counts < min_px
    small[0] = False
    lab[small[lab]] = 0
    coef = _fit_planes(fr, lab, n_faces, noise_floor, True)
    coef[small] = 0.0
    lab = _reassign_pixels(fr, z, lab, coef, cellsize, distance_tolerance, 2)
    lab = _merge_coplanar(lab, pairs[0], pairs[1], fr.x, fr.y, fr.zl, n_faces, cos_tol, noise_floor)
    small = np.bincount(lab, minlength=n_faces + 1) < min_px
    small |= _degenerate_faces(fr, lab, n_faces, cellsize)
    small[0] = False
    lab[small[lab]] = 0
    return lab


def _renumber(lab, n_faces):
    """Faces renumbered 1..m in raster order of their first pixel (the pixel list is in raster order)."""
    used, first = np.unique(lab, return_index=True)
    keep = used > 0
    used, first = used[keep], first[keep]
    order = used[np.argsort(first, kind="stable")]
    newid = np.zeros(n_faces + 1, np.int64)
    newid[order] = np.arange(1, len(order) + 1)
    return newid[lab], len(order)


def _face_table(fr, lab, m_faces, cellsize, noise_floor):
    coef, _ = _robust_planes(lab, fr.x, fr.y, fr.zl, m_faces, noise_floor)
    m = _moments(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), m_faces)
    coef = coef[1:]
    sse = _sse({k: v[1:] for k, v in m.items()}, coef)
    n_px = m["n"][1:]
    nrm = _upward_normal(coef)
    tilt, azimuth = normal_to_tilt_azimuth(nrm.T)
    fb = np.zeros(m_faces, np.int64)
    fb[lab[lab > 0] - 1] = fr.bi[lab > 0]
    r_c = np.bincount(lab, weights=fr.rr, minlength=m_faces + 1)[1:] / n_px
    c_c = np.bincount(lab, weights=fr.cc, minlength=m_faces + 1)[1:] / n_px
    xl = (c_c - fr.col0[fb]) * cellsize
    yl = (fr.row0[fb] - r_c) * cellsize
    z_c = coef[:, 0] * xl + coef[:, 1] * yl + coef[:, 2] + fr.zref[fb]
    xg = (c_c + 0.5) * cellsize
    yg = -(r_c + 0.5) * cellsize
    area_h = n_px * cellsize ** 2
    return pd.DataFrame({
        "face": np.arange(1, m_faces + 1, dtype=np.int64),
        "building": fr.ids[fb + 1].astype(np.int64),
        "n_pixels": n_px.astype(np.int64),
        "normal_e": nrm[:, 0], "normal_n": nrm[:, 1], "normal_u": nrm[:, 2],
        "offset": nrm[:, 0] * xg + nrm[:, 1] * yg + nrm[:, 2] * z_c,
        "row_centroid": r_c, "col_centroid": c_c, "z_centroid": z_c,
        "tilt": tilt, "azimuth": azimuth,
        "rmse": np.sqrt(sse / n_px),
        "area_horizontal": area_h,
        "area": area_h / nrm[:, 2],
    })


# -------------------------------------------------------------------------------------------- public API
def segment_roofs(z, cellsize, building_labels, *, min_face_area=3.0, angle_tolerance=10.0,
                  distance_tolerance=0.15):
    """Split the roofs of labelled buildings into planar faces.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing. Row 0 is north.
    cellsize : float
        Pixel size [m].
    building_labels : ndarray of int, shape (rows, cols)
        Building label of every pixel, 0 outside buildings (e.g. from
        :func:`solarkataster.detection.detect_buildings` or rasterised footprints).
    min_face_area : float
        Smallest face kept [m², horizontal]; smaller planar patches (chimneys, vents, small dormers) are
        merged into a neighbouring plane they fit, else excluded (label 0).
    angle_tolerance : float
        Largest angle between a pixel's normal and its face's plane while growing, and between the planes of
        two adjacent regions that are merged [°].
    distance_tolerance : float
        Largest perpendicular distance of a pixel from its face's plane [m]; should be about three times the
        height noise of the DSM.

    Returns
    -------
    RoofSegmentation
        Face labels (0 = none; numbered 1..m in raster order of each face's first pixel) and the table of
        faces (see :class:`RoofSegmentation`).

    Notes
    -----
    Pixels of different buildings never share a face. Buildings without valid pixels yield no faces.
    :func:`roof_faces` builds publishable face polygons over the whole roof on top of this segmentation.
    """
    cellsize = check_range("cellsize", cellsize, 0.0, 1e4, " m", inclusive=False)
    min_face_area = check_range("min_face_area", min_face_area, 0.0, 1e6, " m²")
    angle_tolerance = check_range("angle_tolerance", angle_tolerance, 0.0, 90.0, "°", inclusive=False)
    distance_tolerance = check_range("distance_tolerance", distance_tolerance, 0.0, 100.0, " m", inclusive=False)
    z = np.asarray(z, dtype=np.float64)
    building_labels = np.asarray(building_labels)
    if z.ndim != 2 or building_labels.shape != z.shape:
        raise ParameterError(f"building_labels shape {building_labels.shape} must equal the DSM's {z.shape}")
    empty = RoofSegmentation(np.zeros(z.shape, np.int32), _empty_faces())
    fr = _building_frame(z, cellsize, building_labels)
    if fr is None:
        return empty
    # 1. normals from the building's own pixels; every pixel may seed, the most planar first
    zb = np.where(fr.inside, z, np.nan)
    normal = surface_normals(zb, cellsize)
    cos_tol = np.cos(np.radians(angle_tolerance))
    min_px = max(int(np.ceil(min_face_area / cellsize ** 2)), 3)
    # 2. region growing (numba); seeds that cannot grow to min_face_area are released
    face, n_faces = grow_regions(zb, normal[0], normal[1], normal[2], fr.bidx, _seeds_by_planarity(fr, normal),
                                 cellsize, cos_tol, distance_tolerance, min_px)
    log.debug("region growing: %d regions in %d buildings", n_faces, len(fr.ids) - 1)
    if n_faces == 0:
        return empty
    # 3. merge coplanar neighbours; 4-5. reassign to local planes, drop small faces
    pairs = _neighbour_pairs(fr)
    noise_floor = distance_tolerance / 3.0
    lab = _merge_coplanar(face[fr.rr, fr.cc].astype(np.int64), pairs[0], pairs[1], fr.x, fr.y, fr.zl, n_faces,
                          cos_tol, noise_floor)
    lab = _clean_faces(fr, z, lab, n_faces, pairs, cellsize, (cos_tol, distance_tolerance, noise_floor, min_px))
    lab, m_faces = _renumber(lab, n_faces)
    if m_faces == 0:
        return empty
    face_labels = np.zeros(z.shape, np.int32)
    face_labels[fr.rr, fr.cc] = lab
    return RoofSegmentation(face_labels, _face_table(fr, lab, m_faces, cellsize, noise_floor))


def face_polygons(face_labels, transform, *, clip=None, simplify=None):
    """Polygons of roof faces in map coordinates.

    Parameters
    ----------
    face_labels : ndarray of int, shape (rows, cols)
        Face labels, 0 = none (:attr:`RoofSegmentation.face_labels`).
    transform : affine.Affine
        Pixel-to-map transform of the raster.
    clip : dict or callable, optional
        Footprint to clip each face to: ``{face: Polygon}`` or ``f(face) -> Polygon`` (None = no clip).
    simplify : float, optional
        Douglas-Peucker tolerance [m]; default one pixel, which removes the pixel staircase. 0 keeps it.

    Returns
    -------
    dict of int to shapely Polygon or MultiPolygon
        Valid, non-empty polygons with holes; faces that vanish after clipping are left out.
    """
    from .detection import label_polygons

    return label_polygons(face_labels, transform, simplify=simplify, clip=clip)


# ------------------------------------------------------------------------------------- publishable faces
@dataclass(frozen=True)
class RoofOptions:
    """Options of :func:`roof_faces`.

    Attributes
    ----------
    min_face_area : float
        Smallest face [m², horizontal] of the segmentation (:func:`segment_roofs`).
    angle_tolerance : float
        Angle tolerance of the segmentation [°].
    distance_tolerance : float
        Distance of a pixel from its face's plane up to which the plane explains it [m]; about three times
        the height noise of the DSM.
    max_overhang : float
        Widest eaves overhang beyond a footprint [m]: pixels outside the footprint that continue a face's
        plane up to this distance are roof.
    min_part_area : float
        Smallest part of a face polygon [m²]; smaller parts, and secondary parts under ``min_face_area``,
        join the adjacent face of the same building with the longest shared boundary, or are dropped.
    min_excluded_area : float
        Smallest superstructure (chimney, dormer too small to be a face, installation) kept as an excluded
        part of the roof [m²]; smaller misfits belong to the face around them.
    subcell : float
        Target size of the sub-pixels on which face boundaries are drawn [m] (2 to 4 per pixel side).
    simplify : float or None
        Tolerance of the topological simplification of the face polygons [m]; None = the larger of 1.5
        sub-pixels and 0.75 pixel.
    """

    min_face_area: float = 3.0
    angle_tolerance: float = 10.0
    distance_tolerance: float = 0.15
    max_overhang: float = 1.5
    min_part_area: float = 1.0
    min_excluded_area: float = 1.0
    subcell: float = 0.5
    simplify: float | None = None


@dataclass
class RoofFaces:
    """Result of :func:`roof_faces`: roof faces as clean polygons, and the roofs they tile.

    Attributes
    ----------
    faces : geopandas.GeoDataFrame
        One row per face (no CRS set; coordinates are the transform's). Columns: ``face`` (id, as in
        ``face_labels``), ``building`` (building label), ``tilt`` [°], ``azimuth`` [°] (clockwise from
        north, 180 when flat), ``normal_e``, ``normal_n``, ``normal_u`` (upward unit normal) and ``offset``
        [m] of the plane ``normal_e X + normal_n Y + normal_u z = offset`` in map coordinates,
        ``area_horizontal`` [m²] (plan area of the polygon), ``area`` [m²] (sloped,
        ``area_horizontal / normal_u``), ``n_pixels`` (pixels of ``face_labels``), ``plane_rmse`` [m] (RMS
        vertical residual of the pixels the plane explains), ``plane_share`` [0-1] (share of the face's
        pixels within ``distance_tolerance`` of the plane; NaN for a face without a pixel centre inside),
        ``source`` (``'lidar'``) and ``geometry`` (Polygon, MultiPolygon only where the face really has
        several parts of at least ``min_part_area``).
    buildings : geopandas.GeoDataFrame
        One row per building with faces or roof pixels: ``building`` (label), ``footprint_area`` [m²] (the
        footprint given, else the detected outline), ``roof_area`` [m²] (plan area of the roof outline,
        overhangs included), ``excluded_area`` [m²], ``n_faces``, ``geometry`` (roof outline) and
        ``excluded`` (the outline minus its faces: superstructures and unexplained parts; faces and excluded
        parts tile the outline).
    face_labels : ndarray of int32
        Face id of every pixel whose centre lies in the face polygon (overhangs included), 0 elsewhere.
    transform : affine.Affine
        The raster's transform.
    """

    faces: object
    buildings: object
    face_labels: np.ndarray
    transform: object


def _raster_planes(faces, n):
    """Plane coefficients ``z = a x + b y + c`` per face id (row 0 unused), x/y of :class:`RoofSegmentation`."""
    coef = np.zeros((n + 1, 3))
    f = faces["face"].to_numpy()
    nu = faces["normal_u"].to_numpy()
    coef[f, 0] = -faces["normal_e"].to_numpy() / nu
    coef[f, 1] = -faces["normal_n"].to_numpy() / nu
    coef[f, 2] = faces["offset"].to_numpy() / nu
    return coef


def _plane_height(coef, face, rows, cols, cellsize):
    return (coef[face, 0] * (cols + 0.5) * cellsize - coef[face, 1] * (rows + 0.5) * cellsize + coef[face, 2])


def _nearest_any_face(face_labels):
    _, (ir, ic) = ndimage.distance_transform_edt(face_labels == 0, return_indices=True)
    return face_labels[ir, ic]


def _nearest_face(face_labels, face_building, roof, near=None):
    """Face of every roof pixel: the nearest face pixel of the same building (0 where the building has none).

    ``near`` is the nearest face of any building (:func:`_nearest_any_face`), if already known.
    """
    if near is None:
        near = _nearest_any_face(face_labels)
    bad = (roof > 0) & (face_building[near] != roof)
    if not bad.any():
        return np.where(roof > 0, near, 0)
    # another building's face was nearer: take the face of a neighbour of the same building, repeatedly
    out = np.where(bad | (roof <= 0), 0, near).astype(np.int32)
    return absorb(out, bad, roof.astype(np.int32), max(roof.shape)).astype(near.dtype)


def _overhang(z, ground, building_labels, near, coef, face_building, cellsize, opts):
    """Roof pixels outside the building labels that continue a face's plane (eaves overhangs)."""
    rings = int(np.floor(opts.max_overhang / cellsize + 0.5))
    roof = building_labels.astype(np.int32).copy()
    if rings <= 0 or not (near > 0).any():
        return roof
    dist, (ir, ic) = ndimage.distance_transform_edt(building_labels == 0, return_indices=True)
    owner = building_labels[ir, ic]
    rows, cols = np.indices(z.shape)
    nu = 1.0 / np.sqrt(coef[near, 0] ** 2 + coef[near, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        fits = np.abs(z - _plane_height(coef, near, rows, cols, cellsize)) * nu <= opts.distance_tolerance
        if ground is not None:
            fits &= (z - ground) >= 1.0
    cand = (building_labels == 0) & (dist <= rings) & (near > 0) & (face_building[near] == owner) & fits
    grown = building_labels > 0
    for _ in range(rings):
        ring = ndimage.binary_dilation(grown, structure=np.ones((3, 3), bool)) & cand & ~grown
        if not ring.any():
            break
        grown |= ring
    over = grown & (building_labels == 0)
    roof[over] = owner[over]
    return roof


def _excluded_pixels(z, roof, face_labels, filled, coef, cellsize, opts, below=True):
    """Excluded: unassigned roof pixels above the plane around them or far below it, in blobs of 2 x 2 px."""
    rows, cols = np.indices(z.shape)
    with np.errstate(invalid="ignore"):
        # above the plane: chimneys, dormers, installations; with ``below``, a metre below it: no roof
        # (ground, courtyard, a footprint beyond the roof); pixels just below it are mostly mixed eave pixels
        dz = z - _plane_height(coef, filled, rows, cols, cellsize)
        off = (dz > 2 * opts.distance_tolerance) | ((dz < -1.0) if below else False)
    cand = (roof > 0) & (face_labels == 0) & (filled > 0) & (off | ~np.isfinite(z))
    # a superstructure is at least 2 x 2 pixels: lines of mixed pixels along eaves and steps are not
    cand = ndimage.binary_opening(cand, structure=np.ones((2, 2), bool))
    lab, n = ndimage.label(cand)
    if n == 0:
        return cand
    big = np.bincount(lab.ravel(), minlength=n + 1) * cellsize ** 2 >= opts.min_excluded_area
    big[0] = False
    return big[lab]


def _boundary_pixels(filled, face_building):
    """Pairs of 4-adjacent pixels of different faces of one building: (lo, hi, r_lo, c_lo, r_hi, c_hi)."""
    out = []
    for dr, dc in ((0, 1), (1, 0)):
        a = filled[:filled.shape[0] - dr, :filled.shape[1] - dc]
        b = filled[dr:, dc:]
        ok = (a > 0) & (b > 0) & (a != b)
        ok &= face_building[np.maximum(a, 0)] == face_building[np.maximum(b, 0)]
        r, c = np.nonzero(ok)
        fa, fb = a[r, c], b[r, c]
        swap = fa > fb
        lo, hi = np.where(swap, fb, fa), np.where(swap, fa, fb)
        r_lo, c_lo = np.where(swap, r + dr, r), np.where(swap, c + dc, c)
        r_hi, c_hi = np.where(swap, r, r + dr), np.where(swap, c, c + dc)
        out.append((lo, hi, r_lo, c_lo, r_hi, c_hi))
    return [np.concatenate(v) for v in zip(*out)]


def _boundary_rules(filled, face_building, coef, cellsize):
    """Straight boundary of each pair of adjacent faces: their planes' intersection, else a fitted step line.

    Returns sorted keys ``lo * (m + 1) + hi`` and rules ``(k, 3)``: ``g = r0 x + r1 y + r2`` is positive
    on lo's side (x, y as in :class:`RoofSegmentation`).
    """
    m1 = len(face_building)
    lo, hi, r_lo, c_lo, r_hi, c_hi = _boundary_pixels(filled, face_building)
    if len(lo) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 3))
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
    ridge = np.sqrt(mean(dist ** 2)) <= 2 * cellsize
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
    return keys[keep], np.ascontiguousarray(rules[keep])


def _absorb_small_parts(fine, fine_building, min_cells):
    """Give connected parts of a face under ``min_cells`` sub-pixels to the adjacent faces of their building."""
    small = (fine > 0) & (part_sizes(fine) < min_cells)
    if not small.any():
        return fine
    return absorb(fine, small, fine_building, int(np.sqrt(min_cells)) + 2)


def _fine_buildings(outlines, shape, fine_transform):
    """Label sub-pixels by building (-1 none): inside an outline, touched by it, or up to two cells outside."""
    from rasterio import features

    shapes = [(g, int(b)) for b, g in outlines.items() if g is not None and not g.is_empty]
    if not shapes:
        return np.full(shape, -1, np.int32)
    centre = features.rasterize(shapes, out_shape=shape, transform=fine_transform, fill=-1, dtype="int32")
    touched = features.rasterize(shapes, out_shape=shape, transform=fine_transform, fill=-1, dtype="int32",
                                 all_touched=True)
    out = np.where(centre >= 0, centre, touched)
    # two more sub-pixels outside: ridges run past the outline and are cut exactly by it
    return np.where(out >= 0, out, ndimage.maximum_filter(out, size=5))


def _partition_polygons(fine, fine_transform, n_faces):
    """Polygon (or MultiPolygon) of every face id > 0 of the sub-pixel partition; None where absent."""
    import shapely
    from rasterio import features

    polys, values = [], []
    for geom, value in features.shapes(fine, mask=fine > 0, connectivity=4, transform=fine_transform):
        rings = [np.asarray(r) for r in geom["coordinates"]]
        holes = [shapely.linearrings(r) for r in rings[1:]]
        polys.append(shapely.polygons(shapely.linearrings(rings[0]), holes=holes or None))
        values.append(int(value))
    geoms = np.full(n_faces + 1, None, dtype=object)
    if not polys:
        return geoms
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    polys = np.asarray(polys, dtype=object)[order]
    ids, starts = np.unique(values[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for f, s, e in zip(ids, starts, ends):
        geoms[f] = polys[s] if e - s == 1 else shapely.MultiPolygon(list(polys[s:e]))
    return geoms


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
        if abs(cross) < 1e-6:
            verts += [p[i] + depth[j] * normal[j], a[i]]
            continue
        w = a[i] - a[j]
        s = (w[0] * u[i, 1] - w[1] * u[i, 0]) / cross
        verts.append(a[j] + s * u[j])
    grown = shapely.make_valid(Polygon(verts)).union(footprint)
    from .detection import polygonal

    grown = polygonal(grown)
    limit = footprint.area + footprint.length * max_overhang * 1.2
    return footprint if grown is None or grown.area > limit else grown


def _outlines(roof, building_labels, transform, footprints, opts):
    """Roof outline of every building: footprints grown by their overhangs, else the regularised roof pixels."""
    from .detection import building_polygons

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
        out[int(b)] = _offset_outline(fp, np.column_stack([xs[idx], ys[idx]]), cs, opts.max_overhang)
    return out


def _merge_small_parts(geoms, face_building, min_area, min_face_area):
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
    for k in np.flatnonzero(small):
        f = owner[k]
        same = np.array([j for j in np.flatnonzero(face_building == face_building[f])
                         if j != f and geoms[j] is not None], dtype=np.int64)
        if len(same) == 0:
            continue
        shared = shapely.length(shapely.intersection(parts[k].boundary, shapely.boundary(
            np.array(list(geoms[same]), dtype=object))))
        if shared.max() > 0:
            j = same[int(np.argmax(shared))]
            geoms[j] = _polygonal_union(geoms[j], parts[k])
    return geoms


def _fill_slivers(geoms, face_building, outlines, min_area):
    """Gaps between the faces and the outline under ``min_area`` join the face they share most boundary with."""
    import shapely

    present = np.flatnonzero([g is not None for g in geoms])
    gains: dict[int, list] = {}
    for b in np.unique(face_building[present]):
        outline = outlines.get(int(b))
        mine = present[face_building[present] == b]
        if outline is None or len(mine) == 0:
            continue
        faces = np.array(list(geoms[mine]), dtype=object)
        gaps = shapely.get_parts(outline.difference(_union(faces)))
        gaps = gaps[(shapely.area(gaps) > 1e-6) & (shapely.area(gaps) < min_area)]
        if len(gaps) == 0:
            continue
        shared = shapely.length(shapely.intersection(shapely.boundary(gaps)[:, None],
                                                     shapely.boundary(faces)[None, :]))
        for gap, row in zip(gaps, shared):
            if row.max() > 0:
                gains.setdefault(int(mine[int(np.argmax(row))]), []).append(gap)
    if gains:
        from .detection import polygonal

        targets = np.array(list(gains), dtype=np.int64)
        grown = shapely.union(np.array(list(geoms[targets]), dtype=object),
                              np.array([shapely.union_all(gains[f]) for f in targets], dtype=object))
        for f, g in zip(targets, grown):
            geoms[f] = polygonal(g)
    return geoms


def _tidy(geoms, width, face_building, outlines):
    """Remove slivers thinner than ``2 width`` [m] (mitred opening) and collinear vertices."""
    import shapely

    from .detection import polygonal

    present = np.flatnonzero([g is not None for g in geoms])
    if len(present):
        tidy = np.array(list(geoms[present]), dtype=object)
        if width > 0:
            opened = shapely.buffer(shapely.buffer(tidy, -width, join_style="mitre"), width, join_style="mitre")
            tidy = shapely.intersection(opened, tidy)  # a mitred corner may overshoot
            # a mitred corner may overshoot the outline by a hair
            clip = np.array([outlines.get(int(face_building[f])) for f in present], dtype=object)
            has = np.array([c is not None for c in clip])
            tidy[has] = shapely.intersection(tidy[has], clip[has])
        tidy = shapely.simplify(tidy, 1e-3)
        for f, g in zip(present, tidy):
            geoms[f] = polygonal(g)
    return geoms


def _resolve_overlaps(geoms, min_area):
    """Make the later of two overlapping faces give way (where a snapped vertex fell back).

    Parts under ``min_area`` that this leaves are dropped.
    """
    import shapely

    from .detection import polygonal

    present = np.flatnonzero([g is not None for g in geoms])
    if len(present) < 2:
        return geoms
    arr = np.array(list(geoms[present]), dtype=object)
    left, right = shapely.STRtree(arr).query(arr, predicate="overlaps")
    for i, j in zip(left, right):
        if i >= j or geoms[present[i]] is None or geoms[present[j]] is None:
            continue
        rest = polygonal(geoms[present[j]].difference(geoms[present[i]]))
        if rest is not None:
            parts = [p for p in shapely.get_parts(rest) if p.area >= min_area]
            rest = None if not parts else (parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
        geoms[present[j]] = rest
    return geoms


def _union(faces):
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
    from .detection import polygonal

    return polygonal(a.union(b).buffer(0))


def _face_stats(z, face_labels, coef, n, cellsize, distance_tolerance):
    """Pixels, plane share and inlier RMS residual per face id (index 0 unused)."""
    rows, cols = np.nonzero(face_labels)
    f = face_labels[rows, cols]
    dz = z[rows, cols] - _plane_height(coef, f, rows, cols, cellsize)
    nu = 1.0 / np.sqrt(coef[f, 0] ** 2 + coef[f, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        inlier = np.abs(dz) * nu <= distance_tolerance
    npx = np.bincount(f, minlength=n + 1).astype(float)
    nin = np.bincount(f, weights=inlier, minlength=n + 1)
    sse = np.bincount(f, weights=np.where(inlier, dz, 0.0) ** 2, minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return npx, nin / npx, np.sqrt(sse / nin)


def _tables(seg, geoms, outlines, footprints, face_labels, z, coef, transform, opts):
    import geopandas as gpd
    import shapely

    cs = float(transform.a)
    n = len(geoms) - 1
    npx, share, rmse = _face_stats(z, face_labels, coef, n, cs, opts.distance_tolerance)
    f = seg.faces[[g is not None for g in geoms[seg.faces["face"].to_numpy()]]].copy()
    ids = f["face"].to_numpy()
    poly = list(geoms[ids])
    # plane offset in map coordinates: X = x + transform.c, Y = y + transform.f
    f["offset"] = f["offset"] + f["normal_e"] * transform.c + f["normal_n"] * transform.f
    f["area_horizontal"] = shapely.area(np.array(poly, dtype=object))
    f["area"] = f["area_horizontal"] / f["normal_u"]
    f["n_pixels"] = npx[ids].astype(np.int64)
    f["plane_rmse"] = rmse[ids]
    f["plane_share"] = share[ids]
    f["source"] = "lidar"
    faces = gpd.GeoDataFrame(f[FACE_LAYER_COLUMNS].reset_index(drop=True), geometry=poly)
    recs, outl, excl = [], [], []
    by_b = {b: list(g.geometry) for b, g in faces.groupby("building")} if len(faces) else {}
    for b, outline in sorted(outlines.items()):
        if outline is None or outline.is_empty:
            continue
        covered = _union(by_b[b]) if b in by_b else shapely.Polygon()
        rest = outline.difference(covered) if not covered.is_empty else outline
        fp = footprints.get(b) if footprints is not None else None
        recs.append(dict(building=b, footprint_area=float((fp if fp is not None else outline).area),
                         roof_area=float(outline.area), excluded_area=float(rest.area),
                         n_faces=len(by_b.get(b, []))))
        outl.append(outline)
        excl.append(rest)
    buildings = gpd.GeoDataFrame(recs, columns=BUILDING_LAYER_COLUMNS, geometry=outl)
    buildings["excluded"] = gpd.GeoSeries(excl, index=buildings.index)
    return faces, buildings


FACE_LAYER_COLUMNS = ["face", "building", "tilt", "azimuth", "normal_e", "normal_n", "normal_u", "offset",
                      "area_horizontal", "area", "n_pixels", "plane_rmse", "plane_share", "source"]
BUILDING_LAYER_COLUMNS = ["building", "footprint_area", "roof_area", "excluded_area", "n_faces"]


def _empty_roof_faces(shape, transform):
    import geopandas as gpd

    faces = gpd.GeoDataFrame({c: [] for c in FACE_LAYER_COLUMNS}, geometry=[])
    buildings = gpd.GeoDataFrame({c: [] for c in BUILDING_LAYER_COLUMNS}, geometry=[])
    buildings["excluded"] = gpd.GeoSeries([], index=buildings.index)
    return RoofFaces(faces, buildings, np.zeros(shape, np.int32), transform)


def _raised_ring(z, ground, building_labels, cellsize, max_overhang):
    """Grow building labels by up to ``max_overhang`` over raised pixels (roof, not ground).

    Raised: at least 1 m above ``ground``, or without a ground model, above the lowest height within 10 m.
    """
    rings = int(np.floor(max_overhang / cellsize + 0.5))
    if rings <= 0 or not (building_labels > 0).any():
        return building_labels
    dist, (ir, ic) = ndimage.distance_transform_edt(building_labels == 0, return_indices=True)
    owner = building_labels[ir, ic]
    if ground is None:
        # the ground shows within a few metres of a wall: the lowest height within 10 m stands in for it
        size = 2 * int(np.ceil(10.0 / cellsize)) + 1
        ground = ndimage.minimum_filter(np.where(np.isfinite(z), z, np.inf), size=size, mode="nearest")
    with np.errstate(invalid="ignore"):
        raised = (z - ground) >= 1.0
    cand = (building_labels == 0) & (dist <= rings) & raised
    grown = building_labels > 0
    for _ in range(rings):
        ring = ndimage.binary_dilation(grown, structure=np.ones((3, 3), bool)) & cand & ~grown
        if not ring.any():
            break
        grown |= ring
    return np.where(grown, owner, 0)


def _trimmed_planes(group, fr, k, distance_tolerance, rounds=4):
    """Planes per group by trimmed least squares: refit on the half of the pixels closest to the last plane.

    Unlike reweighting, this recovers a plane that only about half of its group's pixels lie on (a mansard
    side with pixels of the corner next to it); the last fit uses the pixels within the tolerance.
    """
    w = np.ones_like(fr.x)
    coef = None
    for it in range(rounds + 1):
        coef = _planes_from_moments(_moments(group, fr.x, fr.y, fr.zl, w, k))
        cf = np.where(np.isfinite(coef), coef, 0.0)
        absr = np.abs(fr.zl - (cf[group, 0] * fr.x + cf[group, 1] * fr.y + cf[group, 2]))
        if it == rounds - 1:
            w = (absr * np.sqrt(1.0 / (cf[group, 0] ** 2 + cf[group, 1] ** 2 + 1.0)) <= distance_tolerance) * 1.0
            continue
        order = np.lexsort((absr, group))
        counts = np.bincount(group, minlength=k + 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        med = absr[order][np.minimum(starts + np.maximum(counts - 1, 0) // 2, len(group) - 1)]
        w = (absr <= med[group]) * 1.0
    return coef


def _connected(fr, group, k, shape, share=0.9):
    """Per group 0..k: its pixels (``group > 0``) form one 4-connected part holding ``share`` of them."""
    raster = np.zeros(shape, np.int32)
    raster[fr.rr, fr.cc] = group
    size = part_sizes(raster)[fr.rr, fr.cc]
    largest = np.zeros(k + 1, np.int64)
    np.maximum.at(largest, group, size)
    return largest >= share * np.bincount(group, minlength=k + 1)


def _add_misfit_planes(z, cellsize, building_labels, seg, opts):
    """Planes of unassigned pixels that the faces next to them do not explain (steep mansard sides).

    The unassigned pixels of each building that lie off the plane of their nearest face are grouped by
    connectivity and by that nearest face; the pixels of a group within ``distance_tolerance`` of its
    robust plane become a face if they cover ``min_face_area`` and are 2 pixels wide. Region growing misses
    such planes when they are 2-3 pixels wide in plan: their 3 x 3 normals straddle the edges.
    """
    fr = _building_frame(z, cellsize, building_labels)
    n = len(seg.faces)
    if fr is None or n == 0:
        return seg
    coef = _raster_planes(seg.faces, n)
    face_building = np.full(n + 1, -1, np.int64)
    face_building[seg.faces["face"].to_numpy()] = seg.faces["building"].to_numpy()
    filled = _nearest_face(seg.face_labels, face_building, np.where(fr.inside, building_labels, 0))
    rows, cols = np.indices(z.shape)
    nu = 1.0 / np.sqrt(coef[filled, 0] ** 2 + coef[filled, 1] ** 2 + 1.0)
    with np.errstate(invalid="ignore"):
        off = np.abs(z - _plane_height(coef, filled, rows, cols, cellsize)) * nu > opts.distance_tolerance
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
    gc = _trimmed_planes(group, fr, k, opts.distance_tolerance)
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
    ok &= ~_degenerate_faces(fr, group, k, cellsize, min_spread=0.5)
    ok[0] = False
    if not ok.any():
        return seg
    newid = np.zeros(k + 1, np.int64)
    newid[ok] = n + np.arange(1, ok.sum() + 1)
    added = np.where(newid[group] > 0, newid[group] - n, 0)
    table = _face_table(fr, added, int(ok.sum()), cellsize, opts.distance_tolerance / 3)
    table["face"] += n
    face_labels = seg.face_labels.copy()
    face_labels[fr.rr[added > 0], fr.cc[added > 0]] = added[added > 0] + n
    log.debug("%d planes added from unexplained pixels", ok.sum())
    return RoofSegmentation(face_labels, pd.concat([seg.faces, table], ignore_index=True))


def _drop_ridge_strips(seg, cellsize, max_tilt=10.0, min_neighbour_tilt=15.0):
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
    drop = _on_intersection(lab, sorted(pairs), _raster_planes(faces, n), cellsize)
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


def _drop_stray_pixels(seg, min_pixels):
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


def _as_mapping(footprints):
    if footprints is None:
        return None
    if isinstance(footprints, dict):
        return {int(k): v for k, v in footprints.items()}
    return {i + 1: g for i, g in enumerate(footprints)}


def roof_faces(z, transform, building_labels, footprints=None, ground=None, *, options=None):
    """Roof faces a city can publish: one clean polygon per plane, tiling each building's whole roof.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] (DSM), NaN where missing.
    transform : affine.Affine
        North-up transform with square pixels of the raster.
    building_labels : ndarray of int, shape (rows, cols)
        Building label of every pixel, 0 elsewhere (rasterised footprints, pixel centres, or
        :func:`solarkataster.detection.detect_buildings`).
    footprints : dict of int to Polygon, or sequence of Polygon, optional
        Footprint of each label (a sequence holds label ``i + 1`` at position ``i``). None: the outline is
        the regularised outline of the roof pixels (:func:`solarkataster.detection.building_polygons`).
    ground : ndarray, optional
        Terrain heights [m]; an overhang pixel must stand 1 m above it.
    options : RoofOptions, optional
        Tolerances; see :class:`RoofOptions`.

    Returns
    -------
    RoofFaces
        Faces with polygons, planes and quality flags, building outlines with excluded parts, and the face
        label raster for statistics over pixels.

    Notes
    -----
    1. :func:`segment_roofs` finds the planes.
    2. The roof is the building's pixels plus the pixels up to ``max_overhang`` outside it that continue
       the plane of the nearest face (eaves overhangs). With footprints, each footprint edge moves outward
       by the mean depth of the overhang pixels nearest to it; without, the roof pixels' outline is
       regularised. Every roof pixel takes the nearest face of its building, unless it belongs to a blob of
       at least ``min_excluded_area`` that no plane explains (superstructures, excluded).
    3. For every pair of adjacent faces the boundary is a straight line: the intersection of the two
       planes (ridge, hip, valley) where the pixel boundary runs along it, else the principal axis of the
       pixel boundary (a height step). Sub-pixels of about ``subcell`` take their pixel's face unless such
       a line hands them to a face within two pixels.
    4. The sub-pixel partition is polygonised, simplified as a coverage (shared edges stay shared, so
       faces never overlap; Visvalingam-Whyatt [3]_), clipped to the outline (eaves follow it), and parts
       under ``min_part_area`` join a neighbouring face.

    The partition costs one pass over ``(pixel size / subcell)²`` sub-pixels per roof pixel.

    References
    ----------
    .. [3] Visvalingam, M., & Whyatt, J. D. (1993). Line generalisation by repeated elimination of points.
       The Cartographic Journal, 30(1), 46-51. https://doi.org/10.1179/000870493786962263
    """
    opts = options if options is not None else RoofOptions()
    z = np.asarray(z, dtype=np.float64)
    cs = float(transform.a)
    if transform.b != 0 or transform.d != 0 or not np.isclose(-transform.e, cs) or cs <= 0:
        raise ParameterError(f"transform {tuple(transform)[:6]} must be north-up with square pixels")
    building_labels = np.asarray(building_labels)
    if z.ndim != 2 or building_labels.shape != z.shape:
        raise ParameterError(f"building_labels shape {building_labels.shape} must equal the DSM's {z.shape}")
    if ground is not None:
        ground = np.asarray(ground, dtype=np.float64)
    footprints = _as_mapping(footprints)
    seg = segment_roofs(z, cs, building_labels, min_face_area=opts.min_face_area,
                        angle_tolerance=opts.angle_tolerance, distance_tolerance=opts.distance_tolerance)
    seg = _add_misfit_planes(z, cs, _raised_ring(z, ground, building_labels, cs, opts.max_overhang), seg, opts)
    seg = _drop_ridge_strips(seg, cs)
    seg = _drop_stray_pixels(seg, opts.min_part_area / cs ** 2)
    n = int(seg.faces["face"].max()) if len(seg.faces) else 0
    if n == 0:
        return _empty_roof_faces(z.shape, transform)
    coef = _raster_planes(seg.faces, n)
    face_building = np.full(n + 1, -1, np.int64)
    face_building[seg.faces["face"].to_numpy()] = seg.faces["building"].to_numpy()
    near = _nearest_any_face(seg.face_labels)
    roof = _overhang(z, ground, building_labels, near, coef, face_building, cs, opts)
    outlines = _outlines(roof, building_labels, transform, footprints, opts)
    filled = _nearest_face(seg.face_labels, face_building, roof, near)
    # a footprint may reach beyond the roof; a detected outline is the roof, with mixed pixels at its edge
    filled[_excluded_pixels(z, roof, seg.face_labels, filled, coef, cs, opts, below=footprints is not None)] = -1
    geoms = _face_geometries(filled, face_building, coef, outlines, transform, opts)
    geoms = _merge_small_parts(geoms, face_building, opts.min_part_area, opts.min_face_area)
    geoms = _tidy(geoms, 0.05 * cs, face_building, outlines)
    geoms = _merge_small_parts(geoms, face_building, opts.min_part_area, opts.min_part_area)
    geoms = _fill_slivers(geoms, face_building, outlines, opts.min_excluded_area)
    geoms = _resolve_overlaps(geoms, opts.min_part_area)
    face_labels = _rasterise_faces(geoms, z.shape, transform)
    faces, buildings = _tables(seg, geoms, outlines, footprints, face_labels, z, coef, transform, opts)
    return RoofFaces(faces, buildings, face_labels, transform)


def _face_geometries(filled, face_building, coef, outlines, transform, opts):
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
    keys, rules = _boundary_rules(filled, face_building, coef, cs)
    fine = assign_subpixels(fine_b, filled.astype(np.int32), face_building.astype(np.int32), keys, rules,
                            factor, 2, cs)
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
    from .detection import polygonal

    for f, g in zip(present, clipped):
        geoms[f] = polygonal(g)
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


def _rasterise_faces(geoms, shape, transform):
    from rasterio import features

    shapes = [(g, int(f)) for f, g in enumerate(geoms) if g is not None]
    if not shapes:
        return np.zeros(shape, np.int32)
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")
