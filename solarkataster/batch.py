"""A whole city from tiles: tile plan with physical halos, one dask task per tile, resumable, merged outputs.

Flow
----
1. :func:`~solarkataster.io.tiles.discover_tiles` / :func:`~solarkataster.io.tiles.scan_tiles` expand and
   check the inputs (GeoTIFF, directory, glob, VRT, LAS/LAZ).
2. Survey: every tile's SHA-256 and height range (cached in the manifest by size and mtime).
3. Halo per tile, from physics: the tallest obstacle within the cap distance over the tile's lowest point,
   divided by tan(lowest sun elevation that matters, default 5°), capped at 250 m (``--halo`` overrides).
   No obstacle outside the halo can shade the sun above that elevation, so the tiled run equals the
   whole-raster run there (see ``tests/test_batch.py``).
4. One task per tile on dask.distributed (a local cluster of processes, or any scheduler address). A task
   reads its tile plus halo (boundless, from the neighbouring tiles; LAS tiles are rasterised from every LAS
   file touching the halo'd bounds), runs the per-tile cadastre with ``core=`` the tile's own window, and
   writes into ``DIR/tiles/<id>.partial/`` which is renamed to ``DIR/tiles/<id>/`` when complete.
5. After each tile the client rewrites ``DIR/manifest.json`` atomically (inputs with SHA-256, options hash,
   status). A rerun skips tiles whose inputs and options are unchanged, so a killed worker or run loses no
   finished tile.
6. Merge: VRT mosaics ``DIR/irradiation.vrt``, ``DIR/irradiation_monthly.vrt``, ``DIR/sky_view_factor.vrt``
   over the per-tile COGs, and the vector layers merged into ``DIR/roofs.geojson``, ``walls.geojson``,
   ``buildings.geojson`` and ``DIR/solarkataster.gpkg``; each building appears once because a tile reports
   only buildings whose representative point lies in its core.

Memory
------
A worker holds one tile plus halo at a time. Its peak is about :data:`BYTES_PER_PIXEL` bytes per pixel of
the tile + halo window (measured by ``benchmarks/bench_batch.py`` with the engine's default 48 sectors), plus
about :data:`WORKER_BASE_BYTES` for the interpreter and libraries. A 1 km tile at 0.5 m (4 Mpx) with the
full 250 m halo is 3000 x 3000 = 9 Mpx: see :func:`worker_memory_bytes`. The local cluster gives each of
its ``N`` workers ``memory_limit = total RAM / N`` (dask's ``'auto'``); with two workers on a 24 GB machine
that is 12 GB each.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import resource
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io.atomic import atomic_write
from .errors import ParameterError, SolarkatasterError, TileError
from .horizon import halo_width

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_MIN_ELEVATION = 5.0
DEFAULT_HALO_CAP = 250.0
#: Minimum halo [px]: the surface-normal stencil needs neighbours at the core's edge.
MIN_HALO_PX = 2
#: Peak resident bytes per pixel of tile + halo in one tile task (48 sectors; bench_batch.py measures it).
BYTES_PER_PIXEL = 400
#: Resident bytes of a worker before its first tile (interpreter, numpy, GDAL, numba).
WORKER_BASE_BYTES = 400 * 2**20
RASTER_MOSAICS = ("irradiation", "irradiation_monthly", "sky_view_factor")
VECTOR_LAYERS = ("roofs", "walls", "buildings")


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
    """
    if tile_shape is None:
        side = math.sqrt(tile_pixels)
        tile_shape = (side, side)
    px = (tile_shape[0] + 2 * halo_px) * (tile_shape[1] + 2 * halo_px)
    return int(WORKER_BASE_BYTES + BYTES_PER_PIXEL * px)


# ------------------------------------------------------------------------------------------ per-tile jobs

