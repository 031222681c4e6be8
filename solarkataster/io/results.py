"""The results writer: one folder layout for ``irradiance``, ``run`` and every batch tile.

A results folder holds

* rasters: ``irradiation.tif`` (bands global, beam, diffuse, reflected [kWh/m²/a]),
  ``irradiation_monthly.tif`` (12 bands [kWh/m²/month]) and ``sky_view_factor.tif`` [-], as GeoTIFF or
  Cloud Optimized GeoTIFF;
* for the cadastre, the vector layers of the layer contract (:mod:`solarkataster.layers`):
  ``roofs.geojson``, ``walls.geojson``, ``buildings.geojson`` and, when buildings were detected from the
  surface model, ``footprints_detected.geojson``, all of them also in ``solarkataster.gpkg``, and the
  vector tiles ``solarkataster.pmtiles`` of roofs, walls and buildings (:mod:`.vector_tiles`);
* ``profiles.npy`` and ``profiles.json``, the hourly AC yield of every building's roof and walls and of
  every counted roof face (:mod:`solarkataster.io.profiles`);
* ``overview.png``, a quick look with the contract's class colours and the weather basis in its title;
* ``run.json``, the provenance: inputs with hashes, weather, model options, timings, what was written.

When a run computed a halo around its core window (a batch tile), the writer cuts the rasters to the core
(:func:`crop_to_core`); the compute step has already reported only the core's buildings. Every file is
written atomically (:mod:`solarkataster.io.atomic`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from .. import layers

log = logging.getLogger(__name__)

#: Bands of ``irradiation.tif``.
IRRADIATION_BANDS = ("global", "beam", "diffuse", "reflected")
#: Month abbreviations of the bands of ``irradiation_monthly.tif``.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: The rasters every results folder holds, with their units.
RASTER_UNITS = {"irradiation": layers.IRRADIATION_UNIT, "irradiation_monthly": layers.IRRADIATION_MONTHLY_UNIT,
                "sky_view_factor": layers.RATIO_UNIT}
#: The vector layers of a cadastre, in writing order.
CADASTRE_LAYERS = ("roofs", "walls", "buildings")


# ------------------------------------------------------------------------------------------- JSON

def json_default(value):
    """Make numpy scalars and arrays JSON-able (``json.dumps(default=...)``); anything else becomes a str."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json_atomic(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Output file.
    obj : dict or list
        Content; numpy values are converted (:func:`json_default`).

    Returns
    -------
    pathlib.Path
    """
    from .atomic import write_text_atomic

    return write_text_atomic(path, json.dumps(obj, indent=2, default=json_default))


def weather_label(source) -> str:
    """Describe a weather basis for people, from a :class:`~solarkataster.weather.WeatherYear` ``source``.

    Uses the source's ``label`` when it has one, else its ``name``, followed by the region or station
    when stated (``"DWD TRY 2010 region 12 (Mannheim)"``, ``"clear-sky"``).
    """
    source = source or {}
    label = str(source.get("label") or source.get("name") or "unknown weather")
    for key in ("region", "station"):
        value = source.get(key)
        if value not in (None, "") and str(value) not in label:
            label += f" {key} {value}"
    return label


# ---------------------------------------------------------------------------------------- rasters

def crop_to_core(result, core):
    """Cut an :class:`~solarkataster.pipeline.IrradianceResult` to its core window (drop the halo).

    Parameters
    ----------
    result : IrradianceResult
    core : (int, int, int, int) or None
        ``(row0, row1, col0, col1)`` of the core on the result's grid; None keeps the whole result.

    Returns
    -------
    IrradianceResult
        A copy whose grid and rasters cover the core only (sky, weather and provenance are shared).
    """
    if core is None:
        return result
    r0, r1, c0, c1 = core
    irr = result.irradiation
    cut = {f.name: getattr(irr, f.name)[..., r0:r1, c0:c1] for f in dataclasses.fields(irr)
           if isinstance(getattr(irr, f.name), np.ndarray)}
    return dataclasses.replace(result, grid=result.grid.window(r0, r1, c0, c1),
                               irradiation=dataclasses.replace(irr, **cut))


def write_irradiance_results(result, out_dir, *, cog=False, extra_provenance=None, core=None, vegetation=None):
    """Write the engine's rasters and ``run.json`` into a results folder.

    Parameters
    ----------
    result : IrradianceResult
        From :func:`solarkataster.pipeline.compute_irradiance` (or a cadastre's ``irradiance``).
    out_dir : str or Path
        Results folder (created).
    cog : bool
        Write Cloud Optimized GeoTIFFs.
    extra_provenance : dict, optional
        Merged into ``run.json`` on top of the result's provenance.
    core : (int, int, int, int), optional
        Core window ``(row0, row1, col0, col1)``: the rasters are cut to it (:func:`crop_to_core`).
    vegetation : Vegetation, optional
        The run's canopy: written as ``canopy_height.tif`` [m above ground] and recorded in ``run.json``
        (source and parameters, :meth:`solarkataster.vegetation.Vegetation.parameters`).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prov = _write_rasters(result, out, cog, core, vegetation)
    if extra_provenance:
        prov.update(extra_provenance)
    write_json_atomic(out / "run.json", prov)
    return out


def _write_rasters(result, out, cog, core, vegetation):
    """Write the engine's rasters (:func:`write_irradiance_results`) into ``out``; return the provenance."""
    _write_raster_files(result, out, cog, core, vegetation)
    return _raster_provenance(result, vegetation)


def _raster_provenance(result, vegetation):
    """Return the provenance of the engine's rasters for ``run.json``: the engine's, the units and the files."""
    prov = dict(result.provenance)
    prov["weather_label"] = weather_label(result.weather.source)
    prov["units"] = dict(RASTER_UNITS)
    prov["outputs"] = [f"{name}.tif" for name in RASTER_UNITS]
    if vegetation is not None:
        prov["vegetation"] = vegetation.parameters()
        prov["units"]["canopy_height"] = layers.LENGTH_UNIT
        prov["outputs"].append("canopy_height.tif")
    return prov


def _write_raster_files(result, out, cog, core, vegetation, threads="ALL_CPUS"):
    """Write the engine's rasters, cut to the core window, and the canopy height with a vegetation.

    ``threads``: GDAL's compression threads (:func:`solarkataster.io.raster.write_raster`).
    """
    from .. import __version__
    from .raster import write_raster

    result = crop_to_core(result, core)
    irr = result.irradiation
    tags = {"software": f"solarkataster {__version__}", "weather": result.weather.source.get("name")}
    write_raster(out / "irradiation.tif", np.stack([irr.global_, irr.beam, irr.diffuse, irr.reflected]),
                 result.grid, descriptions=list(IRRADIATION_BANDS), units=RASTER_UNITS["irradiation"],
                 tags=tags, cog=cog, threads=threads)
    write_raster(out / "irradiation_monthly.tif", irr.monthly, result.grid,
                 descriptions=[f"global_{m}" for m in MONTHS], units=RASTER_UNITS["irradiation_monthly"],
                 tags=tags, cog=cog, threads=threads)
    write_raster(out / "sky_view_factor.tif", irr.sky_view_factor, result.grid, descriptions=["sky_view_factor"],
                 units=RASTER_UNITS["sky_view_factor"], tags=tags, cog=cog, threads=threads)
    if vegetation is not None:
        ch = vegetation.canopy_height
        if core is not None:
            ch = ch[core[0]:core[1], core[2]:core[3]]
        write_raster(out / "canopy_height.tif", np.where(ch > 0, ch, np.nan), result.grid,
                     descriptions=["canopy_height"], units=layers.LENGTH_UNIT, tags=tags, cog=cog, threads=threads)


# ---------------------------------------------------------------------------------------- cadastre

def layer_metadata(result) -> dict:
    """Provenance written into every vector layer of a cadastre: weather basis and suitability classes.

    Parameters
    ----------
    result : CadastreResult

    Returns
    -------
    dict
        ``weather`` (name), ``weather_label``, ``weather_source`` and ``suitability``
        (:func:`solarkataster.layers.suitability_metadata`).
    """
    source = result.irradiance.weather.source
    thresholds = result.report.get("suitability_thresholds", layers.DEFAULT_SUITABILITY_THRESHOLDS)
    return {
        "weather": source.get("name"),
        "weather_label": weather_label(source),
        "weather_source": {k: str(v) for k, v in source.items()},
        "suitability": layers.suitability_metadata(result.reference_irradiation, thresholds),
    }


def cadastre_layers(result) -> dict:
    """Collect the vector layers of a cadastre result to write, by contract layer name (in the grid's CRS)."""
    frames = {"roofs": result.roofs.drop(columns=["_face"], errors="ignore")}
    if result.walls is not None:
        frames["walls"] = result.walls
    frames["buildings"] = result.buildings
    fp = result.footprints
    if fp is not None and "source" in fp.columns and (fp["source"] == "detected").any():
        detected = fp[fp["source"] == "detected"]
        frames["footprints_detected"] = detected[[c for c in layers.columns("footprints_detected")
                                                  if c in detected.columns] + [detected.geometry.name]]
    return frames


class CadastreWriter:
    """Write a cadastre's results folder, starting with the engine's rasters while the cadastre is computed.

    The rasters need only the engine's result: passed as ``on_engine`` to
    :func:`solarkataster.cadastre.compute_cadastre`, :meth:`start` writes them in a thread (GDAL releases
    the GIL) beside the roof faces' and walls' work; :meth:`write` writes the rest and ``run.json`` last.

    Parameters
    ----------
    out_dir : str or Path
        Results folder (created).
    cog, overview, vector_tiles
        As :func:`write_cadastre_results`.

    Examples
    --------
    >>> writer = CadastreWriter(out)                                       # doctest: +SKIP
    >>> result = compute_cadastre(dsm, on_engine=writer.start)             # doctest: +SKIP
    >>> writer.write(result)                                               # doctest: +SKIP
    """

    def __init__(self, out_dir, *, cog=False, overview=True, vector_tiles=True):
        self.out = Path(out_dir)
        self.cog, self.overview, self.vector_tiles = cog, overview, vector_tiles
        self._jobs = None
        if overview:
            _load_pyplot()  # before any thread: see _load_pyplot

    def start(self, irradiance, core=None, vegetation=None):
        """Start writing the rasters of an engine result (cut to ``core``), and their context tiles."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._jobs = _start_engine_outputs(self.out, irradiance, core, vegetation, self.cog, self.vector_tiles)

    def write(self, result):
        """Write the rest of the folder for ``result`` (the rasters too, unless :meth:`start` began them)."""
        return write_cadastre_results(result, self.out, cog=self.cog, overview=self.overview,
                                      vector_tiles=self.vector_tiles, started=self._jobs)


def _start_engine_outputs(out, irradiance, core, vegetation, cog, context):
    """Start writing the engine's rasters and (with ``context``) their raster context tiles in threads.

    Returns the two jobs (the second None without ``context``). GDAL compresses and Pillow encodes without
    the GIL; with one compression thread the run's own work after the engine, mostly Python, keeps a core.
    The context tiles need only the engine's result, so they start here rather than after the layers: they
    would otherwise finish last, alone on one core.
    """
    rasters = _Background(_write_raster_files, irradiance, out, cog, core, vegetation, 1)
    return rasters, (_Background(_write_context_tiles, out, irradiance, core) if context else None)


def write_cadastre_results(result, out_dir, *, cog=False, overview=True, vector_tiles=True, started=None):
    """Write a cadastre's results folder: rasters (cut to the core), layers, tiles, overview.png and run.json.

    Parameters
    ----------
    result : CadastreResult
        From :func:`solarkataster.cadastre.compute_cadastre`.
    out_dir : str or Path
        Results folder (created).
    cog : bool
        Write Cloud Optimized GeoTIFFs.
    overview : bool
        Draw ``overview.png``.
    vector_tiles : bool
        Write ``solarkataster.pmtiles`` (:mod:`solarkataster.io.vector_tiles`); a batch tile does not need it.
    started : optional
        The rasters' and context tiles' jobs :class:`CadastreWriter` started for this result's engine (then not
        written again).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    from .export import contract_frame, write_geojson, write_gpkg

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .vector_tiles import TILE_LAYERS

    meta = layer_metadata(result)
    if overview:
        _load_pyplot()  # before the threads: its first import swaps the warning filters (not thread-safe)
    vegetation = getattr(result, "vegetation", None)
    rasters_job, context_job = started or _start_engine_outputs(out, result.irradiance, result.core, vegetation,
                                                                cog, vector_tiles)
    layers_out = cadastre_layers(result)
    contracted = {}

    def write_layers(names):
        for name in names:  # the contract (columns, rounding) once for both formats
            contracted[name] = contract_frame(layers_out[name], name)
            write_geojson(out / f"{name}.geojson", contracted[name], layer=name, metadata=meta, contracted=True)

    # the layers of the vector tiles first: the tile encoder runs in its own process while this one writes
    # the rest
    write_layers([name for name in layers_out if name in TILE_LAYERS])
    tiles_job = _Background(_write_vector_tiles, out) if vector_tiles else None
    write_layers([name for name in layers_out if name not in TILE_LAYERS])
    frames = {name: contracted[name] for name in layers_out}
    write_gpkg(out / "solarkataster.gpkg", frames, metadata=meta, contracted=True)
    index = _write_layer_index(out) if vector_tiles else []
    if overview:
        write_overview(result, out / "overview.png")
    extra = {"cadastre": result.report}
    if getattr(result, "profiles", None) is not None:  # before the waits: the tile jobs may still run
        from .profiles import write_profiles

        extra["outputs_profiles"] = write_profiles(out, result.profiles)
    context = (context_job.result() if context_job is not None else []) + index
    extra["outputs_vector"] = [f"{name}.geojson" for name in frames] + ["solarkataster.gpkg"] + context
    extra["outputs_vector"] += tiles_job.result() if tiles_job else []
    rasters_job.result()
    prov = _raster_provenance(result.irradiance, vegetation)
    prov.update(extra)
    write_json_atomic(out / "run.json", prov)
    return out


