"""The cadastre on an LoD2 city model: its roof surfaces and walls as faces, shaded by a surface model.

:func:`solarkataster.cadastre.compute_cadastre` takes this branch when it is given ``roofs`` (a CityGML or
CityJSON file, :func:`solarkataster.io.lod2.read_lod2`):

* **Grid.** With a DSM, the DSM is the grid and the model is reprojected into its CRS. Without one, a DSM
  is rasterised from the model (:func:`model_grid`: the highest roof plane over each pixel centre, on the
  DTM or on terrain interpolated between the buildings' ground heights). A model spread over a large area
  (a sample of a whole city) gets a coarser cell size so that the grid stays under :data:`MAX_PIXELS`
  pixels; this is logged as a warning and recorded in ``run.json``.
* **Faces.** Each merged LoD2 roof surface is one face with the model's exact plane: tilt, azimuth and
  sloped area (:func:`solarkataster.lod2.roof_faces`). Its irradiation is the mean over sample points in
  its 3-D plane with horizons from the grid (:func:`solarkataster.lod2.lod2_surfaces`); then the same PV
  assessment as LiDAR faces (:func:`solarkataster.assessment.assess_surfaces`). The share of the face that
  reaches the irradiation threshold is taken from the engine's pixels inside its plan polygon, as for
  LiDAR faces.
* **Walls** are the model's ``WallSurface`` s (:func:`solarkataster.lod2.wall_faces`) through the same wall
  assessment.
* **Buildings** are the model's (footprints from its ground surfaces, else roof outlines) unless
  footprints are given; then a model building belongs to the footprint that holds its representative
  point. The model's attributes (address, function, height, ...) are carried into the buildings layer.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .assessment import assess_surfaces, surface_latitudes
from .cadastre import FLAT_AZIMUTH_LIMIT, LAYER_COLUMNS, roof_layer_frame, with_vegetation_loss
from .errors import ParameterError, RasterError, check_range

log = logging.getLogger(__name__)

#: Largest rasterised grid [pixels] (engine output and horizons: about 1 GB peak at this size).
MAX_PIXELS = 4_000_000
#: Margin of the rasterised grid around the model [m]: obstacles closer than this to a building are kept.
GRID_MARGIN = 30.0


def read_model(roofs, crs=None):
    """Return the LoD2 model of ``roofs``: a path (read with :func:`solarkataster.io.lod2.read_lod2`) or a model.

    Parameters
    ----------
    roofs : str, Path or LoD2Model
        CityGML/CityJSON/CityJSONL file, or a model already read.
    crs : str, optional
        CRS of the file when it declares none (``--roofs-crs``).

    Returns
    -------
    LoD2Model
    """
    if hasattr(roofs, "surfaces"):
        return roofs
    from .io.lod2 import read_lod2

    return read_lod2(roofs, crs=crs)


def _grid_crs(crs):
    """Return a rasterio CRS for a pyproj one (the writers take rasterio's)."""
    from rasterio.crs import CRS

    code = crs.to_epsg()
    return CRS.from_epsg(code) if code else CRS.from_wkt(crs.to_wkt())


def _building_ground(surfaces):
    """Plan position (representative point of the footprint) and ground height [m] of each building."""
    from .lod2 import model_footprints

    zmin = pd.Series([float(np.min(r[:, 2])) for r in surfaces["exterior"]], index=surfaces.index)
    ground = zmin[surfaces["kind"] == "ground"].groupby(surfaces["building_id"]).min()
    ground = ground.combine_first(zmin.groupby(surfaces["building_id"]).min())
    fp = model_footprints(surfaces)
    rp = fp.geometry.representative_point()
    return np.column_stack([rp.x, rp.y]), ground.reindex(fp["building_id"]).to_numpy(float)


def interpolated_ground(surfaces, transform, shape):
    """Terrain heights on a grid, interpolated between the buildings' ground heights of an LoD2 model.

    Linear between the buildings (Delaunay triangulation of their representative points), the nearest
    building's ground height outside them; flat for one building.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces`.
    transform : affine.Affine
        North-up grid transform.
    shape : (int, int)
        Grid shape.

    Returns
    -------
    ndarray of float64
        Heights [m].
    """
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
    from scipy.spatial import QhullError

    xy, z = _building_ground(surfaces)
    rows, cols = shape
    if len(z) < 3 or np.ptp(z) < 0.01:
        return np.full(shape, float(np.min(z)) if len(z) else 0.0)
    cs = transform.a
    xs = transform.c + (np.arange(cols) + 0.5) * cs
    ys = transform.f - (np.arange(rows) + 0.5) * cs
    nearest = NearestNDInterpolator(xy, z)
    out = np.empty(shape)
    try:
        linear = LinearNDInterpolator(xy, z)
    except QhullError:  # buildings on one line
        linear = None
    for r0 in range(0, rows, 512):  # row blocks keep the temporaries small
        gx, gy = np.meshgrid(xs, ys[r0:r0 + 512])
        block = linear(gx, gy) if linear is not None else np.full(gx.shape, np.nan)
        miss = ~np.isfinite(block)
        block[miss] = nearest(gx[miss], gy[miss])
        out[r0:r0 + 512] = block
    return out


def _dtm_on(dtm, transform, shape, crs):
    """Resample a DTM (bilinear) onto a grid; NaN where it has no data."""
    from rasterio.warp import Resampling, reproject

    from .pipeline import load_grid

    dg = load_grid(dtm)
    out = np.full(shape, np.nan)
    reproject(dg.z, out, src_transform=dg.transform, src_crs=dg.crs, dst_transform=transform, dst_crs=crs,
              resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
    if not np.isfinite(out).any():
        raise RasterError(f"DTM {dg.source.get('path', '')}: does not overlap the LoD2 model")
    return out, f"DTM {dg.source.get('path', '')} (resampled)"


def _rasterise(surfaces, dtm, transform, shape, crs):
    """Rasterised DSM, terrain and a description of the terrain on one grid."""
    from . import lod2 as L

    if dtm is not None:
        ground, label = _dtm_on(dtm, transform, shape, crs)
        ground = np.where(np.isfinite(ground), ground, interpolated_ground(surfaces, transform, shape))
    else:
        ground = interpolated_ground(surfaces, transform, shape)
        label = "interpolated between the LoD2 buildings' ground heights"
    return L.rasterise_model(surfaces, transform, shape, ground), ground, label


def cluster_grids(surfaces, crs, dtm=None, cellsize=0.5, margin=GRID_MARGIN):
    """Yield a rasterised DSM per cluster of buildings, for a model too spread out for one fine grid.

    Buildings closer than ``margin`` share a cluster (:func:`solarkataster.lod2.model_clusters`); each
    cluster's grid covers it plus ``margin``, so every obstacle within ``margin`` of a building is on it.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        :attr:`solarkataster.io.lod2.LoD2Model.surfaces` [m].
    crs : rasterio CRS
        Their CRS.
    dtm : str, Path or Grid, optional
        Terrain model.
    cellsize, margin : float
        Pixel size and margin [m].

    Yields
    ------
    surfaces : pandas.DataFrame
        The cluster's surfaces.
    grid : Grid
        Its rasterised DSM.
    """
    from . import lod2 as L
    from .grid import Grid

    for ids in L.model_clusters(surfaces, margin):
        sub = surfaces[surfaces["building_id"].isin(ids)].reset_index(drop=True)
        transform, shape = L.model_extent(sub, cellsize, margin)
        z, _, _ = _rasterise(sub, dtm, transform, shape, crs)
        yield sub, Grid(z, transform, crs)


def model_grid(model, dtm=None, cellsize=0.5, *, margin=GRID_MARGIN, max_pixels=None):
    """Rasterise a surface model from an LoD2 model, for shading when no DSM is given.

    Parameters
    ----------
    model : LoD2Model
        In a projected CRS [m].
    dtm : str, Path or Grid, optional
        Terrain model; default terrain interpolated between the buildings' ground heights
        (:func:`interpolated_ground`).
    cellsize : float
        Pixel size [m]; coarsened (with a warning) when the grid would exceed ``max_pixels``.
    margin : float
        Margin around the model [m].
    max_pixels : int, optional
        Largest grid [pixels]; default :data:`MAX_PIXELS`.

    Returns
    -------
    grid : Grid
        The rasterised DSM.
    ground : ndarray
        Terrain on the grid [m].
    report : dict
        ``rasterised_from_lod2`` (the model's file), ``cellsize`` [m], ``requested_cellsize`` [m],
        ``shape``, ``ground`` (what the terrain is) and, when coarsened, ``coarsened`` (why; roofs and walls
        are then evaluated on :func:`cluster_grids` at the requested cell size).
    """
    from . import lod2 as L
    from .grid import Grid

    cellsize = check_range("lod2_cellsize", cellsize, 0.1, 10.0, " m")
    max_pixels = MAX_PIXELS if max_pixels is None else int(max_pixels)
    surfaces = model.surfaces
    transform, shape = L.model_extent(surfaces, cellsize, margin)
    report = {"rasterised_from_lod2": Path(str(model.source.get("path", "LoD2 model"))).name,
              "requested_cellsize": cellsize}
    if shape[0] * shape[1] > max_pixels:
        coarse = math.ceil(cellsize * math.sqrt(shape[0] * shape[1] / max_pixels) * 10) / 10
        width, height = shape[1] * cellsize, shape[0] * cellsize
        report["coarsened"] = (f"the model spans {width / 1000:.1f} x {height / 1000:.1f} km: {cellsize} m cells "
                               f"would make {shape[0] * shape[1] / 1e6:.0f} M pixels (limit {max_pixels / 1e6:.0f} M)")
        log.warning("%s; the rasters are computed at %.1f m instead, roofs and walls on a %.1f m grid per cluster "
                    "of buildings", report["coarsened"], coarse, cellsize)
        cellsize = coarse
        transform, shape = L.model_extent(surfaces, cellsize, margin)
    crs = _grid_crs(model.crs)
    z, ground, report["ground"] = _rasterise(surfaces, dtm, transform, shape, crs)
    report.update(cellsize=cellsize, shape=list(shape))
    grid = Grid(z, transform, crs, source={"path": str(model.source.get("path", "")), "lod2": True})
    return grid, ground, report


def model_buildings(model, grid, footprints=None, id_column=None):
    """Return the buildings of an LoD2 run (the model's footprints, or those given) and their model buildings.

    Parameters
    ----------
    model : LoD2Model
        In the grid's CRS.
    grid : Grid
    footprints : str, Path or GeoDataFrame, optional
        Footprints replacing the model's (:func:`solarkataster.io.vector.read_footprints`).
    id_column : str, optional
        Their id column.

    Returns
    -------
    footprints : GeoDataFrame
        ``building_id``, ``partly_outside``, ``source`` ('lod2' or 'footprints'), geometry; only those on the
        grid.
    owner : dict
        Model building id -> footprint building id (model buildings in no footprint are left out).
    report : dict
        For ``run.json``.
    """
    from .io.vector import check_overlap, read_footprints
    from .lod2 import model_footprints

    model_fp = model_footprints(model.surfaces, crs=grid.crs)
    if footprints is None:
        fp, source = model_fp[["building_id", "geometry"]].copy(), "lod2"
        report = {"path": str(model.source.get("path", "")), "features": len(fp),
                  "id_column": "gml:id" if model.source.get("format") == "CityGML" else "CityObjects key",
                  "from": "LoD2 ground surfaces (roof outlines where a building has none)"}
    else:
        fp, fp_report = read_footprints(footprints, grid.crs, id_column=id_column)
        source, report = "footprints", fp_report.as_dict()
    inside, partly = check_overlap(fp, grid, name=report["path"])
    if not inside.all():
        report["outside_raster"] = {"count": int((~inside).sum()),
                                    "ids": fp.loc[~inside, "building_id"].tolist()[:100]}
        fp, partly = fp[inside].reset_index(drop=True), partly[inside]
    fp["partly_outside"] = partly
    fp["source"] = source
    if footprints is None:
        owner = dict(zip(fp["building_id"], fp["building_id"]))
    else:
        import geopandas as gpd

        points = gpd.GeoDataFrame({"model_id": model_fp["building_id"]},
                                  geometry=model_fp.geometry.representative_point(), crs=grid.crs)
        hit = gpd.sjoin(points, fp[["building_id", "geometry"]], predicate="within", how="inner")
        hit = hit.drop_duplicates("model_id")
        owner = dict(zip(hit["model_id"], hit["building_id"]))
        report["lod2_buildings_without_footprint"] = int(len(model_fp) - len(owner))
    return fp, owner, report


def building_labels(fp, grid):
    """Label raster of the buildings (1..n in footprint order), every pixel a footprint touches.

    On a coarse grid rasterised from a spread-out model a small building may hold no pixel centre; its roofs
    and walls are evaluated on a fine grid all the same, so it must not be reported without pixels.
    """
    from rasterio.features import rasterize

    shapes = ((g, i + 1) for i, g in enumerate(fp.geometry))
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32",
                     all_touched=True)


def _face_pixels(faces, grid):
    """Face label raster (1..n in ``faces`` order; the higher face where two overlap in plan)."""
    from rasterio.features import rasterize

    order = np.argsort(faces["z_max"].to_numpy(float), kind="stable")  # drawn low to high: the top one wins
    shapes = [(faces.geometry.iloc[i], int(i) + 1) for i in order if not faces.geometry.iloc[i].is_empty]
    if not shapes:
        return np.zeros(grid.shape, np.int32)
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32")


def _usable_share(labels, faces, engine, threshold):
    """Share of each face's pixels whose irradiation reaches ``threshold``; by its mean where it has none."""
    n = len(faces)
    g = engine.irradiation.global_
    ok = (labels > 0) & np.isfinite(g)
    count = np.bincount(labels[ok], minlength=n + 1)[1:]
    good = np.bincount(labels[ok], weights=(g[ok] >= threshold).astype(float), minlength=n + 1)[1:]
    mean = faces["irradiation"].to_numpy(float)
    fallback = np.where(np.isfinite(mean), (np.nan_to_num(mean) >= threshold).astype(float), 0.0)
    return np.where(count > 0, good / np.maximum(count, 1), fallback)


def lod2_face_layer(faces, engine, ref_irr, tables, pv_opts, options):
    """Roofs layer of LoD2 faces: the model's planes and sample irradiation, then the surface assessment.

    Parameters
    ----------
    faces : GeoDataFrame
        From :func:`solarkataster.lod2.lod2_surfaces` (building ids already those of the footprints).
    engine : IrradianceResult
        The run's engine result on the grid.
    ref_irr : float
        The site's best unobstructed irradiation [kWh/m²].
    tables : YieldTables
    pv_opts : PVOptions
    options : CadastreOptions

    Returns
    -------
    layer : GeoDataFrame
        :data:`solarkataster.cadastre.LAYER_COLUMNS` ``['roofs']`` + ``_face``
        (1-based row in ``faces``), plan polygons.
    monthly_yield : ndarray (n, 12)
        Monthly AC energy per face, in layer order [kWh].
    labels : ndarray of int32
        Face label raster (``_face``) on the grid.
    """
    from .irradiation import unobstructed_irradiation

    labels = _face_pixels(faces, engine.grid)
    tilt, azimuth = faces["tilt"].to_numpy(float), faces["azimuth"].to_numpy(float)
    surfaces = pd.DataFrame({
        "tilt": tilt, "azimuth": azimuth, "geometry": faces.geometry.to_list(),
        "building": faces["building_id"].to_numpy(), "irradiation": faces["irradiation"].to_numpy(float),
        "usable_share": _usable_share(labels, faces, engine, pv_opts.irradiation_threshold * ref_irr),
        "unobstructed_irradiation": unobstructed_irradiation(tilt, azimuth, engine.sky,
                                                             engine.options.albedo).global_})
    surfaces["latitude"] = surface_latitudes(surfaces["geometry"], engine.grid.crs)
    a = assess_surfaces(surfaces, tables, ref_irr, kind="roof", module=options.module, options=pv_opts)
    has_modules = a["potential_modules"].to_numpy() > 0
    out = pd.DataFrame({
        "building_id": faces["building_id"].to_numpy(), "_face": np.arange(1, len(faces) + 1),
        "tilt": tilt, "azimuth": np.where(tilt < FLAT_AZIMUTH_LIMIT, np.nan, azimuth),
        "area": faces["area"].to_numpy(float), "footprint_area": faces["footprint_area"].to_numpy(float),
        "height": faces["height"].to_numpy(float),
        "monthly_irradiation": [None if m is None else [round(float(v), 2) for v in m]
                                for m in faces["monthly_irradiation"]],
        "specific_yield": np.where(has_modules, a["specific_yield"].to_numpy(float), np.nan),
        "source": "lod2", "plane_rmse": faces["plane_rmse"].to_numpy(float), "plane_share": np.nan})
    for col in ("irradiation", "irradiation_p10", "irradiation_p50", "irradiation_p90"):
        out[col] = faces[col].to_numpy(float)
    gdf, monthly = roof_layer_frame(out, a, faces.geometry.to_list(), engine.grid.crs)
    return gdf, monthly, labels


def lod2_wall_layer(walls, engine, ref_irr, tables, pv_opts, options):
    """Walls layer of LoD2 walls: the model's wall planes and their irradiation, then the wall assessment.

    Parameters
    ----------
    walls : GeoDataFrame
        From :func:`solarkataster.lod2.lod2_surfaces` (building ids already those of the footprints).
    engine : IrradianceResult
    ref_irr : float
        The site's best unobstructed irradiation [kWh/m²].
    tables : YieldTables
    pv_opts : PVOptions
    options : CadastreOptions

    Returns
    -------
    GeoDataFrame or None
        :data:`solarkataster.cadastre.LAYER_COLUMNS` ``['walls']``, bottom-edge LineStrings.
    """
    from .irradiation import unobstructed_irradiation
    from .sky import FINE_AZIMUTH_BINS
    from .walls import wall_table

    if walls is None or not len(walls):
        return None
    walls = walls.reset_index(drop=True)
    walls["wall_id"] = walls["building_id"] + "-W" + (walls.groupby("building_id").cumcount() + 1).map(
        "{:03d}".format)
    sky = engine.skies.get(FINE_AZIMUTH_BINS, engine.sky)
    walls["unobstructed_irradiation"] = unobstructed_irradiation(90.0, walls["azimuth"].to_numpy(float), sky,
                                                                 engine.options.albedo).global_
    assessed = assess_surfaces(walls, tables, ref_irr, kind="wall", module=options.module, options=pv_opts,
                               facade=options.facade)
    return wall_table(with_vegetation_loss(walls), assessed)[LAYER_COLUMNS["walls"] + ["geometry"]]


def _surfaces(surfaces, engine, options, fine):
    """Roof faces and walls with irradiation: on the engine's grid, or on a fine grid per cluster."""
    from .lod2 import lod2_surfaces
    from .sky import FINE_AZIMUTH_BINS

    eng = options.engine
    grids = [(surfaces, engine.grid)] if fine is None else cluster_grids(surfaces, engine.grid.crs, fine[1],
                                                                         fine[0])
    faces, walls = [], []
    for sub, grid in grids:
        f, w = lod2_surfaces(sub, grid, engine.sky, albedo=eng.albedo, walls=options.walls, sectors=eng.sectors,
                             max_distance=eng.max_distance, wall_spacing=options.wall_spacing,
                             band_height=options.band_height, wall_sky=engine.skies.get(FINE_AZIMUTH_BINS))
        faces.append(f.set_crs(engine.grid.crs, allow_override=True))
        walls.append(w.set_crs(engine.grid.crs, allow_override=True) if w is not None else None)
    faces = pd.concat(faces, ignore_index=True) if len(faces) > 1 else faces[0]
    if not options.walls:
        return faces, None
    return faces, pd.concat(walls, ignore_index=True) if len(walls) > 1 else walls[0]


def lod2_layers(model, fp, own, owner, engine, ref_irr, tables, pv_opts, options, fine=None):
    """Roofs and walls layers of the owned buildings of an LoD2 run.

    Parameters
    ----------
    model : LoD2Model
        In the grid's CRS.
    fp : GeoDataFrame
        Footprints of the run (:func:`model_buildings`).
    own : ndarray of bool
        Which footprints this run reports.
    owner : dict
        Model building id -> footprint building id.
    engine : IrradianceResult
    ref_irr : float
        The site's best unobstructed irradiation [kWh/m²].
    tables : YieldTables
    pv_opts : PVOptions
    options : CadastreOptions
    fine : (float, DTM), optional
        Evaluate roofs and walls on a grid per cluster of buildings (:func:`cluster_grids`) with this cell
        size [m] and terrain, instead of on the engine's (coarse) grid.

    Returns
    -------
    roofs : GeoDataFrame
        :func:`lod2_face_layer`.
    monthly_yield : ndarray (n, 12)
    walls : GeoDataFrame or None
        :func:`lod2_wall_layer` (None without ``options.walls``).
    labels : ndarray of int32
        Face label raster.
    """
    owned = set(fp["building_id"].to_numpy()[own])
    ids = [m for m, b in owner.items() if b in owned]
    surfaces = model.surfaces[model.surfaces["building_id"].isin(ids)].reset_index(drop=True)
    if not len(surfaces):
        raise ParameterError("no LoD2 building of the model lies on the surface model; check the CRSs")
    faces, walls = _surfaces(surfaces, engine, options, fine)
    faces = faces.assign(building_id=faces["building_id"].map(owner)).reset_index(drop=True)
    roofs, monthly, labels = lod2_face_layer(faces, engine, ref_irr, tables, pv_opts, options)
    if walls is not None:
        walls = walls.assign(building_id=walls["building_id"].map(owner))
    return roofs, monthly, lod2_wall_layer(walls, engine, ref_irr, tables, pv_opts, options), labels


def roof_plan_area(buildings, roofs):
    """Horizontal projection of each building's roof faces [m²] (their plan union; NaN without faces).

    Parameters
    ----------
    buildings : GeoDataFrame
        The buildings layer (``building_id``).
    roofs : GeoDataFrame
        The roofs layer (``building_id``, plan polygons).

    Returns
    -------
    ndarray of float
        In the order of ``buildings``.
    """
    import shapely

    union = roofs.groupby("building_id").geometry.apply(lambda g: shapely.union_all(g.to_numpy()).area)
    return union.reindex(buildings["building_id"]).to_numpy(float)


def with_attributes(buildings, model):
    """Append the model's building attributes (address, function, height, ...) to the buildings layer.

    Parameters
    ----------
    buildings : GeoDataFrame
        The buildings layer (``building_id``).
    model : LoD2Model

    Returns
    -------
    GeoDataFrame
        The same rows; attribute columns after the layer's (empty where a building is not the model's).
    """
    import geopandas as gpd

    attrs = model.attribute_table()
    attrs = attrs[[c for c in attrs.columns if c == "building_id" or c not in buildings.columns]]
    geometry = buildings.geometry.name
    merged = buildings.drop(columns=geometry).merge(attrs, on="building_id", how="left")
    for c in attrs.columns:
        if c != "building_id":
            merged[c] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in merged[c]]
    return gpd.GeoDataFrame(merged, geometry=buildings.geometry.to_numpy(), crs=buildings.crs)