def irradiance_tile_job(dsm, out_dir, *, footprints=None, id_column=None, dtm=None, weather="clear-sky",
                        year=2025, linke=None, options=None, core=None, progress=None, cog=True):
    """Raster-only tile job: irradiation of tile + halo, written for the core window (COGs).

    The same signature as :func:`solarkataster.cadastre.run_cadastre`, whose vector outputs it lacks;
    :func:`default_tile_job` picks the cadastre when it is available.
    """
    from .io.results import crop_to_core, write_irradiance_results
    from .pipeline import compute_irradiance

    options = getattr(options, "engine", options)  # CadastreOptions carry the engine's
    result = compute_irradiance(dsm, weather=weather, year=year, linke=linke, options=options, progress=progress)
    write_irradiance_results(result, out_dir, cog=cog, core=core)
    return crop_to_core(result, core)


def default_tile_job():
    """The per-tile function: the cadastre (rasters + roofs, walls, buildings) when installed, else rasters."""
    try:
        from .cadastre import run_cadastre
    except ImportError:
        log.info("solarkataster.cadastre not available: the batch computes rasters only")
        return irradiance_tile_job
    return run_cadastre


def _job_name(job):
    return f"{getattr(job, '__module__', '?')}:{getattr(job, '__qualname__', repr(job))}"


# ------------------------------------------------------------------------------------------ results

@dataclass
class BatchSummary:
    """What a batch run did (also stored in ``manifest.json`` under ``summary``)."""

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
        return not self.failed

    def to_dict(self):
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------ manifest

def read_manifest(out_dir) -> dict:
    """The manifest of a batch folder (empty skeleton when absent or unreadable)."""
    p = Path(out_dir) / MANIFEST
    if p.exists():
        try:
            m = json.loads(p.read_text())
            if m.get("version") == MANIFEST_VERSION:
                return m
        except (OSError, ValueError):
            log.warning("%s unreadable: every tile is recomputed", p)
    return {"version": MANIFEST_VERSION, "tiles": {}, "surveys": {}}


def _write_manifest(out_dir, manifest):
    from .io.results import write_json_atomic

    manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(Path(out_dir) / MANIFEST, manifest)


