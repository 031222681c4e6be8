"""Horizon elevation angles per azimuth sector over the continuous (bilinear) surface.

The far field uses a sweep in the spirit of Stewart (1998) [1]_: for each azimuth the surface is sampled
at its grid-line crossings (where a bilinear profile takes its extremes) along parallel lines half a cell
apart, and each line's upper convex hull is maintained while sweeping against the view direction, so a
pixel's horizon is a tangent query on the hull instead of a march over all distances. A pixel queries
the two lines beside it from its foot point on each (its height plus its lateral gradient times the
offset, which makes planes exact) and blends them by lateral distance. Opposite azimuths share the lines
(one sweep each way). The near field, where a line's lateral offset would matter, is an exact bilinear
march along the pixel's own ray that includes the surface slope at the pixel itself. Lines, samples and
queries are placed in global pixel coordinates (``anchor``), every sample from the exact index of the grid
line it crosses, so a window of a mosaic computes bit for bit what the mosaic computes for the same
surroundings: with a halo it differs from the whole raster only by what lies beyond the halo (see
:func:`halo_width`). Cost: about pixels x sectors, independent of the scene's extent.

The annual integral interpolates between sectors (see :mod:`solarkataster.irradiation`);
:func:`shadow_mask` gives the exact shadow of one sun position from a sweep along its azimuth.

References
----------
.. [1] Stewart, A. J. (1998). Fast horizon computation at all points of a terrain with visibility and
   shading applications. IEEE Transactions on Visualization and Computer Graphics, 4(1), 82-93.
   https://doi.org/10.1109/2945.675655
.. [2] Dozier, J., & Frew, J. (1990). Rapid calculation of terrain parameters for radiation modeling
   from digital elevation data. IEEE Transactions on Geoscience and Remote Sensing, 28(5), 963-969.
   https://doi.org/10.1109/36.58986
"""
from __future__ import annotations

import math

import numpy as np

from ._kernels import horizon as _k
from ._kernels import point_horizon as _pk
from .errors import ParameterError, check_range

#: Default sector count: the convergence study (benchmarks/convergence.py) gives a mean error of 0.5 % of
#: annual global against 128 sectors; more sectors sharpen shadow edges at proportional cost.
DEFAULT_SECTORS = 48
#: Near-field march length [cells]: within it a line's lateral offset would distort the angle.
NEAR_CELLS = 2.0
#: Lateral spacing of the sweep lines [cells].
LINE_SPACING = 0.5


def sector_azimuths(sectors):
    """Azimuths of the sectors: sector k looks along k * 360 / sectors, clockwise from north.

    Parameters
    ----------
    sectors : int
        Number of sectors.

    Returns
    -------
    ndarray of float64, shape (sectors,)
        Azimuths [°].
    """
    return np.arange(sectors) * 360.0 / sectors


#: int16 horizon codes: elevation in hundredths of a degree; two sentinels.
OPEN_CODE = -32768  # no terrain along the azimuth
MISSING_CODE = 32767  # no data at the pixel


def horizon_angles(z, cellsize, sectors=DEFAULT_SECTORS, max_distance=None, *, near=NEAR_CELLS,
                   line_spacing=None, progress=None, anchor=(0, 0)):
    """Horizon elevation angle of every pixel along ``sectors`` exact azimuths.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] on square pixels, north up; NaN where missing (treated as no terrain).
    cellsize : float
        Pixel size [m].
    sectors : int
        Number of azimuths, evenly spaced from north clockwise.
    max_distance : float, optional
        Search distance [m]. Default: the whole raster (complete for the scene). Applied to the hull
        vertices of the far field, so terrain hidden behind farther terrain may be missed.
    near : float
        Length of the exact per-pixel near-field march [cells].
    line_spacing : float, optional
        Lateral spacing of the sweep lines [cells] (default :data:`LINE_SPACING`).
    progress : callable, optional
        Called as ``progress(sectors_done, sectors)``.
    anchor : (int, int)
        Global (row, col) index of pixel (0, 0) (see :func:`grid_anchor`): the sweep works in that frame,
        so any window of a mosaic gets exactly the lines and samples of the whole.

    Returns
    -------
    ndarray of float32, shape (sectors, rows, cols)
        Elevation angle of the horizon [°], negative when the horizon lies below the horizontal; -90
        where no terrain lies along the azimuth (the scene edge); NaN where ``z`` is NaN.
        :func:`horizon_codes` gives the same as int16 hundredths of a degree (the engine's form).
    """
    codes = horizon_codes(z, cellsize, sectors, max_distance, near=near, progress=progress, anchor=anchor,
                          line_spacing=LINE_SPACING if line_spacing is None else line_spacing)
    return codes_to_angles(codes)


