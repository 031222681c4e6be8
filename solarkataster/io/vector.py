"""Building footprints: read (GeoPackage, Shapefile, GeoJSON, FlatGeobuf), validate, repair, reproject."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CRSError, VectorError
from ..grid import resolve_crs

log = logging.getLogger(__name__)

#: Column names tried, in order, when no id column is given ("building_i": Shapefile's 10-character cut).
ID_CANDIDATES = ("building_id", "building_i", "buildingid", "gml_id", "gmlid", "objectid", "object_id", "osm_id",
                 "uuid", "oid", "id", "fid", "gid", "name")


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
        """Return the report as a JSON-ready dict."""
        return {"path": self.path, "features": self.features, "id_column": self.id_column,
                "repaired": self.repaired, "dropped": self.dropped, "reprojected_from": self.reprojected_from}


def read_footprints(source, crs, *, id_column=None, layer=None, input_crs=None):
    """Read building footprints and bring them into the raster's CRS.

    Parameters
    ----------
    source : str, Path or GeoDataFrame
        A vector file (any format GDAL/pyogrio reads), an LoD2 model (CityGML, CityJSON: the footprints are
        its ground surfaces, else its roof outlines, with the model's building ids;
        :func:`solarkataster.io.lod2.read_lod2_footprints`) or a GeoDataFrame (from
        :func:`read_footprint_layer`, whose ``attrs["path"]`` names it in messages and the report).
    crs : CRS
        Target CRS (the raster's).
    id_column : str, optional
        Column with building ids; detected from common names when omitted, else generated ("B00001"
        in file order, stable across runs of the same input).
    layer : str, optional
        Layer of a multi-layer file.
    input_crs : str or CRS, optional
        CRS assigned to a layer that declares none. A layer that declares one keeps it, and a different
        ``input_crs`` is an error. For an LoD2 model: its CRS when the file declares none.

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
        The layer has no CRS and none is assigned, or one that differs from ``input_crs``.
    """
    import geopandas as gpd

    if not isinstance(source, gpd.GeoDataFrame) and _is_lod2(source):
        from .lod2 import read_lod2_footprints

        return read_lod2_footprints(source, crs, roofs_crs=input_crs)[:2]
    report = FootprintReport()
    gdf = source if isinstance(source, gpd.GeoDataFrame) else read_footprint_layer(source, layer=layer)
    report.path = name = gdf.attrs.get("path", "<GeoDataFrame>")
    if len(gdf) == 0:
        raise VectorError(f"{name}: the footprint layer is empty")
    gdf = _with_crs(gdf, input_crs, name)
    ids, report.id_column = _building_ids(gdf, id_column, name)
    gdf = gpd.GeoDataFrame({"building_id": ids}, geometry=gdf.geometry.values, crs=gdf.crs)
    if not gdf.crs.equals(crs):
        report.reprojected_from = gdf.crs.to_string()
        gdf = gdf.to_crs(crs)
    out = _usable_polygons(gdf, report, name)
    report.features = len(out)
    for line in footprint_warnings(report):
        log.warning("%s", line)
    return out, report


def read_footprint_layer(path, *, layer=None, crs=None):
    """Read a footprint file as it is, naming it in ``attrs["path"]`` for :func:`read_footprints`.

    Parameters
    ----------
    path : str or Path
        A vector file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, anything pyogrio reads).
    layer : str, optional
        Layer of a multi-layer file.
    crs : str or CRS, optional
        CRS assigned when the file declares none (see :func:`read_footprints`'s ``input_crs``).

    Returns
    -------
    GeoDataFrame
        The features with all their attributes, in the file's CRS (or ``crs``).

    Raises
    ------
    VectorError
        The file is missing or unreadable.
    CRSError
        The file's CRS differs from ``crs``.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise VectorError(f"{path}: footprint file not found")
    if _is_lod2(path):
        return _lod2_layer(path, crs)
    try:
        gdf = gpd.read_file(path, layer=layer)
    except Exception as exc:
        raise VectorError(f"{path}: cannot read footprints ({type(exc).__name__}: {exc}); "
                          "give a GeoPackage, Shapefile, GeoJSON, FlatGeobuf or an LoD2 model (CityGML, CityJSON)"
                          + (f" and check the layer name {layer!r}" if layer else "")) from None
    if not _has_geometry(gdf):
        raise VectorError(f"{path}: the layer has no geometry column (columns {list(gdf.columns)[:8]}); give "
                          "polygon footprints")
    gdf.attrs["path"] = str(path)
    if crs is not None and len(gdf):
        gdf = _with_crs(gdf, crs, str(path))
        gdf.attrs["path"] = str(path)
    return gdf


def _has_geometry(frame):
    """Whether a frame read from a file is a GeoDataFrame with an active geometry column."""
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        return False
    try:
        return frame.geometry.name in frame.columns
    except AttributeError:
        return False


def _is_lod2(source):
    """Whether a footprint source is an LoD2 model file (CityGML, CityJSON)."""
    from .lod2 import is_lod2_file

    return isinstance(source, (str, Path)) and is_lod2_file(source)


def _lod2_layer(path, crs):
    """Footprints of an LoD2 model (ground surfaces, else roof outlines) as a layer in the model's CRS."""
    from ..lod2 import model_footprints
    from .lod2 import read_lod2

    model = read_lod2(path, crs=crs)
    gdf = model_footprints(model.surfaces, crs=model.crs)[["building_id", "geometry"]]
    gdf.attrs["path"] = str(path)
    return gdf


def _with_crs(gdf, assigned, name):
    """Give the layer its declared CRS, or the assigned one where it declares none (or only GeoJSON's default)."""
    declared = gdf.crs
    if declared is not None and declared.is_geographic and len(gdf):
        x0, y0, x1, y1 = gdf.total_bounds
        if not (-180.5 <= x0 <= x1 <= 360.5 and -90.5 <= y0 <= y1 <= 90.5):
            # coordinates in metres under a geographic CRS: a GeoJSON without "crs" member is WGS84 by
            # definition, but many files in a national projection omit it
            if assigned is None:
                raise CRSError(f"{name}: coordinates ({x0:.0f}, {y0:.0f}) are not longitude/latitude although "
                               f"the layer's CRS is {declared.name}; give the CRS of its coordinates (--crs on the "
                               "command line) "
                               "or reproject it (ogr2ogr -s_srs EPSG:25832 -t_srs EPSG:4326)")
            log.warning("%s: coordinates are not longitude/latitude; the assigned CRS replaces the layer's "
                        "default %s", name, declared.name)
            declared = None
    chosen = resolve_crs(declared, assigned, what=name)
    if chosen is None:
        raise CRSError(f"{name}: footprints have no CRS; assign one (--crs EPSG:25832 on the command line, or "
                       "ogr2ogr -a_srs EPSG:25832)")
    if declared is None:
        gdf = gdf.set_crs(chosen, allow_override=True)
    return gdf


def _building_ids(gdf, id_column, name):
    """Return the building ids (str) and the column they came from (None when generated)."""
    if id_column is not None and id_column not in gdf.columns:
        raise VectorError(f"{name}: id column {id_column!r} not found; columns are {list(gdf.columns)}")
    if id_column is None:
        lower = {c.lower(): c for c in gdf.columns if c != "geometry"}
        for cand in ID_CANDIDATES:
            col = lower.get(cand)
            if col is not None and gdf[col].notna().all() and gdf[col].astype(str).is_unique:
                id_column = col
                break
    if id_column is None:
        return [f"B{i + 1:05d}" for i in range(len(gdf))], None
    ids = gdf[id_column].astype(str).tolist()
    if len(set(ids)) != len(ids):
        seen, dup = set(), set()
        for i in ids:
            (dup if i in seen else seen).add(i)
        raise VectorError(f"{name}: id column {id_column!r} has duplicate values, e.g. {sorted(dup)[:5]}")
    return ids, id_column


def _usable_polygons(gdf, report, name):
    """Keep the valid polygonal footprints; repairs and drops are recorded in ``report``."""
    import geopandas as gpd
    import shapely

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
    return gpd.GeoDataFrame({"building_id": keep}, geometry=geoms, crs=gdf.crs)


#: How many ids a console message lists before "..." (run.json has the full lists).
SHOWN_IDS = 5


def format_ids(ids, shown=SHOWN_IDS):
    """Return ``"a, b, c, ... (12 in all)"``: the first ``shown`` ids of a list, for one console line."""
    ids = [str(i) for i in ids]
    head = ", ".join(ids[:shown])
    return head if len(ids) <= shown else f"{head}, ... ({len(ids)} in all)"


def footprint_warnings(report, outside_ids=()):
    """Return one console line per thing that happened to the footprints: repaired, dropped, outside the raster.

    Parameters
    ----------
    report : FootprintReport
        From :func:`read_footprints`.
    outside_ids : sequence of str
        Ids of footprints that lie entirely outside the raster (from :func:`check_overlap`).

    Returns
    -------
    list of str
        Empty when every footprint was used as it was.
    """
    name = report.path
    lines = []
    if report.repaired:
        lines.append(f"{name}: repaired {len(report.repaired)} invalid footprint(s): "
                     f"{format_ids([r['building_id'] for r in report.repaired])} "
                     f"(first: {report.repaired[0]['reason']})")
    if report.dropped:
        lines.append(f"{name}: dropped {len(report.dropped)} footprint(s) without area: "
                     f"{format_ids([r['building_id'] for r in report.dropped])}")
    if len(outside_ids):
        lines.append(f"{name}: {len(outside_ids)} footprint(s) lie entirely outside the raster and are skipped: "
                     f"{format_ids(outside_ids)}")
    return lines


def _polygonal(geom):
    """Return the polygonal part of a geometry (Polygon or MultiPolygon), or None."""
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
    """Rasterise buildings on the grid: a label raster (1..n in footprint order, 0 elsewhere; pixel centres)."""
    from rasterio.features import rasterize

    shapes = ((g, i + 1) for i, g in enumerate(footprints.geometry))
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32",
                     all_touched=False)


def check_overlap(footprints, grid, name="footprints"):
    """Find the buildings that touch the raster, and those of them that reach past it; raise when none touches it.

    Footprints entirely outside the raster are not part of the run (a city-wide layer over one tile):
    their count and first ids are logged as a warning, so the console says what was left out.

    Parameters
    ----------
    footprints : GeoDataFrame
        In the grid's CRS, with a ``building_id`` column (as :func:`read_footprints` returns them).
    grid : Grid
        The raster.
    name : str
        The footprint file, named in messages.

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
    if not inside.all() and "building_id" in footprints:
        outside = footprints.loc[~inside, "building_id"].tolist()
        for line in footprint_warnings(FootprintReport(path=name), outside_ids=outside):
            log.warning("%s", line)
    within = footprints.geometry.within(extent).to_numpy()
    return inside, inside & ~within
