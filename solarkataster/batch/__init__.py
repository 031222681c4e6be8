"""A whole city from tiles: tile plan with halos, one dask task per tile, resumable, merged outputs.

Flow
----
1. :func:`~solarkataster.io.tiles.discover_tiles` / :func:`~solarkataster.io.tiles.scan_tiles` expand and
   check the inputs (GeoTIFF, directory, glob, VRT, LAS/LAZ); every path is resolved (absolute, symlinks
   followed).
2. Survey (:mod:`.plan`): every tile's SHA-256 and height range (cached in the manifest).
3. Window per tile (:mod:`.plan`): the core plus the larger of the shading halo (relief / tan 5°, at most
   250 m; ``--halo`` overrides) and the context halo that building detection needs (150 m), snapped to the
   ground filter's blocks when the terrain is estimated from the DSM. The tiled run then equals the
   whole-raster run: the same buildings, and irradiation within float tolerance (``tests/test_batch.py``).
4. One task per tile on dask.distributed (:mod:`.execute`), writing ``DIR/tiles/<id>/``.
5. After each tile the client rewrites ``DIR/manifest.json`` atomically (inputs by resolved path and
   SHA-256, options hash, window, status). A rerun skips tiles whose inputs, options and window are
   unchanged, however the paths were spelled.
6. Merge (:mod:`.merge`): VRT mosaics ``DIR/irradiation.vrt``, ``DIR/irradiation_monthly.vrt``,
   ``DIR/sky_view_factor.vrt`` over the per-tile COGs, and the vector layers merged into
   ``DIR/roofs.geojson``, ``walls.geojson``, ``buildings.geojson`` and ``DIR/solarkataster.gpkg``.

Memory
------
A worker holds one window at a time. Its peak is about :data:`BYTES_PER_PIXEL` bytes per pixel of the
window (measured by ``benchmarks/bench_batch.py`` with the engine's default 48 sectors), plus about
:data:`WORKER_BASE_BYTES` for the interpreter and libraries: see :func:`worker_memory_bytes`. The local
cluster gives each of its ``N`` workers ``memory_limit = total RAM / N`` (dask's ``'auto'``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from ..errors import ParameterError, TileError
from .execute import (
    cadastre_tile_job,
    connect,
    dask_mapper,
    footprints_near,
    irradiance_tile_job,
    job_name,
    process_tile,
    run_tasks,
)
from .merge import RASTER_MOSAICS, VECTOR_LAYERS, build_vrt, ensure_cog, merge_outputs, merge_vector_layers
from .plan import (
    BYTES_PER_PIXEL,
    CONTEXT_HALO_M,
    DEFAULT_HALO_CAP,
    DEFAULT_MIN_ELEVATION,
    MANIFEST,
    MIN_HALO_PX,
    WORKER_BASE_BYTES,
    BatchSummary,
    bounds_to_window,
    ground_filter_alignment,
    input_records,
    is_done,
    options_hash,
    read_manifest,
    resolved,
    survey_tile,
    survey_tiles,
    tile_halos,
    tile_window,
    worker_memory_bytes,
    write_manifest,
)

log = logging.getLogger(__name__)

__all__ = [
    "BYTES_PER_PIXEL", "CONTEXT_HALO_M", "DEFAULT_HALO_CAP", "DEFAULT_MIN_ELEVATION", "MANIFEST", "MIN_HALO_PX",
    "RASTER_MOSAICS", "VECTOR_LAYERS", "WORKER_BASE_BYTES", "BatchSummary", "bounds_to_window", "build_vrt",
    "cadastre_tile_job", "default_tile_job", "ensure_cog", "footprints_near", "ground_filter_alignment",
    "irradiance_tile_job", "merge_outputs", "merge_vector_layers", "process_tile", "read_manifest", "run_batch",
    "survey_tile", "tile_halos", "tile_window", "worker_memory_bytes",
]


def default_tile_job():
    """Return the per-tile function of a batch: :func:`cadastre_tile_job` (rasters, roofs, walls, buildings)."""
    return cadastre_tile_job


def _prepare_out_dir(out_dir, halo):
    """Check the halo option [m] and create the output folder."""
    if halo is not None and not (0 <= float(halo) <= 1e4):
        raise ParameterError(f"halo={halo}: must be between 0 and 10000 m")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _scan_inputs(tiles, dtm, resolution, crs=None):
    """Scan the DSM and DTM tile sets (the DTM's CRS and pixel size must be the DSM's; ``crs`` is assigned)."""
    from pyproj import CRS

    from ..io.tiles import discover_tiles, scan_tiles

    tileset = scan_tiles(discover_tiles(tiles), resolution=resolution, crs=crs)
    if not dtm:
        return tileset, None
    cs, dtm_set = tileset.cellsize, scan_tiles(discover_tiles(dtm), crs=crs)
    if not CRS.from_wkt(dtm_set.crs).equals(CRS.from_wkt(tileset.crs), ignore_axis_order=True):
        raise TileError(f"{dtm_set.good[0].path}: DTM CRS differs from the DSM tiles' CRS; reproject it")
    if abs(dtm_set.cellsize - cs) > 1e-3 * cs:
        raise TileError(f"{dtm_set.good[0].path}: DTM pixel size {dtm_set.cellsize:g} m differs from the DSM's "
                        f"{cs:g} m; resample it (gdalwarp -tr {cs:g} {cs:g})")
    return tileset, dtm_set


@dataclasses.dataclass
class _Plan:
    """What every tile of one run shares."""

    out_dir: Path
    tileset: object
    dtm_set: object
    halos: dict
    surveys: dict
    context: float  # context halo [m]; raster-only jobs: 0, and their windows are not clipped to the mosaic
    align_px: int
    options_hash: str
    extra_inputs: list
    common: dict  # task fields equal for every tile


def _plan_tile(plan, t, manifest, summary):
    """Build one tile's task; None when it is empty or unchanged (recorded in manifest and summary)."""
    ts, cs = plan.tileset, plan.tileset.cellsize
    if plan.surveys[t.tile_id]["zmin"] is None:
        summary.empty.append(t.tile_id)
        manifest["tiles"][t.tile_id] = {"tile_id": t.tile_id, "path": t.path, "status": "empty",
                                        "bounds": list(t.bounds)}
        return None
    origin = (ts.bounds[0], ts.bounds[3])
    halo_px, window = tile_window(t.bounds, plan.halos[t.tile_id], cs, origin, context=plan.context,
                                  align_px=plan.align_px, clip=ts.bounds if plan.context else None)
    sources = ts.overlapping(window)
    dtm_sources = plan.dtm_set.overlapping(window) if plan.dtm_set else []
    inputs = input_records([s.path for s in sources + dtm_sources] + plan.extra_inputs, manifest)
    record = {"tile_id": t.tile_id, "path": t.path, "bounds": list(t.bounds), "halo_m": halo_px * cs,
              "halo_px": halo_px, "window": list(window), "inputs": inputs, "options_hash": plan.options_hash,
              "status": "pending"}
    old = manifest["tiles"].get(t.tile_id, {})
    if is_done(plan.out_dir, old, record):
        summary.skipped.append(t.tile_id)
        return None
    shape = (round((window[3] - window[1]) / cs), round((window[2] - window[0]) / cs))
    record["memory_estimate_bytes"] = worker_memory_bytes(0, tile_shape=shape)
    manifest["tiles"][t.tile_id] = record
    return dict(plan.common, tile_id=t.tile_id, path=t.path, kind=t.kind, window=window, halo_px=halo_px,
                core=bounds_to_window(t.bounds, window, cs), sources=[dataclasses.asdict(s) for s in sources],
                dtm_sources=[dataclasses.asdict(s) for s in dtm_sources], record=record)