def codes_to_angles(codes):
    """Convert int16 horizon codes to angles.

    Parameters
    ----------
    codes : ndarray of int16
        Horizon elevation [0.01°]; :data:`OPEN_CODE` where open, :data:`MISSING_CODE` where missing.

    Returns
    -------
    ndarray of float32, same shape
        Horizon elevation [°]; -90 where open, NaN where missing.
    """
    out = codes.astype(np.float32) / 100.0
    out[codes == OPEN_CODE] = -90.0
    out[codes == MISSING_CODE] = np.nan
    return out


def angles_to_codes(angles):
    """Convert horizon angles to int16 codes, the inverse of :func:`codes_to_angles` to 0.01°.

    Parameters
    ----------
    angles : array_like
        Horizon elevation [°]; -90 or below where open, NaN where missing.

    Returns
    -------
    ndarray of int16, same shape
        Horizon elevation [0.01°], clipped to ±89.99°; :data:`OPEN_CODE`, :data:`MISSING_CODE`.
    """
    a = np.asarray(angles)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    flat = np.ascontiguousarray(a).reshape(-1)
    codes = np.empty(flat.size, np.int16)
    _k.angles_to_codes(flat, codes)
    return codes.reshape(a.shape)


def horizon_codes(z, cellsize, sectors=DEFAULT_SECTORS, max_distance=None, *, near=NEAR_CELLS,
                  line_spacing=LINE_SPACING, progress=None, anchor=(0, 0)):
    """Compute :func:`horizon_angles` as int16 codes, the engine's compact form (2 bytes per pixel and sector).

    Parameters and algorithm as :func:`horizon_angles`.

    Returns
    -------
    ndarray of int16, shape (sectors, rows, cols)
        Horizon elevation [0.01°]; :data:`OPEN_CODE` where no terrain lies along the azimuth,
        :data:`MISSING_CODE` where ``z`` is NaN.
    """
    return _sweep_all(z, cellsize, sectors, max_distance, near, line_spacing, progress, _slopes_to_codes,
                      np.int16, anchor)


def _slopes_to_codes(s):
    out = np.empty(s.shape, np.int16)
    _k.slopes_to_codes(s, out)
    return out


def horizon_slopes(z, cellsize, sectors=DEFAULT_SECTORS, max_distance=None, *, near=NEAR_CELLS,
                   line_spacing=LINE_SPACING, progress=None, anchor=(0, 0)):
    """Compute :func:`horizon_angles` as slopes, the tangent of the elevation, without rounding.

    Parameters and algorithm as :func:`horizon_angles`.

    Returns
    -------
    ndarray of float32, shape (sectors, rows, cols)
        tan of the horizon elevation [-] (height gain per horizontal distance); -1e30 where open, NaN where
        ``z`` is NaN.
    """
    return _sweep_all(z, cellsize, sectors, max_distance, near, line_spacing, progress, None, np.float32,
                      anchor)


