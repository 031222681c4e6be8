"""The surface model as the core sees it: a height array plus its georeference.

`Grid` carries no file handle; readers in :mod:`solarkataster.io.raster` build it, and every core
function takes ``grid.z`` and ``grid.cellsize`` (or the whole `Grid`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine

from .errors import CRSError, RasterError


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
        """A sub-grid of rows ``row0:row1`` and columns ``col0:col1`` (halo included by the caller)."""
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
