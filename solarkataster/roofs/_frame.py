"""Building pixels in per-building local coordinates, and the face table of a labelled segmentation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._kernels.roofs import group_minima
from ..surface import normal_to_tilt_azimuth
from ._planes import moment_sums, planes_from_moments, robust_planes, squared_residuals, upward_normals


@dataclass
class Frame:
    """Building pixels of a raster in per-building local coordinates (see :func:`building_frame`)."""

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


def building_frame(z, cellsize, building_labels):
    inside = (building_labels > 0) & np.isfinite(z)
    if not inside.any():
        return None
    rr, cc = np.nonzero(inside)
    lab = building_labels[rr, cc].astype(np.int64)
    ids = np.concatenate([[0], np.unique(lab)])
    bi = (np.searchsorted(ids, lab) - 1).astype(np.int32)
    bidx = np.full(inside.shape, -1, np.int32)
    bidx[rr, cc] = bi
    n_bld = len(ids) - 1
    row0, col0, zref = group_minima(rr, cc, z[rr, cc], bi, n_bld)
    x = (cc - col0[bi]) * cellsize
    y = (row0[bi] - rr) * cellsize
    return Frame(inside, bidx, ids, rr, cc, bi, row0, col0, zref, x, y, z[rr, cc] - zref[bi])


def degenerate_faces(fr, lab, n_faces, cellsize, min_spread=0.75):
    """Faces whose pixels define no plane: on a line, or strips under about 3 px wide (ridge or eave lines)."""
    mom = moment_sums(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), n_faces)
    bad = ~np.isfinite(planes_from_moments(mom)[:, 0])
    nn_ = np.maximum(mom["n"], 1.0)
    cxx = mom["sxx"] / nn_ - (mom["sx"] / nn_) ** 2
    cyy = mom["syy"] / nn_ - (mom["sy"] / nn_) ** 2
    cxy = mom["sxy"] / nn_ - mom["sx"] * mom["sy"] / nn_ ** 2
    lam_min = 0.5 * (cxx + cyy) - np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy ** 2)
    return bad | (np.sqrt(np.maximum(lam_min, 0.0)) < min_spread * cellsize)


def face_table(fr, lab, m_faces, cellsize, noise_floor):
    coef, _ = robust_planes(lab, fr.x, fr.y, fr.zl, m_faces, noise_floor)
    m = moment_sums(lab, fr.x, fr.y, fr.zl, np.ones_like(fr.x), m_faces)
    coef = coef[1:]
    sse = squared_residuals({k: v[1:] for k, v in m.items()}, coef)
    n_px = m["n"][1:]
    nrm = upward_normals(coef)
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