def _sweep_all(z, cellsize, sectors, max_distance, near, line_spacing, progress, convert, dtype, anchor):
    sectors = int(check_range("sectors", sectors, 4, 720))
    cellsize = check_range("cellsize", cellsize, 1e-3, 1e4, " m")
    z = np.ascontiguousarray(z, dtype=np.float64)
    max_cells = -1.0
    if max_distance is not None:
        max_cells = check_range("max_distance", max_distance, cellsize, 1e6, " m") / cellsize
    out = np.empty((sectors,) + z.shape, dtype)
    gc = np.empty(z.shape, np.float32)
    gr = np.empty(z.shape, np.float32)
    _k.central_gradients(z, gc, gr)
    fwd = np.empty(z.shape, np.float32)
    bwd = np.empty(z.shape, np.float32)
    for phi, same, opposite, n_done in _sector_pairs(sector_azimuths(sectors)):
        _k.sweep_pair(z, gc, gr, cellsize, math.radians(phi), float(near), max_cells, float(line_spacing),
                      float(anchor[0]), float(anchor[1]), fwd, bwd)
        for idx, slopes in ((same, fwd), (opposite, bwd)):
            if idx.size:
                out[idx] = slopes if convert is None else convert(slopes)
        if progress is not None:
            progress(n_done, sectors)
    return out


def _sector_pairs(azimuths):
    """Group azimuths [°] into sweeps: one per azimuth and its opposite, which share the sweep's lines.

    Yields ``(phi, same, opposite, n_done)``: the sweep's azimuth [°], the indices of the azimuths equal to
    it and to ``phi + 180`` (within 1e-6°) not yet covered, and how many are covered so far.
    """
    az = np.asarray(azimuths, dtype=np.float64) % 360.0
    done = np.zeros(az.size, bool)
    for k in range(az.size):
        if done[k]:
            continue
        groups = []
        for target in (az[k], az[k] + 180.0):
            d = (az - target) % 360.0
            idx = np.flatnonzero(~done & ((d < 1e-6) | (d > 360.0 - 1e-6)))
            done[idx] = True
            groups.append(idx)
        yield float(az[k]), groups[0], groups[1], int(done.sum())


def canopy_surfaces(z, vegetation):
    """Profiles for the canopy horizons: the surface with the canopy tops, and the canopy bottom.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Opaque surface [m] (trees removed), NaN where missing.
    vegetation : solarkataster.vegetation.Vegetation
        Canopy on the same grid.

    Returns
    -------
    top : ndarray of float64
        ``max(z, canopy top)`` [m]: the surface a ray must clear to miss the canopy.
    bottom : ndarray of float64
        ``max(z, trunk top)`` [m] on canopy pixels and on the pixels next to them (the highest neighbouring
        value there, where the bilinear canopy-top surface still ramps down); NaN elsewhere. A ray meets the
        canopy where it passes between ``bottom`` and ``top``.
    """
    from scipy import ndimage

    z = np.asarray(z, dtype=np.float64)
    if np.shape(vegetation.canopy_height) != z.shape:
        raise ParameterError(f"vegetation grid {np.shape(vegetation.canopy_height)} differs from the surface "
                             f"model's {z.shape}: resample the canopy to the surface model")
    mask = vegetation.mask
    top = np.where(mask & np.isfinite(z), np.fmax(z, vegetation.canopy_top), z)
    trunk = np.where(mask, np.fmax(z, vegetation.trunk_top), -np.inf)
    ring = ndimage.maximum_filter(trunk, size=3, mode="constant", cval=-np.inf)
    bottom = np.where(mask, trunk, np.fmax(z, ring))
    bottom[~np.isfinite(ring) | ~np.isfinite(z)] = np.nan
    return top, bottom


