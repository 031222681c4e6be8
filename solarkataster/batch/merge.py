"""Batch merging: VRT mosaics over the per-tile COGs and merged vector layers.

Each building appears once in the merged layers because a tile reports only the buildings whose
representative point lies in its core; an id that still occurs twice is dropped and reported.

The VRT mosaics are written as GDAL VRT XML by :func:`build_vrt` (the GDAL Python bindings, which have
``gdal.BuildVRT``, are not a dependency; rasterio, which is, has no VRT builder for mosaics). GDAL reads
them through rasterio like any raster, which the tests check pixel for pixel.
"""
from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from ..io.atomic import atomic_write

log = logging.getLogger(__name__)

RASTER_MOSAICS = ("irradiation", "irradiation_monthly", "sky_view_factor", "canopy_height")  # canopy: with vegetation
VECTOR_LAYERS = ("roofs", "walls", "buildings", "footprints_detected")


def ensure_cog(path):
    """Rewrite a GeoTIFF as a Cloud Optimized GeoTIFF (deflate, 256 px blocks) unless it is one already.

    Parameters
    ----------
    path : str or Path
        The GeoTIFF, replaced atomically.
    """
    import rasterio
    import rasterio.shutil

    with rasterio.open(path) as ds:
        if ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() == "COG":
            return
    atomic_write(path, lambda tmp: rasterio.shutil.copy(path, tmp, driver="COG", compress="deflate", predictor=3,
                                                        blocksize=256, overview_resampling="average"), ".tif")


def merge_outputs(out_dir, manifest, *, crs, warnings=None):
    """Build the VRT mosaics, merged vector layers, vector tiles and hourly profiles over every finished tile.

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder (``tiles/<id>/`` inside).
    manifest : dict
        The batch manifest; tiles with ``status == 'done'`` and a folder are merged.
    crs : str
        CRS of the tiles (the GeoPackage's layers are written in it).
    warnings : list, optional
        Collects messages about duplicate ids.

    Returns
    -------
    list of str
        Written paths.
    """
    out_dir = Path(out_dir)
    done = sorted(r["tile_id"] for r in manifest["tiles"].values()
                  if r.get("status") == "done" and (out_dir / "tiles" / r["tile_id"]).is_dir())
    written = []
    for name in RASTER_MOSAICS:
        files = [f for f in (out_dir / "tiles" / tid / f"{name}.tif" for tid in done) if f.exists()]
        if files:
            written.append(str(build_vrt(out_dir / f"{name}.vrt", files)))
    layers = merge_vector_layers(out_dir, done, warnings=warnings)
    if layers:
        from ..io.export import write_geojson, write_gpkg

        meta = {"batch": {"tiles": done, "options": manifest.get("options")}}
        for name, gdf in layers.items():
            written.append(str(write_geojson(out_dir / f"{name}.geojson", gdf, layer=name, metadata=meta)))
        projected = {name: gdf.to_crs(crs) for name, gdf in layers.items()}
        written.append(str(write_gpkg(out_dir / "solarkataster.gpkg", projected, metadata=meta)))
        written += merge_vector_tiles(out_dir, manifest)
        written += merge_map_context(out_dir, manifest)
    from ..io.profiles import merge_profiles

    written += [str(out_dir / f) for f in merge_profiles([out_dir / "tiles" / tid for tid in done], out_dir)]
    return written


def merge_vector_tiles(out_dir, manifest) -> list:
    """Build ``solarkataster.pmtiles`` from the merged layers, only when a layer changed since the last build.

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder with the merged ``*.geojson`` layers.
    manifest : dict
        The batch manifest; ``manifest['vector_tiles']`` records the archive, the layers' content digests
        and whether this merge rebuilt it.

    Returns
    -------
    list of str
        The archive's path, or [] (with a warning logged) when the encoder is missing.
    """
    from ..io.vector_tiles import TilesError, recorded_digests, update_vector_tiles

    try:
        path, rebuilt = update_vector_tiles(out_dir)
    except TilesError as exc:
        log.warning("no vector tiles: %s", exc)
        return []
    manifest["vector_tiles"] = {"path": path.name, "rebuilt": rebuilt,
                                "layers": recorded_digests(path)}
    return [str(path)]


def merge_map_context(out_dir, manifest) -> list:
    """Index the merged layers for the service and (re)build the raster context archives of the map.

    The layer index (:mod:`solarkataster.io.layer_index`) lets ``serve`` start without parsing the layers.
    The hillshade and irradiation archives (:mod:`solarkataster.io.raster_tiles`) are rebuilt from the mosaics
    when the vector tiles were rebuilt or an archive is missing.

    Returns
    -------
    list of str
        The context archives written.
    """
    from .. import layers
    from ..io.layer_index import write_layer_index
    from ..io.raster_tiles import CONTEXT, build_context_tiles

    out_dir = Path(out_dir)
    write_layer_index(out_dir, {n: layers.id_field(n) for n in ("roofs", "walls", "buildings")})
    rebuilt = manifest.get("vector_tiles", {}).get("rebuilt", True)
    if rebuilt or not all((out_dir / f).is_file() for f, *_ in CONTEXT.values()):
        return [str(p) for p in build_context_tiles(out_dir)]
    return []


