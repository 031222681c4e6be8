"""The cadastre: from a surface model (and footprints) to roof faces, walls and buildings with PV potential.

:func:`compute_cadastre` wires the engine (:mod:`pipeline`), building detection (:mod:`detection`),
roof segmentation (:mod:`roofs`), facades (:mod:`walls`) and PV (:mod:`pv`) together and returns
GeoDataFrames in the raster's CRS; :func:`solarkataster.io.results.write_cadastre_results` writes them
(GeoJSON, GeoPackage, rasters, run.json, overview.png). :func:`run_cadastre` does both, and is the per-tile
job of the batch.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .horizon import grid_anchor
from .pipeline import EngineOptions, IrradianceResult, Site, irradiation_raster, load_grid, provenance, resolve_weather
from .pv import ModuleSpec, PVOptions
from .sky import FINE_AZIMUTH_BINS, sky_table, sun_steps

log = logging.getLogger(__name__)

FLAT_AZIMUTH_LIMIT = 5.0  # faces flatter than this [°] have no azimuth in the output
#: Orientation grid of the pvlib yield tables (specific yield is smooth in both: interpolation error < 0.5 %).
YIELD_TILTS = tuple(float(t) for t in range(0, 91, 10))
YIELD_AZIMUTHS = tuple(float(a) for a in range(0, 360, 20))


@dataclass
class CadastreOptions:
    """Options of the cadastre beyond the engine's.

    Parameters
    ----------
    engine : EngineOptions
    pv : PVOptions
    module : ModuleSpec
    min_face_area : float
        Roof parts smaller than this [m²] (chimneys, vents) are not faces.
    walls : bool
        Compute facades.
    wall_spacing : float
        Wall sample grid [m].
    band_height : float
        Storey height of the wall bands [m].
    window_share : float
        Share of a facade taken by windows [0-1].
    suitability_thresholds : tuple of float
        Lower bounds of 'very good', 'good', 'limited' relative to the site's best irradiation.
    """

    engine: EngineOptions = field(default_factory=EngineOptions)
    pv: PVOptions = field(default_factory=PVOptions)
    module: ModuleSpec = field(default_factory=ModuleSpec)
    min_face_area: float = 3.0
    walls: bool = True
    wall_spacing: float = 1.0
    band_height: float = 3.0
    window_share: float = 0.4
    suitability_thresholds: tuple = (0.85, 0.70, 0.55)


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


def compute_cadastre(dsm, *, footprints=None, id_column=None, dtm=None, weather="clear-sky", year=2025,
                     linke=None, options=None, core=None, progress=None) -> CadastreResult:
    """Roof faces, walls and buildings with irradiation and PV potential.

    Parameters
    ----------
    dsm : str, Path or Grid
        Surface model in a projected metric CRS.
    footprints : str, Path or GeoDataFrame, optional
        Building footprints (any CRS); without them buildings are detected from the DSM.
    id_column : str, optional
        Footprint id column (detected when omitted).
    dtm : str, Path or Grid, optional
        Terrain model; without it the ground is estimated from the DSM.
    weather : str or WeatherYear
        'clear-sky', a weather file, 'pvgis', or a WeatherYear.
    year : int
        Calendar year the weather is mapped onto.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    options : CadastreOptions, optional
    core : tuple of int, optional
        ``(row0, row1, col0, col1)``: the part of the grid this run reports (the rest is halo). Only
        buildings whose representative point lies in the core are reported, and rasters are cut to it.
    progress : callable, optional
        ``progress(done, total)`` for the engine.

    Returns
    -------
    CadastreResult
    """
    import geopandas as gpd

    from . import detection, roofs
    from .io.vector import check_overlap, rasterize_buildings, read_footprints

    options = options or CadastreOptions()
    timings = {}
    t0 = time.perf_counter()
    grid = load_grid(dsm)
    site = Site.from_grid(grid)
    pv_opts = options.pv
    if pv_opts.latitude != round(site.latitude, 3):
        pv_opts = PVOptions(**{**asdict(pv_opts), "latitude": round(site.latitude, 3)})
    wy = resolve_weather(weather, site, year, linke)
    wy.require_full_year()
    report = {"problems": []}

    # buildings
    ground, ground_source = _ground_model(grid, dtm)
    report["ground"] = ground_source
    if footprints is not None:
        fp, fp_report = read_footprints(footprints, grid.crs, id_column=id_column)
        inside, partly = check_overlap(fp, grid, name=fp_report.path)
        report["footprints"] = fp_report.as_dict()
        if not inside.all():
            # a city-wide footprint layer over one tile: buildings off the raster are not this run's
            outside_ids = fp.loc[~inside, "building_id"].tolist()
            report["footprints"]["outside_raster"] = {"count": len(outside_ids), "ids": outside_ids[:100]}
            log.info("%d footprint(s) lie entirely outside the raster and are skipped", len(outside_ids))
            fp, partly = fp[inside].reset_index(drop=True), partly[inside]
        fp["partly_outside"] = partly
        fp["source"] = "footprints"
        building_labels = rasterize_buildings(fp, grid)
    else:
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
        building_labels = lut[labels]
        report["footprints"] = {"detected": len(fp)}
    timings["buildings_s"] = time.perf_counter() - t0

    # engine
    t1 = time.perf_counter()
    steps = sun_steps(wy, site.latitude, site.longitude, site.altitude, options.engine.step_minutes,
                      options.engine.sky_model)
    sky = sky_table(steps, options.engine.azimuth_bins)
    irr = irradiation_raster(grid.z, grid.cellsize, sky, options.engine, progress,
                             anchor=grid_anchor(grid.transform))
    timings["engine_s"] = time.perf_counter() - t1
    ref_irr = reference_irradiation(sky, options.engine.albedo)

    # which buildings this run reports
    if core is not None:
        r0, r1, c0, c1 = core
        x0, y1 = grid.transform * (c0, r0)
        x1, y0 = grid.transform * (c1, r1)
        rp = fp.geometry.representative_point()
        own = ((rp.x >= x0) & (rp.x < x1) & (rp.y > y0) & (rp.y <= y1)).to_numpy()
    else:
        own = np.ones(len(fp), bool)

    # roof faces
    t2 = time.perf_counter()
    seg = roofs.segment_roofs(grid.z, grid.cellsize, building_labels, min_face_area=options.min_face_area)
    timings["segmentation_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    from .pv import specific_yield_table

    wy_h = _hourly(wy)
    yt_roof = specific_yield_table(wy_h, site.latitude, site.longitude, site.altitude, mounting="roof",
                                   tilts=YIELD_TILTS, azimuths=YIELD_AZIMUTHS, options=pv_opts)
    yt_rack = specific_yield_table(wy_h, site.latitude, site.longitude, site.altitude, mounting="rack",
                                   tilts=(0.0, 10.0, 20.0, 30.0), azimuths=YIELD_AZIMUTHS, options=pv_opts)
    roofs_gdf = _face_layer(seg, grid, irr, sky, ground, fp, own, ref_irr, yt_roof, yt_rack, pv_opts, options)
    timings["roofs_pv_s"] = time.perf_counter() - t3

    walls_gdf = None
    if options.walls:
        t4 = time.perf_counter()
        walls_gdf = _wall_layer(fp[own], grid, sky_table(steps, FINE_AZIMUTH_BINS), wy, site, ground, ref_irr,
                                pv_opts, options, report)
        timings["walls_s"] = time.perf_counter() - t4

    buildings_gdf = _building_layer(fp, own, building_labels, roofs_gdf, walls_gdf, grid, ground, yt_roof,
                                    yt_rack)
    timings["total_s"] = time.perf_counter() - t0
    irr_result = IrradianceResult(grid, irr, sky, wy, site, options.engine,
                                  provenance(grid, wy, site, options.engine, timings,
                                             inputs=[p for p in (footprints, dtm)
                                                     if isinstance(p, (str, Path))]))
    report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report["buildings"] = int(own.sum())
    report["faces"] = int(len(roofs_gdf))
    report["walls"] = 0 if walls_gdf is None else int(len(walls_gdf))
    report["reference_irradiation_kwh_m2"] = round(ref_irr, 1)
    report["suitability_thresholds"] = [float(t) for t in options.suitability_thresholds]
    return CadastreResult(irr_result, roofs_gdf, walls_gdf, buildings_gdf, fp, seg.face_labels, ref_irr,
                          report, core)


def _interior_labels(face_labels):
    """Face labels without each face's outer ring of pixels, whose local surface fit straddles the eave or
    ridge; faces with no interior pixel keep all of theirs."""
    from scipy.ndimage import maximum_filter, minimum_filter

    inner = (maximum_filter(face_labels, 3) == face_labels) & (minimum_filter(face_labels, 3) == face_labels)
    stats = np.where(inner, face_labels, 0)
    lost = np.setdiff1d(np.unique(face_labels[face_labels > 0]), np.unique(stats[stats > 0]))
    if lost.size:
        keep = np.isin(face_labels, lost)
        stats[keep] = face_labels[keep]
    return stats


def _hourly(weather):
    """Weather averaged to hourly records (the yield tables' time step); hourly or longer stays as is."""
    import pandas as pd

    from .weather import WeatherYear

    if weather.interval >= pd.Timedelta(hours=1):
        return weather
    data = weather.data.resample("1h").mean()
    return WeatherYear(data, pd.Timedelta(hours=1), dict(weather.source, yield_step="hourly means"))


def _face_layer(seg, grid, irr, sky, ground, fp, own, ref_irr, yt_roof, yt_rack, pv_opts, options):
    """One row per roof face with every property of the roofs layer."""
    import geopandas as gpd

    from .irradiation import unobstructed_irradiation
    from .pv import co2_savings_kg, module_layout, suitability
    from .roofs import face_polygons

    faces = seg.faces
    n = int(seg.face_labels.max()) if seg.face_labels.size else 0
    cols = ["building_id", "face_id", "tilt", "azimuth", "area", "footprint_area", "height", "irradiation",
            "irradiation_p10", "irradiation_p50", "irradiation_p90", "monthly_irradiation", "shading_loss",
            "usable_area", "modules", "kwp", "yield_kwh", "specific_yield", "co2_savings_kg", "suitability"]
    if len(faces) == 0 or n == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    lab = _interior_labels(seg.face_labels)
    g = irr.global_.astype(np.float64)
    mean_irr, npx = _mean_by_label(lab, g, n)
    q = _quantiles_by_label(lab, g, n, (0.1, 0.5, 0.9))
    monthly = np.stack([_mean_by_label(lab, irr.monthly[m].astype(np.float64), n)[0] for m in range(12)], axis=1)
    usable_px, _ = _mean_by_label(lab, (g >= pv_opts.irradiation_threshold * ref_irr).astype(float), n)
    height, _ = _mean_by_label(lab, grid.z - ground, n) if ground is not None else (np.full(n, np.nan), None)

    lab = seg.face_labels
    faces = faces.set_index("face")
    face_ids = np.arange(1, n + 1)
    present = np.isin(face_ids, faces.index)
    bidx = faces["building"].reindex(face_ids).to_numpy()
    tilt = faces["tilt"].reindex(face_ids).to_numpy(float)
    azim = faces["azimuth"].reindex(face_ids).to_numpy(float)
    ok = present & (npx > 0) & np.isfinite(tilt)
    ok &= np.array([(b > 0 and own[int(b) - 1]) if np.isfinite(b) else False for b in bidx])
    sel = np.flatnonzero(ok) + 1
    if sel.size == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    clip = {int(f): fp.geometry.iloc[int(bidx[f - 1]) - 1] for f in sel}
    polys = face_polygons(np.where(np.isin(lab, sel), lab, 0), grid.transform, clip=clip)
    unob = unobstructed_irradiation(tilt[sel - 1], azim[sel - 1], sky, options.engine.albedo).global_

    rows = []
    per_building = {}
    for k, f in enumerate(sel):
        poly = polys.get(int(f))
        if poly is None or poly.is_empty:
            continue
        i = f - 1
        b = int(bidx[i])
        bid = fp["building_id"].iloc[b - 1]
        per_building[bid] = per_building.get(bid, 0) + 1
        t = float(tilt[i])
        a = float(azim[i])
        fa = float(poly.area)
        area = fa / max(np.cos(np.radians(min(t, 89.0))), 1e-3)
        shading = float(np.clip(1.0 - mean_irr[i] / unob[k], 0.0, 1.0)) if unob[k] > 0 else 1.0
        lay = module_layout(poly, t, a, options.module, pv_opts)
        setback_area = poly.buffer(-pv_opts.setback).area / max(np.cos(np.radians(min(t, 89.0))), 1e-3)
        usable = float(max(setback_area, 0.0) * usable_px[i])
        count = int(min(lay.count, np.floor(usable / options.module.area))) if usable > 0 else 0
        kwp = count * options.module.power / 1000.0
        yt = yt_rack if t < pv_opts.flat_threshold else yt_roof
        spec = float(yt.specific_yield(lay.module_tilt, lay.module_azimuth, shading)) if count else 0.0
        yld = kwp * spec
        rows.append({
            "building_id": bid, "_face": int(f), "tilt": round(t, 2),
            "azimuth": None if t < FLAT_AZIMUTH_LIMIT else round(a, 2),
            "area": round(area, 2), "footprint_area": round(fa, 2),
            "height": None if not np.isfinite(height[i]) else round(float(height[i]), 2),
            "irradiation": round(float(mean_irr[i]), 1), "irradiation_p10": round(float(q[0, i]), 1),
            "irradiation_p50": round(float(q[1, i]), 1), "irradiation_p90": round(float(q[2, i]), 1),
            "monthly_irradiation": [round(float(v), 2) for v in monthly[i]],
            "shading_loss": round(shading, 4), "usable_area": round(usable, 2), "modules": count,
            "kwp": round(kwp, 3), "yield_kwh": round(yld, 1), "specific_yield": round(spec, 1) if count else None,
            "co2_savings_kg": round(float(co2_savings_kg(yld, pv_opts.grid_emission_factor)), 1),
            "geometry": poly,
        })
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    gdf["suitability"] = suitability(gdf["irradiation"].to_numpy(float), gdf["usable_area"].to_numpy(float),
                                     ref_irr, thresholds=options.suitability_thresholds,
                                     min_usable_area=pv_opts.min_usable_area)
    # stable face ids: per building, faces ordered by their position (north-west first)
    rp = gdf.geometry.representative_point()
    gdf["_y"] = -np.round(rp.y.to_numpy(), 2)
    gdf["_x"] = np.round(rp.x.to_numpy(), 2)
    gdf = gdf.sort_values(["building_id", "_y", "_x"]).reset_index(drop=True)
    gdf["face_id"] = gdf["building_id"] + "-F" + (gdf.groupby("building_id").cumcount() + 1).map("{:02d}".format)
    gdf = gdf.drop(columns=["_y", "_x"])
    return gdf[cols + ["_face", "geometry"]]


def _wall_layer(fp, grid, sky, wy, site, ground, ref_irr, pv_opts, options, report):
    """The walls layer from the facade module (one LineString per wall)."""
    from . import walls
    from .pv import specific_yield_table

    if len(fp) == 0:
        return None
    yt_facade = specific_yield_table(_hourly(wy), site.latitude, site.longitude, site.altitude,
                                     mounting="facade", tilts=(80.0, 90.0), azimuths=YIELD_AZIMUTHS,
                                     options=pv_opts)
    gdf, problems = walls.wall_layer(fp, grid, sky, yt_facade, ref_irr, ground=ground,
                                     spacing=options.wall_spacing, band_height=options.band_height,
                                     albedo=options.engine.albedo, window_share=options.window_share)
    report["problems"].extend(problems)
    if gdf is not None and len(gdf):
        # a wall off the raster has no surface model in front of it: nothing to say about it
        from shapely.geometry import box

        t = grid.transform
        rows, cols = grid.shape
        extent = box(t.c, t.f + rows * t.e, t.c + cols * t.a, t.f).buffer(grid.cellsize)
        on = gdf.geometry.within(extent).to_numpy()
        if not on.all():
            report["walls_outside_raster"] = int((~on).sum())
            gdf = gdf[on].reset_index(drop=True)
    return gdf


def _building_layer(fp, own, building_labels, roofs_gdf, walls_gdf, grid, ground, yt_roof, yt_rack):
    """One row per reported building with totals over its faces and walls."""
    import geopandas as gpd

    from .pv import SUITABILITY_CLASSES

    rank = {c: i for i, c in enumerate(SUITABILITY_CLASSES)}
    rows = []
    valid_px = np.bincount(building_labels[np.isfinite(grid.z)].ravel(), minlength=len(fp) + 1)
    for i in np.flatnonzero(own):
        bid = fp["building_id"].iloc[i]
        f = roofs_gdf[roofs_gdf["building_id"] == bid] if len(roofs_gdf) else roofs_gdf
        w = walls_gdf[walls_gdf["building_id"] == bid] if walls_gdf is not None and len(walls_gdf) else None
        kwp = float(f["kwp"].sum()) if len(f) else 0.0
        yld = float(f["yield_kwh"].sum()) if len(f) else 0.0
        monthly = np.zeros(12)
        for _, face in f.iterrows():
            if face["kwp"] > 0:
                t = face["tilt"]
                a = face["azimuth"] if face["azimuth"] is not None else 180.0
                yt = yt_rack if t < 10.0 else yt_roof
                m = np.asarray(yt.monthly_specific_yield(t, a, face["shading_loss"]), float).ravel()
                ann = m.sum()
                monthly += face["yield_kwh"] * (m / ann if ann > 0 else 0.0)
        status = "ok"
        if valid_px[i + 1] == 0:
            status = "no valid surface-model pixels inside the footprint"
        elif len(f) == 0:
            status = "no roof face found"
        best = min((rank[s] for s in f["suitability"]), default=rank["unsuitable"])
        h = None
        if ground is not None and valid_px[i + 1] > 0:
            m = building_labels == i + 1
            hv = np.nanpercentile(grid.z[m] - ground[m], 95) if np.isfinite(grid.z[m]).any() else np.nan
            h = None if not np.isfinite(hv) else round(float(hv), 2)
        rows.append({
            "building_id": bid, "source": fp["source"].iloc[i], "status": status,
            "partly_outside": bool(fp["partly_outside"].iloc[i]), "faces": int(len(f)),
            "roof_area": round(float(f["area"].sum()), 2) if len(f) else 0.0,
            "usable_area": round(float(f["usable_area"].sum()), 2) if len(f) else 0.0,
            "kwp": round(kwp, 3), "yield_kwh": round(yld, 1),
            "specific_yield": round(yld / kwp, 1) if kwp > 0 else None,
            "co2_savings_kg": round(float(f["co2_savings_kg"].sum()), 1) if len(f) else 0.0,
            "monthly_yield": [round(float(v), 1) for v in monthly],
            "suitability": SUITABILITY_CLASSES[best],
            "wall_area": round(float(w["area"].sum()), 2) if w is not None and len(w) else 0.0,
            "wall_kwp": round(float(w["kwp"].sum()), 3) if w is not None and len(w) else 0.0,
            "wall_yield_kwh": round(float(w["yield_kwh"].sum()), 1) if w is not None and len(w) else 0.0,
            "height": h, "geometry": fp.geometry.iloc[i],
        })
    cols = ["building_id", "source", "status", "partly_outside", "faces", "roof_area", "usable_area", "kwp",
            "yield_kwh", "specific_yield", "co2_savings_kg", "monthly_yield", "suitability", "wall_area",
            "wall_kwp", "wall_yield_kwh", "height"]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=grid.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)


def run_cadastre(dsm, out_dir, **kwargs) -> CadastreResult:
    """:func:`compute_cadastre` then :func:`solarkataster.io.results.write_cadastre_results` into ``out_dir``."""
    cog = kwargs.pop("cog", False)
    if out_dir is None:
        raise ParameterError("an output folder is required")
    result = compute_cadastre(dsm, **kwargs)
    from .io.results import write_cadastre_results

    write_cadastre_results(result, out_dir, cog=cog)
    return result
