"""Batch execution on dask.distributed: the cluster, one task per tile, and the per-tile jobs.

A task reads its tile's window (core plus halo, boundless, from the neighbouring tiles; LAS tiles are
rasterised from every LAS file touching the window), runs the tile job with ``core=`` the tile's own part of
the window, and writes into ``DIR/tiles/<id>.partial/``, which is renamed to ``DIR/tiles/<id>/`` when
complete. The client rewrites ``DIR/manifest.json`` after every tile, so a killed worker or run loses no
finished tile.

A tile job is a function ``job(dsm, out_dir, *, footprints, id_column, dtm, weather, year, linke, options,
core, cog)`` importable on the workers (and ``vegetation`` when the batch has one: the spec, or for LAS
tiles with ``--vegetation auto`` the canopy of their classes 3-5 on the window). :func:`cadastre_tile_job`
(the default) writes rasters and roofs, walls and buildings; :func:`irradiance_tile_job` writes rasters only
and is marked ``raster_only``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import resource
import shutil
import time
import uuid
from pathlib import Path

from ..errors import ParameterError, SolarkatasterError
from .merge import RASTER_MOSAICS, ensure_cog

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ tile jobs

def cadastre_tile_job(dsm, out_dir, *, footprints=None, id_column=None, dtm=None, weather="auto", year=2025,
                      linke=None, options=None, core=None, cog=True, vegetation=None, site=None):
    """Compute the cadastre of one tile's window and write the core's rasters and layers.

    This is the batch's only call into the cadastre.

    Parameters
    ----------
    dsm : Grid
        Surface model of the tile's window (core plus halo).
    out_dir : Path
        Folder for the tile's outputs.
    footprints : str, Path or GeoDataFrame, optional
        Footprints near the window; None: detected from the DSM.
    id_column : str, optional
        Footprint id column.
    dtm : Grid, optional
        Terrain of the window; None: estimated from the DSM.
    weather : str or WeatherYear
        As for :func:`solarkataster.cadastre.compute_cadastre`.
    year : int
        Calendar year the weather is mapped onto.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    options : CadastreOptions or EngineOptions, optional
        Model choices (engine options get the cadastre's other defaults).
    core : tuple of int, optional
        ``(row0, row1, col0, col1)`` of the tile inside the window: buildings whose representative point
        lies in it are reported, rasters are cut to it.
    cog : bool
        Write Cloud Optimized GeoTIFFs.
    vegetation : VegetationSpec or Vegetation, optional
        Trees as vegetation (:func:`solarkataster.cadastre.compute_cadastre`); a canopy raster is read for
        the window, halo included.
    site : Site, optional
        Where the sun is computed and the weather resolved; default the window's own centre (a batch tile),
        a windowed run passes its whole raster's.

    Returns
    -------
    CadastreResult
    """
    from ..cadastre import CadastreOptions, compute_cadastre
    from ..io.results import write_cadastre_results
    from ..pipeline import EngineOptions

    if isinstance(options, EngineOptions):
        options = CadastreOptions(engine=options)
    result = compute_cadastre(dsm, footprints=footprints, id_column=id_column, dtm=dtm, weather=weather, year=year,
                              linke=linke, options=options, core=core, vegetation=vegetation, site=site)
    write_cadastre_results(result, out_dir, cog=cog, vector_tiles=False)  # built once from the merged layers
    return result


def irradiance_tile_job(dsm, out_dir, *, footprints=None, id_column=None, dtm=None, weather="auto", year=2025,
                        linke=None, options=None, core=None, cog=True, vegetation=None, site=None):
    """Raster-only tile job: irradiation of the window, written for the core (no vector layers).

    Parameters are those of :func:`cadastre_tile_job`; ``footprints``, ``id_column`` and ``dtm`` are
    ignored.

    Returns
    -------
    IrradianceResult
    """
    from ..io.results import write_irradiance_results
    from ..io.vegetation import surface_vegetation
    from ..pipeline import compute_irradiance

    options = getattr(options, "engine", options)  # CadastreOptions carry the engine's
    dsm, veg = surface_vegetation(vegetation, dsm)
    result = compute_irradiance(dsm, weather=weather, year=year, linke=linke, options=options, vegetation=veg,
                                site=site)
    write_irradiance_results(result, out_dir, cog=cog, core=core, vegetation=veg)
    return result


#: Raster-only jobs need neither the context halo nor the ground filter's window alignment.
irradiance_tile_job.raster_only = True


def job_name(job) -> str:
    """``module:qualname`` of a tile job (part of the options hash)."""
    return f"{getattr(job, '__module__', '?')}:{getattr(job, '__qualname__', repr(job))}"


# ------------------------------------------------------------------------------------------ the task

def _read_window(task, warnings):
    """Surface model, terrain (or None) and vegetation (spec, canopy or None) of a task's window."""
    from ..io.tiles import TileInfo, read_mosaic

    sources = [TileInfo(**d) for d in task["sources"]]
    cs, crs, hb = task["cellsize"], task["crs"], task["window"]
    veg = task.get("vegetation")
    if task["kind"] == "las":
        from ..io.pointcloud import rasterize_las

        if veg is not None and veg.is_auto:  # the point cloud's vegetation classes are the canopy
            dsm, dtm, canopy = rasterize_las([s.path for s in sources], cs, hb, crs=crs, vegetation=True)
            veg = veg.vegetation(canopy.z, dtm.z, source="LAS classes 3-5",
                                 extra={"removed_from_surface_px": int((canopy.z > 0).sum())})
        else:
            dsm, dtm = rasterize_las([s.path for s in sources], cs, hb, crs=crs)
    else:
        dsm = read_mosaic(sources, hb, cs, crs, strict_ids={task["tile_id"]}, warnings=warnings)
        dtm = None
    dsm = dataclasses.replace(dsm, halo=task["halo_px"], source={"path": task["path"]})
    if task["dtm_sources"]:
        dtm = read_mosaic([TileInfo(**d) for d in task["dtm_sources"]], hb, cs, crs, warnings=warnings)
    return dsm, dtm, veg


def _commit(partial, final):
    """Rename a complete ``<id>.partial`` folder to ``<id>`` (replacing an older result)."""
    if final.exists():  # a changed tile being recomputed
        trash = final.with_name(final.name + ".old")
        if trash.exists():
            shutil.rmtree(trash)
        final.rename(trash)
        shutil.rmtree(trash)
    partial.rename(final)  # the commit: a tile folder exists only when complete


def process_tile(task):
    """Compute one tile (runs on a dask worker).

    Parameters
    ----------
    task : dict
        The task built by :func:`solarkataster.batch.run_batch` (tile id, window, sources, job, options).

    Returns
    -------
    dict
        The tile's manifest record. Errors caused by the input (unreadable tile, no data) are caught and
        returned as ``status='failed'`` so that one tile never stops the city; only a dying worker
        propagates.
    """
    t0 = time.perf_counter()
    tid = task["tile_id"]
    out_root = Path(task["out_dir"]) / "tiles"
    final, partial = out_root / tid, out_root / f"{tid}.partial"
    record = dict(task["record"])
    warnings = []
    try:
        dsm, dtm, veg = _read_window(task, warnings)
        footprints = footprints_near(task["footprints"], task["window"], task["crs"], task.get("assigned_crs"))
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        task["job"](dsm, partial, footprints=footprints, id_column=task["id_column"], dtm=dtm,
                    weather=task["weather"], year=task["year"], linke=task["linke"], options=task["options"],
                    core=tuple(task["core"]), cog=True, site=task.get("site"),
                    **({} if veg is None else {"vegetation": veg}))
        for name in RASTER_MOSAICS:
            if (partial / f"{name}.tif").exists():
                ensure_cog(partial / f"{name}.tif")
        record.update(status="done", warnings=warnings, seconds=round(time.perf_counter() - t0, 3),
                      peak_rss_bytes=peak_rss(), pixels=int(dsm.z.size),
                      finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      outputs=sorted(p.name for p in partial.iterdir()))
        (partial / "tile.json").write_text(json.dumps(record, indent=2, default=str))
        _commit(partial, final)
        return record
    except (SolarkatasterError, OSError, ValueError, RuntimeError) as exc:
        log.warning("tile %s failed: %s", tid, exc)
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        record.update(status="failed", error=f"{tid}: {exc}", warnings=warnings,
                      seconds=round(time.perf_counter() - t0, 3))
        return record


def peak_rss() -> int:
    """Peak resident memory of this process [bytes] (getrusage; Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def footprints_near(footprints, bounds, crs, assigned_crs=None):
    """Footprints near a window.

    Parameters
    ----------
    footprints : str, Path, GeoDataFrame or None
        A footprint file is read for the window's bounding box; other values are returned as given.
    bounds : tuple of float
        (left, bottom, right, top) [m] in ``crs``.
    crs : str
        CRS of ``bounds``.
    assigned_crs : str, optional
        CRS of a footprint file that declares none (the command line's ``--crs``).

    Returns
    -------
    GeoDataFrame, str or None
        The file's path when it has no CRS or cannot be read here (the cadastre reports it).
    """
    if footprints is None or not isinstance(footprints, (str, Path)):
        return footprints
    try:
        import geopandas as gpd
        import pyogrio
        from pyproj import CRS
        from pyproj.transformer import Transformer

        info = pyogrio.read_info(footprints)
        fcrs = info.get("crs") or assigned_crs
        bbox = tuple(bounds)
        if fcrs and not CRS.from_user_input(fcrs).equals(CRS.from_user_input(crs), ignore_axis_order=True):
            bbox = Transformer.from_crs(crs, fcrs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
        gdf = gpd.read_file(footprints, bbox=bbox)
        if fcrs and gdf.crs is None:
            gdf = gdf.set_crs(fcrs)
        return gdf if fcrs else str(footprints)
    except Exception:  # noqa: BLE001 - the cadastre reports unusable footprints with its own message
        return str(footprints)


# ------------------------------------------------------------------------------------------ the cluster

def connect(workers=None, scheduler=None, client=None):
    """Connect to dask: the client given, one to ``scheduler``, or a new local cluster.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a new local cluster (default: CPU count), one thread each, each with its
        libraries beyond the garbage collector (:func:`freeze_worker_heap`).
    scheduler : str, optional
        Address of a running scheduler.
    client : distributed.Client, optional
        An existing client (returned as is).

    Returns
    -------
    client : distributed.Client
    cluster : distributed.LocalCluster or None
        The cluster started here (to close), None otherwise.
    """
    from distributed import Client, LocalCluster

    if client is not None:
        return client, None
    if scheduler:
        return Client(scheduler), None
    n = int(workers or os.cpu_count() or 1)
    if n < 1:
        raise ParameterError(f"workers={workers}: must be at least 1")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit="auto",
                           dashboard_address=":0")
    client = Client(cluster)
    client.run(freeze_worker_heap)
    return client, cluster


def freeze_worker_heap():
    """Import a tile's modules in this worker and put them beyond the garbage collector (:mod:`solarkataster.heap`).

    Run once on each worker of a cluster started here, before its first tile: as a ``run`` does, a worker's
    full collections then scan only its tiles' objects. The worker's own garbage is collected first, so
    that none is kept. Not done on a cluster the caller brings, whose workers may hold other work.
    """
    import gc

    from ..heap import RUN_MODULES, freeze_imported

    gc.collect()
    freeze_imported(RUN_MODULES)


def dask_mapper(client):
    """``mapper(func, *iterables)`` running ``func`` over the iterables on the cluster, results in order."""
    def mapper(func, *iterables):
        return client.gather(client.map(func, *iterables, pure=False))

    return mapper


def run_tasks(client, tasks, on_record):
    """Submit the tile tasks and report each record as it finishes.

    Parameters
    ----------
    client : distributed.Client
        The cluster.
    tasks : list of dict
        Tasks for :func:`process_tile`.
    on_record : callable
        ``on_record(record)`` in the order the tiles finish; a worker that died gives a ``failed`` record
        that says to rerun.
    """
    from distributed import as_completed

    if not tasks:
        return
    # largest first: the slowest tiles do not end up alone at the tail
    tasks = sorted(tasks, key=lambda t: -len(t["sources"]))
    run_token = uuid.uuid4().hex[:8]  # a scheduler keeps erred keys: a rerun must not reuse them
    futures = {client.submit(process_tile, t, key=f"tile-{t['tile_id']}-{run_token}", pure=False): t
               for t in tasks}
    for fut in as_completed(futures):
        task = futures[fut]
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, cancelled, ...
            rec = dict(task["record"], status="failed",
                       error=f"{task['tile_id']}: worker failed ({type(exc).__name__}: {exc}); rerun to resume")
        on_record(rec)