def _file_key(path):
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def _hash_of(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ survey

def survey_tile(path, kind):
    """SHA-256 and height range [m] of one tile (raster: exact over all pixels; LAS: from the header)."""
    from .io.raster import sha256

    out = {"sha256": sha256(path), "zmin": None, "zmax": None}
    if kind == "las":
        from .io.pointcloud import read_las_header

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


def tile_halos(tiles, surveys, *, min_elevation=DEFAULT_MIN_ELEVATION, cap=DEFAULT_HALO_CAP):
    """Halo width [m] per tile from the tallest obstacle that could shade it.

    For tile ``t`` the relief is the highest point of any tile within ``cap`` metres minus the lowest point
    of ``t``; the halo is ``relief / tan(min_elevation)`` (:func:`solarkataster.horizon.halo_width`), at
    most ``cap``.
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


# ------------------------------------------------------------------------------------------ the task

def _info_dict(t):
    return dataclasses.asdict(t)


def process_tile(task):
    """Compute one tile (runs on a dask worker). Returns the tile's manifest record.

    Errors caused by the input (unreadable tile, no data) are caught and returned as ``status='failed'``
    so that one tile never stops the city; only a dying worker propagates.
    """
    from .io.tiles import TileInfo, read_mosaic

    t0 = time.perf_counter()
    tid = task["tile_id"]
    out_root = Path(task["out_dir"]) / "tiles"
    final, partial = out_root / tid, out_root / f"{tid}.partial"
    record = dict(task["record"])
    warnings = []
    try:
        sources = [TileInfo(**d) for d in task["sources"]]
        cs, crs, hb = task["cellsize"], task["crs"], task["halo_bounds"]
        if task["kind"] == "las":
            from .io.pointcloud import rasterize_las

            dsm, las_dtm = rasterize_las([s.path for s in sources], cs, hb)
        else:
            dsm = read_mosaic(sources, hb, cs, crs, strict_ids={tid}, warnings=warnings)
            las_dtm = None
        dsm = dataclasses.replace(dsm, halo=task["halo_px"], source={"path": task["path"]})
        if task["dtm_sources"]:
            dtm = read_mosaic([TileInfo(**d) for d in task["dtm_sources"]], hb, cs, crs, warnings=warnings)
        else:
            dtm = las_dtm
        footprints = _footprints_for(task["footprints"], hb, crs)
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        kwargs = dict(footprints=footprints, id_column=task["id_column"], dtm=dtm, weather=task["weather"],
                      year=task["year"], linke=task["linke"], options=task["options"], core=tuple(task["core"]),
                      cog=True)
        if footprints is None:
            kwargs.pop("footprints"), kwargs.pop("id_column")
        task["job"](dsm, partial, **kwargs)
        for name in RASTER_MOSAICS:
            if (partial / f"{name}.tif").exists():
                _ensure_cog(partial / f"{name}.tif")
        record.update(status="done", warnings=warnings)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        record["peak_rss_bytes"] = _peak_rss()
        record["pixels"] = int(dsm.z.size)
        record["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        record["outputs"] = sorted(p.name for p in partial.iterdir())
        (partial / "tile.json").write_text(json.dumps(record, indent=2, default=str))
        if final.exists():  # a changed tile being recomputed
            trash = out_root / f"{tid}.old"
            if trash.exists():
                shutil.rmtree(trash)
            final.rename(trash)
            shutil.rmtree(trash)
        partial.rename(final)  # the commit: a tile folder exists only when complete
        return record
    except (SolarkatasterError, OSError, ValueError, RuntimeError) as exc:
        log.warning("tile %s failed: %s", tid, exc)
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        record.update(status="failed", error=f"{tid}: {exc}", warnings=warnings,
                      seconds=round(time.perf_counter() - t0, 3))
        return record


def _peak_rss():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kb * 1024)  # Linux reports KiB


def _footprints_for(footprints, bounds, crs):
    """Footprints near the halo'd bounds (bbox read), or None / the object as given."""
    if footprints is None or not isinstance(footprints, (str, Path)):
        return footprints
    try:
        import geopandas as gpd
        import pyogrio
        from pyproj import CRS
        from pyproj.transformer import Transformer

        info = pyogrio.read_info(footprints)
        fcrs = info.get("crs")
        bbox = tuple(bounds)
        if fcrs and not CRS.from_user_input(fcrs).equals(CRS.from_user_input(crs), ignore_axis_order=True):
            bbox = Transformer.from_crs(crs, fcrs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
        gdf = gpd.read_file(footprints, bbox=bbox)
        return gdf if fcrs else str(footprints)
    except Exception:  # noqa: BLE001 - the cadastre reports unusable footprints with its own message
        return str(footprints)


def _ensure_cog(path):
    """Rewrite a GeoTIFF as a Cloud Optimized GeoTIFF unless it is one already."""
    import rasterio
    import rasterio.shutil

    with rasterio.open(path) as ds:
        if ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() == "COG":
            return
    atomic_write(path, lambda tmp: rasterio.shutil.copy(path, tmp, driver="COG", compress="deflate", predictor=3,
                                                        blocksize=256, overview_resampling="average"), ".tif")


# ------------------------------------------------------------------------------------------ plan

def _bounds_to_window(inner, outer, cs):
    """(row0, row1, col0, col1) of ``inner`` bounds inside ``outer`` bounds."""
    c0 = int(round((inner[0] - outer[0]) / cs))
    c1 = int(round((inner[2] - outer[0]) / cs))
    r0 = int(round((outer[3] - inner[3]) / cs))
    r1 = int(round((outer[3] - inner[1]) / cs))
    return (r0, r1, c0, c1)


def _inputs_with_hashes(paths, surveys_by_path, manifest):
    from .io.raster import sha256

    out = []
    cache = manifest.setdefault("hashes", {})
    for p in paths:
        p = str(p)
        if p in surveys_by_path:
            out.append({"path": p, "sha256": surveys_by_path[p]})
            continue
        key = _file_key(p)
        c = cache.get(p)
        if not c or c.get("key") != key:
            c = cache[p] = {"key": key, "sha256": sha256(p)}
        out.append({"path": p, "sha256": c["sha256"]})
    return out


def run_batch(tiles, out_dir, *, footprints=None, id_column=None, dtm=None, weather="clear-sky", year=2025,
              linke=None, options=None, halo=None, min_elevation=DEFAULT_MIN_ELEVATION,
              halo_cap=DEFAULT_HALO_CAP, resolution=None, workers=None, scheduler=None, client=None,
              tile_job=None, progress=None, on_client=None) -> BatchSummary:
    """Compute a city from tiles on dask.distributed, resumably, and merge the outputs.

    Parameters
    ----------
    tiles : str, Path or list
        DSM tiles: GeoTIFFs, directories, glob patterns, VRTs or LAS/LAZ files.
    out_dir : str or Path
        Output folder (created). Holds ``tiles/<id>/``, ``manifest.json`` and the merged outputs.
    footprints : str or Path, optional
        Footprint layer (any CRS); each tile reads the part around its halo'd bounds.
    id_column : str, optional
        Footprint id column.
    dtm : str, Path or list, optional
        Terrain tiles (any tiling, same CRS and pixel size). LAS input gives its own DTM from class 2.
    weather, year, linke
        As for :func:`solarkataster.pipeline.compute_irradiance`.
    options : EngineOptions or CadastreOptions, optional
        Model choices (an EngineOptions is wrapped into the cadastre's defaults).
    halo : float, optional
        Halo width [m] for every tile; default: derived per tile from the relief (see :func:`tile_halos`).
    min_elevation : float
        Lowest sun elevation that matters for the halo [°].
    halo_cap : float
        Largest derived halo [m].
    resolution : float, optional
        Rasterisation pixel size [m] for LAS/LAZ tiles (default 0.5).
    workers : int, optional
        Worker processes of the local cluster (default: CPU count); ignored with ``scheduler``/``client``.
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:port``); its workers must see the same paths.
    client : distributed.Client, optional
        An existing client.
    tile_job : callable, optional
        The per-tile function (default :func:`default_tile_job`), importable on the workers.
    progress : callable, optional
        ``progress(done, total)`` over tiles.
    on_client : callable, optional
        Called with the client once connected (the CLI prints the dashboard link).

    Returns
    -------
    BatchSummary
    """
    from .io.tiles import aligned_bounds, discover_tiles, scan_tiles
    from .pipeline import EngineOptions

    t_start = time.perf_counter()
    options = options or EngineOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if halo is not None and not (0 <= float(halo) <= 1e4):
        raise ParameterError(f"--halo={halo}: must be between 0 and 10000 m")
    tileset = scan_tiles(discover_tiles(tiles), resolution=resolution)
    good = tileset.good
    cs, crs = tileset.cellsize, tileset.crs
    origin = (good[0].bounds[0], good[0].bounds[3])
    dtm_set = None
    if dtm:
        dtm_set = scan_tiles(discover_tiles(dtm))
        from pyproj import CRS

        if not CRS.from_wkt(dtm_set.crs).equals(CRS.from_wkt(crs), ignore_axis_order=True):
            raise TileError(f"{dtm_set.good[0].path}: DTM CRS differs from the DSM tiles' CRS; reproject it")
        if abs(dtm_set.cellsize - cs) > 1e-3 * cs:
            raise TileError(f"{dtm_set.good[0].path}: DTM pixel size {dtm_set.cellsize:g} m differs from the DSM's "
                            f"{cs:g} m; resample it (gdalwarp -tr {cs:g} {cs:g})")
    job = tile_job or default_tile_job()
    if _job_name(job).endswith(":run_cadastre") and isinstance(options, EngineOptions):
        from .cadastre import CadastreOptions

        options = CadastreOptions(engine=options)
    manifest = read_manifest(out_dir)
    summary = BatchSummary(str(out_dir), len(tileset.tiles), warnings=list(tileset.warnings))
    for t in tileset.corrupt:
        summary.failed[t.tile_id] = t.error
        manifest["tiles"][t.tile_id] = {"tile_id": t.tile_id, "path": t.path, "status": "failed", "error": t.error}

    options_doc = {"engine": dataclasses.asdict(options), "weather": str(weather), "year": year, "linke": linke,
                   "halo": halo, "min_elevation": min_elevation, "halo_cap": halo_cap, "resolution": cs,
                   "id_column": id_column, "job": _job_name(job), "crs": crs}
    options_hash = _hash_of(options_doc)
    manifest["options"], manifest["options_hash"] = options_doc, options_hash

    client_obj, cluster = _connect(workers, scheduler, client)
    try:
        if on_client:
            on_client(client_obj)
        surveys = _survey(client_obj, good, manifest)
        halos = ({t.tile_id: float(halo) for t in good} if halo is not None else
                 tile_halos(good, surveys, min_elevation=min_elevation, cap=halo_cap))
        sha_by_path = {t.path: surveys[t.tile_id]["sha256"] for t in good}
        extra_inputs = [p for p in (footprints, weather) if isinstance(p, (str, Path)) and Path(p).is_file()]
        tasks, records = [], {}
        for t in good:
            rec_old = manifest["tiles"].get(t.tile_id, {})
            if surveys[t.tile_id]["zmin"] is None:
                summary.empty.append(t.tile_id)
                manifest["tiles"][t.tile_id] = {"tile_id": t.tile_id, "path": t.path, "status": "empty",
                                                "bounds": list(t.bounds)}
                continue
            halo_px = max(MIN_HALO_PX, math.ceil(halos[t.tile_id] / cs - 1e-9))
            h = halo_px * cs
            hb = aligned_bounds((t.bounds[0] - h, t.bounds[1] - h, t.bounds[2] + h, t.bounds[3] + h), cs, origin)
            sources = tileset.overlapping(hb)
            dtm_sources = dtm_set.overlapping(hb) if dtm_set else []
            inputs = _inputs_with_hashes([s.path for s in sources] + [s.path for s in dtm_sources] + extra_inputs,
                                         sha_by_path, manifest)
            record = {"tile_id": t.tile_id, "path": t.path, "bounds": list(t.bounds), "halo_m": h,
                      "halo_px": halo_px, "inputs": inputs, "options_hash": options_hash, "status": "pending"}
            if _is_done(out_dir, rec_old, record):
                summary.skipped.append(t.tile_id)
                manifest["tiles"][t.tile_id] = rec_old
                continue
            records[t.tile_id] = record
            manifest["tiles"][t.tile_id] = record
            tasks.append({
                "tile_id": t.tile_id, "path": t.path, "kind": t.kind, "out_dir": str(out_dir), "cellsize": cs,
                "crs": crs, "halo_bounds": hb, "halo_px": halo_px, "core": _bounds_to_window(t.bounds, hb, cs),
                "sources": [_info_dict(s) for s in sources], "dtm_sources": [_info_dict(s) for s in dtm_sources],
                "footprints": str(footprints) if isinstance(footprints, (str, Path)) else footprints,
                "id_column": id_column, "weather": weather, "year": year, "linke": linke, "options": options,
                "job": job, "record": record})
            est = worker_memory_bytes(0, tile_shape=(round((hb[3] - hb[1]) / cs), round((hb[2] - hb[0]) / cs)))
            record["memory_estimate_bytes"] = est
        _write_manifest(out_dir, manifest)
        log.info("%d tiles: %d to compute, %d unchanged, %d empty, %d unreadable", len(tileset.tiles), len(tasks),
                 len(summary.skipped), len(summary.empty), len(tileset.corrupt))
        _run_tasks(client_obj, tasks, manifest, out_dir, summary, progress)
    finally:
        if cluster is not None:
            client_obj.close()
            cluster.close()
        elif client is None:  # we connected to a scheduler ourselves
            client_obj.close()
    summary.outputs = merge_outputs(out_dir, manifest, crs=crs, cellsize=cs, origin=origin,
                                    warnings=summary.warnings)
    summary.seconds = round(time.perf_counter() - t_start, 3)
    manifest["summary"] = summary.to_dict()
    _write_manifest(out_dir, manifest)
    return summary


def _is_done(out_dir, old, new):
    if old.get("status") != "done" or old.get("options_hash") != new["options_hash"]:
        return False
    if [(i["path"], i["sha256"]) for i in old.get("inputs", [])] != [(i["path"], i["sha256"]) for i in new["inputs"]]:
        return False
    if old.get("halo_px") != new["halo_px"]:
        return False
    folder = Path(out_dir) / "tiles" / new["tile_id"]
    return folder.is_dir() and all((folder / f).exists() for f in old.get("outputs", []))


def _connect(workers, scheduler, client):
    from distributed import Client, LocalCluster

    if client is not None:
        return client, None
    if scheduler:
        return Client(scheduler), None
    n = int(workers or os.cpu_count() or 1)
    if n < 1:
        raise ParameterError(f"--workers={workers}: must be at least 1")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit="auto",
                           dashboard_address=":0")
    return Client(cluster), cluster


def _survey(client, tiles, manifest):
    cache = manifest.setdefault("surveys", {})
    surveys, todo = {}, []
    for t in tiles:
        c = cache.get(t.path)
        if c and c.get("key") == _file_key(t.path):
            surveys[t.tile_id] = c
        else:
            todo.append(t)
    if todo:
        futures = client.map(survey_tile, [t.path for t in todo], [t.kind for t in todo], pure=False)
        for t, res in zip(todo, client.gather(futures)):
            res["key"] = _file_key(t.path)
            cache[t.path] = surveys[t.tile_id] = res
    return surveys


def _run_tasks(client, tasks, manifest, out_dir, summary, progress):
    from distributed import as_completed

    if not tasks:
        return
    # largest first: the slowest tiles do not end up alone at the tail
    tasks = sorted(tasks, key=lambda t: -len(t["sources"]))
    run_token = uuid.uuid4().hex[:8]  # a scheduler keeps erred keys: a rerun must not reuse them
    futures = {client.submit(process_tile, t, key=f"tile-{t['tile_id']}-{run_token}", pure=False): t
               for t in tasks}
    done = 0
    if progress:
        progress(0, len(tasks))
    for fut in as_completed(futures):
        task = futures[fut]
        tid = task["tile_id"]
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, cancelled, ...
            rec = dict(task["record"], status="failed",
                       error=f"{tid}: worker failed ({type(exc).__name__}: {exc}); rerun to resume")
        manifest["tiles"][tid] = rec
        if rec["status"] == "done":
            summary.computed.append(tid)
        else:
            summary.failed[tid] = rec.get("error", "failed")
        summary.warnings.extend(f"{tid}: {w}" for w in rec.get("warnings", []))
        _write_manifest(out_dir, manifest)
        done += 1
        if progress:
            progress(done, len(tasks))


# ------------------------------------------------------------------------------------------ merge

def merge_outputs(out_dir, manifest, *, crs, cellsize, origin=None, warnings=None):
    """Build the VRT mosaics and merged vector layers over every finished tile. Returns written paths."""
    out_dir = Path(out_dir)
    done = [r for r in manifest["tiles"].values() if r.get("status") == "done"
            and (out_dir / "tiles" / r["tile_id"]).is_dir()]
    done.sort(key=lambda r: r["tile_id"])
    written = []
    for name in RASTER_MOSAICS:
        files = [out_dir / "tiles" / r["tile_id"] / f"{name}.tif" for r in done]
        files = [f for f in files if f.exists()]
        if files:
            written.append(str(build_vrt(out_dir / f"{name}.vrt", files)))
    layers = merge_vector_layers(out_dir, [r["tile_id"] for r in done], warnings=warnings)
    if layers:
        from .io.export import write_geojson, write_gpkg

        meta = {"batch": {"tiles": [r["tile_id"] for r in done], "options": manifest.get("options")}}
        for name, gdf in layers.items():
            written.append(str(write_geojson(out_dir / f"{name}.geojson", gdf, layer=name, metadata=meta)))
        projected = {name: gdf.to_crs(crs) for name, gdf in layers.items()}
        written.append(str(write_gpkg(out_dir / "solarkataster.gpkg", projected, metadata=meta)))
    return written


def merge_vector_layers(out_dir, tile_ids, *, warnings=None):
    """Concatenate each tile's roofs/walls/buildings GeoJSON; duplicates of a layer's id are dropped and reported."""
    import geopandas as gpd
    import pandas as pd

    from .layers import id_field

    out = {}
    for layer in VECTOR_LAYERS:
        frames = []
        for tid in tile_ids:
            p = Path(out_dir) / "tiles" / tid / f"{layer}.geojson"
            if not p.exists():
                continue
            doc = json.loads(p.read_text())
            feats = doc.get("features", [])
            if feats:
                frame = gpd.GeoDataFrame.from_features(feats, crs="EPSG:4326")
                frame["tile_id"] = tid
                frames.append(frame)
            else:
                frames.append(None)
        frames = [f for f in frames if f is not None]
        if not frames:
            continue
        gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
        key = id_field(layer)
        if key in gdf.columns:
            dup = gdf[key].duplicated(keep="first")
            if dup.any():
                ids = sorted(set(gdf.loc[dup, key].astype(str)))
                msg = (f"{layer}: {int(dup.sum())} duplicate {key}(s) across tiles dropped "
                       f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})")
                log.warning(msg)
                if warnings is not None:
                    warnings.append(msg)
                gdf = gdf.loc[~dup].reset_index(drop=True)
        out[layer] = gdf
    return out


