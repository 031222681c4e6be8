"""LAS/LAZ point clouds to surface (DSM) and terrain (DTM) rasters.

The DSM holds the highest return per cell, ignoring noise (ASPRS classes 7 "low point (noise)" and 18
"high noise") and withheld points [1]_. Empty cells inside small holes (default up to 1 m²) are filled from
their neighbours; larger holes stay NaN, since inventing a roof or a gap there would invent shade. The DTM
is the mean of the ground returns (class 2) per cell, with every empty cell interpolated linearly
(Delaunay triangulation of the cells bordering the holes, nearest value outside their hull), because
terrain under buildings has no returns by construction.

LAZ is read through laspy's lazrs backend.

References
----------
.. [1] ASPRS (2019). LAS Specification 1.4 - R15. American Society for Photogrammetry and Remote Sensing.
   https://www.asprs.org/wp-content/uploads/2019/07/LAS_1_4_r15.pdf
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ..errors import CRSError, InputError, ParameterError
from ..grid import Grid, check_projected, check_scale_factor, resolve_crs

log = logging.getLogger(__name__)

#: ASPRS classes never used for the surface: 7 low point (noise), 18 high noise.
NOISE_CLASSES = (7, 18)
GROUND_CLASS = 2
#: ASPRS classes 3-5: low, medium and high vegetation (the canopy with ``vegetation=True``).
VEGETATION_CLASSES = (3, 4, 5)
CHUNK_POINTS = 2_000_000


def read_las_header(path):
    """Read the header of a LAS/LAZ file (no points read)."""
    import laspy

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with laspy.open(path) as f:
            return f.header
    except Exception as exc:  # noqa: BLE001 - laspy raises several types
        raise InputError(f"{path}: not a readable LAS/LAZ file ({exc})") from None


def las_crs(header, path, crs=None):
    """Projected CRS of a LAS header (OGC WKT VLR or GeoTIFF keys), or the assigned one where it has none.

    Parameters
    ----------
    header : laspy.LasHeader
        The file's header.
    path : str or Path
        The file (named in messages).
    crs : str or CRS, optional
        CRS assigned to a file whose header declares none (many national tiles carry none). A header that
        declares one keeps it, and a different ``crs`` is an error. Where the header's CRS records cannot
        be parsed, the assigned CRS is used with a warning.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        The header carries no CRS and none is assigned, a geographic one, or one that differs from ``crs``.
    """
    try:
        declared = header.parse_crs()
    except Exception as exc:  # noqa: BLE001
        if crs is None:
            raise CRSError(f"{path}: the CRS records of the LAS header cannot be parsed ({exc}); assign a CRS "
                           "or rewrite the file with its CRS (pdal translate --writers.las.a_srs=EPSG:25832)") \
                from None
        log.warning("%s: the CRS records of the LAS header cannot be parsed (%s); using the assigned %s",
                    path, exc, crs)
        declared = None
    chosen = resolve_crs(declared, crs, what=str(path))
    if chosen is None:
        raise CRSError(f"{path}: LAS header has no CRS (no WKT or GeoTIFF-keys VLR); assign one "
                       "(--crs EPSG:25832 on the command line, or pdal translate in.laz out.laz "
                       "--writers.las.a_srs=EPSG:25832)")
    return check_projected(chosen, what=str(path))


def _grid_shape(bounds, resolution):
    cols = int(round((bounds[2] - bounds[0]) / resolution))
    rows = int(round((bounds[3] - bounds[1]) / resolution))
    if rows < 3 or cols < 3:
        raise ParameterError(f"bounds {bounds} at resolution {resolution} m give {rows} x {cols} pixels; "
                             "at least 3 x 3 are needed")
    return rows, cols


def _accumulate(paths, headers, bounds, r, shape, vegetation):
    """Read the points of ``paths`` into flat per-cell accumulators (see :func:`rasterize_las`).

    Returns
    -------
    (dsm, veg, ground_sum, ground_count, total, kept)
        Highest non-noise (and, with ``vegetation``, non-vegetation) return per cell (-inf where none), the
        highest vegetation return (None without ``vegetation``), sum and count of ground returns, and the
        numbers of points read and used.
    """
    import laspy

    left, bottom, right, top = bounds
    rows, cols = shape
    n = rows * cols
    dsm = np.full(n, -np.inf)
    veg = np.full(n, -np.inf) if vegetation else None
    ground_sum = np.zeros(n)
    ground_count = np.zeros(n)
    total = kept = 0
    for p, h in zip(paths, headers):
        if h.maxs[0] < left or h.mins[0] > right or h.maxs[1] < bottom or h.mins[1] > top:
            continue
        try:
            with laspy.open(p) as f:
                for pts in f.chunk_iterator(CHUNK_POINTS):
                    x, y, z = np.asarray(pts.x), np.asarray(pts.y), np.asarray(pts.z)
                    cls = np.asarray(pts.classification)
                    withheld = np.asarray(pts.withheld).astype(bool)
                    col = np.floor((x - left) / r).astype(np.int64)
                    row = np.floor((top - y) / r).astype(np.int64)
                    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
                    use = inside & ~withheld & ~np.isin(cls, NOISE_CLASSES)
                    total += len(x)
                    kept += int(use.sum())
                    if veg is not None:
                        v = use & np.isin(cls, VEGETATION_CLASSES)
                        np.maximum.at(veg, row[v] * cols + col[v], z[v])
                        use &= ~v
                    idx = row[use] * cols + col[use]
                    np.maximum.at(dsm, idx, z[use])
                    g = use & (cls == GROUND_CLASS)
                    gidx = row[g] * cols + col[g]
                    ground_sum += np.bincount(gidx, weights=z[g], minlength=n)
                    ground_count += np.bincount(gidx, minlength=n)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{p}: cannot read points ({exc})") from None
    return dsm, veg, ground_sum, ground_count, total, kept


def rasterize_las(paths, resolution=0.5, bounds=None, *, max_hole_area=1.0, crs=None, vegetation=False):
    """Rasterise LAS/LAZ files into a DSM (highest non-noise return) and a DTM (ground class).

    Parameters
    ----------
    paths : str, Path or list of those
        LAS or LAZ files in one projected CRS (points outside ``bounds`` are skipped, so neighbouring
        tiles can be passed to fill a halo).
    resolution : float
        Pixel size [m].
    bounds : tuple of float, optional
        (left, bottom, right, top) [m] of the output; default: the union of the headers' extents snapped
        outward to multiples of ``resolution``.
    max_hole_area : float
        Largest hole in the DSM [m²] that is filled from its neighbours; larger holes stay NaN.
    crs : str or CRS, optional
        CRS assigned to files whose header declares none; see :func:`las_crs`.
    vegetation : bool
        Also return the canopy: the vegetation classes 3-5 (:data:`VEGETATION_CLASSES`) leave the DSM
        (cells with vegetation returns only get the DTM, or the highest other return) and give the canopy
        height above the DTM.

    Returns
    -------
    dsm, dtm : Grid
        float64 heights [m] on the same grid; NaN where there is no data (DTM: NaN only when the files
        hold no ground points at all).
    canopy : Grid
        Only with ``vegetation=True``: canopy height above the DTM [m], 0 where there is none.

    Raises
    ------
    CRSError
        A file has no CRS (and none is assigned), files disagree, or the CRS's scale factor at the centre
        departs from 1 by more than 1 %.
    InputError
        A file cannot be read.
    """
    from affine import Affine

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ParameterError("rasterize_las: no files given")
    if not (resolution > 0):
        raise ParameterError(f"resolution={resolution}: must be > 0 m")
    headers = [read_las_header(p) for p in paths]
    crss = [las_crs(h, p, crs) for h, p in zip(headers, paths)]
    for c, p in zip(crss[1:], paths[1:]):
        if not c.equals(crss[0], ignore_axis_order=True):
            raise CRSError(f"{p}: CRS {c.name} differs from {crss[0].name} of {paths[0]}; reproject it first")
    r = float(resolution)
    if bounds is None:
        mins = np.min([h.mins[:2] for h in headers], axis=0)
        maxs = np.max([h.maxs[:2] for h in headers], axis=0)
        bounds = (math.floor(mins[0] / r) * r, math.floor(mins[1] / r) * r,
                  math.ceil(maxs[0] / r) * r, math.ceil(maxs[1] / r) * r)
        if bounds[2] - bounds[0] < 3 * r or bounds[3] - bounds[1] < 3 * r:
            bounds = (bounds[0], bounds[1], max(bounds[2], bounds[0] + 3 * r), max(bounds[3], bounds[1] + 3 * r))
    left, bottom, right, top = (float(v) for v in bounds)
    check_scale_factor(crss[0], (left + right) / 2, (bottom + top) / 2, what=str(paths[0]))
    rows, cols = _grid_shape((left, bottom, right, top), r)
    dsm, veg, ground_sum, ground_count, total, kept = _accumulate(paths, headers, (left, bottom, right, top), r,
                                                                  (rows, cols), vegetation)
    log.info("rasterised %d of %d points into %d x %d cells of %g m", kept, total, rows, cols, r)
    dsm[~np.isfinite(dsm)] = np.nan
    dsm = dsm.reshape(rows, cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        dtm = (ground_sum / ground_count).reshape(rows, cols)
    dtm = interpolate_holes(dtm)
    canopy = None
    if veg is not None:
        veg = veg.reshape(rows, cols)
        veg[~np.isfinite(veg)] = np.nan
        canopy = canopy_under_vegetation(dsm, dtm, veg)  # before the hole filling: under trees is ground
    dsm = fill_small_holes(dsm, max_cells=max(0, int(max_hole_area / (r * r))))
    transform = Affine(r, 0, left, 0, -r, top)
    src = {"path": str(paths[0]) if len(paths) == 1 else None, "las": [str(p) for p in paths]}
    grids = (Grid(dsm, transform, crss[0], source=src), Grid(dtm, transform, crss[0], source=src))
    if canopy is None:
        return grids
    return grids + (Grid(canopy, transform, crss[0], source=dict(src, classes=list(VEGETATION_CLASSES))),)


def canopy_under_vegetation(dsm, dtm, veg_top):
    """Fill the DSM under vegetation-only cells and return the canopy height (see :func:`rasterize_las`).

    Parameters
    ----------
    dsm : ndarray
        Highest non-vegetation return per cell [m] (NaN where none); filled in place under the canopy.
    dtm : ndarray
        Terrain [m].
    veg_top : ndarray
        Highest vegetation return per cell [m] (NaN where none).

    Returns
    -------
    ndarray
        Canopy height above the terrain [m], 0 where there is no vegetation or it is below the DSM.
    """
    has_veg = np.isfinite(veg_top)
    hole = has_veg & ~np.isfinite(dsm)
    dsm[hole] = dtm[hole]
    with np.errstate(invalid="ignore"):
        ch = np.where(has_veg & (veg_top > dsm), veg_top - dtm, 0.0)
    return np.nan_to_num(np.maximum(ch, 0.0))


def fill_small_holes(z, max_cells):
    """Fill NaN holes of at most ``max_cells`` cells by the mean of their valid 8-neighbours, inward.

    Holes touching the raster's edge are not filled (they are outside the data, not holes in it).
    """
    from scipy import ndimage

    z = z.copy()
    holes = ~np.isfinite(z)
    if max_cells <= 0 or not holes.any():
        return z
    labels, count = ndimage.label(holes, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = (sizes <= max_cells)
    small[0] = False
    small[edge] = False
    todo = small[labels]
    kernel = np.ones((3, 3))
    while todo.any():
        valid = np.isfinite(z)
        zs = np.where(valid, z, 0.0)
        s = ndimage.convolve(zs, kernel, mode="constant")
        c = ndimage.convolve(valid.astype(float), kernel, mode="constant")
        ready = todo & (c > 0)
        if not ready.any():
            break
        z[ready] = s[ready] / c[ready]
        todo &= ~ready
    return z


def interpolate_holes(z):
    """Fill every NaN cell: linear interpolation over a Delaunay triangulation of the hole borders.

    Only the valid cells bordering a hole take part (the interior of the data does not influence the
    fill), which keeps the triangulation small. Cells outside the border cells' convex hull take the
    nearest border value.
    """
    from scipy import ndimage
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    valid = np.isfinite(z)
    if valid.all() or not valid.any():
        return z.copy()
    border = valid & ndimage.binary_dilation(~valid, structure=np.ones((3, 3)))
    br, bc = np.nonzero(border)
    hr, hc = np.nonzero(~valid)
    pts = np.column_stack([br, bc]).astype(float)
    vals = z[br, bc]
    out = z.copy()
    if len(pts) >= 3 and np.linalg.matrix_rank(pts - pts.mean(0)) == 2:
        filled = LinearNDInterpolator(pts, vals)(hr, hc)
    else:
        filled = np.full(len(hr), np.nan)
    miss = ~np.isfinite(filled)
    if miss.any():
        filled[miss] = NearestNDInterpolator(pts, vals)(hr[miss], hc[miss])
    out[hr, hc] = filled
    return out