def canopy_horizon_codes(z, cellsize, vegetation, sectors=DEFAULT_SECTORS, max_distance=None, *, near=NEAR_CELLS,
                         line_spacing=LINE_SPACING, progress=None, anchor=(0, 0)):
    """Canopy-top and canopy-bottom horizons of every pixel of an opaque surface, as int16 codes.

    With the opaque horizon ``h_o`` (:func:`horizon_codes` of the same ``z``), a ray at elevation ``e`` is
    blocked when ``e < h_o``, passes the canopy once (attenuated by the transmissivity) when
    ``max(h_o, bottom) <= e < top``, and is free otherwise. ``top`` is the horizon of the surface with the
    canopy tops on it (as UMEP's vegetation DSM [3]_); ``bottom`` is the *lowest* elevation at which a ray
    from the pixel meets a canopy pixel above its trunk zone (the lower convex hull of the trunk tops,
    swept as the upper hull of their negated heights). So a point under a tree is shaded by its own
    crown above the trunk zone, and a ray passing under a near crown's trunk zone into a far crown is
    attenuated. Between two crowns along one azimuth, rays in the gap count as passing the canopy (the
    band is the hull of both crowns' bands). Queries sit at the opaque surface, so a roof under an
    overhanging crown sees the crown above it. See :func:`vegetation_horizon_codes`, which also returns
    the opaque horizons from the same sweep.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Opaque surface [m] (trees removed), NaN where missing.
    cellsize : float
        Pixel size [m].
    vegetation : solarkataster.vegetation.Vegetation
        Canopy on the same grid.
    sectors, max_distance, near, line_spacing, progress, anchor
        As :func:`horizon_angles`; ``max_distance`` limits the canopy-top search only.

    Returns
    -------
    top, bottom : ndarray of int16, shape (sectors, rows, cols)
        Elevation [0.01°] of the canopy-top horizon (:data:`OPEN_CODE` where open; never below the opaque
        horizon) and of the canopy bottom (9000, i.e. 90°, where no canopy lies along the azimuth);
        :data:`MISSING_CODE` where ``z`` is NaN.

    References
    ----------
    .. [3] Lindberg, F., & Grimmond, C. S. B. (2011). The influence of vegetation and building morphology
       on shadow patterns and mean radiant temperatures in urban areas: model development and evaluation.
       Theoretical and Applied Climatology, 105, 311-323. https://doi.org/10.1007/s00704-010-0382-8
    """
    _, top, bottom = vegetation_horizon_codes(z, cellsize, vegetation, sectors, max_distance, near=near,
                                              line_spacing=line_spacing, progress=progress, anchor=anchor)
    return top, bottom


def vegetation_horizon_codes(z, cellsize, vegetation, sectors=DEFAULT_SECTORS, max_distance=None, *,
                             near=NEAR_CELLS, line_spacing=LINE_SPACING, progress=None, anchor=(0, 0)):
    """Opaque, canopy-top and canopy-bottom horizons from one sweep per azimuth pair.

    The opaque horizons equal :func:`horizon_codes` of ``z`` bit for bit; the canopy ones are those of
    :func:`canopy_horizon_codes`. The sweep shares the opaque sweep's lines, samples and query heights
    (:func:`solarkataster._kernels.horizon.sweep_pair_vegetation`): the canopy hulls hold only the canopy
    samples, and the canopy near field is marched only within reach of the canopy, so the canopy costs a
    fraction of a second sweep.

    Parameters
    ----------
    z, cellsize, vegetation, sectors, max_distance, near, line_spacing, progress, anchor
        As :func:`canopy_horizon_codes`.

    Returns
    -------
    opaque, top, bottom : ndarray of int16, shape (sectors, rows, cols)
        As :func:`horizon_codes` and :func:`canopy_horizon_codes`.
    """
    from scipy import ndimage

    sectors = int(check_range("sectors", sectors, 4, 720))
    cellsize = check_range("cellsize", cellsize, 1e-3, 1e4, " m")
    z = np.ascontiguousarray(z, dtype=np.float64)
    top_z, bottom_z = canopy_surfaces(z, vegetation)
    reach = 2 * (int(near) + 3) + 1
    near_canopy = ndimage.maximum_filter((top_z > z) | np.isfinite(bottom_z), size=reach, mode="constant")
    max_cells = -1.0
    if max_distance is not None:
        max_cells = check_range("max_distance", max_distance, cellsize, 1e6, " m") / cellsize
    out = [np.empty((sectors,) + z.shape, np.int16) for _ in range(3)]
    gc = np.empty(z.shape, np.float32)
    gr = np.empty(z.shape, np.float32)
    _k.central_gradients(z, gc, gr)
    buf = np.empty((6,) + z.shape, np.float32)
    top_z = np.ascontiguousarray(top_z)
    low_z = np.ascontiguousarray(-bottom_z)
    for phi, same, opposite, n_done in _sector_pairs(sector_azimuths(sectors)):
        _k.sweep_pair_vegetation(z, gc, gr, top_z, low_z, near_canopy, cellsize, math.radians(phi), float(near),
                                 max_cells, float(line_spacing), float(anchor[0]), float(anchor[1]), buf)
        for d, group in enumerate((same, opposite)):
            for idx in group:
                _k.slopes_to_codes(buf[d], out[0][idx])
                _k.slopes_to_codes(buf[2 + d], out[1][idx])
                _k.slopes_to_codes_low(buf[4 + d], out[2][idx])
        if progress is not None:
            progress(n_done, sectors)
    return tuple(out)