def build_vrt(path, files):
    """Write a GDAL VRT mosaic of same-grid GeoTIFFs (one ``SimpleSource`` per file and band), atomically.

    Uses ``osgeo.gdal.BuildVRT`` when the GDAL Python bindings are importable, otherwise writes the XML.
    Band descriptions and nodata are copied from the first file.
    """
    import rasterio

    path = Path(path)
    try:
        from osgeo import gdal  # noqa: F401
    except ImportError:
        gdal = None
    if gdal is not None:
        def build(tmp):
            vrt = gdal.BuildVRT(str(tmp), [str(f) for f in files])
            vrt.FlushCache()

        return atomic_write(path, build, ".vrt")
    metas = []
    for f in files:
        with rasterio.open(f) as ds:
            metas.append((f, ds.transform, ds.width, ds.height, ds.count, ds.descriptions, ds.crs.to_wkt(),
                          [ds.tags(i + 1) for i in range(ds.count)]))
    cs = metas[0][1].a
    left = min(m[1].c for m in metas)
    top = max(m[1].f for m in metas)
    right = max(m[1].c + m[2] * cs for m in metas)
    bottom = min(m[1].f - m[3] * cs for m in metas)
    width, height = int(round((right - left) / cs)), int(round((top - bottom) / cs))
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = metas[0][6]
    ET.SubElement(root, "GeoTransform").text = f"{left!r}, {cs!r}, 0.0, {top!r}, 0.0, {-cs!r}"
    count, descriptions, band_tags = metas[0][4], metas[0][5], metas[0][7]
    for b in range(count):
        band = ET.SubElement(root, "VRTRasterBand", dataType="Float32", band=str(b + 1))
        if descriptions[b]:
            ET.SubElement(band, "Description").text = descriptions[b]
        ET.SubElement(band, "NoDataValue").text = "nan"
        if band_tags[b].get("units"):
            ET.SubElement(band, "UnitType").text = band_tags[b]["units"]
        for f, t, w, h, *_ in metas:
            xoff, yoff = int(round((t.c - left) / cs)), int(round((top - t.f) / cs))
            src = ET.SubElement(band, "SimpleSource")
            rel = os.path.relpath(f, path.parent)
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = rel
            ET.SubElement(src, "SourceBand").text = str(b + 1)
            ET.SubElement(src, "SourceProperties", RasterXSize=str(w), RasterYSize=str(h), DataType="Float32",
                          BlockXSize="256", BlockYSize="256")
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(w), ySize=str(h))
            ET.SubElement(src, "DstRect", xOff=str(xoff), yOff=str(yoff), xSize=str(w), ySize=str(h))
    ET.indent(root)
    return atomic_write(path, lambda tmp: ET.ElementTree(root).write(tmp, encoding="unicode"), ".vrt")
