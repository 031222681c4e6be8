"""The cadastre: from a surface model (and footprints) to roof faces, walls and buildings with PV potential.

:func:`compute_cadastre` is a thin composition: it reads the inputs, finds the buildings (footprints or
:mod:`detection`), runs the engine once (:func:`solarkataster.pipeline.run_engine`), segments the roofs
(:mod:`roofs`), samples the walls (:mod:`walls`), builds the run's yield tables once
(:func:`solarkataster.pv.build_yield_tables`) and assesses roof faces and walls with the one surface
assessment (:mod:`assessment`). It writes nothing and returns GeoDataFrames in the raster's CRS;
:func:`solarkataster.io.results.write_cadastre_results` writes them.

Given an LoD2 model (``roofs``), the faces, walls and buildings are the model's instead, with their exact
planes, and the surface model (given, or rasterised from the model) only shades them
(:mod:`solarkataster.cadastre_lod2`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import layers
from .assessment import FacadeOptions, assess_surfaces, counted_classes, surface_latitudes, vegetation_loss
from .grid import Grid
from .layers import SUITABILITY_CLASSES
from .pipeline import EngineOptions, IrradianceResult, Site, engine_skies, load_grid, resolve_weather, run_engine
from .pv import ModuleSpec, PVOptions, build_yield_tables
from .sky import FINE_AZIMUTH_BINS

log = logging.getLogger(__name__)

FLAT_AZIMUTH_LIMIT = 5.0  # faces flatter than this [°] have no azimuth in the output
#: A roof face lower than this above the ground [m] is ground, not roof: its building is flagged.
MIN_FACE_HEIGHT = 1.5

#: Columns of each layer, in order: the layer contract's (:mod:`solarkataster.layers`).
LAYER_COLUMNS = {name: layers.columns(name) for name in ("roofs", "walls", "buildings")}
#: Decimals of the rounded roof and building columns, from the contract (a column has one rounding everywhere).
ROUNDING = {c.name: c.decimals for name in ("roofs", "buildings") for c in layers.layer(name).columns
            if c.decimals is not None and c.type == "number"}

#: Grid the published face polygons are snapped to [m] (:func:`_published`).
PUBLISHED_PRECISION = 0.01

#: Building status values: anything but "ok" says why the building's numbers are missing or doubtful.
STATUS_OK = "ok"
STATUS_NO_PIXELS = "no valid surface-model pixels inside the footprint"
STATUS_NO_FACE = "no roof face found"
STATUS_GROUND_FACES = "roof faces at ground height"

#: Stages of a run, in order, and their share of a progress bar (the writer reports 'writing').
PROGRESS_STAGES = {"reading": 0.03, "buildings": 0.05, "engine": 0.6, "faces": 0.1, "walls": 0.17,
                   "writing": 0.05}


def progress_fraction(stage, done, total):
    """Fraction [0-1] of a whole run reached at ``done`` of ``total`` units of ``stage``.

    Parameters
    ----------
    stage : str
        One of :data:`PROGRESS_STAGES`.
    done, total : int
        Work units of the stage.
    """
    names = list(PROGRESS_STAGES)
    before = sum(PROGRESS_STAGES[s] for s in names[:names.index(stage)])
    return before + PROGRESS_STAGES[stage] * min(done / total, 1.0) if total else before


@dataclass
class CadastreOptions:
    """Options of the cadastre beyond the engine's.

    Parameters
    ----------
    engine : EngineOptions
    pv : PVOptions
        Layout, yield, suitability thresholds, ``min_usable_area`` and ``min_class``: one set for roofs
        and walls.
    module : ModuleSpec
    min_face_area : float
        Roof parts smaller than this [m²] (chimneys, vents) are not faces.
    walls : bool
        Compute facades.
    wall_spacing : float
        Wall sample grid [m].
    band_height : float
        Storey height of the wall bands [m].
    facade : FacadeOptions
        Which part of a wall can carry modules (windows, ground floor).
    """

    engine: EngineOptions = field(default_factory=EngineOptions)
    pv: PVOptions = field(default_factory=PVOptions)
    module: ModuleSpec = field(default_factory=ModuleSpec)
    min_face_area: float = 3.0
    walls: bool = True
    wall_spacing: float = 1.0
    band_height: float = 3.0
    facade: FacadeOptions = field(default_factory=FacadeOptions)


@dataclass
class CadastreResult:
    """Everything a run produces, in the raster's CRS."""

    irradiance: IrradianceResult
    roofs: object
    walls: object
    buildings: object
    footprints: object
    face_labels: np.ndarray
    reference_irradiation: float
    report: dict
    core: tuple | None = None
    profiles: object = None  # HourlyProfiles of the buildings (roof, walls, counted faces)
    vegetation: object = None  # the run's Vegetation (canopy on the grid), None without