def horizon_at_points(z, cellsize, rows, cols, heights, azimuths, max_distance=None, *, step=0.5,
                      growth=0.02, facing=None, clearance=0.0, method="march", anchor=(0, 0)):
    """Horizon angles [°] seen from arbitrary points (walls, sensors) along the given azimuths.

    ``method='march'``: a bilinear march whose step grows slowly with distance (``step * (1 + growth * d)``
    cells), which keeps far obstacles' angular error below about ``growth`` radians of arc along the ray.
    ``method='sweep'``: tangent queries on the sweep's line hulls (:func:`point_horizons`), the cost of a
    sweep over the raster per azimuth pair rather than per point; for many points (walls).

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m].
    cellsize : float
        Pixel size [m].
    rows, cols : array_like
        Fractional pixel index of the points (pixel centres at integers).
    heights : array_like
        Absolute heights of the points [m].
    azimuths : array_like
        Azimuths [°] to evaluate, clockwise from north.
    max_distance : float, optional
        Search distance [m]; default the raster's diagonal.
    step, growth : float
        March step [cells] and its growth with distance (``method='march'``; the sweep's near field
        starts at ``step`` too).
    facing : array_like, optional
        Outward normal azimuth [°] per point of a wall the point sits on (NaN: none): azimuths behind
        the wall get +90 and the march starts ``clearance`` [m] off the wall plane.
    clearance : float
        See ``facing`` [m].
    method : {'march', 'sweep'}
        See above.
    anchor : (int, int)
        Global (row, col) of pixel (0, 0) (``method='sweep'``), see :func:`grid_anchor`.

    Returns
    -------
    ndarray of float64, shape (n_points, n_azimuths)
        Horizon elevation angles [°]; -90 where nothing lies along the azimuth.
    """
    if method == "sweep":
        return point_horizons(z, cellsize, rows, cols, heights, azimuths, max_distance, facing=facing,
                              clearance=clearance, step=step, anchor=anchor).T.astype(np.float64)
    if method != "march":
        raise ParameterError(f"method must be 'march' or 'sweep', not {method!r}")
    z = np.ascontiguousarray(z, dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.float64).ravel()
    heights = np.ascontiguousarray(heights, dtype=np.float64).ravel()
    az = np.radians(np.ascontiguousarray(azimuths, dtype=np.float64).ravel())
    diag = math.hypot(*z.shape)
    max_cells = diag if max_distance is None else min(diag, max_distance / cellsize)
    out = np.empty((rows.size, az.size), np.float64)
    face = np.full(rows.size, np.nan) if facing is None else np.radians(
        np.ascontiguousarray(facing, dtype=np.float64).ravel())
    _k.march_points(z, float(cellsize), rows, cols, heights, az, float(step), float(growth),
                    float(max_cells), np.ascontiguousarray(face), float(clearance) / float(cellsize), out)
    return out