def _read_layer(path, tile_id):
    """One tile's GeoJSON layer with a ``tile_id`` column, or None when it has no feature."""
    import geopandas as gpd

    if not path.exists():
        return None
    feats = json.loads(path.read_text()).get("features", [])
    if not feats:
        return None
    frame = gpd.GeoDataFrame.from_features(feats, crs="EPSG:4326")
    frame["tile_id"] = tile_id
    return frame


def merge_vector_layers(out_dir, tile_ids, *, warnings=None):
    """Concatenate each tile's roofs, walls and buildings GeoJSON.

    Parameters
    ----------
    out_dir : str or Path
        Batch output folder.
    tile_ids : list of str
        Tiles to merge, in order.
    warnings : list, optional
        Collects a message per layer with duplicate ids.

    Returns
    -------
    dict of str to GeoDataFrame
        Layer name to merged layer (EPSG:4326, with ``tile_id``); duplicates of a layer's id are dropped.
    """
    import geopandas as gpd
    import pandas as pd

    from ..layers import id_field

    out = {}
    for layer in VECTOR_LAYERS:
        frames = [f for f in (_read_layer(Path(out_dir) / "tiles" / tid / f"{layer}.geojson", tid)
                              for tid in tile_ids) if f is not None]
        if not frames:
            continue
        gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
        key = id_field(layer)
        if key in gdf.columns:
            dup = gdf[key].duplicated(keep="first")
            if dup.any():
                ids = sorted(set(gdf.loc[dup, key].astype(str)))
                msg = (f"{layer}: {int(dup.sum())} duplicate {key}(s) across tiles dropped "
                       f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})")
                log.warning(msg)
                if warnings is not None:
                    warnings.append(msg)
                gdf = gdf.loc[~dup].reset_index(drop=True)
        out[layer] = gdf
    return out


def build_vrt(path, files):
    """Write a GDAL VRT mosaic of GeoTIFFs on one pixel grid, atomically.

    Parameters
    ----------
    path : str or Path
        The VRT; sources are referenced relative to it.
    files : list of str or Path
        GeoTIFFs with the same CRS, pixel size, band count and grid alignment (float32, NaN nodata).

    Returns
    -------
    Path

    Notes
    -----
    One ``SimpleSource`` per file and band; the band descriptions and ``units`` tags of the first file
    become the bands' descriptions and unit types.
    """
    import rasterio

    path = Path(path)
    metas = []
    for f in files:
        with rasterio.open(f) as ds:
            metas.append({"file": f, "t": ds.transform, "w": ds.width, "h": ds.height, "count": ds.count,
                          "desc": ds.descriptions, "crs": ds.crs.to_wkt(),
                          "units": [ds.tags(i + 1).get("units") for i in range(ds.count)]})
    cs = metas[0]["t"].a
    left = min(m["t"].c for m in metas)
    top = max(m["t"].f for m in metas)
    right = max(m["t"].c + m["w"] * cs for m in metas)
    bottom = min(m["t"].f - m["h"] * cs for m in metas)
    root = ET.Element("VRTDataset", rasterXSize=str(int(round((right - left) / cs))),
                      rasterYSize=str(int(round((top - bottom) / cs))))
    ET.SubElement(root, "SRS").text = metas[0]["crs"]
    ET.SubElement(root, "GeoTransform").text = f"{left!r}, {cs!r}, 0.0, {top!r}, 0.0, {-cs!r}"
    first = metas[0]
    for b in range(first["count"]):
        band = ET.SubElement(root, "VRTRasterBand", dataType="Float32", band=str(b + 1))
        if first["desc"][b]:
            ET.SubElement(band, "Description").text = first["desc"][b]
        ET.SubElement(band, "NoDataValue").text = "nan"
        if first["units"][b]:
            ET.SubElement(band, "UnitType").text = first["units"][b]
        for m in metas:
            _simple_source(band, m, b, left, top, cs, os.path.relpath(m["file"], path.parent))
    ET.indent(root)
    return atomic_write(path, lambda tmp: ET.ElementTree(root).write(tmp, encoding="unicode"), ".vrt")


def _simple_source(band, meta, b, left, top, cs, rel):
    """Append the ``SimpleSource`` of band ``b`` of one file to a ``VRTRasterBand`` element."""
    w, h, t = meta["w"], meta["h"], meta["t"]
    src = ET.SubElement(band, "SimpleSource")
    ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = rel
    ET.SubElement(src, "SourceBand").text = str(b + 1)
    ET.SubElement(src, "SourceProperties", RasterXSize=str(w), RasterYSize=str(h), DataType="Float32",
                  BlockXSize="256", BlockYSize="256")
    ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(w), ySize=str(h))
    ET.SubElement(src, "DstRect", xOff=str(int(round((t.c - left) / cs))), yOff=str(int(round((top - t.f) / cs))),
                  xSize=str(w), ySize=str(h))
