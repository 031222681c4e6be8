"""The surface model as the core sees it: a height array plus its georeference.

`Grid` carries no file handle; readers in :mod:`solarkataster.io.raster` build it, and every core
function takes ``grid.z`` and ``grid.cellsize`` (or the whole `Grid`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine

from .errors import CRSError, RasterError

#: Largest departure of the projection's scale factor from 1 that is accepted (1 %): a transverse
#: Mercator zone stays within 0.1 % over its 6° width, while Web Mercator's factor is 1/cos(latitude)
#: (1.52 at 49° N), which makes lengths 52 % and areas 131 % too large and roofs too flat.
MAX_SCALE_DEPARTURE = 0.01


@dataclass(frozen=True)
class Grid:
    """A north-up raster of heights on square pixels in a projected metric CRS.

    Parameters
    ----------
    z : ndarray of float, shape (rows, cols)
        Heights [m]; NaN where data is missing.
    transform : affine.Affine
        Pixel-to-map transform (north up, square pixels).
    crs : rasterio.crs.CRS or str
        Projected CRS with metre units.
    halo : int
        Number of pixels on each side that are context only (read from neighbours) [px].
    """

    z: np.ndarray
    transform: Affine
    crs: object
    halo: int = 0
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.z.ndim != 2:
            raise RasterError(f"surface model must be 2-D, got shape {self.z.shape}")
        t = self.transform
        if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
            raise RasterError("rotated or sheared pixels are not supported: warp the raster north-up first "
                              "(gdalwarp)")
        if t.a <= 0 or t.e >= 0:
            raise RasterError("raster must be north-up (positive x pixel size, negative y pixel size)")
        if abs(t.a + t.e) > 1e-6 * t.a:
            raise RasterError(f"pixels must be square, got {t.a} x {-t.e} m: resample first (gdalwarp -tr)")
        if min(self.z.shape) < 3:
            raise RasterError(f"raster of shape {self.z.shape} is too small: at least 3 x 3 pixels are needed")

    @property
    def cellsize(self) -> float:
        """Pixel size [m]."""
        return float(self.transform.a)

    @property
    def shape(self):
        """Raster shape (rows, cols) [px]."""
        return self.z.shape

    @property
    def valid(self) -> np.ndarray:
        """Mask of pixels with data."""
        return np.isfinite(self.z)

    def xy(self, rows, cols):
        """Map coordinates [m] of pixel centres."""
        rows = np.asarray(rows, dtype=float)
        cols = np.asarray(cols, dtype=float)
        t = self.transform
        return t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e

    def rowcol(self, x, y):
        """Fractional (row, col) index of map coordinates, pixel centres at integers."""
        t = self.transform
        return (np.asarray(y, float) - t.f) / t.e - 0.5, (np.asarray(x, float) - t.c) / t.a - 0.5

    def center_lonlat(self):
        """(longitude, latitude) [°] of the raster centre in WGS84."""
        from pyproj import Transformer

        rows, cols = self.z.shape
        x, y = self.xy((rows - 1) / 2, (cols - 1) / 2)
        tr = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(float(x), float(y))
        return float(lon), float(lat)

    def window(self, row0, row1, col0, col1, halo=0):
        """Return the sub-grid of rows ``row0:row1`` and columns ``col0:col1`` (halo included by the caller)."""
        t = self.transform * Affine.translation(col0, row0)
        return Grid(self.z[row0:row1, col0:col1], t, self.crs, halo=halo, source=self.source)


def check_projected(crs, what="raster"):
    """Raise :class:`CRSError` unless ``crs`` is a projected CRS in metres."""
    if crs is None or str(crs) == "":
        raise CRSError(f"{what} has no CRS: assign its projected CRS first (gdal_edit.py -a_srs EPSG:25832)")
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    if c.is_geographic or not c.is_projected:
        raise CRSError(f"{what} has a geographic CRS ({c.name}); a projected CRS in metres is required: "
                       "reproject first (gdalwarp -t_srs EPSG:25832)")
    unit = c.axis_info[0].unit_name if c.axis_info else "metre"
    if unit not in ("metre", "meter", "m"):
        raise CRSError(f"{what} CRS {c.name} has units '{unit}'; metres are required")
    return c


def _horizontal(crs):
    """Return the horizontal part of a CRS (the first member of a compound CRS), as a pyproj CRS."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    if c.is_compound and c.sub_crs_list:
        c = c.sub_crs_list[0]
    return c