def point_horizons(z, cellsize, rows, cols, heights, azimuths, max_distance=None, *, facing=None, clearance=0.0,
                   step=0.5, near=NEAR_CELLS, line_spacing=LINE_SPACING, anchor=(0, 0), far_stride=1, codes=False):
    """Horizon angles [°] of many points as tangent queries on the sweep's line hulls.

    For each azimuth the surface is sampled along the same global lines as :func:`horizon_angles` (one
    set of lines for an azimuth and its opposite) and every point queries the upper hulls of the two
    lines beside it from its own height, blended by lateral distance; an exact bilinear march of
    ``near + 1`` cells along the point's own ray covers the near field. A point on a wall (``facing``)
    ignores all terrain closer to the wall plane than ``clearance``, on its ray and on the lines beside
    it, and sees +90° behind the wall (as :func:`horizon_at_points`' march). Cost: a sweep of the raster
    per azimuth pair plus a tangent query per point and azimuth, instead of a march per point.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m]; NaN where missing.
    cellsize : float
        Pixel size [m].
    rows, cols : array_like
        Fractional pixel index of the points (pixel centres at integers).
    heights : array_like
        Absolute heights of the points [m].
    azimuths : array_like
        Azimuths [°], clockwise from north.
    max_distance : float, optional
        Search distance [m] (hull vertices farther away are not considered); default unlimited.
    facing : array_like, optional
        Outward wall normal azimuth [°] per point (NaN: none).
    clearance : float
        Distance from the wall plane within which terrain is ignored [m].
    step : float
        Shortest march distance [cells].
    near : float
        Length of the exact near field along the point's own ray [cells].
    line_spacing : float
        Lateral spacing of the sweep lines [cells].
    anchor : (int, int)
        Global (row, col) of pixel (0, 0), see :func:`grid_anchor`.
    far_stride : int
        Sweep the lines for every ``far_stride``-th azimuth only; the others take their far field (beyond
        ``near``) linearly between the two swept azimuths beside them, and march their own near field.
        Above 1 it needs evenly spaced azimuths ``k * 360 / n`` from 0, n a multiple of ``2 * far_stride``.
    codes : bool
        Return the angles as :func:`angles_to_codes` of them (int16, a third of the memory of the angles and
        their codes together).

    Returns
    -------
    ndarray of float32, shape (n_azimuths, n_points)
        Horizon elevation angles [°]; -90 where nothing lies along the azimuth, +90 behind the wall (int16
        codes with ``codes``).
    """
    cellsize = check_range("cellsize", cellsize, 1e-3, 1e4, " m")
    far_stride = int(check_range("far_stride", far_stride, 1, 8))
    z = _compact_surface(z)
    rows = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.float64).ravel()
    heights = np.ascontiguousarray(heights, dtype=np.float64).ravel()
    n = rows.size
    face = np.full(n, np.nan) if facing is None else np.radians(
        np.ascontiguousarray(facing, dtype=np.float64).ravel())
    max_cells = -1.0 if max_distance is None else float(max_distance) / cellsize
    az = np.ascontiguousarray(azimuths, dtype=np.float64).ravel() % 360.0
    out = np.empty((az.size, n), np.int16 if codes else np.float32)
    if n == 0:
        return out
    col_rows, col_cols, col_face, starts = _point_columns(rows, cols, face)
    col_normal = _pk.column_normals(col_face)  # sin, cos once, not per azimuth
    scalars = (float(step), float(clearance) / cellsize, float(near), max_cells, float(line_spacing),
               float(anchor[0]), float(anchor[1]))
    near_scalars = scalars[:3] + scalars[5:]

    pairs = list(_sector_pairs(az))
    swept = _far_field_azimuths(az, far_stride)
    # the swept azimuths' far field, kept for the others (row k // far_stride)
    far = np.empty((az.size // far_stride, n), np.float32) if far_stride > 1 else None

    def pair(phi, same, opposite):
        fwd, bwd, far_fwd, far_bwd = (np.empty(n, np.float64) for _ in range(4))
        if swept[same[0]]:
            _pk.sweep_points_pair(z, cellsize, math.radians(phi), col_rows, col_cols, col_normal, starts, heights,
                                  *scalars, far_fwd, far_bwd, fwd, bwd)
            if far is not None:
                far[same // far_stride], far[opposite // far_stride] = far_fwd, far_bwd
        else:
            for idx, buf in ((same, far_fwd), (opposite, far_bwd)):
                _between(far, idx[0], far_stride, buf)
            _pk.near_points_pair(z, cellsize, math.radians(phi), col_rows, col_cols, col_normal, starts, heights,
                                 *near_scalars, far_fwd, far_bwd, fwd, bwd)
        _store_angles(out, ((same, fwd), (opposite, bwd)), far_fwd)  # far_fwd is spent: scratch

    # one azimuth pair per task: the serial kernels release the GIL, so pairs run side by side on all cores;
    # the swept azimuths first, as the others interpolate their far field
    _run_threads(pair, [(phi, same, opposite) for phi, same, opposite, _ in pairs if swept[same[0]]])
    _run_threads(pair, [(phi, same, opposite) for phi, same, opposite, _ in pairs if not swept[same[0]]])
    return out


def _point_columns(rows, cols, face):
    """Group consecutive points at one place with one wall normal into columns: rows, cols, normals, starts.

    A wall's samples one above the other share their lines, hull positions and near-field samples.
    """
    col_start = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
                                     | ~((face[1:] == face[:-1]) | (np.isnan(face[1:]) & np.isnan(face[:-1])))])
    starts = np.append(col_start, rows.size).astype(np.int64)
    return rows[col_start], cols[col_start], np.ascontiguousarray(face[col_start]), starts


def _store_angles(out, groups, atans):
    """Write slopes as angles [°] (or codes, by ``out``'s dtype) into ``out``'s rows: ``groups`` (rows, slopes).

    Straight into each row, no temporaries; ``atans`` is scratch for the slopes' arctan (NumPy's vectorised
    one is several times faster than a scalar one in a kernel).
    """
    convert = _pk.slopes_to_angle_codes if out.dtype == np.int16 else _pk.slopes_to_angles
    for idx, slopes in groups:
        if idx.size:
            np.arctan(slopes, out=atans)
        for k in idx:
            convert(slopes, atans, out[k])


def _far_field_azimuths(az, far_stride):
    """Which azimuths get their far field from a sweep (every ``far_stride``-th of evenly spaced ones)."""
    k = np.arange(az.size)
    if far_stride == 1:
        return np.ones(az.size, bool)
    uniform = np.allclose(az, k * 360.0 / az.size, rtol=0.0, atol=1e-6)
    if not uniform or az.size % (2 * far_stride):
        raise ParameterError(f"far_stride {far_stride} needs azimuths k * 360 / n with n a multiple of "
                             f"{2 * far_stride}, got {az.size} azimuths")
    return k % far_stride == 0


def _between(far, k, far_stride, out):
    """Far-field slopes at azimuth ``k``, linear between the swept azimuths on either side of it, into ``out``.

    ``far`` holds the swept azimuths' (row j: azimuth j * far_stride). Where one side has no terrain (NEG:
    off the raster, or behind the wall) the other side's slope holds, as between two sweep lines
    (:func:`solarkataster._kernels.horizon.blend`).
    """
    a = k // far_stride
    _pk.far_between(far[a], far[(a + 1) % far.shape[0]], (k % far_stride) / far_stride, out)


def _compact_surface(z):
    """``z`` as float32 where that holds the same values (a DSM read from a float32 file), else as float64.

    The kernels read heights into float64 arithmetic, so the results are the same; the rays of
    :func:`point_horizons` read the raster at scattered places, and half the bytes halve their cache misses
    (15 % of the wall horizons' CPU time on the Essen tile).
    """
    z = np.asarray(z)
    if z.dtype != np.float32:
        z32 = z.astype(np.float32)
        if not np.array_equal(z32, z, equal_nan=True):
            return np.ascontiguousarray(z, dtype=np.float64)
        z = z32
    return np.ascontiguousarray(z)


def _run_threads(task, args):
    """Call ``task(*a)`` for every ``a`` in ``args`` on numba's thread count (in order with one thread)."""
    import numba

    workers = min(numba.get_num_threads(), len(args))
    if workers <= 1:
        for a in args:
            task(*a)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="horizon") as pool:
        for future in [pool.submit(task, *a) for a in args]:
            future.result()