def _job_options(job, options):
    """Options for the job: engine options wrapped into the cadastre's defaults for the cadastre job."""
    from ..pipeline import EngineOptions

    options = options or EngineOptions()
    if job is cadastre_tile_job and isinstance(options, EngineOptions):
        from ..cadastre import CadastreOptions

        options = CadastreOptions(engine=options)
    return options


def _make_plan(out_dir, tileset, dtm_set, opt_hash, common):
    """Plan shared by every tile: context halo and alignment follow the job and the terrain source."""
    raster_only = bool(getattr(common["job"], "raster_only", False))
    # the ground filter runs when the terrain comes from the DSM: no DTM tiles and no LAS ground class
    filters_ground = not raster_only and dtm_set is None and tileset.good[0].kind != "las"
    inputs = [common["footprints"], common["weather"], getattr(common.get("vegetation"), "source", None)]
    return _Plan(out_dir, tileset, dtm_set, {}, {}, 0.0 if raster_only else CONTEXT_HALO_M,
                 ground_filter_alignment(tileset.cellsize) if filters_ground else 1, opt_hash,
                 [resolved(p) for p in inputs if isinstance(p, (str, Path)) and Path(p).is_file()], common)


def _options_doc(job, options, *, weather, year, linke, halo, min_elevation, halo_cap, cellsize, id_column, crs,
                 vegetation=None):
    doc = {"engine": dataclasses.asdict(options), "weather": str(weather), "year": year, "linke": linke,
           "halo": halo, "min_elevation": min_elevation, "halo_cap": halo_cap, "resolution": cellsize,
           "id_column": id_column, "job": job_name(job), "crs": crs}
    if vegetation is not None:  # absent without: the hash of a run without vegetation does not change
        doc["vegetation"] = {k: (list(v) if isinstance(v, tuple) else str(v) if k == "source" else v)
                             for k, v in dataclasses.asdict(vegetation).items()}
    return doc


