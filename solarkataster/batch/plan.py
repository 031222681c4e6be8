"""Batch planning: tile survey, halos, the manifest and the resume decision (no dask, no computation).

A tile's *window* is its core plus a halo read from the neighbouring tiles. The halo is the larger of

- the **shading halo**: the tallest obstacle within the cap distance over the tile's lowest point, divided
  by tan(lowest sun elevation that matters, default 5°), capped at 250 m (``--halo`` overrides), and
- the **context halo** (:data:`CONTEXT_HALO_M`, 150 m): what building detection and roof segmentation see
  around a building. It equals the largest window of the ground filter
  (:func:`solarkataster.detection.ground_from_dsm`, ``max_building_size``), so a building owned by the core
  is complete in the window and its terrain is estimated from the same surroundings as in a whole-raster
  run.

When the per-tile job estimates the terrain from the DSM (no DTM), the window's north-west corner is also
snapped outward to a multiple of :func:`ground_filter_alignment` pixels from the mosaic's north-west corner:
the ground filter fills under buildings from a pull-push pyramid of 2 x 2 blocks anchored at the array's
first pixel, and only aligned windows give the same blocks as the whole raster. For the same reason a
cadastre window ends at the mosaic's edge instead of reading nodata beyond it, as a whole-raster run does.

Resume compares resolved absolute paths and SHA-256 content hashes of every input a tile reads, the options
hash and the halo, never how a path was spelled.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..horizon import halo_width
from ..io.atomic import write_text_atomic

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: Version 2: paths are resolved and absolute (version 1 manifests are recomputed once).
MANIFEST_VERSION = 2
DEFAULT_MIN_ELEVATION = 5.0
DEFAULT_HALO_CAP = 250.0
#: Smallest halo [px]: the surface-normal stencil needs neighbours at the core's edge.
MIN_HALO_PX = 2
#: Context halo [m]: the ground filter's largest window (``detection.ground_from_dsm(max_building_size=150)``).
CONTEXT_HALO_M = 150.0
#: Peak resident bytes per pixel of tile + halo in one tile task (48 sectors; bench_batch.py measures it).
BYTES_PER_PIXEL = 400
#: Resident bytes of a worker before its first tile (interpreter, numpy, GDAL, numba).
WORKER_BASE_BYTES = 400 * 2**20


def worker_memory_bytes(tile_pixels, halo_px=0, tile_shape=None):
    """Estimated peak memory [bytes] of a worker computing one tile.

    Parameters
    ----------
    tile_pixels : int
        Pixels of the tile's core (ignored when ``tile_shape`` is given).
    halo_px : int
        Halo width [px] on each side.
    tile_shape : tuple of int, optional
        (rows, cols) of the core.

    Returns
    -------
    int
        Bytes.
    """
    if tile_shape is None:
        side = math.sqrt(tile_pixels)
        tile_shape = (side, side)
    px = (tile_shape[0] + 2 * halo_px) * (tile_shape[1] + 2 * halo_px)
    return int(WORKER_BASE_BYTES + BYTES_PER_PIXEL * px)


def ground_filter_alignment(cellsize, context=CONTEXT_HALO_M):
    """Pixels to which a window's north-west corner is snapped when the terrain is estimated from the DSM.

    Parameters
    ----------
    cellsize : float
        Pixel size [m].
    context : float
        Largest object the ground filter removes [m].

    Returns
    -------
    int
        The smallest power of two of at least ``context / cellsize`` pixels: the coarsest pull-push block
        that fills the terrain under the widest object (256 px at 1 m, 512 px at 0.5 m).
    """
    return int(2 ** math.ceil(math.log2(max(1.0, context / cellsize))))


# ------------------------------------------------------------------------------------------ summary

@dataclass
class BatchSummary:
    """What a batch run did (also stored in ``manifest.json`` under ``summary``).

    Attributes
    ----------
    out_dir : str
        Output folder.
    tiles : int
        Number of input tiles.
    computed, skipped, empty : list of str
        Tile ids computed in this run, unchanged since an earlier run, without data.
    failed : dict
        Tile id to error message.
    warnings : list of str
        Gaps, unreadable neighbours, duplicate ids.
    outputs : list of str
        Merged files written.
    seconds : float
        Wall time [s].
    """

    out_dir: str
    tiles: int
    computed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    empty: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        """True when no tile failed."""
        return not self.failed

    def to_dict(self):
        """Return the summary as a JSON-ready dict."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------ manifest

def read_manifest(out_dir) -> dict:
    """Read the manifest of a batch folder.

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder.

    Returns
    -------
    dict
        ``version``, ``tiles`` (tile id to record), ``surveys`` and ``hashes`` (caches keyed by resolved
        path); an empty skeleton when the file is absent, unreadable or of another version.
    """
    p = Path(out_dir) / MANIFEST
    if p.exists():
        try:
            m = json.loads(p.read_text())
            if m.get("version") == MANIFEST_VERSION:
                return m
            log.info("%s has version %s, not %d: every tile is recomputed", p, m.get("version"), MANIFEST_VERSION)
        except (OSError, ValueError):
            log.warning("%s unreadable: every tile is recomputed", p)
    return {"version": MANIFEST_VERSION, "tiles": {}, "surveys": {}, "hashes": {}}


