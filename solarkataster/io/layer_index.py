"""Columnar index of a results folder's GeoJSON layers, so the service starts at once at any size.

Parsing a city's GeoJSON (a million walls) takes minutes; the service must start in under 2 s. The index
is written once beside the layers (``DIR/layer_index/``, by the run's writer and ``solarkataster tiles``)
and opened with memory maps: per layer, NumPy arrays of

* ``offsets``, ``lengths``: where each feature's JSON text is [bytes] (in the GeoJSON itself when it has one
  feature per line, as :func:`solarkataster.io.export.write_geojson` writes it; otherwise in a re-serialised
  ``NAME.features`` file beside the index);
* ``boxes``: each feature's lon/lat bounding box [°] (a bbox query scans it, then tests the exact geometry
  of the candidates only);
* ``ids_sorted``/``id_order`` and ``building_sorted``/``building_order``: the feature ids and building ids in
  sorted order with their feature numbers, for look-ups by binary search;

and ``NAME.json`` with the layer's metadata, bbox, count and the size and modification time of the GeoJSON
it was built from (a changed file makes the index stale: it is rebuilt).
"""
from __future__ import annotations

import json
import logging
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import shapely

from ..errors import ResultsError

log = logging.getLogger(__name__)

#: Folder of the index inside a results folder.
INDEX_DIR = "layer_index"
INDEX_VERSION = 1
_ARRAYS = ("offsets", "lengths", "boxes", "ids_sorted", "id_order", "id_rank", "building_sorted", "building_order")
_CHUNK = 50_000
_FEATURE_HEAD = b'{"type": "Feature", '


@dataclass
class LayerIndex:
    """The index of one layer (arrays memory-mapped or in memory)."""

    name: str
    metadata: dict
    bbox: tuple | None
    count: int
    text_path: object  # Path of the file holding the features' JSON text, or the bytes themselves
    compose_id: bool  # the stored text has no top-level "id": it is added when served
    offsets: np.ndarray
    lengths: np.ndarray
    boxes: np.ndarray
    ids_sorted: np.ndarray
    id_order: np.ndarray
    id_rank: np.ndarray  # feature number -> position in ids_sorted
    building_sorted: np.ndarray
    building_order: np.ndarray


def _source_stamp(path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _feature_lines(data: bytes):
    """(offsets, lengths) of the feature lines of a one-feature-per-line GeoJSON, or None for other layouts."""
    first = data.find(b"\n")
    if first < 0 or not data[:first].rstrip().endswith(b'"features": ['):
        return None
    lines = data[first + 1:].split(b"\n")
    starts = np.concatenate([[0], np.cumsum([len(line) + 1 for line in lines])[:-1]]) + first + 1
    offsets, lengths = [], []
    for start, line in zip(starts.tolist(), lines):
        body = line.rstrip(b", \r\t")
        if body.startswith(b"{"):
            offsets.append(start)
            lengths.append(len(body))
        elif body.strip() not in (b"]}", b"]", b""):
            return None
    return np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64)


def _bad(path, name, what):
    return ResultsError(f"{path}: {what} in the {name} layer; re-run 'solarkataster run' to write the results "
                        f"folder again")


def _check_feature(feature, i, path, name, id_field):
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(geometry, dict) or not isinstance(props, dict):
        raise _bad(path, name, f"feature #{i} has no geometry or no properties")
    if props.get(id_field) is None:
        raise _bad(path, name, f"feature #{i} has no '{id_field}' property")
    return geometry, props


def _boxes(geometry_texts, path, name):
    try:
        geoms = shapely.from_geojson(np.array(geometry_texts, dtype=object))
    except shapely.errors.GEOSException as exc:
        raise _bad(path, name, f"invalid geometry ({exc})") from None
    return shapely.bounds(geoms)


class _Restart(Exception):
    """The one-feature-per-line reading does not fit this file: parse it whole."""