def local_utm_epsg(longitude, latitude):
    """EPSG code of the UTM zone a location lies in: ETRS89 (258NN) in Europe, WGS 84 (326NN/327NN) elsewhere.

    Parameters
    ----------
    longitude, latitude : float
        Location [°] (WGS84).

    Returns
    -------
    str
        For example ``"EPSG:25832"`` for Karlsruhe, ``"EPSG:32618"`` for New York.
    """
    zone = int((float(longitude) + 180.0) // 6.0) % 60 + 1
    if 28 <= zone <= 38 and 34.0 <= latitude <= 72.0 and -16.0 <= longitude <= 45.0:  # ETRS89 / UTM
        return f"EPSG:{25800 + zone}"
    return f"EPSG:{(32600 if latitude >= 0 else 32700) + zone}"


def scale_factor(crs, x, y):
    """Return the projection's meridional and parallel scale factors at a point.

    Parameters
    ----------
    crs : CRS or str
        A projected CRS.
    x, y : float
        Map coordinates [m] in ``crs``.

    Returns
    -------
    meridional, parallel : float
        Scale factors along the meridian and the parallel [-]: 1 means a map metre is a metre on the
        ellipsoid. Web Mercator has 1/cos(latitude) for both.
    longitude, latitude : float
        The point [°] on the CRS's own datum.

    Notes
    -----
    Uses PROJ's numerical derivatives through :meth:`pyproj.Proj.get_factors`.
    """
    from pyproj import Proj

    proj = Proj(_horizontal(crs))
    lon, lat = proj(float(x), float(y), inverse=True)
    factors = proj.get_factors(lon, lat)
    return float(factors.meridional_scale), float(factors.parallel_scale), float(lon), float(lat)


def check_scale_factor(crs, x, y, what="raster", tolerance=MAX_SCALE_DEPARTURE):
    """Raise :class:`CRSError` when ``crs`` distorts lengths at ``(x, y)`` by more than ``tolerance``.

    Slopes, areas and horizon angles are computed in map units as if they were metres on the ground, which
    holds only where the projection's scale factor is close to 1.

    Parameters
    ----------
    crs : CRS or str
        Projected CRS of the input.
    x, y : float
        A representative point [m] in ``crs``, usually the raster's centre.
    what : str
        The input named in the message (its path).
    tolerance : float
        Largest accepted ``|scale factor - 1|`` [-].

    Returns
    -------
    float
        The scale factor farthest from 1 (meridional or parallel) [-]; 1.0 when PROJ cannot tell.

    Raises
    ------
    CRSError
        The scale factor departs from 1 by more than ``tolerance``; the message names it and the local UTM
        zone's EPSG code.
    """
    try:
        h, k, lon, lat = scale_factor(crs, x, y)
    except Exception:  # noqa: BLE001 - a CRS PROJ cannot invert: nothing to check
        return 1.0
    if not (np.isfinite(h) and np.isfinite(k)):
        return 1.0
    worst = h if abs(h - 1) >= abs(k - 1) else k
    if abs(worst - 1) > tolerance:
        utm = local_utm_epsg(lon, lat)
        wgs = f"EPSG:{(32600 if lat >= 0 else 32700) + int(utm[-2:])}"
        alt = f" or {wgs}" if wgs != utm else ""
        where = f"{abs(lat):.2f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.2f}° {'E' if lon >= 0 else 'W'}"
        raise CRSError(f"{what}: CRS {_horizontal(crs).name} has a scale factor of {worst:.3f} at its centre "
                       f"({where}), so lengths would be off by {100 * (worst - 1):+.1f} % "
                       f"and areas by {100 * (h * k - 1):+.1f} %; reproject it to the local UTM zone, {utm}{alt}, "
                       f"first (e.g. gdalwarp -t_srs {utm})")
    return float(worst)


def resolve_crs(declared, assigned, what="input"):
    """Choose the CRS of an input: the one it declares, or the assigned one where it declares none.

    Parameters
    ----------
    declared : CRS, str or None
        The CRS the file carries (None or empty when it has none).
    assigned : CRS, str or None
        A CRS the user assigns to inputs that lack one (the command line's ``--crs``).
    what : str
        The input named in messages (its path).

    Returns
    -------
    pyproj.CRS or None
        ``declared`` when it is set, else ``assigned`` (None when both are missing).

    Raises
    ------
    CRSError
        Both are set and differ: a declared CRS is never overridden silently.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjCRSError

    try:
        chosen = CRS.from_user_input(assigned) if assigned not in (None, "") else None
    except ProjCRSError as exc:
        raise CRSError(f"assigned CRS {assigned!r} is not a CRS PROJ knows ({exc}); give e.g. EPSG:25832") \
            from None
    if declared is None or str(declared) == "":
        return chosen
    have = CRS.from_user_input(declared)
    if chosen is not None and not _horizontal(have).equals(_horizontal(chosen), ignore_axis_order=True):
        raise CRSError(f"{what}: declares CRS {have.name}, which differs from the assigned {chosen.name} "
                       f"({chosen.to_string()}); a declared CRS is never overridden: drop the assigned CRS, or "
                       "reproject the file (gdalwarp -t_srs / ogr2ogr -t_srs)")
    return have
