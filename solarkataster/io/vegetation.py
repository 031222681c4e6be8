"""Vegetation input: a canopy height raster resampled onto the surface model's grid, or trees taken from it.

:func:`read_canopy` reads a canopy height model (canopy height above ground [m], UMEP's CDSM convention) on
any grid and resamples it onto the DSM's (or a window of it, for batch tiles with their halo).
:func:`prepare_vegetation` turns a ``--vegetation FILE|auto`` spec into the opaque surface and the
:class:`~solarkataster.vegetation.Vegetation` the engine takes (:mod:`solarkataster.vegetation` does the
splitting, :func:`solarkataster.detection.vegetation_mask` finds the trees for ``auto``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ParameterError, RasterError
from ..grid import Grid, check_projected, resolve_crs
from ..vegetation import Vegetation, VegetationSpec, canopy_from_model, canopy_from_surface

log = logging.getLogger(__name__)


def as_spec(vegetation):
    """Return a :class:`~solarkataster.vegetation.VegetationSpec` for what the API accepts, or None.

    Parameters
    ----------
    vegetation : None, str, Path, VegetationSpec or Vegetation
        None (no vegetation), ``'auto'`` or a canopy raster path (default parameters), a spec, or a
        ready :class:`~solarkataster.vegetation.Vegetation` on the grid (returned as is).
    """
    if vegetation is None or isinstance(vegetation, (VegetationSpec, Vegetation)):
        return vegetation
    if isinstance(vegetation, (str, Path)):
        return VegetationSpec(source=vegetation if str(vegetation).lower() != "auto" else "auto")
    raise ParameterError(f"vegetation={vegetation!r}: give 'auto', a canopy height raster or a VegetationSpec")


def read_canopy(path, grid: Grid, *, crs=None) -> np.ndarray:
    """Read a canopy height raster and resample it onto ``grid``.

    Parameters
    ----------
    path : str or Path
        Any raster GDAL reads holding canopy height above ground [m] (UMEP CDSM); 0 or nodata = none.
    grid : Grid
        The surface model's grid (or a window of it): the output's transform, shape and CRS.
    crs : str or CRS, optional
        CRS of a raster that declares none (default: the grid's).

    Returns
    -------
    ndarray, float32
        Canopy height [m] on ``grid``, 0 where there is none or the raster does not reach.
        Bilinear, or the pixel mean where the canopy raster's pixels are less than half the grid's.

    Raises
    ------
    RasterError
        The file is missing, not a raster, or does not overlap the grid.
    """
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.warp import Resampling, reproject

    path = Path(path)
    if not path.exists():
        raise RasterError(f"{path}: canopy raster not found (--vegetation takes a canopy height raster or 'auto')")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterError(f"{path}: not a readable raster ({exc})") from None
    with ds:
        src_crs = check_projected(resolve_crs(ds.crs, crs if crs is not None else (None if ds.crs else grid.crs),
                                              what=str(path)), what=str(path))
        window, transform = _window_over(ds, src_crs, grid)
        if window is not None and grid.halo == 0 and (
                window.col_off >= ds.width or window.row_off >= ds.height
                or window.col_off + window.width <= 0 or window.row_off + window.height <= 0):
            raise RasterError(f"{path}: the canopy raster does not overlap the surface model")
        try:
            data = ds.read(1, window=window, masked=True, boundless=window is not None, fill_value=np.nan)
        except Exception as exc:  # GDAL reports corrupt blocks only on read
            raise RasterError(f"{path}: cannot read band 1 ({exc})") from None
        src = np.ma.filled(data.astype(np.float64), np.nan)
        src[~np.isfinite(src) | (src < 0)] = 0.0
        fine = abs(ds.transform.a) < 0.5 * grid.cellsize
        out = np.full(grid.shape, np.nan)
        reproject(src, out, src_transform=transform, src_crs=src_crs, dst_transform=grid.transform,
                  dst_crs=grid.crs, resampling=Resampling.average if fine else Resampling.bilinear,
                  src_nodata=np.nan, dst_nodata=np.nan)
    if not np.isfinite(out).any() and grid.halo == 0:
        raise RasterError(f"{path}: the canopy raster does not overlap the surface model")
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def _window_over(ds, src_crs, grid):
    """Return the part of an open raster around ``grid`` (a batch tile's window): (window, its transform).

    ``(None, ds.transform)`` (the whole raster) when the raster is in another CRS.
    """
    from pyproj import CRS
    from rasterio.windows import Window, from_bounds

    if not CRS.from_user_input(src_crs).equals(CRS.from_user_input(grid.crs), ignore_axis_order=True):
        return None, ds.transform
    t = grid.transform
    rows, cols = grid.shape
    w = from_bounds(t.c, t.f + rows * t.e, t.c + cols * t.a, t.f, transform=ds.transform)
    pad = 2
    window = Window(int(np.floor(w.col_off)) - pad, int(np.floor(w.row_off)) - pad,
                    int(np.ceil(w.width)) + 2 * pad + 1, int(np.ceil(w.height)) + 2 * pad + 1)
    return window, ds.window_transform(window)


def prepare_vegetation(vegetation, grid: Grid, ground, buildings=None, *, crs=None, detected=False):
    """Return the opaque surface and the canopy of a run.

    Parameters
    ----------
    vegetation : None, str, Path, VegetationSpec or Vegetation
        See :func:`as_spec`. A canopy raster is resampled onto the grid; where the surface model already
        contains its trees (a first-return LiDAR DSM) they leave the opaque surface
        (:func:`solarkataster.vegetation.canopy_from_model`). ``'auto'`` takes the trees from the surface
        model (:func:`solarkataster.detection.vegetation_mask`). A :class:`Vegetation` is used as given.
    grid : Grid
        Surface model.
    ground : ndarray
        Ground elevation [m] on the grid (DTM or ground filter).
    buildings : ndarray of int or bool, optional
        Building pixels (footprints or detection): trees over them keep the roof under their crown.
    crs : str, optional
        CRS of a canopy raster that declares none.
    detected : bool
        ``buildings`` come from :func:`solarkataster.detection.detect_buildings` (with its defaults), so
        ``'auto'`` need not detect them again.

    Returns
    -------
    (Grid, Vegetation or None)
        The grid the engine takes (the opaque surface) and the vegetation; ``(grid, None)`` without.
    """
    spec = as_spec(vegetation)
    if spec is None:
        return grid, None
    if isinstance(spec, Vegetation):
        if spec.canopy_height.shape != grid.shape:
            raise ParameterError(f"vegetation canopy {spec.canopy_height.shape} is not on the surface model's grid "
                                 f"{grid.shape}")
        return grid, spec
    if spec.is_auto:
        from ..detection import vegetation_mask

        trees = vegetation_mask(grid.z, grid.cellsize, ground, None if detected else buildings,
                                detected=buildings if detected else None)
        opaque, ch = canopy_from_surface(grid.z, ground, trees, buildings)
        extra = {"removed_from_surface_px": int((ch > 0).sum())}
        source = "auto (trees of the surface model)"
    else:
        ch_in = read_canopy(spec.source, grid, crs=crs)
        opaque, ch, removed = canopy_from_model(grid.z, ground, ch_in, buildings)
        extra = {"removed_from_surface_px": removed}
        source = str(spec.source)
    veg = spec.vegetation(ch, ground, source=source, extra=extra)
    log.info("vegetation from %s: %d canopy pixels, %d taken out of the surface model", source,
             int(veg.mask.sum()), extra["removed_from_surface_px"])
    out = Grid(opaque, grid.transform, grid.crs, halo=grid.halo, source=grid.source)
    return out, veg


def surface_vegetation(vegetation, grid: Grid, *, crs=None):
    """Return the opaque surface and the canopy of a surface model alone (``irradiance`` and ``point``).

    The ground comes from a ground filter of the surface model
    (:func:`solarkataster.detection.ground_from_dsm`) and the buildings from the detection
    (:func:`solarkataster.detection.detect_buildings`); then :func:`prepare_vegetation`.

    Parameters
    ----------
    vegetation : None, str, Path, VegetationSpec or Vegetation
        See :func:`as_spec`.
    grid : Grid
        Surface model.
    crs : str, optional
        CRS of a canopy raster that declares none.

    Returns
    -------
    (Grid, Vegetation or None)
    """
    spec = as_spec(vegetation)
    if spec is None or isinstance(spec, Vegetation):
        return prepare_vegetation(spec, grid, None)
    from ..detection import detect_buildings, ground_from_dsm

    ground = ground_from_dsm(grid.z, grid.cellsize)
    buildings = detect_buildings(grid.z, grid.cellsize, ground)
    return prepare_vegetation(spec, grid, ground, buildings, crs=crs, detected=True)
