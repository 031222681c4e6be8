"""Tile discovery and mosaic consistency: GeoTIFF/VRT/LAS/LAZ tiles in, a checked tile set out.

A city arrives as many files. :func:`discover_tiles` expands what the user typed (files, directories,
glob patterns, VRTs: a VRT is expanded into its source files) and :func:`scan_tiles` reads each header and
checks that the tiles form one mosaic:

- same CRS and pixel size, and pixel grids that line up (else :class:`~solarkataster.errors.TileError`
  naming the tile and the fix);
- no two tiles overlap (overlap would report the same roof twice; the error names both tiles and says to
  clip the buffer off, e.g. ``gdal_translate -projwin``);
- gaps between tiles are allowed (they are nodata): they are reported as warnings naming the tiles that
  border them;
- a tile that cannot be opened at all is marked corrupt: it fails alone and appears in the batch summary;
  it does not stop the city.

:func:`read_mosaic` reads any window of the mosaic (a tile plus its halo) from the tiles it touches, with NaN
where no tile has data.
"""
from __future__ import annotations

import glob
import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CRSError, RasterError, TileError
from ..grid import Grid

log = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc")
LAS_SUFFIXES = (".las", ".laz")
#: Relative tolerance for "same pixel size" and "grid lines up" [fraction of a pixel].
GRID_TOLERANCE = 1e-3


@dataclass
class TileInfo:
    """One input tile as its header describes it.

    Attributes
    ----------
    tile_id : str
        Unique, filesystem-safe id (the file stem, made unique).
    path : str
        The file.
    kind : {'raster', 'las'}
    bounds : tuple of float or None
        (left, bottom, right, top) [m] of the tile's core, on the mosaic's pixel grid; None when corrupt.
    crs : str or None
        WKT of the CRS.
    cellsize : float or None
        Pixel size [m] (LAS: the rasterisation resolution).
    error : str or None
        Why the tile is unusable (corrupt); None when fine.
    """

    tile_id: str
    path: str
    kind: str
    bounds: tuple | None = None
    crs: str | None = None
    cellsize: float | None = None
    error: str | None = None

    @property
    def ok(self):
        """True when the tile is readable."""
        return self.error is None


@dataclass
class TileSet:
    """Checked tiles of one mosaic plus what the checks found."""

    tiles: list
    crs: str | None
    cellsize: float | None
    warnings: list = field(default_factory=list)

    @property
    def good(self):
        """Readable tiles."""
        return [t for t in self.tiles if t.ok]

    @property
    def corrupt(self):
        """Unreadable tiles (``error`` set)."""
        return [t for t in self.tiles if not t.ok]

    @property
    def bounds(self):
        """(left, bottom, right, top) [m] of all readable tiles."""
        b = np.array([t.bounds for t in self.good])
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))

    def overlapping(self, bounds):
        """Readable tiles whose core intersects ``bounds`` (left, bottom, right, top)."""
        return [t for t in self.good if _intersects(t.bounds, bounds)]


