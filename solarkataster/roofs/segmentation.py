"""Roof segmentation: planar segments of the surface model inside building footprints.

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

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from .._kernels.roofs import Planes, grow_regions, neighbour_pairs, pair_keys, reassign
from ..errors import ParameterError, check_range
from ..surface import surface_normals
from ._frame import building_frame, degenerate_faces, face_table
from ._planes import moment_sums, planes_from_moments, robust_planes, squared_residuals, upward_normals

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


def _merge_coplanar(face, pairs_i, pairs_j, x, y, zl, n_faces, cos_tol, noise_floor, max_rounds=50):
    """Merge adjacent regions of the same building whose union is one plane (greedy, best pairs first).

    The moment sums are additive: they are summed over the pixels once and then merged label by label,
    and the adjacency is kept as pairs of labels.
    """
    # pairs within one region or with an unlabelled pixel never merge anything
    adjacent = np.unique(pair_keys(face.astype(np.int64), pairs_i, pairs_j, n_faces + 1))
    fi, fj = adjacent // (n_faces + 1), adjacent % (n_faces + 1)
    root = np.arange(n_faces + 1)
    m = moment_sums(face, x, y, zl, np.ones_like(x), n_faces)
    for _ in range(max_rounds):
        la = root[fi]
        lb = root[fj]
        sel = (la > 0) & (lb > 0) & (la != lb)
        if not sel.any():
            break
        lo = np.minimum(la[sel], lb[sel]).astype(np.int64)
        hi = np.maximum(la[sel], lb[sel]).astype(np.int64)
        key = np.unique(lo * (n_faces + 1) + hi)
        lo = key // (n_faces + 1)
        hi = key % (n_faces + 1)
        coef = planes_from_moments(m)
        sse = squared_residuals(m, coef)
        mj = {k: v[lo] + v[hi] for k, v in m.items()}
        cj = planes_from_moments(mj)
        nrm = upward_normals(coef)
        cosang = np.einsum("ij,ij->i", nrm[lo], nrm[hi])
        # each part's residuals about the joint plane must stay close to its own fit's
        ml = {k: v[lo] for k, v in m.items()}
        mh = {k: v[hi] for k, v in m.items()}
        rms_lo = np.sqrt(squared_residuals(ml, cj) / ml["n"])
        rms_hi = np.sqrt(squared_residuals(mh, cj) / mh["n"])
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
        root = target[root]
        m = {k: np.bincount(target, weights=v, minlength=n_faces + 1) for k, v in m.items()}
    return root[face]


def _empty_faces():
    df = pd.DataFrame({c: pd.Series(dtype=("int64" if c in ("face", "building", "n_pixels") else "float64"))
                       for c in FACE_COLUMNS})
    return df


def _seeds_by_planarity(fr, normal):
    """Seed pixels, most planar first: pixels whose 3 x 3 neighbours all belong to their building.

    Edge normals are biased, and a ring of eave pixels at one height would otherwise pass for a flat face.
    """
    rows, cols = fr.inside.shape
    cnt = ndimage.uniform_filter(fr.inside.astype(float), 3, mode="constant")
    # squared length of the mean normal, components summed in order (normals are unit vectors or NaN)
    sq = np.zeros(fr.inside.shape)
    for k in range(3):
        sq += ndimage.uniform_filter(np.where(np.isnan(normal[k]), 0.0, normal[k]), 3, mode="constant") ** 2
    spread = 1.0 - np.sqrt(sq) / np.maximum(cnt, 1e-12)
    same = np.ones(fr.inside.shape, bool)
    padded = np.pad(fr.bidx, 1, constant_values=-1)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            same &= padded[1 + dr:rows + 1 + dr, 1 + dc:cols + 1 + dc] == fr.bidx
    seed_idx = np.flatnonzero(fr.inside & same & np.isfinite(normal[2]))
    return seed_idx[np.argsort(spread.ravel()[seed_idx], kind="stable")].astype(np.int64)


def _neighbour_pairs(fr):
    """Pairs of pixels (indices into the pixel list) up to 2 px apart in the same building."""
    pix = np.full(fr.inside.shape, -1, np.int64)
    pix[fr.rr, fr.cc] = np.arange(len(fr.rr))
    # (r, c) pairs with (r + dr, c + dc), dr >= 0; shift by shift, in raster order (kernel)
    shifts = np.array([(0, 1), (1, -1), (1, 0), (1, 1), (0, 2), (2, 0), (2, 2), (2, -2), (1, 2), (2, 1), (1, -2),
                       (2, -1)], np.int64)
    return neighbour_pairs(pix, fr.bi, shifts)


def _fit_planes(fr, lab, n_faces, noise_floor, robust):
    if robust:
        coef, _ = robust_planes(lab, fr.x, fr.y, fr.zl, n_faces, noise_floor)
    else:
        coef = planes_from_moments(moment_sums(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), n_faces))
    return np.where(np.isfinite(coef), coef, 0.0)


def _reassign_pixels(fr, z, lab, coef, cellsize, distance_tolerance, times):
    """Each pixel joins the nearest plane among the faces within two pixels (0 if none is close)."""
    planes = Planes(fr.row0, fr.col0, fr.zref, coef[:, 0].copy(), coef[:, 1].copy(), coef[:, 2].copy(),
                    np.sqrt(coef[:, 0] ** 2 + coef[:, 1] ** 2 + 1.0))
    face = np.zeros(z.shape, np.int32)
    face[fr.rr, fr.cc] = lab
    face = reassign(face, z, fr.bidx, planes, cellsize, distance_tolerance, 2, times)
    return face[fr.rr, fr.cc].astype(np.int64)


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
    small |= degenerate_faces(fr, lab, n_faces, cellsize)
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
    fr = building_frame(z, cellsize, building_labels)
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
    return RoofSegmentation(face_labels, face_table(fr, lab, m_faces, cellsize, noise_floor))


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
    from ..detection import label_polygons

    return label_polygons(face_labels, transform, simplify=simplify, clip=clip)

