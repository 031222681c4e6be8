"""Memory-bounded runs: a large raster computed in windows with halos, stitched and merged like batch tiles.

``solarkataster run`` and ``solarkataster irradiance`` hold every pixel's horizons, orientation and outputs
at once: about :data:`RUN_BYTES_PER_PIXEL` bytes per pixel. When a raster does not fit the memory budget
(``--max-memory``, default :func:`default_budget`), it is cut into square windows whose core plus halo fits,
and each window is computed by the batch's own tile task (:func:`solarkataster.batch.process_tile`), in this
process, one after the other. The windows are the batch's: a core on the mosaic's pixel grid plus the larger
of the shading halo (relief / tan 5°, at most 250 m) and the context halo of building detection (150 m),
snapped to the ground filter's blocks when the terrain comes from the DSM (:mod:`solarkataster.batch.plan`).
So the windows equal the whole raster as batch tiles do: the same buildings. Unlike batch tiles, every window
computes the sun and resolves the weather at the whole raster's site (:func:`mosaic_site`), so its numbers equal
the one-window run's within float32 rounding (``tests/test_windowed.py``). A building is reported by the window
whose core holds its representative point.

The outputs are then merged into the results folder of a one-window run: the rasters are copied block by block
from a VRT over the windows' cores into one GeoTIFF, the vector layers are concatenated
(:func:`solarkataster.batch.merge_vector_layers`) and written as GeoJSON, GeoPackage and vector tiles, the
hourly profiles merged (:func:`solarkataster.io.profiles.merge_profiles`) and ``run.json`` records the windows.
Peak memory is one window's, not the raster's. Not drawn in windowed mode: ``overview.png``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ParameterError, TileError

log = logging.getLogger(__name__)

#: Peak resident bytes per pixel of a cadastre window (roofs, walls, PV; 48 sectors), measured at 4 Mpx.
RUN_BYTES_PER_PIXEL = 300
#: Peak resident bytes per pixel of an irradiance-only window (48 sectors).
IRRADIANCE_BYTES_PER_PIXEL = 200
#: Resident bytes besides the window (interpreter, numpy, GDAL, numba kernels, geopandas, what a window leaves).
BASE_BYTES = 600 * 2**20
#: What writing a one-window cadastre adds to its peak (overview, GeoPackage, vector tiles and rasters at once;
#: measured 0.7 GiB at 4 Mpx): a raster is computed in one window only when this fits too.
ONE_WINDOW_WRITE_BYTES = 768 * 2**20
#: Default memory budget [bytes]: a 16 Mpx run in 2 x 2 windows under 2.5 GB (benchmarks/bench_memory.py).
DEFAULT_BUDGET = int(2.5 * 2**30)
#: Largest share of the available memory a run takes by default (on a machine with less than the budget).
DEFAULT_SHARE = 0.8
#: Pixels (all bands) copied at once when the windows' rasters are merged.
COPY_CHUNK_PIXELS = 16 * 2**20
#: Smallest window core [px] (below it the halo dominates the work).
MIN_CORE_PX = 128

_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
          "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


def parse_memory(text):
    """Bytes of a memory size such as ``'4GB'``, ``'1.5G'``, ``'800MB'`` or ``'2e9'`` (binary units).

    Parameters
    ----------
    text : str or int or float
        A number of bytes, or a number followed by K, M, G or T (optionally with B or iB).

    Returns
    -------
    int
        Bytes.
    """
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not m or m.group(2).upper() not in _UNITS:
            raise ParameterError(f"--max-memory {text!r}: give a size such as 4GB, 1.5G or 800MB")
        value, unit = float(m.group(1)), m.group(2).upper()
    size = int(value * _UNITS[unit])
    if size < 256 * 2**20:
        raise ParameterError(f"--max-memory {text!r}: at least 256MB are needed")
    return size


def available_memory():
    """Memory available to a new process [bytes] (``MemAvailable``; psutil where /proc is missing)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available)


def default_budget():
    """Default memory budget [bytes]: :data:`DEFAULT_BUDGET` (2.5 GiB), or less where the machine has less.

    The rule: ``min(2.5 GiB, 0.8 x available memory)``. A fixed budget keeps a run's peak the same on every
    machine (it may share the machine with other jobs); a larger ``--max-memory`` computes fewer windows and
    so less halo twice, which is faster where the memory is there.
    """
    return int(min(DEFAULT_BUDGET, DEFAULT_SHARE * available_memory()))


