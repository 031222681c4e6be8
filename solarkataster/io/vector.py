"""Building footprints: read (GeoPackage, Shapefile, GeoJSON, FlatGeobuf), validate, repair, reproject."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CRSError, VectorError

log = logging.getLogger(__name__)

#: Column names tried, in order, when no id column is given ("building_i": Shapefile's 10-character cut).
ID_CANDIDATES = ("building_id", "building_i", "buildingid", "gml_id", "gmlid", "objectid", "object_id", "osm_id", "uuid",
                 "oid", "id", "fid", "gid", "name")


@dataclass
class FootprintReport:
    """What happened to the footprints on the way in (written to run.json)."""

    path: str = ""
    features: int = 0
    id_column: str | None = None
    repaired: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    reprojected_from: str | None = None

    def as_dict(self):
        return {"path": self.path, "features": self.features, "id_column": self.id_column,
                "repaired": self.repaired, "dropped": self.dropped, "reprojected_from": self.reprojected_from}


def read_footprints(source, crs, *, id_column=None, layer=None):
    """Read building footprints and bring them into the raster's CRS.

    Parameters
    ----------
    source : str, Path or GeoDataFrame
        A vector file (any format GDAL/pyogrio reads) or a GeoDataFrame.
    crs : CRS
        Target CRS (the raster's).
    id_column : str, optional
        Column with building ids; detected from common names when omitted, else generated ("B00001"
        in file order, stable across runs of the same input).
    layer : str, optional
        Layer of a multi-layer file.

    Returns
    -------
    footprints : GeoDataFrame
        Columns ``building_id`` (str) and ``geometry`` (Polygon or MultiPolygon, valid), in ``crs``.
    report : FootprintReport

    Raises
    ------
    VectorError
        The file is missing, unreadable, empty, or holds no polygons.
    CRSError
        The layer has no CRS.
    """
    import geopandas as gpd
    import shapely

    report = FootprintReport()
    if isinstance(source, gpd.GeoDataFrame):
        gdf = source.copy()
        report.path = "<GeoDataFrame>"
    else:
        path = Path(source)
        report.path = str(path)
        if not path.exists():
            raise VectorError(f"{path}: footprint file not found")
        try:
            gdf = gpd.read_file(path, layer=layer)
        except Exception as exc:
            raise VectorError(f"{path}: cannot read footprints ({type(exc).__name__}: {exc}); "
                              "give a GeoPackage, Shapefile, GeoJSON or FlatGeobuf"
                              + (f" and check --layer {layer!r}" if layer else "")) from None
    name = report.path
    if len(gdf) == 0:
        raise VectorError(f"{name}: the footprint layer is empty")
    if gdf.crs is None:
        raise CRSError(f"{name}: footprints have no CRS; set one (e.g. ogr2ogr -a_srs EPSG:25832)")
    if id_column is not None and id_column not in gdf.columns:
        raise VectorError(f"{name}: id column {id_column!r} not found; columns are {list(gdf.columns)}")
    if id_column is None:
        lower = {c.lower(): c for c in gdf.columns if c != "geometry"}
        for cand in ID_CANDIDATES:
            col = lower.get(cand)
            if col is not None and gdf[col].notna().all() and gdf[col].astype(str).is_unique:
                id_column = col
                break
    report.id_column = id_column
    if id_column is None:
        ids = [f"B{i + 1:05d}" for i in range(len(gdf))]
    else:
        ids = gdf[id_column].astype(str).tolist()
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise VectorError(f"{name}: id column {id_column!r} has duplicate values, e.g. {dup}")
    gdf = gpd.GeoDataFrame({"building_id": ids}, geometry=gdf.geometry.values, crs=gdf.crs)
    target = crs
    if not gdf.crs.equals(target):
        report.reprojected_from = gdf.crs.to_string()
        gdf = gdf.to_crs(target)

    geoms = []
    keep = []
    for bid, g in zip(gdf["building_id"], gdf.geometry):
        if g is None or g.is_empty:
            report.dropped.append({"building_id": bid, "reason": "empty geometry"})
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            g = _polygonal(shapely.make_valid(g))
            report.repaired.append({"building_id": bid, "reason": reason})
        else:
            g = _polygonal(g)
        if g is None or g.is_empty or g.area <= 0:
            report.dropped.append({"building_id": bid, "reason": "no polygonal area"})
            continue
        geoms.append(g)
        keep.append(bid)
    if not geoms:
        raise VectorError(f"{name}: no usable polygon footprints (all {len(gdf)} empty or not polygons)")
    out = gpd.GeoDataFrame({"building_id": keep}, geometry=geoms, crs=target)
    report.features = len(out)
    if report.repaired:
        log.warning("%s: repaired %d invalid footprint(s), e.g. %s", name, len(report.repaired),
                    report.repaired[0])
    if report.dropped:
        log.warning("%s: dropped %d footprint(s) without area, e.g. %s", name, len(report.dropped),
                    report.dropped[0])
    return out, report


def _polygonal(geom):
    """The polygonal part of a geometry (Polygon or MultiPolygon), or None."""
    from shapely.geometry import MultiPolygon, Polygon

    if geom is None:
        return None
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    polys = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def rasterize_buildings(footprints, grid):
    """Label raster of buildings on the grid (1..n in footprint order, 0 elsewhere; pixel centres)."""
    from rasterio.features import rasterize

    shapes = ((g, i + 1) for i, g in enumerate(footprints.geometry))
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32",
                     all_touched=False)


def check_overlap(footprints, grid, name="footprints"):
    """Which buildings touch the raster, and which of those reach past it; raise when none touches it.

    Returns
    -------
    inside : ndarray of bool
        The footprint intersects the raster's extent.
    partly_outside : ndarray of bool
        The footprint intersects the extent but is not within it.
    """
    from shapely.geometry import box

    t = grid.transform
    rows, cols = grid.shape
    extent = box(t.c, t.f + rows * t.e, t.c + cols * t.a, t.f)
    inside = footprints.geometry.intersects(extent).to_numpy()
    if not inside.any():
        b = footprints.total_bounds
        raise VectorError(f"{name}: no footprint overlaps the raster (footprints {np.round(b, 1).tolist()}, "
                          f"raster {np.round(extent.bounds, 1).tolist()}); check both CRSs")
    within = footprints.geometry.within(extent).to_numpy()
    return inside, inside & ~within