def _start_manifest(out_dir, tileset):
    """Return the manifest of ``out_dir`` and a new summary, unreadable tiles recorded as failed in both."""
    manifest = read_manifest(out_dir)
    summary = BatchSummary(str(out_dir), len(tileset.tiles), warnings=list(tileset.warnings))
    for t in tileset.corrupt:
        summary.failed[t.tile_id] = t.error
        manifest["tiles"][t.tile_id] = {"tile_id": t.tile_id, "path": t.path, "status": "failed", "error": t.error}
    return manifest, summary


def _batch_vegetation(vegetation):
    """Return the batch's vegetation spec (canopy raster path resolved), or None."""
    from ..io.vegetation import as_spec
    from ..vegetation import Vegetation

    spec = as_spec(vegetation)
    if isinstance(spec, Vegetation):
        raise ParameterError("batch: give the vegetation as 'auto', a canopy raster or a VegetationSpec (a "
                             "Vegetation on one grid cannot be split into tiles)")
    if spec is not None and not spec.is_auto:
        if not Path(spec.source).is_file():
            raise ParameterError(f"{spec.source}: canopy raster not found (--vegetation FILE|auto)")
        spec = dataclasses.replace(spec, source=resolved(spec.source))
    return spec


def _record_done(manifest, summary, out_dir, progress, total):
    """``on_record`` callback: store a finished tile's record, count it, rewrite the manifest."""
    done = [0]

    def on_record(rec):
        tid = rec["tile_id"]
        manifest["tiles"][tid] = rec
        if rec["status"] == "done":
            summary.computed.append(tid)
        else:
            summary.failed[tid] = rec.get("error", "failed")
        summary.warnings.extend(f"{tid}: {w}" for w in rec.get("warnings", []))
        write_manifest(out_dir, manifest)
        done[0] += 1
        if progress:
            progress(done[0], total)

    return on_record