def window_pixels(budget, bytes_per_pixel=RUN_BYTES_PER_PIXEL):
    """Largest window (core plus halo) [px] whose computation fits ``budget`` [bytes]."""
    return max(0, int((budget - BASE_BYTES) / bytes_per_pixel))


@dataclass
class Window:
    """One window: its id, core and window bounds (left, bottom, right, top) [m] and halo [px]."""

    window_id: str
    core: tuple
    bounds: tuple
    halo_px: int


def plan_windows(mosaic_bounds, cellsize, max_pixels, halo_m, *, context=0.0, align_px=1, clip=True,
                 core_px=None):
    """Cut a mosaic into the fewest cores whose windows (core plus halo) hold at most ``max_pixels`` each.

    Parameters
    ----------
    mosaic_bounds : tuple of float
        (left, bottom, right, top) [m] of the raster.
    cellsize : float
        Pixel size [m].
    max_pixels : int
        Largest window [px].
    halo_m : float
        Shading halo [m].
    context : float
        Context halo [m] (:data:`solarkataster.batch.CONTEXT_HALO_M` for the cadastre, 0 for rasters only).
    align_px : int
        Cores start, and windows are snapped, at multiples of this many pixels from the north-west corner
        (:func:`solarkataster.batch.ground_filter_alignment` when the terrain comes from the DSM).
    clip : bool
        End windows at the raster's edge (the cadastre), as :func:`solarkataster.batch.tile_window`.
    core_px : int, optional
        Core size [px] to use instead of the one derived from ``max_pixels`` (tests, benchmarks).

    Returns
    -------
    list of Window
        One window when the whole raster fits; else the windows row by row from the north-west: the grid of
        evenly spread cores with the fewest windows (then the fewest pixels computed) whose largest window,
        clipped at the raster's edge, fits ``max_pixels``. A budget below a window of :data:`MIN_CORE_PX`
        cores gets such windows anyway (with a warning).
    """
    from .batch import tile_window

    left, bottom, right, top = mosaic_bounds
    rows = int(round((top - bottom) / cellsize))
    cols = int(round((right - left) / cellsize))
    if core_px is None and rows * cols <= max_pixels:
        return [Window("w000_000", tuple(mosaic_bounds), tuple(mosaic_bounds), 0)]
    halo_px = max(2, math.ceil(max(halo_m, context) / cellsize - 1e-9))
    if core_px is not None:
        core_r = core_c = int(core_px)
    else:
        core_r, core_c = _core_grid(rows, cols, max_pixels, halo_px, align_px, clip)
    origin = (left, top)
    out = []
    for i in range(-(-rows // core_r)):
        for j in range(-(-cols // core_c)):
            cb = (left + j * core_c * cellsize, max(bottom, top - (i + 1) * core_r * cellsize),
                  min(right, left + (j + 1) * core_c * cellsize), top - i * core_r * cellsize)
            hp, wb = tile_window(cb, halo_m, cellsize, origin, context=context, align_px=align_px,
                                 clip=mosaic_bounds if clip else None)
            out.append(Window(f"w{i:03d}_{j:03d}", cb, wb, hp))
    return out


def _axis_cores(length, halo_px, align_px, clip):
    """Per number of cores along an axis: (core [px], largest window [px], pixels computed along the axis)."""
    smallest = -(-MIN_CORE_PX // align_px) * align_px
    out = []
    for n in range(1, max(1, -(-length // smallest)) + 1):
        core = -(-(-(-length // n)) // align_px) * align_px  # evenly spread, a multiple of align_px
        m = -(-length // core)
        if out and m == out[-1][0]:
            continue
        exts = []
        for i in range(m):
            lo = (i * core - halo_px) // align_px * align_px  # the north-west side snaps outward
            hi = min(length, (i + 1) * core) + halo_px
            exts.append(min(length, hi) - max(0, lo) if clip else hi - lo)
        out.append((m, core, max(exts), sum(exts)))
    return out


def _core_grid(rows, cols, max_pixels, halo_px, align_px, clip):
    """Core rows and columns [px] of the fewest windows that fit ``max_pixels`` (:func:`plan_windows`)."""
    best = None
    halo_px += 1  # the window's snapping to the pixel grid may add one
    col_cores = _axis_cores(cols, halo_px, align_px, clip)
    for m_r, core_r, ext_r, sum_r in _axis_cores(rows, halo_px, align_px, clip):
        for m_c, core_c, ext_c, sum_c in col_cores:
            if ext_r * ext_c <= max_pixels:
                key = (m_r * m_c, sum_r * sum_c)
                if best is None or key < best[0]:
                    best = (key, core_r, core_c)
                break  # more columns only add windows
    if best is not None:
        return best[1], best[2]
    smallest = -(-MIN_CORE_PX // align_px) * align_px
    log.warning("memory budget fits a %d px window, less than a %d px core plus its %d px halo: windows of "
                "%d px are used", max_pixels, smallest, halo_px, (smallest + 2 * halo_px) ** 2)
    return smallest, smallest


@dataclass
class WindowedRun:
    """What a windowed run wrote: ``report`` (counts, timings, windows) and the written ``outputs``."""

    out_dir: str
    windows: list
    report: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def run_windowed(dsms, out_dir, *, job="cadastre", footprints=None, id_column=None, dtm=None, weather="auto",
                 year=2025, linke=None, options=None, max_memory=None, crs=None, halo=None, core_px=None,
                 progress=None, vegetation=None):
    """Compute and write a run window by window when the raster exceeds the memory budget.

    Parameters
    ----------
    dsms : list of str or Path
        Surface model file(s) of one scene (tiles of a mosaic are read as one raster).
    out_dir : str or Path
        Results folder, laid out as a one-window run's.
    job : {'cadastre', 'irradiance'}
        ``solarkataster run`` (rasters, roofs, walls, buildings) or ``solarkataster irradiance`` (rasters).
    footprints, id_column, dtm, weather, year, linke
        As for :func:`solarkataster.cadastre.compute_cadastre`. The weather is resolved once, and the sun
        computed for every window, at the whole raster's site (:func:`mosaic_site`), as a one-window run does.
    options : CadastreOptions or EngineOptions, optional
        Model choices.
    max_memory : str or int, optional
        Memory budget (``'4GB'``; :func:`parse_memory`); default :func:`default_budget`.
    crs : str, optional
        CRS assigned to inputs that declare none.
    halo : float, optional
        Shading halo [m]; default from the relief as in batch (at most 250 m).
    core_px : int, optional
        Window core [px] forced instead of the budget's (tests, benchmarks): windows even when the raster
        fits.
    progress : callable, optional
        ``progress(done, total)`` over windows.
    vegetation : None, str, Path or VegetationSpec, optional
        Trees as vegetation (``'auto'`` or a canopy raster, read per window with its halo, as in batch).

    Returns
    -------
    WindowedRun or None
        None when the raster fits the budget in one window (and no ``core_px`` is forced): the caller then
        runs as usual (same results).
    """
    from .batch import (
        CONTEXT_HALO_M,
        DEFAULT_HALO_CAP,
        DEFAULT_MIN_ELEVATION,
        ground_filter_alignment,
        irradiance_tile_job,
        survey_tile,
        tile_halos,
    )
    from .io.tiles import discover_tiles, scan_tiles
    from .pipeline import resolve_weather
    from .weather import WeatherYear

    if job not in ("cadastre", "irradiance"):
        raise ParameterError(f"job={job!r}: use 'cadastre' or 'irradiance'")
    budget = default_budget() if max_memory is None else parse_memory(max_memory)
    bpp = RUN_BYTES_PER_PIXEL if job == "cadastre" else IRRADIANCE_BYTES_PER_PIXEL
    tileset = scan_tiles(discover_tiles(dsms), crs=crs)
    if tileset.corrupt:
        raise TileError(f"{tileset.corrupt[0].path}: {tileset.corrupt[0].error}")
    cs, bounds = tileset.cellsize, tileset.bounds
    max_px = window_pixels(budget, bpp)
    one_px = window_pixels(budget - (ONE_WINDOW_WRITE_BYTES if job == "cadastre" else 0), bpp)
    if core_px is None and round((bounds[2] - bounds[0]) / cs) * round((bounds[3] - bounds[1]) / cs) <= one_px:
        return None
    t0 = time.perf_counter()
    dtm_set = scan_tiles(discover_tiles(dtm), crs=crs) if dtm else None
    site = mosaic_site(tileset)
    if not isinstance(weather, WeatherYear):
        weather = resolve_weather(weather, site, year, linke)
    good = tileset.good
    if halo is None:
        halos = tile_halos(good, {t.tile_id: survey_tile(t.path, t.kind) for t in good},
                           min_elevation=DEFAULT_MIN_ELEVATION, cap=DEFAULT_HALO_CAP)
        halo = max(halos.values())
    raster_only = job == "irradiance"
    align = 1 if raster_only or dtm_set is not None else ground_filter_alignment(cs)
    windows = plan_windows(bounds, cs, max_px, float(halo), context=0.0 if raster_only else CONTEXT_HALO_M,
                           align_px=align, clip=not raster_only, core_px=core_px)
    log.info("%s: %d windows of at most %d px (budget %.1f GB, halo %.0f m)", job, len(windows), max_px,
             budget / 2**30, halo)
    work = Path(out_dir) / ".windows"
    if work.exists():
        shutil.rmtree(work)
    (work / "tiles").mkdir(parents=True)
    common = {"out_dir": str(work), "cellsize": cs, "crs": tileset.crs, "id_column": id_column,
              "weather": weather, "year": year, "linke": linke, "site": site,
              "options": _job_options(job, options), "assigned_crs": crs,
              "job": irradiance_tile_job if raster_only else window_cadastre_job,
              "footprints": str(Path(footprints).resolve()) if isinstance(footprints, (str, Path)) else footprints}
    if vegetation is not None:
        common["vegetation"] = _window_vegetation(vegetation)
    records = _compute_windows(windows, tileset, dtm_set, common, progress)
    run = _merge(work, out_dir, records, tileset.crs, raster_only, options=common["options"])
    run.report["windows"] = [{"id": w.window_id, "core": list(w.core), "window": list(w.bounds),
                              "halo_px": w.halo_px, "seconds": r.get("seconds"),
                              "peak_rss_bytes": r.get("peak_rss_bytes")} for w, r in zip(windows, records)]
    run.report.setdefault("timings_s", {})["total_s"] = round(time.perf_counter() - t0, 3)
    run.report["memory_budget_bytes"] = budget
    _write_run_json(work, out_dir, run, records)
    shutil.rmtree(work, ignore_errors=True)
    return run


def mosaic_site(tileset, block_rows=1024):
    """Return the site of the whole raster as a one-window run computes it, read strip by strip.

    Its centre and the median of every finite height: :meth:`solarkataster.pipeline.Site.from_grid` of the
    raster read whole, without holding it.

    Parameters
    ----------
    tileset : solarkataster.io.tiles.TileSet
        The raster's tiles.
    block_rows : int
        Rows read at once.

    Returns
    -------
    solarkataster.pipeline.Site
    """
    from pyproj import Transformer

    from .io.tiles import read_mosaic
    from .pipeline import Site

    left, bottom, right, top = tileset.bounds
    cs = tileset.cellsize
    rows = int(round((top - bottom) / cs))

    def strips():
        for r in range(0, rows, block_rows):
            b = (left, max(bottom, top - (r + block_rows) * cs), right, top - r * cs)
            yield read_mosaic(tileset.overlapping(b), b, cs, tileset.crs).z

    tr = Transformer.from_crs(tileset.crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform((left + right) / 2, (bottom + top) / 2)
    return Site(latitude=float(lat), longitude=float(lon), altitude=exact_nanmedian(strips))


def exact_nanmedian(blocks, bits=16):
    """``np.nanmedian`` of values that arrive in blocks, in two passes and without holding them all.

    The first pass counts the values per bin of their float32 order key's top ``bits`` bits, the second
    keeps only the bins of the middle rank(s) and sorts them.

    Parameters
    ----------
    blocks : callable
        Returns a fresh iterator over the arrays (called twice).
    bits : int
        Bits of the order key that make a bin.

    Returns
    -------
    float
        The median of the finite values; 0.0 when there are none (as :meth:`Site.from_grid`).
    """
    import numpy as np

    shift = np.uint32(32 - bits)

    def bins(v):
        key = np.asarray(v, np.float32).view(np.uint32)
        key = np.where(key >> np.uint32(31), ~key, key | np.uint32(0x80000000))
        return (key >> shift).astype(np.int64)

    counts = np.zeros(2**bits, np.int64)
    for z in blocks():
        v = z[np.isfinite(z)]
        counts += np.bincount(bins(v), minlength=2**bits)
    n = int(counts.sum())
    if n == 0:
        return 0.0
    below = np.concatenate([[0], np.cumsum(counts)])
    lo, hi = (n - 1) // 2, n // 2
    b_lo = int(np.searchsorted(below, lo, side="right") - 1)
    b_hi = int(np.searchsorted(below, hi, side="right") - 1)
    kept = []
    for z in blocks():
        v = z[np.isfinite(z)]
        b = bins(v)
        kept.append(v[(b == b_lo) | (b == b_hi)])
    kept = np.sort(np.concatenate(kept).astype(np.float64))
    pair = kept[[lo - below[b_lo], hi - below[b_lo]]]
    return float(np.mean(pair))


def _window_vegetation(vegetation):
    """Return the vegetation spec of a windowed run (a canopy already on one grid cannot be cut into windows)."""
    from .io.vegetation import as_spec
    from .vegetation import VegetationSpec

    spec = as_spec(vegetation)
    if not isinstance(spec, VegetationSpec):
        raise ParameterError("a windowed run takes vegetation as 'auto', a canopy raster path or a VegetationSpec")
    if spec.source != "auto":
        spec = dataclasses.replace(spec, source=str(Path(spec.source).resolve()))
    return spec


def window_cadastre_job(dsm, out_dir, *, footprints=None, id_column=None, dtm=None, weather="auto", year=2025,
                        linke=None, options=None, core=None, cog=True, vegetation=None, site=None):
    """Tile job of a windowed ``run``: the batch's cadastre job without the per-window overview and tiles.

    Parameters and result as :func:`solarkataster.batch.cadastre_tile_job`.
    """
    from .cadastre import compute_cadastre
    from .io.results import write_cadastre_results

    result = compute_cadastre(dsm, footprints=footprints, id_column=id_column, dtm=dtm, weather=weather, year=year,
                              linke=linke, options=options, core=core, vegetation=vegetation, site=site)
    write_cadastre_results(result, out_dir, cog=cog, overview=False, vector_tiles=False)
    return result


def _job_options(job, options):
    """Options for the tile job (cadastre options wrap engine options, as in batch)."""
    from .cadastre import CadastreOptions
    from .pipeline import EngineOptions

    options = options or EngineOptions()
    if job == "cadastre" and isinstance(options, EngineOptions):
        return CadastreOptions(engine=options)
    return options


def _compute_windows(windows, tileset, dtm_set, common, progress):
    """Run the batch's tile task for each window in this process; raise on the first failure."""
    from .batch import bounds_to_window, process_tile

    records = []
    for k, w in enumerate(windows):
        sources = tileset.overlapping(w.bounds)
        dtm_sources = dtm_set.overlapping(w.bounds) if dtm_set else []
        record = {"tile_id": w.window_id, "path": sources[0].path if sources else None, "bounds": list(w.core),
                  "window": list(w.bounds), "halo_px": w.halo_px, "status": "pending"}
        if not sources:
            records.append(dict(record, status="empty"))
            continue
        task = dict(common, tile_id=w.window_id, path=sources[0].path, kind=sources[0].kind, window=w.bounds,
                    halo_px=w.halo_px, core=bounds_to_window(w.core, w.bounds, tileset.cellsize),
                    sources=[dataclasses.asdict(s) for s in sources],
                    dtm_sources=[dataclasses.asdict(s) for s in dtm_sources], record=record)
        rec = process_tile(task)
        release_memory()
        if rec["status"] != "done":
            raise TileError(rec.get("error", f"window {w.window_id} failed"))
        records.append(rec)
        log.info("window %s done in %.1f s (peak RSS %.2f GB)", w.window_id, rec["seconds"],
                 rec["peak_rss_bytes"] / 2**30)
        if progress:
            progress(k + 1, len(windows))
    return records


def release_memory():
    """Return the memory freed by a window to the system (garbage collection, then glibc's ``malloc_trim``).

    Without it the heap keeps a window's freed small blocks, and the next window starts higher (measured:
    0.2 GiB more per 6 Mpx window).
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:  # not glibc (macOS, Windows): nothing to trim
        pass


def _merge(work, out_dir, records, crs, raster_only, options):
    """Merge the windows' outputs into ``out_dir``: rasters, layers, vector tiles and profiles."""
    from .batch import RASTER_MOSAICS, build_vrt

    out = Path(out_dir)
    done = [r["tile_id"] for r in records if r["status"] == "done"]
    folders = [work / "tiles" / tid for tid in done]
    run = WindowedRun(str(out), done)
    for name in RASTER_MOSAICS:
        files = [f / f"{name}.tif" for f in folders if (f / f"{name}.tif").exists()]
        if files:
            vrt = build_vrt(work / f"{name}.vrt", files)
            run.outputs.append(_copy_raster(vrt, out / f"{name}.tif"))
    if raster_only:
        return run
    run.outputs += _merge_layers(work, out, done, crs, run.report)
    from .io.profiles import merge_profiles

    run.outputs += [str(out / f) for f in merge_profiles(folders, out)]
    return run


def _copy_raster(src, dst):
    """Copy a (VRT) raster into one deflated, tiled GeoTIFF block by block, with its tags; return the path."""
    import rasterio
    from rasterio.windows import Window as RWindow

    from .io.atomic import atomic_write

    def write(tmp):
        with rasterio.open(src) as ds:
            profile = dict(driver="GTiff", dtype="float32", count=ds.count, height=ds.height, width=ds.width,
                           crs=ds.crs, transform=ds.transform, nodata=float("nan"), compress="deflate",
                           predictor=3, tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
            with rasterio.open(tmp, "w", **profile) as dst_ds:
                for b in range(1, ds.count + 1):
                    dst_ds.set_band_description(b, ds.descriptions[b - 1] or "")
                    if ds.units[b - 1]:
                        dst_ds.update_tags(b, units=ds.units[b - 1])
                step = max(256, COPY_CHUNK_PIXELS // (ds.width * ds.count) // 256 * 256)  # whole blocks
                for r0 in range(0, ds.height, step):
                    win = RWindow(0, r0, ds.width, min(step, ds.height - r0))
                    dst_ds.write(ds.read(window=win), window=win)

    atomic_write(dst, write, ".tif")
    return str(dst)


def _merge_layers(work, out, done, crs, report):
    """Concatenate the windows' layers; write GeoJSON, GeoPackage and vector tiles; count them in ``report``."""
    from .batch import merge_vector_layers
    from .io.export import write_geojson, write_gpkg

    layers = merge_vector_layers(work, done)
    written = []
    frames = {}
    for name, gdf in layers.items():
        gdf = gdf.drop(columns=["tile_id"])
        meta = _layer_metadata(work, done, name)
        written.append(str(write_geojson(out / f"{name}.geojson", gdf, layer=name, metadata=meta)))
        frames[name] = gdf.to_crs(crs)
    if frames:
        written.append(str(write_gpkg(out / "solarkataster.gpkg", frames,
                                      metadata=_layer_metadata(work, done, "roofs"))))
        from .io.vector_tiles import TilesError, build_vector_tiles

        try:
            written.append(str(build_vector_tiles(out)))
        except TilesError as exc:
            log.warning("no vector tiles: %s", exc)
    report.update(buildings=len(layers.get("buildings", ())), faces=len(layers.get("roofs", ())),
                  walls=len(layers.get("walls", ())))
    return written


def _layer_metadata(work, done, name):
    """Return the ``metadata`` member a window wrote into its layer (weather basis, suitability classes)."""
    for tid in done:
        p = work / "tiles" / tid / f"{name}.geojson"
        if p.exists():
            meta = json.loads(p.read_text()).get("metadata", {})
            return {k: meta[k] for k in ("weather", "weather_label", "weather_source", "suitability")
                    if k in meta}
    return {}


def _write_run_json(work, out_dir, run, records):
    """``run.json``: the first window's provenance plus the windows, counts and summed stage timings."""
    from .io.results import write_json_atomic

    prov = {}
    first = next((work / "tiles" / r["tile_id"] / "run.json" for r in records if r["status"] == "done"), None)
    if first is not None and first.exists():
        prov = json.loads(first.read_text())
    stages = {}
    for r in records:
        p = work / "tiles" / r["tile_id"] / "run.json"
        if r["status"] == "done" and p.exists():
            timings = json.loads(p.read_text()).get("cadastre", {}).get("timings_s", {})
            for k, v in timings.items():
                stages[k] = round(stages.get(k, 0.0) + float(v), 3)
    if "cadastre" in prov:
        prov["cadastre"] = dict(prov["cadastre"], **{k: v for k, v in run.report.items() if k != "timings_s"})
        prov["cadastre"]["timings_s"] = dict(stages, total_s=run.report["timings_s"]["total_s"])
    prov["windowed"] = {k: v for k, v in run.report.items() if k in ("windows", "memory_budget_bytes")}
    prov["outputs"] = sorted(Path(p).name for p in run.outputs)
    run.provenance = prov
    run.report["timings_s"] = dict(stages, total_s=run.report["timings_s"]["total_s"])
    write_json_atomic(Path(out_dir) / "run.json", prov)