class _Background:
    """Run ``func(*args)`` in a thread; :meth:`result` waits for it and returns its value or raises its error."""

    def __init__(self, func, *args):
        import threading

        self._value, self._error = None, None

        def target():
            try:
                self._value = func(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self):
        """Wait for the function and return its value (or raise what it raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _write_vector_tiles(out) -> list:
    """Write ``solarkataster.pmtiles`` next to the layers; [] with a warning when the encoder is missing."""
    from .vector_tiles import TilesError, build_vector_tiles

    try:
        return [build_vector_tiles(out).name]
    except TilesError as exc:
        log.warning("no vector tiles: %s", exc)
        return []


def _write_layer_index(out) -> list:
    """Write the columnar index of the layers (:mod:`.layer_index`) the service opens at start-up."""
    from .layer_index import INDEX_DIR, write_layer_index

    write_layer_index(out, {name: layers.id_field(name) for name in ("roofs", "walls", "buildings")})
    return [INDEX_DIR]


def _write_context_tiles(out, irradiance, core) -> list:
    """Write the raster context tiles (hillshade, irradiation; :mod:`.raster_tiles`) of the core window."""
    from .raster_tiles import ContextRaster, write_context_tiles

    irr = crop_to_core(irradiance, core)
    g = irr.grid
    try:
        return write_context_tiles(out, ContextRaster(irr.irradiation.global_, g.transform, g.crs),
                                   ContextRaster(g.z, g.transform, g.crs))
    except (ImportError, OSError, ValueError) as exc:
        log.warning("no raster context tiles: %s", exc)
        return []


# ---------------------------------------------------------------------------------------- overview

def _hillshade(grid):
    z = grid.z
    gy, gx = np.gradient(np.nan_to_num(z, nan=np.nanmin(z) if np.isfinite(z).any() else 0), grid.cellsize)
    return np.clip(0.6 + 0.4 * (-gx - gy) / np.sqrt(1 + gx ** 2 + gy ** 2) / 1.4, 0, 1)


#: Colour of the canopy in the overview (RGBA).
CANOPY_COLOR = (0.13, 0.55, 0.13, 0.55)


def _draw_canopy(ax, vegetation, extent):
    """Draw the canopy as a translucent green layer; return its legend handles ([] without vegetation)."""
    from matplotlib.patches import Patch

    if vegetation is None or not vegetation.mask.any():
        return []
    rgba = np.zeros(vegetation.mask.shape + (4,))
    rgba[vegetation.mask] = CANOPY_COLOR
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    return [Patch(color=CANOPY_COLOR, label=f"canopy (transmissivity {vegetation.transmissivity:g} / "
                                            f"{vegetation.leaf_off_transmissivity:g})")]


def _load_pyplot():
    """Import pyplot with the Agg backend and return it.

    Call it before starting threads that use rasterio: importing pyplot the first time enters
    :class:`warnings.catch_warnings`, which swaps the process-wide warning filters and is not thread-safe: a
    filter another thread sets meanwhile can be lost (the likely source of a stray
    ``NotGeoreferencedWarning`` while the raster tiles were written).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: zlib level of ``overview.png``: on the Essen picture level 3 took 0.09 CPU-s against 0.23 for PIL's default