def run_batch(tiles, out_dir, *, footprints=None, id_column=None, dtm=None, weather="auto", year=2025,
              linke=None, options=None, halo=None, min_elevation=DEFAULT_MIN_ELEVATION,
              halo_cap=DEFAULT_HALO_CAP, resolution=None, workers=None, scheduler=None, client=None,
              tile_job=None, progress=None, on_client=None, crs=None, vegetation=None) -> BatchSummary:
    """Compute a city from tiles on dask.distributed, resumably, and merge the outputs.

    Parameters
    ----------
    tiles : str, Path or list
        DSM tiles: GeoTIFFs, directories, glob patterns, VRTs or LAS/LAZ files.
    out_dir : str or Path
        Output folder (created). Holds ``tiles/<id>/``, ``manifest.json`` and the merged outputs.
    footprints : str or Path, optional
        Footprint layer (any CRS); each tile reads the part around its window.
    id_column : str, optional
        Footprint id column.
    dtm : str, Path or list, optional
        Terrain tiles (any tiling, same CRS and pixel size). LAS input gives its own DTM from class 2.
    weather : str or WeatherYear
        As for :func:`solarkataster.pipeline.compute_irradiance`.
    year : int
        Calendar year the weather is mapped onto.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    options : EngineOptions or CadastreOptions, optional
        Model choices (the cadastre job wraps EngineOptions into its defaults).
    halo : float, optional
        Shading halo [m] for every tile; default: derived per tile from the relief (:func:`tile_halos`).
        The context halo (:data:`CONTEXT_HALO_M`) applies on top unless the job is raster-only.
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
        The per-tile function (default :func:`cadastre_tile_job`), importable on the workers. A job with a
        true ``raster_only`` attribute gets neither the context halo, nor the window alignment, nor windows
        clipped to the mosaic (the halo beyond the mosaic reads as nodata).
    progress : callable, optional
        ``progress(done, total)`` over tiles.
    on_client : callable, optional
        Called with the client once connected (the CLI prints the dashboard link).
    crs : str, optional
        CRS assigned to tiles and footprints that declare none (a declared CRS is never overridden).
    vegetation : str, Path or VegetationSpec, optional
        Trees as vegetation: ``'auto'`` (LAS tiles: classes 3-5; rasters: the DSM's trees) or a canopy height
        raster read per tile window, halo included (:func:`solarkataster.io.vegetation.prepare_vegetation`).

    Returns
    -------
    BatchSummary
    """
    t_start = time.perf_counter()
    out_dir = _prepare_out_dir(out_dir, halo)
    tileset, dtm_set = _scan_inputs(tiles, dtm, resolution, crs)
    cs, crs = tileset.cellsize, tileset.crs  # the tiles' (declared or assigned) CRS from here on
    job = tile_job or default_tile_job()
    options = _job_options(job, options)
    vegetation = _batch_vegetation(vegetation)
    manifest, summary = _start_manifest(out_dir, tileset)
    doc = _options_doc(job, options, weather=weather, year=year, linke=linke, halo=halo,
                       min_elevation=min_elevation, halo_cap=halo_cap, cellsize=cs, id_column=id_column, crs=crs,
                       vegetation=vegetation)
    manifest["options"], manifest["options_hash"] = doc, options_hash(doc)
    plan = _make_plan(out_dir, tileset, dtm_set, manifest["options_hash"], {
        "out_dir": str(out_dir), "cellsize": cs, "crs": crs, "id_column": id_column, "weather": weather,
        "year": year, "linke": linke, "options": options, "job": job, "assigned_crs": crs, "vegetation": vegetation,
        "footprints": resolved(footprints) if isinstance(footprints, (str, Path)) else footprints})
    client_obj, cluster = connect(workers, scheduler, client)
    try:
        if on_client:
            on_client(client_obj)
        good = tileset.good
        plan.surveys = survey_tiles(good, manifest, dask_mapper(client_obj))
        plan.halos = ({t.tile_id: float(halo) for t in good} if halo is not None else
                      tile_halos(good, plan.surveys, min_elevation=min_elevation, cap=halo_cap))
        tasks = [task for task in (_plan_tile(plan, t, manifest, summary) for t in good) if task is not None]
        write_manifest(out_dir, manifest)
        log.info("%d tiles: %d to compute, %d unchanged, %d empty, %d unreadable", len(tileset.tiles), len(tasks),
                 len(summary.skipped), len(summary.empty), len(tileset.corrupt))
        if progress and tasks:
            progress(0, len(tasks))
        run_tasks(client_obj, tasks, _record_done(manifest, summary, out_dir, progress, len(tasks)))
    finally:
        if cluster is not None or client is None:  # a cluster or scheduler connection of our own
            client_obj.close()
        if cluster is not None:
            cluster.close()
    summary.outputs = merge_outputs(out_dir, manifest, crs=crs, warnings=summary.warnings)
    summary.seconds = round(time.perf_counter() - t_start, 3)
    manifest["summary"] = summary.to_dict()
    write_manifest(out_dir, manifest)
    return summary
