"""Plane fits of labelled pixels: moment sums, least squares, robust (IRLS, trimmed) fits, plane heights."""
from __future__ import annotations

import numpy as np

from .._kernels.roofs import lower_medians
from .._kernels.roofs import moment_sums as _moment_sums


def moment_sums(lab, x, y, zl, w, n_labels):
    """Weighted moment sums per label (index 0 unused)."""
    lab = np.ascontiguousarray(lab)
    n_labels = max(int(n_labels), int(lab.max()) if len(lab) else 0)  # np.bincount's length
    sums = _moment_sums(lab, np.ascontiguousarray(x, dtype=np.float64),
                        np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(zl, dtype=np.float64),
                        np.ascontiguousarray(w, dtype=np.float64), n_labels)
    return dict(zip(("sxx", "sxy", "syy", "sx", "sy", "n", "sxz", "syz", "sz", "szz"), sums))


def planes_from_moments(m):
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


def squared_residuals(m, coef):
    """Sum of squared vertical residuals of each label's pixels from planes ``coef`` (a, b, c)."""
    a, b, c = coef[:, 0], coef[:, 1], coef[:, 2]
    sse = (m["szz"] - 2 * (a * m["sxz"] + b * m["syz"] + c * m["sz"])
           + a * a * m["sxx"] + b * b * m["syy"] + c * c * m["n"]
           + 2 * (a * b * m["sxy"] + a * c * m["sx"] + b * c * m["sy"]))
    return np.maximum(sse, 0.0)


def upward_normals(coef):
    nrm = np.sqrt(coef[:, 0] ** 2 + coef[:, 1] ** 2 + 1.0)
    return np.stack([-coef[:, 0] / nrm, -coef[:, 1] / nrm, 1.0 / nrm], axis=1)


def _by_label(lab, n_labels):
    """Return the indices grouped by label (stable), and each label's start and count in that order."""
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=n_labels + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts, counts


def robust_planes(lab, x, y, zl, n_faces, noise_floor, iterations=4):
    """Per-label planes by IRLS with Tukey's biweight (c = 4.685 robust sigma)."""
    w = np.ones_like(x)
    order, starts, counts = _by_label(lab, n_faces)
    for it in range(iterations + 1):
        m = moment_sums(lab, x, y, zl, w, n_faces)
        coef = planes_from_moments(m)
        if it == iterations:
            break
        good = np.isfinite(coef[lab, 0])
        res = np.where(good, zl - (coef[lab, 0] * x + coef[lab, 1] * y + coef[lab, 2]), 0.0)
        absr = np.abs(res)
        # robust sigma per label: 1.4826 * (lower) median absolute residual
        med = lower_medians(absr, order, starts, counts)
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


def raster_planes(faces, n):
    """Plane coefficients ``z = a x + b y + c`` per face id (row 0 unused), x/y of :class:`RoofSegmentation`."""
    coef = np.zeros((n + 1, 3))
    f = faces["face"].to_numpy()
    nu = faces["normal_u"].to_numpy()
    coef[f, 0] = -faces["normal_e"].to_numpy() / nu
    coef[f, 1] = -faces["normal_n"].to_numpy() / nu
    coef[f, 2] = faces["offset"].to_numpy() / nu
    return coef


def plane_height(coef, face, rows, cols, cellsize):
    return (coef[face, 0] * (cols + 0.5) * cellsize - coef[face, 1] * (rows + 0.5) * cellsize + coef[face, 2])


def trimmed_planes(group, fr, k, distance_tolerance, rounds=4):
    """Planes per group by trimmed least squares: refit on the half of the pixels closest to the last plane.

    Unlike reweighting, this recovers a plane that only about half of its group's pixels lie on (a mansard
    side with pixels of the corner next to it); the last fit uses the pixels within the tolerance.
    """
    w = np.ones_like(fr.x)
    coef = None
    order, starts, counts = _by_label(group, k)
    for it in range(rounds + 1):
        coef = planes_from_moments(moment_sums(group, fr.x, fr.y, fr.zl, w, k))
        cf = np.where(np.isfinite(coef), coef, 0.0)
        absr = np.abs(fr.zl - (cf[group, 0] * fr.x + cf[group, 1] * fr.y + cf[group, 2]))
        if it == rounds - 1:
            w = (absr * np.sqrt(1.0 / (cf[group, 0] ** 2 + cf[group, 1] ** 2 + 1.0)) <= distance_tolerance) * 1.0
            continue
        med = lower_medians(absr, order, starts, counts)
        w = (absr <= med[group]) * 1.0
    return coef

