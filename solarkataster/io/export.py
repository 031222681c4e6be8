"""Vector outputs: GeoJSON (RFC 7946) and GeoPackage layers of roofs, walls, buildings and detected footprints.

What the layers contain (property names, order, types, units, rounding) is the layer contract in
:mod:`solarkataster.layers`; these writers apply it. Contract columns come first, in contract order, rounded
to their decimals; a contract column the frame lacks is written as null (with a warning); other columns
follow in their own order. The JSON Schemas shipped in ``solarkataster/schemas`` are generated from the
contract (:func:`write_schema_files`).

GeoJSON output follows RFC 7946: WGS84 longitude/latitude rounded to 1e-7° (about 1 cm; snapped to that grid
where rounding alone would make a ring touch itself, so valid polygons stay valid), exterior rings
counter-clockwise and holes clockwise, no ``crs`` member. A top-level foreign member ``metadata`` carries
the layer name, the units of every property, the software version, the creation time (UTC, ISO 8601), the
source CRS and any provenance passed in (weather source, input hashes, model choices).

Both writers are atomic: they write a temporary file in the target's folder and ``os.replace`` it, so a
failure never leaves a partial file and never clobbers an existing one.
"""
from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import orjson
import shapely

from .. import layers
from ..errors import InputError, ParameterError
from .atomic import atomic_write

log = logging.getLogger(__name__)

COORDINATE_DECIMALS = layers.COORDINATE_DECIMALS


def load_schema(layer):
    """Read the shipped JSON Schema (dict) of a contract layer ('roofs', 'walls', 'buildings', ...)."""
    layers.layer(layer)
    text = resources.files("solarkataster").joinpath("schemas", f"{layer}.schema.json").read_text("utf-8")
    return json.loads(text)


def write_schema_files(folder=None):
    """Write ``<layer>.schema.json`` for every contract layer (regenerates ``solarkataster/schemas``).

    Parameters
    ----------
    folder : str or Path, optional
        Target folder; the package's ``schemas`` folder when omitted.

    Returns
    -------
    list of Path
    """
    from .atomic import write_text_atomic

    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent.parent / "schemas"
    return [write_text_atomic(folder / f"{name}.schema.json",
                              json.dumps(layers.json_schema(name), indent=2, ensure_ascii=False) + "\n")
            for name in layers.LAYERS]


# ------------------------------------------------------------------------------------------ values