def _parse(path, name, by_line=True):
    """Read a layer: (features as dicts, an iterator when by line; spans or None; header dict)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read the {name} layer ({exc})") from None
    spans = _feature_lines(data) if by_line else None
    if spans is not None:
        try:
            header = orjson.loads(data[:data.find(b"\n")].rstrip() + b"]}")
        except orjson.JSONDecodeError:
            raise _Restart() from None
        return (orjson.loads(data[o:o + n]) for o, n in zip(spans[0].tolist(), spans[1].tolist())), spans, header
    try:
        collection = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:  # NaN/Infinity are not JSON; Python writers emit them, so read them as null
            collection = json.loads(data, parse_constant=lambda _: None)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ResultsError(f"{path}: cannot read the {name} layer ({exc}); re-run 'solarkataster run' "
                               f"to write the results folder again") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(collection.get("features"), list):
        raise ResultsError(f"{path}: not a GeoJSON FeatureCollection; re-run 'solarkataster run'")
    return collection["features"], None, collection


def _scan(features, by_line, path, name, id_field):
    """Ids, building ids, geometry texts and (unless by line) re-serialised feature texts."""
    ids, buildings, geometry_texts, texts = [], [], [], []
    try:
        for i, feature in enumerate(features):
            geometry, props = _check_feature(feature, i, path, name, id_field)
            if by_line and "id" in feature:
                raise _Restart()  # a feature's own "id" would be repeated: serve re-serialised text
            fid = str(props[id_field])
            ids.append(fid.encode())
            buildings.append(str(props.get("building_id")).encode())
            geometry_texts.append(orjson.dumps(geometry))
            if not by_line:
                texts.append(orjson.dumps({"type": "Feature", "id": fid, "properties": props,
                                           "geometry": geometry}))
    except orjson.JSONDecodeError:
        raise _Restart() from None  # not strict JSON (NaN)
    return ids, buildings, geometry_texts, texts


def build_layer_index(path, name, id_field, index_dir=None) -> LayerIndex:
    """Parse one GeoJSON layer into a :class:`LayerIndex`; write it into ``index_dir`` when given.

    Parameters
    ----------
    path : str or Path
        The layer's GeoJSON file (RFC 7946 FeatureCollection, WGS84).
    name : str
        Layer name (``roofs``, ``walls``, ``buildings``).
    id_field : str
        The property holding each feature's unique id.
    index_dir : str or Path, optional
        Where to write the index (created); None keeps it in memory only.

    Raises
    ------
    ResultsError
        The file cannot be read, is not a FeatureCollection, has features without geometry or id, an invalid
        geometry or a repeated id.
    """
    path = Path(path)
    stamp = _source_stamp(path)
    try:
        features, spans, header = _parse(path, name)
        ids, buildings, geometry_texts, texts = _scan(features, spans is not None, path, name, id_field)
    except _Restart:
        features, spans, header = _parse(path, name, by_line=False)
        ids, buildings, geometry_texts, texts = _scan(features, False, path, name, id_field)
    del features
    boxes = np.concatenate([_boxes(geometry_texts[k:k + _CHUNK], path, name)
                            for k in range(0, len(geometry_texts), _CHUNK)]) if geometry_texts \
        else np.empty((0, 4))
    ids_arr = np.array(ids, dtype=bytes) if ids else np.empty(0, dtype="S1")
    id_order = np.argsort(ids_arr, kind="stable")
    ids_sorted = ids_arr[id_order]
    dup = ids_sorted[1:][ids_sorted[1:] == ids_sorted[:-1]]
    if dup.size:
        raise ResultsError(f"{path}: '{id_field}' {dup[0].decode()!r} occurs twice; ids must be unique")
    bld = np.array(buildings, dtype=bytes) if buildings else np.empty(0, dtype="S1")
    building_order = np.argsort(bld, kind="stable")
    compose_id = not texts
    if texts:  # re-serialised text (not one feature per line, or features with their own "id")
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        blob = b"\n".join(texts) + b"\n"
        text_ref = _write_blob(Path(index_dir), f"{name}.features", blob) if index_dir is not None else blob
    else:
        text_ref, (offsets, lengths) = path, spans
    bbox = header.get("bbox")
    bbox = tuple(float(v) for v in bbox[:4]) if isinstance(bbox, list) and len(bbox) >= 4 else \
        (tuple(float(v) for v in (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()))
         if len(boxes) else None)
    metadata = header.get("metadata") if isinstance(header.get("metadata"), dict) else {}
    index = LayerIndex(name, metadata, bbox, len(ids), text_ref, compose_id, offsets, lengths,
                       np.ascontiguousarray(boxes, dtype=np.float64), ids_sorted, id_order.astype(np.int64),
                       np.argsort(id_order).astype(np.int64), bld[building_order], building_order.astype(np.int64))
    if index_dir is not None:
        _save(index, Path(index_dir), stamp, path)
    log.info("indexed %d %s from %s", index.count, name, path)
    return index


def _write_blob(folder: Path, name: str, blob: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(blob)
    os.replace(tmp, folder / name)
    return folder / name


def _save(index: LayerIndex, folder: Path, stamp: dict, source: Path):
    folder.mkdir(parents=True, exist_ok=True)
    for key in _ARRAYS:
        tmp = folder / f".{index.name}.{key}.npy"
        with open(tmp, "wb") as f:
            np.save(f, getattr(index, key), allow_pickle=False)
        os.replace(tmp, folder / f"{index.name}.{key}.npy")
    text = index.text_path.name if index.text_path.parent == folder else None
    info = {"version": INDEX_VERSION, "source": {"file": source.name, **stamp}, "count": index.count,
            "bbox": index.bbox, "metadata": index.metadata, "text": text, "compose_id": index.compose_id}
    tmp = folder / f".{index.name}.json"
    tmp.write_bytes(orjson.dumps(info))
    os.replace(tmp, folder / f"{index.name}.json")  # last: the index is complete once this is there


def open_layer_index(path, name, index_dir) -> LayerIndex | None:
    """Open the index of a layer with memory maps, or None when it is missing, stale or of another version."""
    folder, path = Path(index_dir), Path(path)
    try:
        info = orjson.loads((folder / f"{name}.json").read_bytes())
        if info.get("version") != INDEX_VERSION or info["source"]["file"] != path.name:
            return None
        if {k: info["source"][k] for k in ("size", "mtime_ns")} != _source_stamp(path):
            return None
        arrays = {key: np.load(folder / f"{name}.{key}.npy", mmap_mode="r", allow_pickle=False) for key in _ARRAYS}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    text_path = folder / info["text"] if info.get("text") else path
    bbox = tuple(info["bbox"]) if info.get("bbox") else None
    return LayerIndex(name, info.get("metadata") or {}, bbox, int(info["count"]), text_path,
                      bool(info.get("compose_id")), **arrays)


def write_layer_index(results_dir, id_fields) -> list:
    """Write (or refresh) the index of every layer of a results folder; returns the layers indexed.

    Parameters
    ----------
    results_dir : str or Path
        Results folder.
    id_fields : dict
        ``{layer: id property}`` of the layers to index (those present are indexed).
    """
    folder = Path(results_dir)
    done = []
    for name, id_field in id_fields.items():
        path = folder / f"{name}.geojson"
        if not path.is_file():
            continue
        if open_layer_index(path, name, folder / INDEX_DIR) is None:
            build_layer_index(path, name, id_field, folder / INDEX_DIR)
        done.append(name)
    return done


class FeatureText:
    """Read features' JSON text from the file an index points into (memory-mapped)."""

    def __init__(self, index: LayerIndex):
        self.index = index
        if isinstance(index.text_path, (bytes, bytearray)):
            self._buf = index.text_path
        else:
            with open(index.text_path, "rb") as f:
                self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size \
                    else b""

    def __getitem__(self, i) -> str:
        o, n = int(self.index.offsets[i]), int(self.index.lengths[i])
        raw = bytes(self._buf[o:o + n])
        if not self.index.compose_id:
            return raw.decode()
        fid = self.index.ids_sorted[int(self.index.id_rank[i])].decode()
        head = '{"type":"Feature","id":' + orjson.dumps(fid).decode() + ","
        return head + (raw[len(_FEATURE_HEAD):] if raw.startswith(_FEATURE_HEAD) else raw[1:]).decode()

    def __len__(self):
        return self.index.count