def write_manifest(out_dir, manifest):
    """Write ``manifest.json`` atomically, stamped with the UTC time.

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder.
    manifest : dict
        The manifest (modified: ``updated`` is set).

    Returns
    -------
    Path
    """
    manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return write_text_atomic(Path(out_dir) / MANIFEST, json.dumps(manifest, indent=2, default=_json_default))


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (Path, np.ndarray)):
        return str(o) if isinstance(o, Path) else o.tolist()
    return str(o)


def resolved(path) -> str:
    """Return the absolute path with symlinks and ``..`` resolved: an input's one spelling in the manifest."""
    return os.path.realpath(os.fspath(path))


def file_key(path) -> str:
    """Cache key of a file's content hash: size, modification and status-change times [ns].

    The status-change time moves on every write and cannot be set back (``touch -r`` only sets the
    modification time), so a changed content always invalidates the cached hash.
    """
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def options_hash(options_doc) -> str:
    """Short SHA-256 of a JSON-able options document (keys sorted)."""
    return hashlib.sha256(json.dumps(options_doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_hash(path, manifest) -> str:
    """SHA-256 of a file's bytes, cached in ``manifest['hashes']`` under its resolved path and :func:`file_key`."""
    from ..io.raster import sha256

    p = resolved(path)
    key = file_key(p)
    cache = manifest.setdefault("hashes", {})
    c = cache.get(p)
    if not c or c.get("key") != key:
        c = cache[p] = {"key": key, "sha256": sha256(p)}
    return c["sha256"]


def input_records(paths, manifest):
    """``[{'path': resolved path, 'sha256': ...}, ...]`` for the inputs of one tile, sorted and unique."""
    return [{"path": p, "sha256": content_hash(p, manifest)} for p in sorted({resolved(p) for p in paths})]


# ------------------------------------------------------------------------------------------ survey

def survey_tile(path, kind):
    """SHA-256 and height range of one tile.

    Parameters
    ----------
    path : str
        Tile file.
    kind : {'raster', 'las'}
        Raster: exact over all pixels; LAS: from the header.

    Returns
    -------
    dict
        ``sha256``, ``zmin`` and ``zmax`` [m] (None when the tile has no data).
    """
    from ..io.raster import sha256

    out = {"sha256": sha256(path), "zmin": None, "zmax": None}
    if kind == "las":
        from ..io.pointcloud import read_las_header

        h = read_las_header(path)
        if h.point_count > 0:
            out["zmin"], out["zmax"] = float(h.mins[2]), float(h.maxs[2])
        return out
    import rasterio

    zmin, zmax = np.inf, -np.inf
    with rasterio.open(path) as ds:
        for _, win in ds.block_windows(1):
            z = ds.read(1, window=win, masked=True).astype(np.float64).filled(np.nan)
            z = z[np.isfinite(z)]
            if z.size:
                zmin, zmax = min(zmin, z.min()), max(zmax, z.max())
    if np.isfinite(zmin):
        out["zmin"], out["zmax"] = float(zmin), float(zmax)
    return out


def survey_tiles(tiles, manifest, mapper):
    """Survey every tile, reusing the manifest's cache for files whose :func:`file_key` is unchanged.

    Parameters
    ----------
    tiles : list of TileInfo
        Tiles (``path`` resolved).
    manifest : dict
        Its ``surveys`` cache (keyed by resolved path) is updated.
    mapper : callable
        ``mapper(survey_tile, paths, kinds)`` returns the surveys in order (dask on the cluster).

    Returns
    -------
    dict
        Tile id to survey (:func:`survey_tile`).
    """
    cache = manifest.setdefault("surveys", {})
    surveys, todo = {}, []
    for t in tiles:
        c = cache.get(resolved(t.path))
        if c and c.get("key") == file_key(t.path):
            surveys[t.tile_id] = c
        else:
            todo.append(t)
    if todo:
        for t, res in zip(todo, mapper(survey_tile, [t.path for t in todo], [t.kind for t in todo])):
            res["key"] = file_key(t.path)
            p = resolved(t.path)
            cache[p] = surveys[t.tile_id] = res
            manifest.setdefault("hashes", {})[p] = {"key": res["key"], "sha256": res["sha256"]}
    return surveys


def tile_halos(tiles, surveys, *, min_elevation=DEFAULT_MIN_ELEVATION, cap=DEFAULT_HALO_CAP):
    """Shading halo width [m] per tile from the tallest obstacle that could shade it.

    Parameters
    ----------
    tiles : list of TileInfo
        Tiles with bounds.
    surveys : dict
        Tile id to survey (``zmin``, ``zmax`` [m]).
    min_elevation : float
        Lowest sun elevation that matters [°].
    cap : float
        Largest halo and search distance for obstacles [m].

    Returns
    -------
    dict
        Tile id to halo [m]. For tile ``t`` the relief is the highest point of any tile within ``cap``
        metres minus the lowest point of ``t``; the halo is ``relief / tan(min_elevation)``
        (:func:`solarkataster.horizon.halo_width`), at most ``cap``.
    """
    out = {}
    for t in tiles:
        s = surveys[t.tile_id]
        if s["zmin"] is None:
            out[t.tile_id] = 0.0
            continue
        grown = (t.bounds[0] - cap, t.bounds[1] - cap, t.bounds[2] + cap, t.bounds[3] + cap)
        tops = [surveys[n.tile_id]["zmax"] for n in tiles
                if surveys[n.tile_id]["zmax"] is not None and n.bounds[0] < grown[2] and grown[0] < n.bounds[2]
                and n.bounds[1] < grown[3] and grown[1] < n.bounds[3]]
        out[t.tile_id] = halo_width(max(0.0, max(tops) - s["zmin"]), min_elevation, cap)
    return out


# ------------------------------------------------------------------------------------------ windows

def tile_window(bounds, halo_m, cellsize, origin, *, context=CONTEXT_HALO_M, align_px=1, clip=None):
    """Bounds of a tile's window: core plus halo, on the mosaic's pixel grid.

    Parameters
    ----------
    bounds : tuple of float
        Core (left, bottom, right, top) [m].
    halo_m : float
        Shading halo [m] (:func:`tile_halos` or ``--halo``).
    cellsize : float
        Pixel size [m].
    origin : tuple of float
        (x, y) of the mosaic's north-west corner [m].
    context : float
        Context halo [m] (:data:`CONTEXT_HALO_M`); 0 for raster-only jobs.
    align_px : int
        Snap the window's north-west corner outward to a multiple of this many pixels from ``origin``
        (:func:`ground_filter_alignment` when the terrain is estimated from the DSM).
    clip : tuple of float, optional
        Mosaic bounds: the window ends there, as a whole-raster run does (padding it with nodata would
        change the ground filter near the mosaic's edge).

    Returns
    -------
    halo_px : int
        Halo [px] on the south and east sides (the north and west ones may be larger by the snapping).
    window : tuple of float
        (left, bottom, right, top) [m].
    """
    from ..io.tiles import aligned_bounds

    halo_px = max(MIN_HALO_PX, math.ceil(max(halo_m, context) / cellsize - 1e-9))
    h = halo_px * cellsize
    left, bottom, right, top = aligned_bounds((bounds[0] - h, bounds[1] - h, bounds[2] + h, bounds[3] + h),
                                              cellsize, origin)
    if align_px > 1:
        step = align_px * cellsize
        left = origin[0] + math.floor((left - origin[0]) / step + 1e-6) * step
        top = origin[1] - math.floor((origin[1] - top) / step + 1e-6) * step
    if clip is not None:
        left, bottom, right, top = max(left, clip[0]), max(bottom, clip[1]), min(right, clip[2]), min(top, clip[3])
    return halo_px, (left, bottom, right, top)


def bounds_to_window(inner, outer, cellsize):
    """``(row0, row1, col0, col1)`` of ``inner`` bounds inside ``outer`` bounds (both on one pixel grid)."""
    c0 = int(round((inner[0] - outer[0]) / cellsize))
    c1 = int(round((inner[2] - outer[0]) / cellsize))
    r0 = int(round((outer[3] - inner[3]) / cellsize))
    r1 = int(round((outer[3] - inner[1]) / cellsize))
    return (r0, r1, c0, c1)


# ------------------------------------------------------------------------------------------ resume

def is_done(out_dir, old, new) -> bool:
    """Whether a tile's earlier record still stands for the new plan (so the tile is skipped).

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder.
    old : dict
        The manifest's record of the tile ({} when none).
    new : dict
        The planned record: ``tile_id``, ``path``, ``inputs`` (resolved paths and SHA-256),
        ``options_hash``, ``window``.

    Returns
    -------
    bool
        True when the old record is complete, its resolved paths, content hashes, options hash and window
        equal the new ones, and every output it lists still exists.
    """
    if old.get("status") != "done" or old.get("options_hash") != new["options_hash"]:
        return False
    if old.get("path") != new["path"] or old.get("window") != new["window"]:
        return False
    key = [(i["path"], i["sha256"]) for i in new["inputs"]]
    if sorted((i["path"], i["sha256"]) for i in old.get("inputs", [])) != sorted(key):
        return False
    folder = Path(out_dir) / "tiles" / new["tile_id"]
    return folder.is_dir() and all((folder / f).exists() for f in old.get("outputs", []))