def shadow_mask(z, cellsize, sun_azimuth, sun_elevation, *, near=8.0, line_spacing=0.25,
                anchor=(0, 0)):
    """Sunlit pixels for one sun position, from a sweep along the sun's exact azimuth.

    The annual integral interpolates horizons between sectors (see :func:`horizon_angles`); this is the
    exact per-time-step shadow of the same surface, for shadow maps of a given moment. One sweep is cheap,
    so it uses finer lines (0.25 cell) and a longer exact near field (8 cells) than the sector sweeps.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m]; NaN where missing.
    cellsize : float
        Pixel size [m].
    sun_azimuth : float
        Solar azimuth [°] clockwise from north.
    sun_elevation : float
        Apparent solar elevation [°].
    anchor : (int, int)
        Global (row, col) of pixel (0, 0), see :func:`grid_anchor`.

    Returns
    -------
    ndarray of bool
        True where the sun is above the horizon along its azimuth (the pixel's own surface included:
        a face turned away from the sun is in its own shadow); False where shaded or missing.
    """
    check_range("sun_elevation", sun_elevation, -90, 90, "°")
    z = np.ascontiguousarray(z, dtype=np.float64)
    fwd = np.empty(z.shape, np.float32)
    bwd = np.empty(z.shape, np.float32)
    gc = np.empty(z.shape, np.float32)
    gr = np.empty(z.shape, np.float32)
    _k.central_gradients(z, gc, gr)
    _k.sweep_pair(z, gc, gr, float(cellsize), math.radians(float(sun_azimuth) % 360.0), float(near), -1.0,
                  float(line_spacing), float(anchor[0]), float(anchor[1]), fwd, bwd)
    with np.errstate(invalid="ignore"):
        return (math.tan(math.radians(sun_elevation)) > fwd) & np.isfinite(fwd)


def grid_anchor(transform):
    """Global (row, col) index of a north-up grid's pixel (0, 0): its origin in pixels from the CRS origin.

    Parameters
    ----------
    transform : affine.Affine
        The grid's affine transform (north up: ``b == d == 0``, ``e < 0``) [CRS units].

    Returns
    -------
    (int, int)
        Row and column of pixel (0, 0) on the global pixel lattice of that cell size.
    """
    return (int(round(-transform.f / -transform.e)) if transform.e else 0,
            int(round(transform.c / transform.a)) if transform.a else 0)


def halo_width(relief, min_elevation=5.0, cap=None):
    """Margin [m] a window needs so that no obstacle outside it can shade the sun above ``min_elevation``.

    An obstacle ``relief`` metres above a pixel subtends less than ``min_elevation`` beyond
    ``relief / tan(min_elevation)``.

    Parameters
    ----------
    relief : float
        Largest height difference in the scene [m] (tallest obstacle over the lowest ground).
    min_elevation : float
        Lowest horizon elevation that matters [°].
    cap : float, optional
        Upper bound [m].

    Returns
    -------
    float
        Halo width [m].
    """
    d = float(relief) / math.tan(math.radians(min_elevation))
    return d if cap is None else min(d, cap)