#: 6, and the file came out smaller (0.95 against 1.09 MB).
OVERVIEW_PNG_COMPRESSION = 3


def _polygon_paths(geometries):
    """One compound :class:`matplotlib.path.Path` per (multi)polygon, holes included, built from whole arrays.

    Parameters
    ----------
    geometries : array_like of shapely Polygon or MultiPolygon
        In the map's coordinates [m]; None or empty ones give an empty path.

    Returns
    -------
    list of matplotlib.path.Path
    """
    import shapely
    from matplotlib.path import Path as MplPath

    geoms = np.asarray(geometries, dtype=object)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    # every ring is closed: its first vertex moves, the others draw lines, the repeated last one closes it
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    first = np.r_[0, np.flatnonzero(np.diff(vertex_of)) + 1] if len(xy) else np.zeros(0, int)
    codes[first] = MplPath.MOVETO
    codes[np.r_[first[1:] - 1, len(xy) - 1] if len(xy) else first] = MplPath.CLOSEPOLY
    feature_of_vertex = part_of[ring_of[vertex_of]]
    bounds = np.searchsorted(feature_of_vertex, np.arange(len(geoms) + 1))
    return [MplPath(xy[a:b], codes[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _tight_bbox(fig, images):
    """Return the figure's tight bounding box [in], padded, as ``savefig(bbox_inches="tight")`` finds it.

    ``bbox_inches="tight"`` lays the figure out in a draw that renders nothing, then draws it again: that
    first draw resamples every image all the same. Here the images are hidden in it (they lie inside the
    axes, so they move nothing), and the box is measured with them shown, as ``savefig`` does.
    """
    import matplotlib

    renderer = fig.canvas.get_renderer()
    shown = [image.get_visible() for image in images]
    for image in images:
        image.set_visible(False)
    try:
        with renderer._draw_disabled():
            fig.draw(renderer)
    finally:
        for image, visible in zip(images, shown):
            image.set_visible(visible)
    pad = matplotlib.rcParams["savefig.pad_inches"]
    return fig.get_tightbbox(renderer).padded(pad, pad)


def write_overview(result, path):
    """Draw a quick-look PNG: hillshade, canopy, roof faces by suitability class, walls by irradiation.

    The class colours are the contract's (:data:`solarkataster.layers.SUITABILITY`); the title names the
    weather basis. Roof faces and walls are drawn as one collection each, from whole coordinate arrays.

    Parameters
    ----------
    result : CadastreResult
    path : str or Path
        Output ``.png``.

    Returns
    -------
    str or Path
        ``path``.
    """
    import textwrap

    import shapely
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    from .atomic import atomic_write

    plt = _load_pyplot()
    grid = result.irradiance.grid
    rows, cols = grid.z.shape
    t = grid.transform
    extent = (t.c, t.c + cols * t.a, t.f + rows * t.e, t.f)
    colors = layers.suitability_colors()
    fig, ax = plt.subplots(figsize=(11, 9 * rows / max(cols, 1) + 0.6), dpi=110)
    step = max(1, int(max(rows, cols) // 1500))  # the figure is ~1000 px wide: no need for every pixel
    ax.imshow(_hillshade(grid)[::step, ::step], cmap="gray", extent=extent, vmin=0, vmax=1)
    handles = _draw_canopy(ax, getattr(result, "vegetation", None), extent)
    if len(result.roofs):
        roofs = PathCollection(_polygon_paths(result.roofs.geometry.to_numpy()),
                               facecolor=[colors.get(s, layers.NO_CLASS_COLOR) for s in result.roofs["suitability"]],
                               edgecolor="k", linewidth=0.2, alpha=0.85)
        ax.add_collection(roofs, autolim=True)
    if result.walls is not None and len(result.walls):
        # a multi-part wall draws all its parts
        lines, feature_of_line = shapely.get_parts(result.walls.geometry.to_numpy(), return_index=True)
        xy, line_of = shapely.get_coordinates(lines, return_index=True)
        segments = np.split(xy, np.flatnonzero(np.diff(line_of)) + 1) if len(xy) else []
        irradiation = result.walls["irradiation"].to_numpy(dtype=float)[feature_of_line[np.unique(line_of)]]
        walls = LineCollection(segments, cmap="viridis", linewidths=1.2,
                               norm=Normalize(np.nanmin(irradiation), np.nanmax(irradiation)))
        walls.set_array(irradiation)
        ax.add_collection(walls, autolim=True)
        fig.colorbar(walls, ax=ax, label="wall irradiation [kWh/m²]", shrink=0.5, pad=0.01)
    ax.autoscale_view()
    ax.set_aspect("equal")
    # beside the map, never over a roof
    ax.legend(handles=[Patch(color=c.color, label=c.label) for c in layers.SUITABILITY] + handles,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, title="roof suitability")
    weather = textwrap.fill(f"weather: {weather_label(result.irradiance.weather.source)}", 100)
    ax.set_title(f"solarkataster: {len(result.roofs)} roof faces, {len(result.buildings)} buildings\n{weather}",
                 fontsize=10)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel(f"x [m] ({grid.crs})")
    ax.set_ylabel("y [m]")
    try:
        bbox = _tight_bbox(fig, ax.images)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches=bbox,
                                                   pil_kwargs={"compress_level": OVERVIEW_PNG_COMPRESSION}),
                     ".png")
    finally:
        plt.close(fig)
    return path