def _intersects(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ------------------------------------------------------------------------------------------ discovery

def discover_tiles(specs) -> list:
    """Expand tile specifications into a sorted list of files.

    Parameters
    ----------
    specs : str, Path or list of those
        Files (GeoTIFF, LAS, LAZ), directories (their ``*.tif``, ``*.tiff``, ``*.las``, ``*.laz``),
        glob patterns (``'dsm/*.tif'``) or VRTs (expanded into their source files).

    Returns
    -------
    list of Path
        Absolute paths with symlinks resolved, each file once: however a tile was spelled (relative,
        absolute, through a symlink), it is the same file, with the same tile id and manifest entry.

    Raises
    ------
    TileError
        A specification matches nothing.
    """
    if isinstance(specs, (str, Path)):
        specs = [specs]
    files = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in RASTER_SUFFIXES[:2] + LAS_SUFFIXES)
            if not found:
                raise TileError(f"{p}: directory holds no .tif, .tiff, .las or .laz tiles")
            files.extend(found)
        elif p.suffix.lower() == ".vrt" and p.exists():
            files.extend(vrt_sources(p))
        elif p.exists():
            files.append(p)
        elif glob.has_magic(str(spec)):
            found = sorted(Path(f) for f in glob.glob(str(spec)))
            if not found:
                raise TileError(f"{spec}: pattern matches no files")
            files.extend(found)
        else:
            raise TileError(f"{spec}: no such file, directory or pattern")
    seen, unique = set(), []
    for f in files:
        key = Path(f).resolve()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def vrt_sources(path) -> list:
    """Source files of a GDAL VRT (``SourceFilename`` elements, relative ones resolved against the VRT)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise TileError(f"{path}: not a readable VRT ({exc})") from None
    out = []
    for el in root.iter("SourceFilename"):
        name = (el.text or "").strip()
        src = path.parent / name if el.get("relativeToVRT", "0") == "1" else Path(name)
        if src not in out:
            out.append(src)
    if not out:
        raise TileError(f"{path}: VRT has no SourceFilename entries; pass the tiles themselves")
    return out


def tile_ids(paths) -> list:
    """Filesystem-safe, unique ids from file stems (``dom1_32_356_5699``; ``_2`` appended on clashes)."""
    ids, used = [], set()
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(p).stem) or "tile"
        tid, k = base, 2
        while tid in used:
            tid, k = f"{base}_{k}", k + 1
        used.add(tid)
        ids.append(tid)
    return ids


# ------------------------------------------------------------------------------------------ scanning

def _raster_header(path, crs=None):
    import rasterio

    from ..grid import resolve_crs

    with rasterio.open(path) as ds:
        tile_crs = resolve_crs(ds.crs, crs, str(path))
        if tile_crs is None:
            raise CRSError(f"{path}: tile has no CRS; assign one (--crs EPSG:25832, or gdal_edit.py -a_srs)")
        t = ds.transform
        if abs(t.b) > 1e-12 or abs(t.d) > 1e-12 or t.e >= 0:
            raise RasterError(f"{path}: tile is rotated or not north-up; warp it first (gdalwarp)")
        if abs(abs(t.a) - abs(t.e)) > GRID_TOLERANCE * abs(t.a):
            raise RasterError(f"{path}: pixels are {abs(t.a)} x {abs(t.e)} m, not square; resample (gdalwarp -tr)")
        return tuple(ds.bounds), tile_crs.to_wkt(), float(t.a)


def _las_header(path, resolution, crs=None):
    from .pointcloud import las_crs, read_las_header

    header = read_las_header(path)
    crs = las_crs(header, path, crs)
    (x0, y0), (x1, y1) = header.mins[:2], header.maxs[:2]
    # snap to the resolution grid (rounded, so points exactly on a tile edge do not make tiles overlap)
    r = resolution
    b = (round(x0 / r) * r, round(y0 / r) * r, round(x1 / r) * r, round(y1 / r) * r)
    if b[2] <= b[0] or b[3] <= b[1]:
        b = (math.floor(x0 / r) * r, math.floor(y0 / r) * r, math.ceil(x1 / r) * r, math.ceil(y1 / r) * r)
    return b, crs.to_wkt(), float(resolution)


def scan_tiles(paths, *, resolution=None, allow_gaps=True, crs=None) -> TileSet:
    """Read the tiles' headers and check that they form one consistent mosaic.

    Parameters
    ----------
    paths : list of str or Path
        Tile files (see :func:`discover_tiles`).
    resolution : float, optional
        Rasterisation pixel size [m] for LAS/LAZ tiles (default 0.5 m). Raster tiles keep their own.
    allow_gaps : bool
        Report gaps between tiles as warnings (True) or raise (False).
    crs : str, optional
        CRS assigned to tiles that declare none; a declared CRS is never overridden.

    Returns
    -------
    TileSet

    Raises
    ------
    TileError
        Tiles differ in CRS or pixel size, their pixel grids do not line up, or two tiles overlap. The
        message names the tile(s) and the fix. Unreadable tiles do not raise: they are returned with
        ``error`` set.
    """
    from pyproj import CRS

    from ..grid import check_scale_factor

    paths = [Path(p) for p in paths]
    if not paths:
        raise TileError("no tiles given")
    infos = []
    for tid, p in zip(tile_ids(paths), paths):
        kind = "las" if p.suffix.lower() in LAS_SUFFIXES else "raster"
        info = TileInfo(tid, str(p), kind)
        try:
            if kind == "las":
                info.bounds, info.crs, info.cellsize = _las_header(p, resolution or 0.5, crs)
            else:
                info.bounds, info.crs, info.cellsize = _raster_header(p, crs)
        except CRSError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unreadable tile fails alone
            info.error = f"{p}: unreadable tile ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            log.warning(info.error)
        infos.append(info)
    good = [t for t in infos if t.ok]
    if not good:
        raise TileError("no readable tile: " + "; ".join(t.error for t in infos))
    kinds = {t.kind for t in good}
    if len(kinds) > 1:
        raise TileError(f"mixed raster and LAS/LAZ tiles ({good[0].path}, ...): pass one kind per batch")
    ref = good[0]
    ref_crs = CRS.from_wkt(ref.crs)
    check_scale_factor(ref_crs, (ref.bounds[0] + ref.bounds[2]) / 2, (ref.bounds[1] + ref.bounds[3]) / 2, ref.path)
    for t in good[1:]:
        if not CRS.from_wkt(t.crs).equals(ref_crs, ignore_axis_order=True):
            raise TileError(f"{t.path}: CRS {CRS.from_wkt(t.crs).name} differs from {ref_crs.name} of {ref.path}; "
                            "reproject it (gdalwarp -t_srs) so all tiles share one CRS")
        if abs(t.cellsize - ref.cellsize) > GRID_TOLERANCE * ref.cellsize:
            raise TileError(f"{t.path}: pixel size {t.cellsize:g} m differs from {ref.cellsize:g} m of {ref.path}; "
                            f"resample it (gdalwarp -tr {ref.cellsize:g} {ref.cellsize:g})")
    cs = ref.cellsize
    for t in good:
        for v, r in zip(t.bounds[:2], ref.bounds[:2]):
            off = (v - r) / cs
            if abs(off - round(off)) > GRID_TOLERANCE * 10:
                raise TileError(f"{t.path}: pixel grid is offset by {(off - round(off)) * cs:.3f} m from {ref.path}'s; "
                                "align it (gdalwarp -tap -tr)")
    tileset = TileSet(infos, ref.crs, cs)
    _check_overlaps(good, cs)
    for msg in _find_gaps(good, cs):
        if not allow_gaps:
            raise TileError(msg)
        log.warning(msg)
        tileset.warnings.append(msg)
    return tileset


def _check_overlaps(tiles, cs):
    eps = GRID_TOLERANCE * cs
    b = np.array([t.bounds for t in tiles])
    order = np.argsort(b[:, 0])
    for i_pos, i in enumerate(order):
        for j in order[i_pos + 1:]:
            if b[j, 0] >= b[i, 2] - eps:
                break
            ox = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            oy = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            if ox > eps and oy > eps:
                a, c = tiles[i], tiles[j]
                raise TileError(f"{c.path} overlaps {a.path} by {ox:g} m x {oy:g} m: overlapping tiles would report "
                                "buildings twice; clip the tiles to a seamless tiling (gdal_translate -projwin) or "
                                "pass them as one VRT built without the buffer")


def _find_gaps(tiles, cs):
    """Messages for holes in the tile mosaic (inside its bounding box), naming the tiles that border them."""
    import shapely

    boxes = [shapely.box(*t.bounds) for t in tiles]
    union = shapely.union_all(boxes)
    hull = shapely.box(*union.bounds)
    holes = hull.difference(union)
    msgs = []
    for gap in getattr(holes, "geoms", [holes]):
        if gap.is_empty or gap.area < cs * cs:
            continue
        touching = [t.tile_id for t, bx in zip(tiles, boxes) if bx.distance(gap) < cs / 2]
        gb = ", ".join(f"{v:.1f}" for v in gap.bounds)
        border = ", ".join(touching) or "no tile"
        msgs.append(f"gap of {gap.area:.0f} m² between tiles at ({gb}), bordered by {border}: "
                    "it is treated as nodata (no results there, and no shade cast from it)")
    return msgs


# ------------------------------------------------------------------------------------------ reading

def aligned_bounds(bounds, cellsize, origin):
    """``bounds`` snapped outward to the pixel grid through ``origin`` (x, y)."""
    x0, y0 = origin
    left = x0 + math.floor((bounds[0] - x0) / cellsize + 1e-6) * cellsize
    right = x0 + math.ceil((bounds[2] - x0) / cellsize - 1e-6) * cellsize
    bottom = y0 + math.floor((bounds[1] - y0) / cellsize + 1e-6) * cellsize
    top = y0 + math.ceil((bounds[3] - y0) / cellsize - 1e-6) * cellsize
    return (left, bottom, right, top)


def read_mosaic(tiles, bounds, cellsize, crs, *, strict_ids=(), warnings=None) -> Grid:
    """Heights inside ``bounds`` read from every tile that touches them (NaN where none has data).

    Parameters
    ----------
    tiles : list of TileInfo
        Raster tiles (typically ``TileSet.overlapping(bounds)``).
    bounds : tuple
        (left, bottom, right, top) [m], on the tiles' pixel grid.
    cellsize : float
        Pixel size [m].
    crs : str
        CRS (WKT).
    strict_ids : collection of str
        Tiles whose read errors propagate (the tile being computed); read errors of the others (halo
        neighbours) only leave NaN and append a message to ``warnings``.
    warnings : list, optional
        Collects messages about unreadable neighbours.

    Returns
    -------
    Grid
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import from_bounds

    from .raster import read_surface

    left, bottom, right, top = bounds
    cols = int(round((right - left) / cellsize))
    rows = int(round((top - bottom) / cellsize))
    z = np.full((rows, cols), np.nan)
    transform = Affine(cellsize, 0, left, 0, -cellsize, top)
    for t in tiles:
        ib = (max(left, t.bounds[0]), max(bottom, t.bounds[1]), min(right, t.bounds[2]), min(top, t.bounds[3]))
        if ib[2] <= ib[0] or ib[3] <= ib[1]:
            continue
        r0 = int(round((top - ib[3]) / cellsize))
        c0 = int(round((ib[0] - left) / cellsize))
        h = int(round((ib[3] - ib[1]) / cellsize))
        w = int(round((ib[2] - ib[0]) / cellsize))
        try:
            with rasterio.open(t.path) as ds:
                win = from_bounds(*ib, transform=ds.transform)
            win = win.round_offsets().round_lengths()
            part = read_surface(t.path, window=win, crs=crs).z
            if part.shape != (h, w):
                raise RasterError(f"{t.path}: read {part.shape}, expected {(h, w)}")
        except Exception as exc:  # noqa: BLE001
            if t.tile_id in strict_ids:
                raise
            msg = f"halo neighbour {t.tile_id} unreadable ({exc}); its area is treated as nodata"
            log.warning(msg)
            if warnings is not None:
                warnings.append(msg)
            continue
        dst = z[r0:r0 + h, c0:c0 + w]
        fill = np.isfinite(part)
        dst[fill] = part[fill]
    return Grid(z, transform, crs, source={"path": tiles[0].path if len(tiles) == 1 else None,
                                            "tiles": [t.path for t in tiles]})


def mosaic_grid(paths) -> Grid:
    """All raster tiles of one scene read into a single Grid (for ``solarkataster run`` on several DSMs).

    Raises
    ------
    TileError
        The tiles do not form a consistent mosaic, or one of them cannot be read.
    """
    tileset = scan_tiles(discover_tiles(paths))
    if tileset.corrupt:
        bad = tileset.corrupt[0]
        raise TileError(f"{bad.path}: {bad.error}")
    good = tileset.good
    left = min(t.bounds[0] for t in good)
    bottom = min(t.bounds[1] for t in good)
    right = max(t.bounds[2] for t in good)
    top = max(t.bounds[3] for t in good)
    for w in tileset.warnings:
        log.warning("%s", w)
    grid = read_mosaic(good, (left, bottom, right, top), tileset.cellsize, tileset.crs,
                       strict_ids={t.tile_id for t in good})
    return Grid(grid.z, grid.transform, grid.crs, source={"path": ", ".join(str(p) for p in paths)})