def _ground_model(grid, dtm):
    """Ground heights on the grid: a DTM resampled onto it, or a ground filter of the DSM."""
    from .detection import ground_from_dsm

    if dtm is None:
        return ground_from_dsm(grid.z, grid.cellsize), "estimated from the DSM (progressive morphological filter)"
    dg = load_grid(dtm)
    if dg.shape == grid.shape and dg.transform.almost_equals(grid.transform):
        return dg.z, f"DTM {dg.source.get('path', '')}"
    from rasterio.warp import Resampling, reproject

    out = np.full(grid.shape, np.nan)
    reproject(dg.z, out, src_transform=dg.transform, src_crs=dg.crs, dst_transform=grid.transform,
              dst_crs=grid.crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
    if not np.isfinite(out).any():
        from .errors import RasterError

        raise RasterError(f"DTM {dg.source.get('path', '')} does not overlap the surface model")
    return out, f"DTM {dg.source.get('path', '')} (resampled)"


def _quantiles_by_label(labels, values, n_labels, qs):
    """Quantiles of ``values`` per label 1..n (NaN for empty labels), vectorised."""
    ok = (labels > 0) & np.isfinite(values)
    lab = labels[ok]
    val = values[ok]
    order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    counts = np.bincount(lab, minlength=n_labels + 1)[1:]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full((len(qs), n_labels), np.nan)
    has = counts > 0
    for i, q in enumerate(qs):
        pos = starts[has] + q * (counts[has] - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, starts[has] + counts[has] - 1)
        w = pos - lo
        out[i, has] = (1 - w) * val[lo] + w * val[hi]
    return out


def _mean_by_label(labels, values, n_labels):
    ok = (labels > 0) & np.isfinite(values)
    s = np.bincount(labels[ok], weights=values[ok], minlength=n_labels + 1)[1:]
    n = np.bincount(labels[ok], minlength=n_labels + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan), n


def reference_irradiation(sky, albedo=0.2):
    """Annual irradiation of the best unobstructed plane at the site [kWh/m²] (tilt 0-70°, any azimuth)."""
    from .irradiation import unobstructed_irradiation

    tilts, azis = np.meshgrid(np.arange(0.0, 71.0, 2.5), np.arange(90.0, 271.0, 5.0))
    return float(np.nanmax(unobstructed_irradiation(tilts, azis, sky, albedo).global_))


def compute_cadastre(dsm=None, *, roofs=None, roofs_crs=None, lod2_cellsize=0.5, footprints=None, id_column=None,
                     dtm=None, weather="auto", year=2025, linke=None, options=None, core=None,
                     progress=None, vegetation=None, site=None, on_engine=None) -> CadastreResult:
    """Roof faces, walls and buildings with irradiation and PV potential; writes nothing.

    Parameters
    ----------
    dsm : str, Path or Grid, optional
        Surface model in a projected metric CRS. Optional with ``roofs``: then a DSM is rasterised from
        the LoD2 model (and the DTM) for shading (:func:`solarkataster.cadastre_lod2.model_grid`).
    roofs : str, Path or LoD2Model, optional
        An LoD2 model (CityGML, CityJSON, CityJSONL): its roof surfaces become the faces with their exact
        planes, its walls the walls, its buildings the buildings (:mod:`solarkataster.cadastre_lod2`).
    roofs_crs : str, optional
        CRS of the LoD2 file when it declares none.
    lod2_cellsize : float
        Pixel size of the DSM rasterised from ``roofs`` when no DSM is given [m].
    footprints : str, Path or GeoDataFrame, optional
        Building footprints (any CRS; an LoD2 file gives its ground surfaces); without them buildings are
        detected from the DSM, or taken from ``roofs``.
    id_column : str, optional
        Footprint id column (detected when omitted).
    dtm : str, Path or Grid, optional
        Terrain model; without it the ground is estimated from the DSM.
    weather : str or WeatherYear
        'auto' (default: the DWD TRY of the site's region in Germany), 'dwd-try[:NN]', 'clear-sky', a weather
        file, 'pvgis', or a WeatherYear (see :func:`solarkataster.io.weather.resolve_weather`).
    year : int
        Calendar year the weather is mapped onto.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    options : CadastreOptions, optional
    core : tuple of int, optional
        ``(row0, row1, col0, col1)``: the part of the grid this run reports (the rest is halo). Only
        buildings whose representative point lies in the core are reported, and rasters are cut to it.
    progress : callable, optional
        ``progress(stage, done, total)`` for the stages of :data:`PROGRESS_STAGES` in order ('reading',
        'buildings', 'engine', 'faces', 'walls'; the writer adds 'writing'); :func:`progress_fraction`
        turns it into a fraction of the whole run.
    vegetation : str, Path, VegetationSpec or Vegetation, optional
        Trees as vegetation (attenuating, seasonal) instead of opaque obstacles: ``'auto'`` (trees of the
        surface model), a canopy height raster [m above ground] on any grid, a
        :class:`~solarkataster.vegetation.VegetationSpec` (source and transmissivities), or a ready
        :class:`~solarkataster.vegetation.Vegetation` on the DSM's grid. Canopy pixels leave the opaque
        surface and never become roof faces (:func:`solarkataster.io.vegetation.prepare_vegetation`).
    site : Site, optional
        Where the sun is computed and the weather resolved; default :meth:`Site.from_grid` of the grid (a
        windowed run passes its whole raster's, so that every window sees the same sun).
    on_engine : callable, optional
        ``on_engine(irradiance, core, vegetation)``, called with the engine's result as soon as it is done
        (:class:`solarkataster.io.results.CadastreWriter` starts writing the rasters there).

    Returns
    -------
    CadastreResult
    """
    if roofs is not None or dsm is None:
        return _compute_lod2(dsm, roofs, roofs_crs, lod2_cellsize, footprints=footprints, id_column=id_column,
                             dtm=dtm, weather=weather, year=year, linke=linke, options=options, core=core,
                             progress=progress, vegetation=vegetation, site=site, on_engine=on_engine)
    return _compute_lidar(dsm, footprints=footprints, id_column=id_column, dtm=dtm, weather=weather, year=year,
                          linke=linke, options=options, core=core, progress=progress, vegetation=vegetation,
                          site=site, on_engine=on_engine)


def _compute_lidar(dsm, *, footprints=None, id_column=None, dtm=None, weather="auto", year=2025, linke=None,
                   options=None, core=None, progress=None, vegetation=None, site=None,
                   on_engine=None) -> CadastreResult:
    """Compute the cadastre of a surface model, faces segmented from it (:func:`compute_cadastre`).

    The yield tables are built in a thread from the start. Without a vegetation the ground filter and the
    detected buildings (:func:`_geometry`), then the roof faces and their module plan (:func:`_segmentation`)
    and the walls with their irradiation and assessment (:func:`_walls_job`) are computed in threads beside
    the engine, as they need only the surface model and the sky tables (:func:`_start_geometry`); with a
    vegetation the walls run beside the roof PV and economics instead. ``geometry_s``, ``yield_tables_s``,
    ``segmentation_s`` and ``walls_s`` in the timings are the waits for them. Input files (DTM, footprints)
    are read before.
    """
    options = options or CadastreOptions()
    stage = progress or (lambda name, done, total: None)
    timings, t0 = {}, time.perf_counter()
    stage("reading", 0, 1)
    grid = load_grid(dsm)
    site = site or Site.from_grid(grid)
    pv_opts = options.pv
    if pv_opts.latitude != round(site.latitude, 3):
        pv_opts = replace(pv_opts, latitude=round(site.latitude, 3))
    wy = resolve_weather(weather, site, year, linke)
    wy.require_full_year()
    # the yield tables need only the weather and the site: pvlib's array arithmetic beside the ground filter,
    # the buildings and the engine
    tables_job = _in_thread("yield-tables", build_yield_tables, wy, site.latitude, site.longitude,
                            site.altitude, options=pv_opts, facade=options.walls)
    timings["reading_s"] = _lap(timings, t0)
    stage("reading", 1, 1)

    stage("buildings", 0, 1)
    # the inputs that can be wrong are read first: a bad file fails before the engine's work
    ground = _ground_model(grid, dtm) if dtm is not None else None
    given = _given_buildings(grid, footprints, id_column) if footprints is not None else None
    geometry, engine_grid, veg, skies = _start_geometry(grid, ground, given, core, options, pv_opts, vegetation, wy,
                                                        site, tables_job)
    timings["buildings_s"] = _lap(timings, t0)
    stage("buildings", 1, 1)

    engine = run_engine(engine_grid, wy, options.engine, site=site, progress=lambda d, n: stage("engine", d, n),
                        extra_azimuth_bins=(FINE_AZIMUTH_BINS,) if options.walls else (),
                        inputs=[p for p in (footprints, dtm, _canopy_path(vegetation)) if isinstance(p, (str, Path))],
                        vegetation=veg, skies=skies)
    if on_engine is not None:
        on_engine(engine, core, veg)
    ref_irr = reference_irradiation(engine.sky, options.engine.albedo)
    timings["engine_s"] = _lap(timings, t0)
    stage("engine", 1, 1)

    stage("faces", 0, 3)
    g = geometry.result()
    timings["geometry_s"] = _lap(timings, t0)
    grid, ground, fp, building_labels, own, veg, faces_job = g.grid, g.ground, g.fp, g.labels, g.own, g.veg, g.faces
    report = {"problems": [], "ground": g.ground_source, "footprints": g.footprints_report, **g.report}
    # walls not begun beside the engine (with a vegetation) are computed in a thread beside the roof faces'
    # PV (mostly Python); they need the tables only for the assessment, at the end
    walls_job = None
    if options.walls:
        walls_job = g.walls or _walls_job(fp[own], engine.grid, engine.skies[FINE_AZIMUTH_BINS], ground, ref_irr,
                                          tables_job, pv_opts, options, veg, g.wall_horizons)
    tables = tables_job.result()
    timings["yield_tables_s"] = _lap(timings, t0)
    stage("faces", 1, 3)
    rf, planned = faces_job.result()
    timings["segmentation_s"] = _lap(timings, t0)
    stage("faces", 2, 3)
    roofs_gdf, roof_monthly = _face_layer(rf, planned, engine, ground, fp, ref_irr, tables, pv_opts, options)
    timings["roofs_pv_s"] = _lap(timings, t0)
    stage("faces", 3, 3)

    # the buildings' roof totals and household economics need no walls: done while the walls finish
    buildings_gdf = _building_layer(fp, own, building_labels, roofs_gdf, roof_monthly, None, grid, ground,
                                    pv_opts.min_class, areas=_roof_areas(rf, fp))
    buildings_gdf, profiles = with_household_economics(buildings_gdf, roofs_gdf, None, fp, tables, pv_opts)
    timings["economics_s"] = _lap(timings, t0)

    stage("walls", 0, 1)
    walls_gdf = None
    if walls_job is not None:
        walls_gdf, wall_report = walls_job.result()
        report["problems"].extend(wall_report.pop("problems"))
        report.update(wall_report)
        buildings_gdf, profiles = _with_walls(buildings_gdf, profiles, walls_gdf, tables)
    timings["walls_s"] = _lap(timings, t0)
    timings["total_s"] = time.perf_counter() - t0
    stage("walls", 1, 1)
    engine.provenance["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report.update(buildings=int(own.sum()), faces=int(len(roofs_gdf)),
                  walls=0 if walls_gdf is None else int(len(walls_gdf)), **_pv_report(ref_irr, pv_opts))
    return CadastreResult(engine, roofs_gdf, walls_gdf, buildings_gdf, fp, rf.face_labels, ref_irr, report, core,
                          profiles, veg)


def _start_geometry(grid, ground, given, core, options, pv_opts, vegetation, wy, site, tables_job):
    """Start the run's geometry (:func:`_geometry`); returns (its job, the engine's grid, vegetation, skies).

    The ground filter, detected buildings, roof faces and walls need only the surface model: without a
    vegetation (which changes the surface) they are computed in threads beside the engine, the walls with
    the sky tables (which need only the weather) built here for them and the engine. With a vegetation the
    buildings come first, in this thread, and the engine builds the skies.
    """
    if vegetation is not None:
        g = _geometry(grid, ground, given, core, options, pv_opts, vegetation)
        return _Done(g), g.grid, g.veg, None
    skies = engine_skies(wy, site, options.engine, (FINE_AZIMUTH_BINS,) if options.walls else ())
    ref_irr = reference_irradiation(skies[options.engine.azimuth_bins], options.engine.albedo)
    geometry = _in_thread("buildings", _geometry, grid, ground, given, core, options, pv_opts,
                          walls_with=(skies.get(FINE_AZIMUTH_BINS), ref_irr, tables_job))
    return geometry, grid, None, skies


def _pv_report(ref_irr, pv_opts):
    """Return the reference irradiation and PV options of a run, for its report."""
    return dict(reference_irradiation_kwh_m2=round(ref_irr, 1),
                suitability_thresholds=[float(t) for t in pv_opts.suitability_thresholds],
                min_class=pv_opts.min_class, pv_losses_percent=dict(pv_opts.losses),
                pv_system_loss_percent=round(pv_opts.system_loss, 3),
                inverter_efficiency=pv_opts.inverter_efficiency)


def _with_walls(buildings, profiles, walls, tables):
    """Add the walls' totals to a buildings layer and their hourly yield to its profiles (in place of zeros).

    The same columns and rounding as :func:`_building_layer` with the walls, the same wall profiles as
    :func:`solarkataster.assessment.building_profiles` with them.
    """
    from .assessment import wall_profiles

    out = buildings.copy()
    ids = out["building_id"].to_numpy()
    for col, values in _wall_totals(walls, ids).items():
        out[col] = _round(values, ROUNDING[col]) if col in ROUNDING else values
    if walls is not None and tables.facade is not None:
        profiles = replace(profiles, walls=wall_profiles(profiles.building_ids, walls, tables))
    return out, profiles


def _wall_totals(walls, ids):
    """Wall area [m²], kWp and yield [kWh/a] per building of ``ids`` (0 without walls)."""
    w = walls if walls is not None else pd.DataFrame({c: [] for c in ("building_id", "area", "kwp", "yield_kwh")})
    wid = w["building_id"].to_numpy()
    return {"wall_area": _sum_by(w["area"], wid, ids), "wall_kwp": _sum_by(w["kwp"], wid, ids),
            "wall_yield_kwh": _sum_by(np.nan_to_num(w["yield_kwh"].to_numpy(float)), wid, ids)}


def _compute_lod2(dsm, roofs, roofs_crs, cellsize, *, footprints, id_column, dtm, weather, year, linke, options,
                  core, progress, vegetation=None, site=None, on_engine=None):
    """Compute the cadastre of an LoD2 model (:mod:`solarkataster.cadastre_lod2`) on a DSM or one rasterised from it."""
    from . import cadastre_lod2 as C
    from .errors import ParameterError

    if roofs is None:
        raise ParameterError("give a surface model (DSM), an LoD2 model (--roofs FILE), or both")
    if vegetation is not None:  # the LoD2 surfaces are sampled on the opaque grid (lod2.lod2_surfaces)
        raise ParameterError("--vegetation is not supported with an LoD2 model (--roofs) yet: leave it out (trees "
                             "in the DSM then shade as opaque obstacles)")
    options = options or CadastreOptions()
    stage = progress or (lambda name, done, total: None)
    timings, t0 = {}, time.perf_counter()
    stage("reading", 0, 1)
    model = C.read_model(roofs, roofs_crs)
    report = {"problems": [], "roofs": {k: v for k, v in model.source.items() if k != "skipped"}}
    if dsm is None:
        grid, ground, report["dsm"] = C.model_grid(model, dtm, cellsize)
        report["ground"] = report["dsm"]["ground"]
        model = model.to_crs(grid.crs)
    else:
        grid = load_grid(dsm)
        model = model.to_crs(grid.crs)
        if dtm is not None:
            ground, report["ground"] = _ground_model(grid, dtm)
        else:  # the model knows its ground: no need to filter it out of the DSM
            ground = C.interpolated_ground(model.surfaces, grid.transform, grid.shape)
            report["ground"] = "interpolated between the LoD2 buildings' ground heights"
    site = site or Site.from_grid(grid, ground)
    pv_opts = replace(options.pv, latitude=round(site.latitude, 3))
    wy = resolve_weather(weather, site, year, linke)
    wy.require_full_year()
    timings["reading_s"] = _lap(timings, t0)
    stage("reading", 1, 1)
    stage("buildings", 0, 1)
    fp, owner, report["footprints"] = C.model_buildings(model, grid, footprints, id_column)
    own = _owned(fp, grid, core)
    veg = None
    timings["buildings_s"] = _lap(timings, t0)
    stage("buildings", 1, 1)
    inputs = [p for p in (roofs, footprints, dtm, _canopy_path(vegetation)) if isinstance(p, (str, Path))]
    engine = run_engine(grid, wy, options.engine, site=site, progress=lambda d, n: stage("engine", d, n),
                        extra_azimuth_bins=(FINE_AZIMUTH_BINS,) if options.walls else (), inputs=inputs,
                        vegetation=veg)
    if on_engine is not None:
        on_engine(engine, core, veg)
    ref_irr = reference_irradiation(engine.sky, options.engine.albedo)
    timings["engine_s"] = _lap(timings, t0)
    stage("engine", 1, 1)
    stage("faces", 0, 1)
    tables = build_yield_tables(wy, site.latitude, site.longitude, site.altitude, options=pv_opts,
                                facade=options.walls)
    fine = (report["dsm"]["requested_cellsize"], dtm) if "coarsened" in report.get("dsm", {}) else None
    roofs_gdf, roof_monthly, walls_gdf, face_labels = C.lod2_layers(model, fp, own, owner, engine, ref_irr,
                                                                     tables, pv_opts, options, fine)
    timings["faces_walls_s"] = _lap(timings, t0)
    stage("faces", 1, 1)
    stage("walls", 0, 1)
    buildings_gdf = _building_layer(fp, own, C.building_labels(fp, grid), roofs_gdf, roof_monthly, walls_gdf,
                                    grid, ground, pv_opts.min_class)
    buildings_gdf["roof_plan_area"] = np.round(C.roof_plan_area(buildings_gdf, roofs_gdf), ROUNDING["area"])
    buildings_gdf = C.with_attributes(buildings_gdf, model)
    timings["total_s"] = time.perf_counter() - t0
    stage("walls", 1, 1)
    engine.provenance["timings_s"] = report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report.update(buildings=int(own.sum()), faces=int(len(roofs_gdf)),
                  walls=0 if walls_gdf is None else int(len(walls_gdf)), **_pv_report(ref_irr, pv_opts))
    buildings_gdf, profiles = with_household_economics(buildings_gdf, roofs_gdf, walls_gdf, fp, tables, pv_opts)
    return CadastreResult(engine, roofs_gdf, walls_gdf, buildings_gdf, fp, face_labels, ref_irr, report, core,
                          profiles, veg)


def _vegetation(vegetation, grid, ground, building_labels, report, detected=False):
    """Return the opaque surface and the canopy of a run (:func:`solarkataster.io.vegetation.prepare_vegetation`)."""
    if vegetation is None:
        return grid, None
    from .io.vegetation import prepare_vegetation

    grid, veg = prepare_vegetation(vegetation, grid, ground, building_labels, detected=detected)
    report["vegetation"] = veg.parameters()
    return grid, veg


def _canopy_path(vegetation):
    """Return the canopy raster of a vegetation spec (recorded with its hash in the provenance), else None."""
    source = getattr(vegetation, "source", vegetation)
    if isinstance(source, (str, Path)) and str(source).lower() != "auto" and Path(source).exists():
        return source
    return None


def _lap(timings, t0):
    """Seconds since the end of the last timed stage (or ``t0``)."""
    return time.perf_counter() - t0 - sum(timings.values())


def _given_buildings(grid, footprints, id_column):
    """Read footprints from a file or frame: footprints, label raster (1..n in footprint order) and a report."""
    from .io.vector import check_overlap, rasterize_buildings, read_footprints

    fp, fp_report = read_footprints(footprints, grid.crs, id_column=id_column)
    inside, partly = check_overlap(fp, grid, name=fp_report.path)
    report = fp_report.as_dict()
    if not inside.all():
        # a city-wide footprint layer over one tile: buildings off the raster are not this run's
        outside_ids = fp.loc[~inside, "building_id"].tolist()
        report["outside_raster"] = {"count": len(outside_ids), "ids": outside_ids[:100]}
        log.info("%d footprint(s) lie entirely outside the raster and are skipped", len(outside_ids))
        fp, partly = fp[inside].reset_index(drop=True), partly[inside]
    fp["partly_outside"] = partly
    fp["source"] = "footprints"
    return fp, rasterize_buildings(fp, grid), report


def _detected_buildings(grid, ground):
    """Detect the buildings in the surface model: footprints, label raster (1..n in footprint order), report."""
    import geopandas as gpd

    from . import detection

    labels = detection.detect_buildings(grid.z, grid.cellsize, ground=ground)
    polys = detection.building_polygons(labels, grid.transform)
    ids, geoms, keep_labels = [], [], []
    for lab, g in sorted(polys.items()):
        p = g.representative_point()
        ids.append(f"D{p.x:.0f}_{p.y:.0f}")
        geoms.append(g)
        keep_labels.append(lab)
    fp = gpd.GeoDataFrame({"building_id": ids, "partly_outside": False, "source": "detected"},
                          geometry=geoms, crs=grid.crs)
    # relabel the raster to footprint order 1..n
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, np.int32)
    for i, lab in enumerate(keep_labels):
        lut[lab] = i + 1
    return fp, lut[labels], {"detected": len(fp)}