def _json_value(value):
    """Convert a property value to plain JSON: NaN/None/NaT -> None, numpy -> Python, arrays -> lists."""
    if value is None:
        return None
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):  # finite floats (most values) inline, the rest through the checks above
        return {str(k): v if type(v) is float and math.isfinite(v) else _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [(v if math.isfinite(v) else None) if type(v) is float else _json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    try:  # pandas NA / NaT and other missing markers
        import pandas as pd
        if pd.isna(value):
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    except (TypeError, ValueError):
        pass
    return str(value)


def contract_frame(gdf, layer, *, warn=True):
    """Apply the layer contract to a frame: contract columns first, rounded; missing ones as null.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One row per feature, in any CRS.
    layer : str
        Contract layer name (:data:`solarkataster.layers.LAYERS`).
    warn : bool
        Log a warning naming the contract columns the frame lacks.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy: contract columns in contract order, then the frame's other columns, then the geometry.
    """
    spec = layers.layer(layer)
    geometry = gdf.geometry.name
    out = layers.round_frame(gdf, layer)
    missing = [c for c in spec.names if c not in out.columns]
    if missing and warn:
        log.warning("%s layer: no values for %s; written as null", layer, ", ".join(missing))
    for column in missing:
        out[column] = None
    names = [c for c in out.columns if c != geometry]
    return out[layers.order_columns(names, layer) + [geometry]]


def _wgs84_geometries(gdf, source):
    from pyproj import CRS

    if gdf.crs is None:
        from ..errors import CRSError
        raise CRSError(f"{source}: the layer has no CRS; set it (GeoDataFrame.set_crs) before export")
    geoms = gdf.geometry.to_crs(4326).to_numpy() if not CRS(gdf.crs).equals(CRS(4326)) \
        else gdf.geometry.to_numpy()
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    # rounding can make a ring touch itself where two of its edges pass closer than the grid: those few are
    # snapped to the grid by GEOS instead, which keeps them valid
    broken = np.flatnonzero(~shapely.is_valid(rounded))
    broken = broken[shapely.is_valid(geoms[broken])]
    if len(broken):
        snapped = shapely.set_precision(geoms[broken], 10.0 ** -COORDINATE_DECIMALS)
        rounded[broken] = shapely.transform(snapped, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    # orient after rounding, which can flip the winding of a sliver
    return shapely.orient_polygons(rounded, exterior_cw=False)


def _json_column(values) -> list:
    """Convert one column to plain JSON values at once (:func:`_json_value` of every cell, same results).

    Numeric columns convert in one ``tolist`` (NaN and infinities become None); other columns cell by cell.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    if arr.dtype.kind == "f" and arr.dtype.itemsize <= 8:  # tolist gives Python floats up to float64
        cells = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            cells[i] = None
        return cells
    return [_json_value(v) for v in arr]


#: Geometry types whose GeoJSON :func:`_geometry_objects` builds from coordinate arrays (shapely type ids).
_LINESTRING, _POLYGON, _MULTILINESTRING, _MULTIPOLYGON = 1, 3, 5, 6


def _geometry_objects(geoms) -> list:
    """GeoJSON geometry objects (dicts; None for missing or empty) of a geometry array.

    Polygons, line strings and their multi-part forms (2D) are built from whole coordinate arrays; others
    go through :func:`shapely.to_geojson` one by one. Both give the same objects: GEOS writes the shortest
    text that reads back as the same double.
    """
    geoms = np.asarray(geoms, dtype=object)
    objects = [None] * len(geoms)
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    kind = shapely.get_type_id(geoms)
    fast = present & ~shapely.has_z(geoms) & np.isin(kind, (_LINESTRING, _POLYGON, _MULTILINESTRING, _MULTIPOLYGON))
    for i in np.flatnonzero(present & ~fast).tolist():
        objects[i] = json.loads(shapely.to_geojson(geoms[i]))
    index = np.flatnonzero(fast)
    if not index.size:
        return objects
    parts, part_of = shapely.get_parts(geoms[index], return_index=True)
    polygon = shapely.get_type_id(parts) == _POLYGON
    # a polygon part is the list of its rings, a line part one ring of its own
    polygon_rings, ring_of = shapely.get_rings(parts[polygon], return_index=True)
    ring_part = np.concatenate([np.flatnonzero(polygon)[ring_of], np.flatnonzero(~polygon)])
    order = np.argsort(ring_part, kind="stable")
    rings, ring_part = np.concatenate([polygon_rings, parts[~polygon]])[order], ring_part[order]
    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    vertices = xy.tolist()
    ends = np.searchsorted(vertex_ring, np.arange(len(rings) + 1)).tolist()
    ring_lists = [vertices[a:b] for a, b in zip(ends[:-1], ends[1:])]
    ends = np.searchsorted(ring_part, np.arange(len(parts) + 1)).tolist()
    part_lists = [ring_lists[a:b] if is_polygon else ring_lists[a]
                  for a, b, is_polygon in zip(ends[:-1], ends[1:], polygon.tolist())]
    ends = np.searchsorted(part_of, np.arange(len(index) + 1)).tolist()
    names = {_LINESTRING: "LineString", _POLYGON: "Polygon", _MULTILINESTRING: "MultiLineString",
             _MULTIPOLYGON: "MultiPolygon"}
    for i, k, a, b in zip(index.tolist(), kind[index].tolist(), ends[:-1], ends[1:]):
        coordinates = part_lists[a:b] if k in (_MULTILINESTRING, _MULTIPOLYGON) else part_lists[a]
        objects[i] = {"type": names[k], "coordinates": coordinates}
    return objects


# ----------------------------------------------------------------------------------------- writers

def build_metadata(layer, crs=None, metadata=None):
    """Build the ``metadata`` foreign member of a layer: units, version, creation time, source CRS, provenance."""
    from .. import __version__

    meta = {
        "layer": layer,
        "units": layers.units(layer),
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_crs": crs.to_string() if crs is not None and hasattr(crs, "to_string") else (
            None if crs is None else str(crs)),
    }
    for key, value in (metadata or {}).items():
        meta[key] = _json_value(value)
    return meta


def write_geojson(path, features_gdf, *, layer, metadata=None, contracted=False):
    """Write one layer as an RFC 7946 GeoJSON FeatureCollection, atomically.

    Parameters
    ----------
    path : str or Path
        Output file (``.geojson``).
    features_gdf : geopandas.GeoDataFrame
        Features in any CRS; one column per property. List- or array-valued columns
        (``monthly_irradiation``, ``bands``) stay JSON arrays.
    layer : str
        Contract layer ('roofs', 'walls', 'buildings', 'footprints_detected'): fixes the properties, their
        order and rounding (:func:`contract_frame`) and the units recorded in the metadata.
    metadata : dict, optional
        Provenance merged into the ``metadata`` member (``weather``, ``inputs``, model choices, ...).
    contracted : bool
        ``features_gdf`` is already :func:`contract_frame`'s (a writer of both formats contracts once).

    Returns
    -------
    pathlib.Path
    """
    frame = features_gdf if contracted else contract_frame(features_gdf, layer)
    order = [c for c in frame.columns if c != frame.geometry.name]
    geoms = _wgs84_geometries(frame, str(path))
    meta = build_metadata(layer, frame.crs, metadata)
    columns = [_json_column(frame[c].to_numpy()) for c in order]
    geometries = _geometry_objects(geoms)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(('{"type": "FeatureCollection", "metadata": '
                     + json.dumps(meta, ensure_ascii=False, allow_nan=False) + ', "features": [').encode())
            # one feature per line (the layer index and the tiles' digest read it so); orjson encodes the
            # plain values (:func:`_json_column`, NaN already null) several times faster than json
            for i, (geometry, *props) in enumerate(zip(geometries, *columns)):
                feature = {"type": "Feature", "geometry": geometry, "properties": dict(zip(order, props))}
                f.write((b"\n" if i == 0 else b",\n") + orjson.dumps(feature))
            f.write(b"\n]}\n")
            f.flush()
            os.fsync(f.fileno())

    out = atomic_write(path, write, ".tmp")
    log.info("wrote %d %s features to %s", len(geoms), layer, out)
    return out


def _gpkg_frame(gdf):
    """Copy of ``gdf`` with list/array/dict cells serialised as JSON strings (GeoPackage has no arrays)."""
    out = gdf.copy()
    for column in out.columns:
        if column == out.geometry.name or out[column].dtype != object:
            continue
        cells = out[column].to_numpy()
        if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in cells):
            out[column] = [None if v is None else orjson.dumps(_json_value(v)).decode() for v in cells]  # compact
    return out


def write_gpkg(path, frames, *, metadata=None, contracted=False):
    """Write several layers into one GeoPackage, atomically.

    Parameters
    ----------
    path : str or Path
        Output file (``.gpkg``); replaced as a whole.
    frames : dict of str -> geopandas.GeoDataFrame
        Layer name -> features (kept in their own CRS). Contract layers follow :func:`contract_frame`;
        array-valued properties are stored as JSON text.
    metadata : dict, optional
        Provenance, stored as the dataset metadata item ``solarkataster`` (JSON text).
    contracted : bool
        The frames are already :func:`contract_frame`'s.

    Returns
    -------
    pathlib.Path
    """
    import pyogrio

    if not frames:
        raise ParameterError("write_gpkg: 'frames' is empty; pass at least one GeoDataFrame")
    provenance = json.dumps(_json_value(dict(metadata or {})), ensure_ascii=False)

    def write(tmp):
        os.remove(tmp)  # GDAL creates the file itself
        for i, (name, gdf) in enumerate(frames.items()):
            known = name in layers.LAYERS
            frame = _gpkg_frame(contract_frame(gdf, name, warn=False) if known and not contracted else gdf)
            layer_meta = {"units": json.dumps(layers.units(name), ensure_ascii=False)} if known else None
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", append=i > 0,
                                    layer_metadata=layer_meta,
                                    dataset_metadata={"solarkataster": provenance} if i == 0 else None)

    out = atomic_write(path, write, ".gpkg")
    log.info("wrote layers %s to %s", list(frames), out)
    return out


# -------------------------------------------------------------------------------------- validation

def validate_layer(geojson, layer, max_errors=10):
    """Validate a GeoJSON layer against its shipped JSON Schema.

    Parameters
    ----------
    geojson : dict or str or Path
        A parsed FeatureCollection or the path of a GeoJSON file.
    layer : str
        Contract layer name.
    max_errors : int
        How many violations the error message lists.

    Raises
    ------
    InputError
        Listing the first violations (feature index, property, problem), or duplicate feature ids.
    """
    import jsonschema

    source = "<dict>"
    if not isinstance(geojson, dict):
        source = str(geojson)
        try:
            geojson = json.loads(Path(geojson).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{source}: cannot read GeoJSON ({exc})") from None
    validator = jsonschema.Draft202012Validator(load_schema(layer))
    errors = sorted(validator.iter_errors(geojson),  # feature order, then property
                    key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.absolute_path])
    problems = [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]
    if not errors:
        key = layers.id_field(layer)
        ids = [f.get("properties", {}).get(key) for f in geojson.get("features", [])]
        seen, dupes = set(), []
        for i in ids:
            if i in seen:
                dupes.append(i)
            seen.add(i)
        if dupes:
            problems.append(f"duplicate {key} values: {sorted(set(map(str, dupes)))[:max_errors]}")
    if problems:
        shown = "\n  ".join(problems[:max_errors])
        more = f"\n  ... and {len(problems) - max_errors} more" if len(problems) > max_errors else ""
        raise InputError(f"{source}: does not match the '{layer}' layer schema "
                         f"(solarkataster/schemas/{layer}.schema.json):\n  {shown}{more}")
    return True
