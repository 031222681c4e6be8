"""Per-pixel surface orientation from a local plane fit.

The normal of each pixel comes from the least-squares plane through its 3 x 3 neighbourhood, which for a
regular grid reduces to Horn's finite differences [1]_. Missing neighbours (NaN) are replaced by the
centre value so that edges of the data still get an orientation from the pixels that exist.

References
----------
.. [1] Horn, B. K. P. (1981). Hill shading and the reflectance map. Proceedings of the IEEE, 69(1),
   14-47. https://doi.org/10.1109/PROC.1981.11918
"""
from __future__ import annotations

import numpy as np

from ._kernels import horizon as _k


def surface_normals(z, cellsize):
    """Compute unit normals of the local least-squares plane at every pixel.

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Heights [m], NaN where missing. Row 0 is the northern edge (north-up raster).
    cellsize : float
        Pixel size [m].

    Returns
    -------
    normal : ndarray, shape (3, rows, cols)
        Components (east, north, up) of the upward unit normal; NaN where ``z`` is NaN.
    """
    z = np.ascontiguousarray(z, dtype=np.float64)
    # least-squares plane over 3x3 (Horn weights): dz/dx (east), dz/dy (north; rows grow southwards); a
    # missing neighbour (outside = missing, like a tile's halo) takes the centre's height
    normal = np.empty((3,) + z.shape)
    _k.plane_normals(z, float(cellsize), normal)
    return normal


def normal_to_tilt_azimuth(normal):
    """Tilt and azimuth of surfaces with the given upward normals.

    Parameters
    ----------
    normal : ndarray, shape (3, ...)
        (east, north, up) components of unit normals.

    Returns
    -------
    tilt : ndarray
        Angle from horizontal [°], 0 = flat, 90 = vertical.
    azimuth : ndarray
        Direction the surface faces [°], clockwise from north in [0, 360); 180 for flat surfaces.
    """
    e, n, u = normal
    tilt = np.degrees(np.arccos(np.clip(u, -1.0, 1.0)))
    az = np.degrees(np.arctan2(e, n)) % 360.0
    az = np.where(np.hypot(e, n) < 1e-9, 180.0, az)
    return tilt, az


def tilt_azimuth_to_normal(tilt, azimuth):
    """Upward unit normal of planes with given tilt and azimuth, the inverse of :func:`normal_to_tilt_azimuth`.

    Parameters
    ----------
    tilt : array_like
        Tilt from horizontal [°].
    azimuth : array_like
        Azimuth the plane faces [°], clockwise from north.

    Returns
    -------
    ndarray, shape (3, ...)
        Unit normal components (east, north, up) [-] of the broadcast inputs.
    """
    t = np.radians(tilt)
    a = np.radians(azimuth)
    return np.stack(np.broadcast_arrays(np.sin(t) * np.sin(a), np.sin(t) * np.cos(a), np.cos(t)))


def surface_orientation(z, cellsize):
    """Tilt and azimuth of every pixel from its local plane fit (see :func:`surface_normals`).

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Surface heights [m] on square pixels, north up; NaN where missing.
    cellsize : float
        Pixel size [m].

    Returns
    -------
    tilt, azimuth : ndarray, shape (rows, cols)
        Tilt from horizontal [°] and azimuth the surface faces [°], clockwise from north.
    """
    return normal_to_tilt_azimuth(surface_normals(z, cellsize))