def _owned(fp, grid, core):
    """Which buildings this run reports: those whose representative point lies in the core window."""
    if core is None:
        return np.ones(len(fp), bool)
    r0, r1, c0, c1 = core
    x0, y1 = grid.transform * (c0, r0)
    x1, y0 = grid.transform * (c1, r1)
    rp = fp.geometry.representative_point()
    return ((rp.x >= x0) & (rp.x < x1) & (rp.y > y0) & (rp.y <= y1)).to_numpy()


def _interior_labels(face_labels):
    """Face labels without each face's outer ring of pixels.

    The local surface fit of the outer ring straddles the eave or ridge; faces with no interior pixel keep
    all of theirs.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    inner = (maximum_filter(face_labels, 3) == face_labels) & (minimum_filter(face_labels, 3) == face_labels)
    stats = np.where(inner, face_labels, 0)
    lost = np.setdiff1d(np.unique(face_labels[face_labels > 0]), np.unique(stats[stats > 0]))
    if lost.size:
        keep = np.isin(face_labels, lost)
        stats[keep] = face_labels[keep]
    return stats


def _face_statistics(face_labels, engine, ground, ref_irr, threshold):
    """Per face label 1..n: pixel statistics of the irradiation and the height above ground.

    Statistics use each face's interior pixels (:func:`_interior_labels`). A face whose polygon holds no
    pixel centre takes the pixel under its representative point (see :func:`_face_surfaces`).
    """
    n = int(face_labels.max()) if face_labels.size else 0
    # the face pixels once, in raster order: each statistic then reads only them, in the same order (the
    # same sums), instead of the whole raster
    interior = _interior_labels(face_labels).ravel()
    at = np.flatnonzero(interior > 0)
    lab = interior[at]

    def face_pixels(raster):
        return np.ravel(raster)[at]

    irr = engine.irradiation
    g = face_pixels(irr.global_).astype(np.float64)
    mean, npx = _mean_by_label(lab, g, n)
    monthly = np.stack([_mean_by_label(lab, face_pixels(irr.monthly[m]).astype(np.float64), n)[0]
                        for m in range(12)], axis=1)
    usable_share, _ = _mean_by_label(lab, (g >= threshold * ref_irr).astype(float), n)
    height = (_mean_by_label(lab, face_pixels(engine.grid.z) - face_pixels(ground), n)[0] if ground is not None
              else np.full(n, np.nan))
    lost = _vegetation_loss_raster(engine)
    vegetation = _mean_by_label(lab, face_pixels(lost), n)[0] if lost is not None else np.full(n, np.nan)
    return {"n": n, "irradiation": mean, "pixels": npx, "quantiles": _quantiles_by_label(lab, g, n, (0.1, 0.5, 0.9)),
            "monthly": monthly, "usable_share": usable_share, "height": height, "vegetation": vegetation}


def _vegetation_loss_raster(engine):
    """Irradiation lost to vegetation per pixel [kWh/m²/a] (float64), None when the run has no vegetation."""
    lost = getattr(engine.irradiation, "vegetation_loss", None)
    if lost is None or engine.provenance.get("vegetation") is None:
        return None
    return np.asarray(lost, dtype=np.float64)


def _pixel_statistics(stats, faces, engine, ground, ref_irr, threshold):
    """Fill the statistics of faces without a pixel centre from the pixel under their representative point."""
    irr = engine.irradiation
    rows, cols = engine.grid.shape
    inv = ~engine.grid.transform
    for f, geom in zip(faces["face"].to_numpy(), faces.geometry):
        i = int(f) - 1
        if i >= stats["n"] or stats["pixels"][i] > 0 or geom is None or geom.is_empty:
            continue
        p = geom.representative_point()
        c, r = (int(np.floor(v)) for v in inv @ (p.x, p.y))
        if not (0 <= r < rows and 0 <= c < cols) or not np.isfinite(irr.global_[r, c]):
            continue
        g = float(irr.global_[r, c])
        stats["irradiation"][i] = g
        stats["quantiles"][:, i] = g
        stats["monthly"][i] = irr.monthly[:, r, c]
        lost = _vegetation_loss_raster(engine)
        if lost is not None:
            stats["vegetation"][i] = float(lost[r, c])
        stats["usable_share"][i] = float(g >= threshold * ref_irr)
        if ground is not None:
            stats["height"][i] = engine.grid.z[r, c] - ground[r, c]
        stats["pixels"][i] = 1
    return stats


def _round(values, decimals):
    """Round a float array; NaN stays NaN (None in the outputs)."""
    return np.round(np.asarray(values, dtype=float), decimals)


def _face_surfaces(rf, engine, ground, ref_irr, pv_opts, planned):
    """Build the roof-face surface table of the assessment (one row per reported face with a polygon).

    ``planned`` is :func:`_roof_plan` of the faces: (their geometry, their module plan). Returns (surfaces or
    None, the faces' statistics, the plan of those surfaces or None when it must be made again).
    """
    from .irradiation import unobstructed_irradiation

    threshold = pv_opts.irradiation_threshold
    stats = _face_statistics(rf.face_labels, engine, ground, ref_irr, threshold)
    geo, plan = planned
    if len(rf.faces) == 0 or len(geo) == 0:
        return None, stats, None
    stats = _pixel_statistics(stats, rf.faces, engine, ground, ref_irr, threshold)
    face = geo["_face"].to_numpy(int)
    has_px = np.zeros(len(geo), bool)
    inside = face <= stats["n"]
    has_px[inside] = stats["pixels"][face[inside] - 1] > 0
    if not has_px.all():  # a face without a pixel is not reported: its neighbours' ridges are planned again
        geo, plan = geo[has_px].reset_index(drop=True), None
        if len(geo) == 0:
            return None, stats, None
    i = geo["_face"].to_numpy(int) - 1
    tilt, azim = geo["tilt"].to_numpy(float), geo["azimuth"].to_numpy(float)
    surfaces = geo.assign(
        irradiation=stats["irradiation"][i], usable_share=stats["usable_share"][i],
        vegetation_irradiation=stats["vegetation"][i],
        unobstructed_irradiation=unobstructed_irradiation(tilt, azim, engine.sky, engine.options.albedo).global_)
    return surfaces, stats, plan


def _roof_plan(rf, own, crs, pv_opts, module):
    """Prepare what the roof faces' assessment needs of their geometry alone (beside the engine).

    The faces that can be reported (a tilt, a building the run owns, a polygon that survives publishing,
    :func:`_published`) with their published polygon and latitude, and their module plan
    (:func:`solarkataster.assessment.roof_module_plan`). Returns (faces, plan).
    """
    from .assessment import roof_module_plan

    f = rf.faces
    b = f["building"].to_numpy(int)
    ok = (np.isfinite(f["tilt"].to_numpy(float)) & (b >= 1) & (b <= len(own))
          & ~(f.geometry.isna() | f.geometry.is_empty).to_numpy())
    ok[ok] = own[b[ok] - 1]
    f = f[ok]
    geo = pd.DataFrame({
        "_face": f["face"].to_numpy(int), "building": f["building"].to_numpy(int),
        "tilt": f["tilt"].to_numpy(float), "azimuth": f["azimuth"].to_numpy(float),
        "geometry": _published(f.geometry), "source": f["source"].to_numpy(),
        "plane_rmse": f["plane_rmse"].to_numpy(float), "plane_share": f["plane_share"].to_numpy(float)})
    geo = geo[geo["geometry"].notna()].reset_index(drop=True)
    geo["latitude"] = surface_latitudes(geo["geometry"], crs)
    return geo, roof_module_plan(geo, module, pv_opts)


def _published(geometries, grid_size=PUBLISHED_PRECISION):
    """Face polygons snapped to a ``grid_size`` grid [m] (None where one collapses).

    Vertices closer than that, and zero-width spikes, would make the polygons invalid once GeoJSON rounds
    their coordinates. Shared vertices stay shared. A neck narrower than the grid splits a face, so parts
    under the roofs' minimum part area that this cuts off are dropped (a face keeps at least one part).
    """
    import shapely

    from .detection import polygonal
    from .roofs import RoofOptions

    snapped = [polygonal(g) for g in shapely.set_precision(np.asarray(list(geometries), dtype=object), grid_size)]
    for i in np.flatnonzero([isinstance(g, shapely.MultiPolygon) for g in snapped]):
        parts = shapely.get_parts(snapped[i])
        kept = parts[shapely.area(parts) >= RoofOptions.min_part_area]
        if 0 < len(kept) < len(parts):
            snapped[i] = kept[0] if len(kept) == 1 else shapely.MultiPolygon(list(kept))
    return snapped


def _face_layer(rf, planned, engine, ground, fp, ref_irr, tables, pv_opts, options):
    """Roof faces: statistics, then the surface assessment (``planned``: :func:`_roof_plan`).

    Returns (layer, monthly yield).
    """
    import geopandas as gpd

    cols = LAYER_COLUMNS["roofs"]
    surfaces, stats, plan = _face_surfaces(rf, engine, ground, ref_irr, pv_opts, planned)
    if surfaces is None:
        return gpd.GeoDataFrame({c: [] for c in cols + ["_face"]}, geometry=[], crs=engine.grid.crs), np.zeros((0, 12))
    a = assess_surfaces(surfaces, tables, ref_irr, kind="roof", module=options.module, options=pv_opts, plan=plan)
    i = surfaces["_face"].to_numpy() - 1
    tilt = surfaces["tilt"].to_numpy(float)
    fa = shapely_area(surfaces["geometry"])
    q = stats["quantiles"]
    has_modules = a["potential_modules"].to_numpy() > 0
    out = pd.DataFrame({
        "building_id": fp["building_id"].to_numpy()[surfaces["building"].to_numpy() - 1],
        "_face": surfaces["_face"].to_numpy(),
        "tilt": tilt, "azimuth": np.where(tilt < FLAT_AZIMUTH_LIMIT, np.nan, surfaces["azimuth"].to_numpy(float)),
        "area": fa / np.maximum(np.cos(np.radians(np.minimum(tilt, 89.0))), 1e-3), "footprint_area": fa,
        "height": stats["height"][i], "irradiation": stats["irradiation"][i], "irradiation_p10": q[0, i],
        "irradiation_p50": q[1, i], "irradiation_p90": q[2, i],
        "monthly_irradiation": [[round(float(v), 2) for v in m] for m in stats["monthly"][i]],
        "specific_yield": np.where(has_modules, a["specific_yield"].to_numpy(float), np.nan),
        "source": surfaces["source"].to_numpy(), "plane_rmse": _round(surfaces["plane_rmse"], 3),
        "plane_share": _round(surfaces["plane_share"], 3),
        "vegetation_loss": vegetation_loss(surfaces["vegetation_irradiation"],
                                           surfaces["unobstructed_irradiation"])})
    return roof_layer_frame(out, a, surfaces["geometry"].to_list(), engine.grid.crs)


def roof_layer_frame(faces, assessed, geometry, crs):
    """Finish a roofs layer: assessment columns, contract rounding, stable face ids, monthly yields.

    Parameters
    ----------
    faces : pandas.DataFrame
        Per face: ``building_id``, ``_face`` and the geometry/irradiation columns of the roofs layer.
    assessed : pandas.DataFrame
        :func:`solarkataster.assessment.assess_surfaces` of the same faces, same order.
    geometry : list of shapely geometries
        The faces' polygons (horizontal projection) in ``crs``.
    crs : pyproj.CRS or str

    Returns
    -------
    (GeoDataFrame, numpy.ndarray)
        The layer (contract columns, ``_face``, geometry), faces ordered per building north-west first with ids
        ``<building>-F01``...; and the monthly yields [kWh] of its rows, shape (n, 12).
    """
    import geopandas as gpd

    out = faces.copy()
    if "vegetation_loss" not in out:
        out["vegetation_loss"] = np.nan  # no vegetation given
    for col in ("shading_loss", "usable_area", "modules", "kwp", "yield_kwh", "co2_savings_kg", "suitability",
                "potential_kwp", "potential_yield_kwh"):
        out[col] = assessed[col].to_numpy()
    out["co2_savings_kg"] = out["co2_savings_kg"].astype(float)
    for col, decimals in ROUNDING.items():
        if col in out:
            out[col] = _round(out[col], decimals)
    out["_monthly_yield"] = list(np.stack(assessed["monthly_yield"].to_list())) if len(assessed) else []
    gdf = gpd.GeoDataFrame(out, geometry=geometry, crs=crs)
    rp = gdf.geometry.representative_point()
    gdf = gdf.assign(_y=-np.round(rp.y.to_numpy(), 2), _x=np.round(rp.x.to_numpy(), 2))
    gdf = gdf.sort_values(["building_id", "_y", "_x"], kind="stable").reset_index(drop=True)
    gdf["face_id"] = gdf["building_id"] + "-F" + (gdf.groupby("building_id").cumcount() + 1).map("{:02d}".format)
    monthly = np.stack(gdf["_monthly_yield"].to_list()) if len(gdf) else np.zeros((0, 12))
    return gdf[LAYER_COLUMNS["roofs"] + ["_face", "geometry"]], monthly


def _roof_areas(rf, fp):
    """Per footprint (in ``fp`` order): ``footprint_area`` and ``roof_plan_area`` [m²] of the roof outline.

    The roof outline includes eaves overhangs (:func:`solarkataster.roofs.roof_faces`); NaN where a
    building has no roof; the footprint's own area where roof_faces has no row for it.
    """
    b = rf.buildings.set_index("building")
    labels = np.arange(1, len(fp) + 1)
    footprint = np.array(b["footprint_area"].reindex(labels), dtype=float)
    missing = ~np.isfinite(footprint)
    footprint[missing] = shapely_area(fp.geometry.to_numpy()[missing])
    plan = np.array(b["roof_area"].reindex(labels), dtype=float)
    plan[b["n_faces"].reindex(labels).fillna(0).to_numpy() == 0] = np.nan
    return pd.DataFrame({"footprint_area": footprint, "roof_plan_area": plan})


def shapely_area(geometries):
    """Areas of shapely geometries [m²] as a float array."""
    import shapely

    return shapely.area(np.asarray(list(geometries), dtype=object)).astype(float)


@dataclass
class _Geometry:
    """What a run derives from the surface model alone: ground, buildings and the jobs of their geometry."""

    grid: Grid
    ground: np.ndarray
    ground_source: str
    fp: object
    labels: np.ndarray
    footprints_report: dict
    own: np.ndarray
    veg: object
    report: dict
    faces: object
    wall_horizons: object
    walls: object = None


def _geometry(grid, ground, given, core, options, pv_opts, vegetation=None, walls_with=None):
    """Ground, buildings and vegetation of a run; start the roof segmentation and the walls in threads.

    ``ground``: :func:`_ground_model` of a DTM, or None for the DSM's ground filter; ``given``:
    :func:`_given_buildings`, or None to detect them. The threads need only the (opaque) surface and the
    buildings, so their Python and kernels run beside the engine's kernels. With ``walls_with`` (the fine
    sky table, the reference irradiation and the yield tables' job) the walls' thread computes the whole
    walls layer (:func:`_walls_job`); without, only their horizons.
    """
    from .walls import wall_horizons_of

    ground, ground_source = ground if ground is not None else _ground_model(grid, None)
    fp, labels, fp_report = given if given is not None else _detected_buildings(grid, ground)
    own = _owned(fp, grid, core)
    report = {}
    grid, veg = _vegetation(vegetation, grid, ground, labels, report,
                            detected=bool(len(fp)) and (fp["source"] == "detected").all())
    faces = _in_thread("roof-faces", _segmentation, grid, ground, labels, fp, own, options, pv_opts)
    horizons = walls = None
    if options.walls and own.any() and walls_with is not None:
        sky, ref_irr, tables = walls_with
        walls = _walls_job(fp[own], grid, sky, ground, ref_irr, tables, pv_opts, options)
    elif options.walls and own.any():
        horizons = _in_thread("wall-horizons", wall_horizons_of, fp[own], grid, ground=ground,
                              spacing=options.wall_spacing, vegetation=veg)
    return _Geometry(grid, ground, ground_source, fp, labels, fp_report, own, veg, report, faces, horizons, walls)


def _segmentation(grid, ground, building_labels, fp, own, options, pv_opts):
    """Segment the run's roof faces (:func:`solarkataster.roofs.roof_faces`), in the grid's CRS, and plan them.

    Returns (the faces, :func:`_roof_plan` of them).
    """
    from .roofs import RoofOptions, roof_faces

    given = fp.geometry.to_list() if (fp["source"] == "footprints").all() and len(fp) else None
    rf = roof_faces(grid.z, grid.transform, building_labels, given, ground,
                    options=RoofOptions(min_face_area=options.min_face_area), excluded=False)  # not published
    rf.faces = rf.faces.set_crs(grid.crs)
    rf.buildings = rf.buildings.set_crs(grid.crs)
    return rf, _roof_plan(rf, own, grid.crs, pv_opts, options.module)


def _in_thread(name, func, *args, **kwargs):
    """Start ``func(*args, **kwargs)`` in a thread named ``name``; a future of its value."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    job = pool.submit(func, *args, **kwargs)
    pool.shutdown(wait=False)
    return job


def _walls_job(fp, grid, sky, ground, ref_irr, tables, pv_opts, options, vegetation=None, horizons=None):
    """Start :func:`_wall_layer` in a thread; a future of (layer, report with its ``problems``).

    The walls' horizons and irradiation are numba kernels that release the GIL, so on two cores they take
    the core that the roof faces' Python leaves idle. ``tables`` is a future of the run's yield tables (the
    walls wait for it only before their assessment). Where numba's threading layer is not thread-safe
    (``workqueue``) the walls are computed in the caller's thread when their result is asked for.
    """
    def call():
        report = {"problems": []}
        return _wall_layer(fp, grid, sky, ground, ref_irr, tables, pv_opts, options, report, vegetation,
                           horizons), report

    from ._kernels import threading_layer

    if threading_layer() == "workqueue":
        return _Deferred(call)
    return _in_thread("walls", call)


class _Deferred:
    """A job run in the caller's thread when its :meth:`result` is first asked for."""

    def __init__(self, call):
        self._call = call

    def result(self):
        """Run the job and return its value."""
        return self._call()


class _Done:
    """A job already done: :meth:`result` returns its value."""

    def __init__(self, value):
        self._value = value

    def result(self):
        """Return the value."""
        return self._value


def _wall_layer(fp, grid, sky, ground, ref_irr, tables, pv_opts, options, report, vegetation=None, horizons=None):
    """Build the walls layer (one LineString per wall): wall geometry and irradiation, then the assessment.

    ``sky`` is the run's sky table of :data:`solarkataster.sky.FINE_AZIMUTH_BINS`. With a ``vegetation`` the
    walls are shaded by the canopy too and get their ``vegetation_loss`` share. ``tables`` are the run's
    yield tables, or a future of them; ``horizons`` a future of the walls' horizons (else computed here).
    """
    from shapely.geometry import box

    from .walls import wall_surfaces, wall_table

    if len(fp) == 0:
        return None
    surfaces, problems = wall_surfaces(fp, grid, sky, ground=ground,
                                       spacing=options.wall_spacing, band_height=options.band_height,
                                       albedo=options.engine.albedo, vegetation=vegetation,
                                       horizons=None if horizons is None else horizons.result())
    report["problems"].extend(problems)
    surfaces = with_vegetation_loss(surfaces, vegetation is not None)
    if len(surfaces):
        # a wall off the raster has no surface model in front of it: nothing to say about it
        t = grid.transform
        rows, cols = grid.shape
        extent = box(t.c, t.f + rows * t.e, t.c + cols * t.a, t.f).buffer(grid.cellsize)
        on = surfaces.geometry.within(extent).to_numpy()
        if not on.all():
            report["walls_outside_raster"] = int((~on).sum())
            surfaces = surfaces[on].reset_index(drop=True)
    if hasattr(tables, "result"):
        tables = tables.result()
    assessed = assess_surfaces(surfaces, tables, ref_irr, kind="wall", module=options.module, options=pv_opts,
                               facade=options.facade)
    return wall_table(surfaces, assessed)[LAYER_COLUMNS["walls"] + ["geometry"]]


def with_vegetation_loss(walls, has_vegetation=False):
    """Walls with their ``vegetation_loss`` share [-]: NaN where the run has no vegetation (the contract's null).

    :func:`solarkataster.walls.wall_surfaces` gives the share with a vegetation (and zeros without).
    """
    if has_vegetation and "vegetation_loss" in walls.columns:
        return walls
    out = walls.copy()
    out["vegetation_loss"] = np.nan
    return out


def _sum_by(values, ids, order):
    """Sum ``values`` per id, in the order of ``order`` (0 where an id has none)."""
    return pd.Series(np.asarray(values, float)).groupby(np.asarray(ids)).sum().reindex(order).fillna(0.0).to_numpy()


def building_status(valid_pixels, faces, ground_faces):
    """Status of buildings: 'ok', or why their numbers are missing or doubtful.

    Parameters
    ----------
    valid_pixels : array_like of int
        Valid surface-model pixels inside each footprint.
    faces : array_like of int
        Roof faces found.
    ground_faces : array_like of int
        Faces lower than :data:`MIN_FACE_HEIGHT` above the ground (ground or terrain inside the footprint).

    Returns
    -------
    ndarray of str
    """
    status = np.full(np.shape(faces), STATUS_OK, dtype=object)
    status[np.asarray(ground_faces) > 0] = STATUS_GROUND_FACES
    status[np.asarray(faces) == 0] = STATUS_NO_FACE
    status[np.asarray(valid_pixels) == 0] = STATUS_NO_PIXELS
    return status


def _building_layer(fp, own, building_labels, roofs_gdf, roof_monthly, walls_gdf, grid, ground, min_class,
                    areas=None):
    """One row per reported building with totals over its counted faces and walls.

    ``areas`` (from :func:`_roof_areas`, in ``fp`` order) gives ``footprint_area`` and ``roof_plan_area``;
    without it, the footprint's area and no plan area.
    """
    import geopandas as gpd

    idx = np.flatnonzero(own)
    ids = fp["building_id"].to_numpy()[idx]
    r = roofs_gdf
    bid = r["building_id"].to_numpy()
    counted = r["suitability"].isin(counted_classes(min_class)).to_numpy()
    rank = {c: i for i, c in enumerate(SUITABILITY_CLASSES)}
    best = pd.Series([rank[s] for s in r["suitability"]], dtype=float).groupby(bid).min().reindex(ids)
    kwp = _sum_by(r["kwp"], bid, ids)
    yld = _sum_by(r["yield_kwh"], bid, ids)
    monthly = np.stack([_sum_by(roof_monthly[:, m], bid, ids) for m in range(12)], axis=1) if len(r) else \
        np.zeros((len(ids), 12))
    n_faces = _sum_by(np.ones(len(r)), bid, ids).astype(int)
    low = _sum_by(r["height"].to_numpy(float) < MIN_FACE_HEIGHT, bid, ids)
    valid_px = np.bincount(building_labels[np.isfinite(grid.z)].ravel(), minlength=len(fp) + 1)[idx + 1]
    height = np.full(len(idx), np.nan)
    if ground is not None:
        height = _quantiles_by_label(building_labels, grid.z - ground, len(fp), (0.95,))[0][idx]
    out = pd.DataFrame({
        "building_id": ids, "source": fp["source"].to_numpy()[idx],
        "status": building_status(valid_px, n_faces, low),
        "partly_outside": fp["partly_outside"].to_numpy(bool)[idx], "faces": n_faces,
        "roof_area": _sum_by(r["area"], bid, ids),
        "usable_area": _sum_by(np.where(counted, r["usable_area"].to_numpy(float), 0.0), bid, ids),
        "kwp": kwp, "yield_kwh": yld,
        "specific_yield": np.where(kwp > 0, yld / np.where(kwp > 0, kwp, 1.0), np.nan),
        "co2_savings_kg": _sum_by(r["co2_savings_kg"], bid, ids),
        "monthly_yield": [[round(float(v), 1) for v in m] for m in monthly],
        "suitability": [SUITABILITY_CLASSES[int(b)] if np.isfinite(b) else "unsuitable" for b in best],
        **_wall_totals(walls_gdf, ids),
        "height": height, "footprint_area": shapely_area(fp.geometry.to_numpy()[idx]),
        "roof_plan_area": np.nan})
    if areas is not None:
        out["footprint_area"] = areas["footprint_area"].to_numpy(float)[idx]
        out["roof_plan_area"] = areas["roof_plan_area"].to_numpy(float)[idx]
    for col, decimals in ROUNDING.items():
        if col in out:
            out[col] = _round(out[col], decimals)
    cols = [c for c in LAYER_COLUMNS["buildings"] if c in out.columns]  # economics: with_household_economics
    return gpd.GeoDataFrame(out[cols], geometry=fp.geometry.to_numpy()[idx], crs=grid.crs)




def with_household_economics(buildings, roofs, walls, footprints, tables, pv_opts):
    """Hourly profiles of the buildings and their default-household economics columns.

    The consumption is the footprints' ``consumption_kwh`` where given, else
    :func:`solarkataster.economics.default_consumption`; the load profile is G25 where the building's
    ``function`` says commercial (:func:`solarkataster.economics.load_profile_kind`), else H25.

    Returns
    -------
    (GeoDataFrame, HourlyProfiles)
    """
    from . import economics as E
    from .assessment import building_profiles

    profiles = building_profiles(buildings["building_id"], roofs, walls, tables, pv_opts)
    ids = buildings["building_id"].to_numpy()
    attrs = footprints.drop_duplicates("building_id").set_index("building_id").reindex(ids)
    for col in ("consumption_kwh", "function"):
        if col in buildings.columns:
            attrs[col] = buildings[col].to_numpy()
    consumption = E.default_consumption(buildings["footprint_area"], buildings["height"])
    if "consumption_kwh" in attrs.columns:
        given = pd.to_numeric(attrs["consumption_kwh"], errors="coerce").to_numpy(float)
        consumption = np.where(given > 0, given, consumption)
    kinds = [E.load_profile_kind(f) for f in attrs["function"]] if "function" in attrs.columns else \
        ["H25"] * len(ids)
    cols = E.household_columns(profiles.times, profiles.roof, buildings["kwp"].to_numpy(float), consumption, kinds)
    out = buildings.copy()
    out["consumption_kwh"] = np.round(consumption)
    out["load_profile"] = kinds
    for name, values in cols.items():
        out[name] = values
    return out, profiles
