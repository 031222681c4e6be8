"""Raster input and output: any GDAL raster in, float32 GeoTIFF/COG out, written atomically."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..errors import RasterError
from ..grid import Grid, check_projected, check_scale_factor, resolve_crs
from .atomic import atomic_write

log = logging.getLogger(__name__)


def sha256(path, chunk=1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_surface(path, band=1, window=None, *, crs=None) -> Grid:
    """Read a surface model (DSM or DTM) into a :class:`~solarkataster.grid.Grid`.

    Parameters
    ----------
    path : str or Path
        Any raster GDAL reads.
    band : int
        Band holding heights [m].
    window : rasterio.windows.Window, optional
        Read only this window (it may extend past the raster; the outside becomes NaN).
    crs : str or CRS, optional
        CRS assigned to a raster that declares none (e.g. ``"EPSG:25832"``). A raster that declares one
        keeps it, and a different ``crs`` is an error.

    Returns
    -------
    Grid
        Heights as float64 with NaN where the raster has nodata or non-finite values.

    Raises
    ------
    RasterError
        The file is not a raster, is all nodata, or has rotated or non-square pixels.
    CRSError
        The raster has no CRS (and none is assigned), a geographic one, one that disagrees with ``crs``, or
        one whose scale factor at the raster's centre departs from 1 by more than 1 % (Web Mercator).
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise RasterError(f"{path}: file not found")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterError(f"{path}: not a readable raster ({exc})") from None
    with ds:
        crs = check_projected(resolve_crs(ds.crs, crs, what=str(path)), what=str(path))
        centre = ds.transform * (ds.width / 2, ds.height / 2)
        check_scale_factor(crs, *centre, what=str(path))
        if band < 1 or band > ds.count:
            raise RasterError(f"{path}: has {ds.count} band(s), band {band} requested")
        t = ds.transform
        if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
            raise RasterError(f"{path}: rotated or sheared pixels are not supported; warp it north-up first "
                              "(gdalwarp)")
        if abs(abs(t.a) - abs(t.e)) > 1e-6 * abs(t.a):
            raise RasterError(f"{path}: pixels are {abs(t.a)} x {abs(t.e)} m, not square; resample first "
                              "(gdalwarp -tr)")
        if min(ds.height, ds.width) < 3 and window is None:
            raise RasterError(f"{path}: {ds.height} x {ds.width} pixels is too small (a single row or column "
                              "has no surface orientation); at least 3 x 3 are needed")
        try:
            if window is not None:
                z = ds.read(band, window=window, masked=True, boundless=True, fill_value=np.nan)
                transform = ds.window_transform(window)
            else:
                z = ds.read(band, masked=True)
                transform = ds.transform
        except Exception as exc:  # GDAL reports corrupt blocks only on read
            raise RasterError(f"{path}: cannot read band {band} ({exc})") from None
        z = np.ma.filled(z.astype(np.float64), np.nan)
        z[~np.isfinite(z)] = np.nan
        if window is None and not np.isfinite(z).any():
            raise RasterError(f"{path}: every pixel is nodata")
        if ds.crs is not None:
            crs = ds.crs  # keep rasterio's CRS object where the file declares one
    return Grid(z, transform, crs, source={"path": str(path)})


def write_raster(path, bands, grid, descriptions=None, units=None, tags=None, cog=False, threads="ALL_CPUS"):
    """Write float32 bands on ``grid``'s georeference, atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or Path
        Output GeoTIFF.
    bands : ndarray, shape (n, rows, cols) or (rows, cols)
        Values; NaN is the nodata value.
    grid : Grid
        Georeference (transform and CRS).
    descriptions : list of str, optional
        Band descriptions.
    units : str, optional
        Unit stored as each band's unit type.
    tags : dict, optional
        Dataset metadata tags.
    cog : bool
        Write a Cloud Optimized GeoTIFF (with overviews).
    threads : int or 'ALL_CPUS'
        GDAL's compression threads: every core by default; 1 for a write beside other work.
    """
    import rasterio
    import rasterio.shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(bands, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    profile = dict(driver="COG" if cog else "GTiff", dtype="float32", count=arr.shape[0], height=arr.shape[1],
                   width=arr.shape[2], crs=grid.crs, transform=grid.transform, nodata=np.nan,
                   compress="deflate", predictor=3, num_threads=threads)
    if cog:
        profile.update(blocksize=256, overview_resampling="average")
    else:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
        if arr.shape[1] < 256 or arr.shape[2] < 256:
            profile.pop("tiled"), profile.pop("blockxsize"), profile.pop("blockysize")

    def write(tmp):
        if cog:
            # the COG driver cannot be opened for writing: stage in memory, then copy
            from rasterio.io import MemoryFile

            mem_profile = {k: v for k, v in profile.items() if k not in ("driver", "blocksize",
                                                                          "overview_resampling")}
            mem_profile["driver"] = "GTiff"
            with MemoryFile() as mf:
                with mf.open(**mem_profile) as ds:
                    _fill(ds, arr, descriptions, units, tags)
                    rasterio.shutil.copy(ds, tmp, driver="COG", compress="deflate", predictor=3,
                                         blocksize=256, overview_resampling="average", num_threads=threads)
        else:
            with rasterio.open(tmp, "w", **profile) as ds:
                _fill(ds, arr, descriptions, units, tags)

    atomic_write(path, write, ".tif")
    return path


def _fill(ds, arr, descriptions, units, tags):
    ds.write(arr)
    for i in range(arr.shape[0]):
        if descriptions:
            ds.set_band_description(i + 1, descriptions[i])
        if units:
            ds.update_tags(i + 1, units=units)
    if tags:
        ds.update_tags(**{k: str(v) for k, v in tags.items()})
