"""Read-only access to a results folder, with a spatial index per layer.

The service never takes file paths from requests: the folder is fixed when the store is created, and
the only files ever opened are the fixed names below, inside that folder.

Each layer (roofs, walls, buildings) is loaded once, on first use: the GeoJSON is parsed, every feature
is serialised back to one compact JSON string, and the geometries go into a shapely ``STRtree``. A bbox
query is then an index lookup plus a string join, so responses never re-serialise geometry.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import shapely

from .. import layers
from ..errors import NotFoundError, ResultsError

log = logging.getLogger(__name__)

#: The contract layers the service serves (:mod:`solarkataster.layers`), by their fixed file names.
LAYER_FILES = {name: f"{name}.geojson" for name in ("roofs", "walls", "buildings")}
REQUIRED_LAYERS = ("roofs", "buildings")  # a run may skip walls; roofs and buildings always exist
RUN_FILE = "run.json"
ID_FIELDS = {name: layers.id_field(name) for name in LAYER_FILES}
#: Building columns /api/search does not look into (numbers of the results, not attributes of the building).
SEARCH_SKIP = frozenset(c for c in layers.columns("buildings") if c not in ("building_id", "source", "status"))


@dataclass
class Layer:
    """One loaded layer: pre-serialised features, geometries, an STRtree and id lookups."""

    name: str
    metadata: dict
    bbox: tuple | None
    features_json: list[str]
    geometries: np.ndarray
    tree: shapely.STRtree
    index_by_id: dict[str, int] = field(default_factory=dict)
    indices_by_building: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self):
        return len(self.features_json)


@dataclass
class FeatureSelection:
    """Features selected by a query, as pre-serialised JSON strings (in file order)."""

    features_json: list[str]
    number_matched: int

    @property
    def number_returned(self):
        """How many features the selection holds."""
        return len(self.features_json)

    @property
    def truncated(self):
        """Whether more features matched than the selection holds."""
        return self.number_returned < self.number_matched

    def to_geojson(self, **members) -> str:
        """FeatureCollection text; ``members`` become extra top-level members (already JSON-able)."""
        head = {"type": "FeatureCollection", "numberMatched": self.number_matched,
                "numberReturned": self.number_returned, "truncated": self.truncated, **members}
        return orjson.dumps(head).decode()[:-1] + ',"features":[' + ",".join(self.features_json) + "]}"


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()


def _read_collection(fh):
    """Parse a GeoJSON file with orjson; files with NaN/Infinity (not JSON, RFC 8259) fall back to json."""
    data = fh.read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # NaN/Infinity are not JSON; Python writers emit them, so read them as null
        return json.loads(data, parse_constant=lambda _: None)


def load_layer(path: Path, name: str) -> Layer:
    """Parse one results GeoJSON file into a :class:`Layer`.

    Parameters
    ----------
    path : Path
        The layer's GeoJSON file (RFC 7946 FeatureCollection, WGS84).
    name : str
        Layer name (``roofs``, ``walls``, ``buildings``); chooses the id property.

    Raises
    ------
    ResultsError
        The file cannot be read, is not a FeatureCollection or has features without geometry or id.
    """
    try:
        with open(path, "rb") as fh:
            collection = _read_collection(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read the {name} layer ({exc}); re-run 'solarkataster run' "
                           f"to write the results folder again") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(collection.get("features"), list):
        raise ResultsError(f"{path}: not a GeoJSON FeatureCollection; re-run 'solarkataster run'")

    id_field = ID_FIELDS[name]
    features_json, geometry_json = [], []
    index_by_id, indices_by_building = {}, {}
    for i, feature in enumerate(collection["features"]):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or not isinstance(props, dict):
            raise ResultsError(f"{path}: feature #{i} has no geometry or no properties; "
                               f"re-run 'solarkataster run'")
        feature_id = props.get(id_field)
        if feature_id is None:
            raise ResultsError(f"{path}: feature #{i} has no '{id_field}' property; re-run 'solarkataster run'")
        feature_id = str(feature_id)
        if feature_id in index_by_id:
            raise ResultsError(f"{path}: '{id_field}' {feature_id!r} occurs twice; ids must be unique")
        index_by_id[feature_id] = i
        indices_by_building.setdefault(str(props.get("building_id")), []).append(i)
        g = _dumps(geometry)
        geometry_json.append(g)
        features_json.append('{"type":"Feature","id":' + _dumps(feature_id) + ',"properties":' + _dumps(props)
                             + ',"geometry":' + g + "}")
    try:
        geometries = shapely.from_geojson(np.array(geometry_json, dtype=object)) if geometry_json \
            else np.empty(0, dtype=object)
    except shapely.errors.GEOSException as exc:
        raise ResultsError(f"{path}: invalid geometry in the {name} layer ({exc}); re-run 'solarkataster run'") \
            from None
    bbox = collection.get("bbox")
    bbox = tuple(float(v) for v in bbox[:4]) if isinstance(bbox, list) and len(bbox) >= 4 else None
    metadata = collection.get("metadata") if isinstance(collection.get("metadata"), dict) else {}
    log.info("loaded %d %s from %s", len(features_json), name, path)
    return Layer(name=name, metadata=metadata, bbox=bbox, features_json=features_json,
                 geometries=geometries, tree=shapely.STRtree(geometries), index_by_id=index_by_id,
                 indices_by_building=indices_by_building)


class ResultsStore:
    """Read-only view of a results folder written by ``solarkataster run`` or ``batch``.

    Parameters
    ----------
    results_dir : str or Path
        The results folder. It must contain ``roofs.geojson`` and ``buildings.geojson``;
        ``walls.geojson`` and ``run.json`` are optional.

    Raises
    ------
    ResultsError
        The folder does not exist or a required layer file is missing.
    """

    def __init__(self, results_dir):
        self.results_dir = Path(results_dir).resolve()
        if not self.results_dir.is_dir():
            raise ResultsError(f"results folder {self.results_dir} does not exist or is not a folder; "
                               f"pass the output folder of 'solarkataster run' or 'solarkataster batch'")
        missing = [LAYER_FILES[n] for n in REQUIRED_LAYERS if not (self.results_dir / LAYER_FILES[n]).is_file()]
        if missing:
            raise ResultsError(f"results folder {self.results_dir} lacks {', '.join(missing)}; "
                               f"is it the output folder of 'solarkataster run'?")
        self._layers: dict[str, Layer] = {}
        self._lock = threading.Lock()
        self._run = None
        self._search = None

    # -- loading -------------------------------------------------------------------------------------

    def layer(self, name: str) -> Layer:
        """Return the named layer, loaded on first use (thread-safe)."""
        if name not in LAYER_FILES:
            raise KeyError(name)
        layer = self._layers.get(name)
        if layer is None:
            with self._lock:
                layer = self._layers.get(name)
                if layer is None:
                    path = self.results_dir / LAYER_FILES[name]
                    if path.is_file():
                        layer = load_layer(path, name)
                    else:  # an optional layer the run did not write
                        layer = Layer(name, {}, None, [], np.empty(0, dtype=object),
                                      shapely.STRtree(np.empty(0, dtype=object)))
                    self._layers[name] = layer
        return layer

    def loaded_layers(self) -> list[str]:
        """Names of the layers loaded so far."""
        return list(self._layers)

    def check(self):
        """Raise :class:`ResultsError` when the folder or a required layer has gone away since startup."""
        for name in REQUIRED_LAYERS:
            if not (self.results_dir / LAYER_FILES[name]).is_file():
                raise ResultsError(f"{self.results_dir / LAYER_FILES[name]} is no longer there; "
                                   f"restart 'solarkataster serve' on a complete results folder")

    def load_all(self):
        """Load every layer and run.json now, so a corrupt folder fails at startup, not on a request."""
        for name in LAYER_FILES:
            self.layer(name)
        self.run_info()
        return self

    def run_info(self) -> dict:
        """Contents of run.json ({} when absent)."""
        if self._run is None:
            path = self.results_dir / RUN_FILE
            if not path.is_file():
                self._run = {}
            else:
                try:
                    self._run = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ResultsError(f"{path}: cannot read the provenance file ({exc}); "
                                       f"re-run 'solarkataster run'") from None
                if not isinstance(self._run, dict):
                    raise ResultsError(f"{path}: expected a JSON object; re-run 'solarkataster run'")
        return self._run

    # -- queries -------------------------------------------------------------------------------------

    def features_in_bbox(self, name: str, bbox, limit: int) -> FeatureSelection:
        """Features of a layer whose geometry intersects a lon/lat box.

        Parameters
        ----------
        name : str
            Layer name.
        bbox : tuple of float
            (min_lon, min_lat, max_lon, max_lat) [°], WGS84, already validated.
        limit : int
            Most features returned; ``number_matched`` still counts all.
        """
        layer = self.layer(name)
        if not len(layer):
            return FeatureSelection([], 0)
        hits = layer.tree.query(shapely.box(*bbox), predicate="intersects")
        hits.sort()
        return FeatureSelection([layer.features_json[i] for i in hits[:limit]], int(hits.size))

    def feature(self, name: str, feature_id: str) -> dict:
        """One feature as a dict (parsed from its stored JSON)."""
        layer = self.layer(name)
        i = layer.index_by_id.get(feature_id)
        if i is None:
            raise NotFoundError(f"no {name[:-1]} with {ID_FIELDS[name]}={feature_id!r} in {self.results_dir}")
        return json.loads(layer.features_json[i])

    def building_features(self, name: str, building_id: str) -> list[str]:
        """Pre-serialised features of one building in a layer (in file order)."""
        layer = self.layer(name)
        return [layer.features_json[i] for i in layer.indices_by_building.get(building_id, [])]

    def features_at_point(self, name: str, lon: float, lat: float, tolerance_m: float = 0.0) -> list[int]:
        """Find the indices of the features within ``tolerance_m`` [m] of a point, nearest first.

        Distances use a local equirectangular scale (exact enough for metres around one point).
        """
        layer = self.layer(name)
        if not len(layer):
            return []
        point = shapely.Point(lon, lat)
        if tolerance_m <= 0:
            hits = layer.tree.query(point, predicate="intersects")
            # overlapping faces: the smallest one is the one the user most likely aimed at
            return sorted(hits.tolist(), key=lambda i: shapely.area(layer.geometries[i]))
        dlat = tolerance_m / 111_320.0
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        hits = layer.tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        if not hits.size:
            return []
        # scale lon by cos(lat) so that distances are isotropic, then compare in metres
        scale = math.cos(math.radians(lat))
        geoms = shapely.transform(layer.geometries[hits], lambda xy: xy * [scale, 1.0])
        dist_m = shapely.distance(geoms, shapely.Point(lon * scale, lat)) * 111_320.0
        order = np.argsort(dist_m, kind="stable")
        return [int(hits[k]) for k in order if dist_m[k] <= tolerance_m]

    def _search_index(self) -> list:
        """Per building: (index, id, [(field, lower-case text)]) over its string and number attributes."""
        if self._search is None:
            layer = self.layer("buildings")
            index = []
            for i, text in enumerate(layer.features_json):
                props = orjson.loads(text)["properties"]
                fields = [(k, str(v).lower()) for k, v in props.items()
                          if isinstance(v, (str, int, float)) and not isinstance(v, bool) and k not in SEARCH_SKIP]
                index.append((i, str(props.get("building_id")), fields))
            self._search = index
        return self._search

    def search(self, query: str, limit: int) -> list[dict]:
        """Find buildings by id, address or another attribute (case-insensitive).

        Ranking: exact id, then id prefix, then an exact attribute value, then an attribute containing every
        word of ``query``; file order within a rank.

        Parameters
        ----------
        query : str
            Text to look for.
        limit : int
            Most hits returned.

        Returns
        -------
        list of dict
            ``building_id``, the matching ``field`` and ``value``, ``bbox`` and ``center`` [°] (WGS84).
        """
        q = " ".join(query.lower().split())
        words = q.split()
        if not words:
            return []
        ranked = []
        for i, building_id, fields in self._search_index():
            bid = building_id.lower()
            rank, hit = (0, "building_id") if bid == q else (1, "building_id") if bid.startswith(q) else (9, None)
            for name, text in fields if rank > 1 else ():
                if text == q:
                    rank, hit = 2, name
                    break
                if rank > 3 and all(w in text for w in words):
                    rank, hit = 3, name
            if hit is not None:
                ranked.append((rank, i, hit))
        ranked.sort()
        layer = self.layer("buildings")
        hits = []
        for _, i, name in ranked[:limit]:
            props = orjson.loads(layer.features_json[i])["properties"]
            box = [float(v) for v in shapely.bounds(layer.geometries[i])]
            hits.append({"building_id": str(props.get("building_id")), "field": name, "value": props.get(name),
                         "bbox": box, "center": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]})
        return hits

    # -- metadata ------------------------------------------------------------------------------------

    def extent(self):
        """(min_lon, min_lat, max_lon, max_lat) of all roof faces and buildings [°], or None when empty."""
        boxes = []
        for name in ("buildings", "roofs"):
            layer = self.layer(name)
            if layer.bbox is not None:
                boxes.append(layer.bbox)
            elif len(layer):
                boxes.append(tuple(float(v) for v in shapely.total_bounds(layer.geometries)))
        if not boxes:
            return None
        b = np.array(boxes)
        return [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]

    def suitability_thresholds(self) -> dict:
        """Suitability classes as the results state them (site-relative), or the contract's default shares.

        Without thresholds in the results the classes are still relative to the site's best orientation
        (:data:`solarkataster.layers.DEFAULT_SUITABILITY_THRESHOLDS`), but no absolute bounds are known.
        """
        run = self.run_info()
        sources = [self.layer("roofs").metadata, run, run.get("parameters") or {}, run.get("pv") or {}]
        for source in sources:
            for key in ("suitability", "suitability_thresholds", "thresholds"):
                value = source.get(key) if isinstance(source, dict) else None
                if isinstance(value, dict) and value:
                    return {**value, "source": "results"}
        default = layers.suitability_legend(None)
        return {"property": "irradiation", "unit": layers.IRRADIATION_UNIT, "reference_irradiation": None,
                "thresholds": list(layers.DEFAULT_SUITABILITY_THRESHOLDS),
                "min": {entry["class"]: None for entry in default[:3]},
                "source": "default shares of the site's best orientation (the results do not state theirs)"}

    def legend(self) -> list:
        """Build the suitability legend: the contract's classes, labels and colours with this site's bounds."""
        thresholds = self.suitability_thresholds()
        shares = thresholds.get("thresholds")
        if not (isinstance(shares, list) and len(shares) == 3):
            shares = layers.DEFAULT_SUITABILITY_THRESHOLDS
        legend = layers.suitability_legend(thresholds.get("reference_irradiation"), shares)
        stated = thresholds.get("min") if isinstance(thresholds.get("min"), dict) else {}
        for entry in legend:  # the bounds the results state win over recomputed ones
            if stated.get(entry["class"]) is not None:
                entry["min"] = stated[entry["class"]]
        return legend

    def meta(self) -> dict:
        """Provenance, units, the layer contract, legend, class thresholds, extent and layer sizes."""
        run = self.run_info()
        roofs_meta = self.layer("roofs").metadata
        units = {name: self.layer(name).metadata.get("units") or layers.units(name) for name in LAYER_FILES}
        first = lambda key: next((m.get(key) for m in (roofs_meta, run) if m.get(key) is not None), None)  # noqa: E731
        return {
            "version": first("version"),
            "created": first("created"),
            "weather": first("weather") or first("weather_source"),
            "weather_label": first("weather_label"),
            "provenance": roofs_meta.get("provenance") or run.get("provenance") or run,
            "units": units,
            "contract": layers.contract(),
            "suitability": self.suitability_thresholds(),
            "legend": self.legend(),
            "extent": self.extent(),
            "counts": {name: len(self.layer(name)) for name in LAYER_FILES},
        }
