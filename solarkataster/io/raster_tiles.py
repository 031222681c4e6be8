"""Raster context tiles of a results folder: hillshade and annual irradiation as PMTiles of WebP images.

The map needs context without the internet: where the streets, trees and roofs are. The run has it in its
rasters, so two raster archives are written beside the vector tiles (one archive holds one image type, and
each can be switched on and off on the map):

* ``hillshade.pmtiles``: the surface model lit from the north-west (azimuth 315°, altitude 45°; Horn 1981,
  doi:10.1109/PROC.1981.11918), grey;
* ``irradiation.pmtiles``: the global annual irradiation [kWh/m²/a] of ``irradiation.tif`` in a colour ramp
  between its 2nd and 98th percentile; the ramp and its bounds are in the archive's metadata (``legend``),
  so the page draws its colour bar from the archive alone.

Tiles are Web Mercator (EPSG:3857) 256-pixel tiles from :data:`MIN_ZOOM` to the zoom whose pixel is about the
raster's pixel (at most :data:`MAX_ZOOM`); each zoom is resampled from the full-resolution raster (average
when shrinking, bilinear otherwise). Pixels without data are transparent; tiles without any data are left out.

When the results folder is rebuilt from files (``solarkataster tiles``), the surface model is the run's DSM
named in ``run.json`` when it is still there; otherwise the relief is drawn from ``sky_view_factor.tif``
(open sky light, which shows streets, trees and roofs as well; the archive's metadata says which).
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Lowest zoom of the context tiles (a city overview).
MIN_ZOOM = 12
#: Highest zoom of the context tiles (about 0.3 m per pixel at 50° N).
MAX_ZOOM = 19
#: The archives: id -> (file name, label, shown when the page opens, opacity on the map).
CONTEXT = {
    "hillshade": ("hillshade.pmtiles", "Hillshade (surface model)", True, 1.0),
    "irradiation_raster": ("irradiation.pmtiles", "Annual irradiation (raster)", False, 0.75),
}
#: Colour ramp of the irradiation tiles (inferno, 6 stops, low to high).
IRRADIATION_RAMP = ("#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4")
#: libwebp's effort (0 fast .. 6 slow) for the context tiles. On Essen, method 2 instead of 4 made the tiles
#: 2.5 % larger and changed their opaque pixels by 2.6-3.0/255 on average (RGB, at most 36); at
#: ``quality=80`` they are lossy anyway, and encoding is a large part of writing them.
WEBP_METHOD = 2
_BLOCK = 8  # tiles per side reprojected at once
_EARTH = 2 * math.pi * 6378137.0  # Web Mercator world width [m]


@dataclass
class ContextRaster:
    """One raster to tile: values on a projected grid, in memory or in a file (band 1, read window by window)."""

    values: np.ndarray | None  # (rows, cols), NaN where no data; None for a file
    transform: object = None  # affine.Affine
    crs: object = None
    path: Path | None = None  # a GeoTIFF or VRT (a batch mosaic) instead of values

    @classmethod
    def from_file(cls, path):
        """Refer to band 1 of a raster file (nothing is read yet)."""
        import rasterio

        with rasterio.open(path) as ds:
            return cls(None, ds.transform, ds.crs, Path(path))

    def shape(self):
        """(rows, cols)."""
        if self.values is not None:
            return self.values.shape
        import rasterio

        with rasterio.open(self.path) as ds:
            return ds.height, ds.width

    def sample(self, max_side=2000) -> np.ndarray:
        """All values, or for a file a decimated read of at most ``max_side`` pixels a side."""
        if self.values is not None:
            return self.values
        import rasterio

        with rasterio.open(self.path) as ds:
            k = max(1, math.ceil(max(ds.height, ds.width) / max_side))
            return ds.read(1, out_shape=(max(1, ds.height // k), max(1, ds.width // k)), masked=True) \
                .astype(np.float32).filled(np.nan)


def context_catalogue(results_dir, prefix="tiles/") -> list:
    """Return the context archives present in a results folder, as the map page reads them.

    Parameters
    ----------
    results_dir : str or Path
        Results folder.
    prefix : str
        URL prefix of the archives (relative to the page).

    Returns
    -------
    list of dict
        ``id``, ``label``, ``url``, ``visible``, ``opacity`` per archive present.
    """
    folder = Path(results_dir)
    return [{"id": key, "label": label, "url": prefix + name, "visible": visible, "opacity": opacity}
            for key, (name, label, visible, opacity) in CONTEXT.items() if (folder / name).is_file()]


def hillshade(z, cellsize, azimuth=315.0, altitude=45.0) -> np.ndarray:
    """Shaded relief of a surface model (Horn 1981, doi:10.1109/PROC.1981.11918).

    Parameters
    ----------
    z : ndarray, shape (rows, cols)
        Heights [m] on a north-up grid; NaN where missing.
    cellsize : float
        Pixel size [m].
    azimuth, altitude : float
        Direction the light comes from, clockwise from north, and its elevation [°].

    Returns
    -------
    ndarray of float32
        Brightness 0..1 (cosine of the incidence angle, clipped at 0); NaN where ``z`` is NaN.
    """
    z = np.asarray(z, dtype=np.float64)
    filled = np.where(np.isfinite(z), z, np.nanmean(z) if np.isfinite(z).any() else 0.0)
    p = np.pad(filled, 1, mode="edge")
    # Horn's 3x3 weighted differences: x east, y north (rows run south)
    dzdx = ((p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])) / (8 * cellsize)
    dzdy = ((p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:]) - (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:])) / (8 * cellsize)
    zen, az = math.radians(90.0 - altitude), math.radians(azimuth)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, -dzdy)  # direction the slope faces, clockwise from north
    shade = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    out = np.clip(shade, 0.0, 1.0).astype(np.float32)
    out[~np.isfinite(z)] = np.nan
    return out


def _lut(colors) -> np.ndarray:
    """256 x 3 uint8 lookup table linear between hex colour stops."""
    stops = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=float)
    pos = np.linspace(0, 1, len(colors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, stops[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


@functools.lru_cache(maxsize=2)
def _opaque_pixels(grey) -> np.ndarray:
    """Return the 256 opaque colours of the grey or the irradiation ramp, as RGBA pixels packed in ``<u4``."""
    rgb = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1) if grey else _lut(IRRADIATION_RAMP)
    pixels = np.dstack([rgb[None], np.full((1, 256, 1), 255, np.uint8)]).view("<u4").ravel()
    pixels.setflags(write=False)
    return pixels


def _rgba(values, kind, lo, hi) -> np.ndarray:
    """Colour one block: grey hillshade or the irradiation ramp; alpha 0 where NaN."""
    ok = np.isfinite(values)
    if kind == "svf":  # sky view factor as relief: open sky light, darkened a little for contrast
        values = np.clip(values, 0, 1) ** 0.6
    # (v - lo) / (hi - lo) clipped to 0..1, times 255, rounded: in place, NaN as lo
    scaled = np.nan_to_num(values, nan=lo)
    scaled -= lo
    scaled /= max(hi - lo, 1e-9)
    np.clip(scaled, 0, 1, out=scaled)
    scaled *= 255
    idx = np.rint(scaled, out=scaled).astype(np.uint8)
    pixels = _opaque_pixels(kind in ("hillshade", "svf"))[idx]
    pixels[~ok] &= np.uint32(0x00FFFFFF)  # alpha 0 (the last byte of a little-endian RGBA pixel)
    return pixels.view(np.uint8).reshape(idx.shape + (4,))


def _encode(rgba) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="WEBP", quality=80, method=WEBP_METHOD)
    return buf.getvalue()


def native_zoom(cellsize, lat) -> int:
    """Return the zoom whose Web Mercator pixel is about ``cellsize`` [m] at latitude ``lat`` [°], within the range."""
    z = math.ceil(math.log2(_EARTH * math.cos(math.radians(lat)) / (256 * cellsize)) - 0.3)
    return int(min(MAX_ZOOM, max(MIN_ZOOM, z)))


def _tile_range(bounds_3857, z):
    n = 2 ** z
    x0 = int(math.floor((bounds_3857[0] + _EARTH / 2) / _EARTH * n))
    x1 = int(math.floor((bounds_3857[2] + _EARTH / 2) / _EARTH * n))
    y0 = int(math.floor((_EARTH / 2 - bounds_3857[3]) / _EARTH * n))
    y1 = int(math.floor((_EARTH / 2 - bounds_3857[1]) / _EARTH * n))
    return max(x0, 0), min(x1, n - 1), max(y0, 0), min(y1, n - 1)


def _tiles_of_zoom(src, source, kind, z, lo, hi, bounds_3857):
    """Yield ``(z, x, y, webp bytes)`` of one zoom, reprojected block by block from ``source``."""
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    res = _EARTH / (256 * 2 ** z)
    tx0, tx1, ty0, ty1 = _tile_range(bounds_3857, z)
    resampling = Resampling.average if res > 1.5 * abs(src.transform.a) else Resampling.bilinear
    for bx in range(tx0, tx1 + 1, _BLOCK):
        for by in range(ty0, ty1 + 1, _BLOCK):
            nx, ny = min(_BLOCK, tx1 + 1 - bx), min(_BLOCK, ty1 + 1 - by)
            dst = np.full((ny * 256, nx * 256), np.nan, dtype=np.float32)
            transform = Affine(res, 0, -_EARTH / 2 + bx * 256 * res, 0, -res, _EARTH / 2 - by * 256 * res)
            reproject(source, dst, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
                      dst_transform=transform, dst_crs="EPSG:3857", dst_nodata=np.nan, resampling=resampling)
            for j in range(ny):
                for i in range(nx):
                    block = dst[j * 256:(j + 1) * 256, i * 256:(i + 1) * 256]
                    if np.isfinite(block).any():
                        yield z, bx + i, by + j, _encode(_rgba(block, kind, lo, hi))


@contextlib.contextmanager
def _nothing():
    yield None


def write_raster_tiles(path, src: ContextRaster, kind, *, name, description, legend=None) -> Path:
    """Tile one raster into a PMTiles archive of WebP images, atomically.

    Parameters
    ----------
    path : str or Path
        The ``.pmtiles`` file to write.
    src : ContextRaster
        Values (hillshade 0..1, or irradiation [kWh/m²/a]) on a projected grid.
    kind : {"hillshade", "svf", "irradiation"}
        Grey shading (0..1), the sky view factor as grey relief, or the irradiation colour ramp.
    name, description : str
        Recorded in the archive's metadata.
    legend : dict, optional
        ``min``, ``max`` (the ramp's bounds), ``unit``; the ramp's ``colors`` are added.

    Returns
    -------
    pathlib.Path
        The archive.
    """
    import rasterio
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer
    from rasterio.warp import transform_bounds

    path = Path(path)
    rows, cols = src.shape()
    t = src.transform
    bounds = (t.c, t.f + rows * t.e, t.c + cols * t.a, t.f)
    lon_lat = transform_bounds(src.crs, "EPSG:4326", *bounds)
    merc = transform_bounds(src.crs, "EPSG:3857", *bounds)
    lo, hi = (legend["min"], legend["max"]) if kind == "irradiation" else (0.0, 1.0)
    max_zoom = native_zoom(abs(t.a), (lon_lat[1] + lon_lat[3]) / 2)
    tiles = []
    with (rasterio.open(src.path) if src.path is not None else _nothing()) as ds:
        source = rasterio.band(ds, 1) if ds is not None else src.values
        for z in range(MIN_ZOOM, max_zoom + 1):
            tiles += [(zxy_to_tileid(z, x, y), data)
                      for z, x, y, data in _tiles_of_zoom(src, source, kind, z, lo, hi, merc)]
    tiles.sort(key=lambda item: item[0])
    meta = {"name": name, "description": description, "format": "webp", "type": "overlay",
            "attribution": "solarkataster"}
    if legend is not None:
        meta["legend"] = {**legend, "colors": list(IRRADIATION_RAMP)}
    header = {"tile_type": TileType.WEBP, "tile_compression": Compression.NONE,
              "min_lon_e7": int(lon_lat[0] * 1e7), "min_lat_e7": int(lon_lat[1] * 1e7),
              "max_lon_e7": int(lon_lat[2] * 1e7), "max_lat_e7": int(lon_lat[3] * 1e7),
              "center_zoom": max_zoom - 2, "center_lon_e7": int((lon_lat[0] + lon_lat[2]) / 2 * 1e7),
              "center_lat_e7": int((lon_lat[1] + lon_lat[3]) / 2 * 1e7)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".pmtiles")
    try:
        with os.fdopen(fd, "wb") as f:
            writer = Writer(f)
            for tile_id, data in tiles:
                writer.write_tile(tile_id, data)
            writer.finalize(header, meta)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the archive is served
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote %d %s tiles z%d-z%d to %s", len(tiles), kind, MIN_ZOOM, max_zoom, path)
    return path


def irradiation_legend(values) -> dict:
    """Bounds of the irradiation ramp: the 2nd and 98th percentile rounded to 10 [kWh/m²/a]."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"min": 0.0, "max": 1.0, "unit": "kWh/m²/a"}
    lo, hi = np.percentile(finite, [2, 98])
    lo, hi = math.floor(lo / 10) * 10, math.ceil(hi / 10) * 10
    return {"min": float(lo), "max": float(max(hi, lo + 10)), "unit": "kWh/m²/a"}


def write_context_tiles(results_dir, irradiation: ContextRaster | None, relief: ContextRaster | None, *,
                        relief_source="surface model") -> list:
    """Write ``hillshade.pmtiles`` and ``irradiation.pmtiles`` into a results folder.

    Parameters
    ----------
    results_dir : str or Path
        Results folder.
    irradiation : ContextRaster or None
        Global annual irradiation [kWh/m²/a].
    relief : ContextRaster or None
        Surface heights [m] (shaded here), or with ``relief_source="sky view factor"`` the sky view factor
        [-] drawn as it is.
    relief_source : str
        What ``relief`` is, recorded in the metadata.

    Returns
    -------
    list of str
        File names written.
    """
    out = Path(results_dir)
    written = []
    if relief is not None:
        if relief_source == "sky view factor":
            kind, shade = "svf", relief
        else:
            values = relief.values if relief.values is not None else relief.sample(max_side=1 << 30)
            kind, shade = "hillshade", ContextRaster(hillshade(values, abs(relief.transform.a)), relief.transform,
                                                     relief.crs)
        write_raster_tiles(out / CONTEXT["hillshade"][0], shade, kind, name="hillshade",
                           description=f"relief from the {relief_source}")
        written.append(CONTEXT["hillshade"][0])
    if irradiation is not None:
        legend = irradiation_legend(irradiation.sample())
        write_raster_tiles(out / CONTEXT["irradiation_raster"][0], irradiation, "irradiation",
                           name="irradiation", description="global annual irradiation [kWh/m²/a]", legend=legend)
        written.append(CONTEXT["irradiation_raster"][0])
    return written


def _run_dsm(folder) -> Path | None:
    """Return the surface model named in run.json's provenance, when it is still readable."""
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    inputs = run.get("inputs") or (run.get("provenance") or {}).get("inputs") or []
    rasters = [entry.get("path") if isinstance(entry, dict) else entry for entry in
               (inputs if isinstance(inputs, list) else [])]
    rasters = [p for p in rasters if isinstance(p, str) and p.lower().endswith((".tif", ".tiff", ".vrt"))]
    if len(rasters) != 1:  # none, or the tiles of a batch: the relief comes from the sky view factor
        return None
    candidate = Path(rasters[0]) if Path(rasters[0]).is_absolute() else folder / rasters[0]
    return candidate if candidate.is_file() else None


def build_context_tiles(results_dir) -> list:
    """Rebuild the context archives from a results folder's rasters (``solarkataster tiles``).

    Uses ``irradiation.tif`` (or the batch mosaic ``irradiation.vrt``) band 1, the run's DSM when run.json
    names one that is still there, else ``sky_view_factor.tif``/``.vrt`` for the relief.

    Returns
    -------
    list of str
        File names written ([] when the folder has no rasters).
    """
    folder = Path(results_dir)
    first = lambda stem: next((folder / f"{stem}{ext}" for ext in (".tif", ".vrt")  # noqa: E731
                               if (folder / f"{stem}{ext}").is_file()), None)
    irr_path, svf_path, dsm_path = first("irradiation"), first("sky_view_factor"), _run_dsm(folder)
    irradiation = ContextRaster.from_file(irr_path) if irr_path else None
    if dsm_path is not None:
        relief, source = ContextRaster.from_file(dsm_path), "surface model"
    elif svf_path is not None:
        relief, source = ContextRaster.from_file(svf_path), "sky view factor"
    else:
        relief, source = None, ""
    return write_context_tiles(folder, irradiation, relief, relief_source=source)
