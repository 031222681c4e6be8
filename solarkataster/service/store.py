"""Read-only access to a results folder, through a columnar index per layer.

The service never takes file paths from requests: the folder is fixed when the store is created, and
the only files ever opened are the fixed names below, inside that folder.

Each layer (roofs, walls, buildings) is opened on first use from its index (:mod:`solarkataster.io.layer_index`:
memory-mapped arrays of feature boxes, ids and the byte spans of each feature's JSON text), so the service
starts in well under 2 s for a city. A folder without an index (or with a stale one) is indexed on first use
(the index is written into ``DIR/layer_index/`` when the folder is writable). A bbox query scans the boxes,
tests the exact geometry of the features the box only partly covers, and joins the features' stored text:
responses never re-serialise geometry.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import shapely

from .. import layers
from ..errors import NotFoundError, ResultsError
from ..io.layer_index import INDEX_DIR, FeatureText, LayerIndex, build_layer_index, open_layer_index

log = logging.getLogger(__name__)

#: The contract layers the service serves (:mod:`solarkataster.layers`), by their fixed file names.
LAYER_FILES = {name: f"{name}.geojson" for name in ("roofs", "walls", "buildings")}
REQUIRED_LAYERS = ("roofs", "buildings")  # a run may skip walls; roofs and buildings always exist
RUN_FILE = "run.json"
ID_FIELDS = {name: layers.id_field(name) for name in LAYER_FILES}
#: Building columns /api/search does not look into (numbers of the results, not attributes of the building).
SEARCH_SKIP = frozenset(c for c in layers.columns("buildings") if c not in ("building_id", "source", "status"))


class Layer:
    """One opened layer: its index (boxes, ids) and the features' stored JSON text."""

    def __init__(self, index: LayerIndex):
        self.index = index
        self.name = index.name
        self.metadata = index.metadata
        self.bbox = index.bbox
        self.features_json = FeatureText(index)

    def __len__(self):
        return self.index.count

    def find(self, feature_id: str):
        """Return the feature number of an id, or None."""
        key = str(feature_id).encode()
        ids = self.index.ids_sorted
        k = int(np.searchsorted(ids, key))
        return int(self.index.id_order[k]) if k < len(ids) and ids[k] == key else None

    def of_building(self, building_id: str) -> list[int]:
        """Feature numbers of one building, in file order."""
        key = str(building_id).encode()
        lo = int(np.searchsorted(self.index.building_sorted, key, side="left"))
        hi = int(np.searchsorted(self.index.building_sorted, key, side="right"))
        return sorted(int(i) for i in self.index.building_order[lo:hi])

    def geometries(self, indices) -> np.ndarray:
        """Shapely geometries of the given features (parsed from their stored text)."""
        texts = np.array([self.features_json[int(i)] for i in indices], dtype=object)
        return shapely.from_geojson(texts) if len(texts) else np.empty(0, dtype=object)

    def intersecting(self, box) -> np.ndarray:
        """Feature numbers whose geometry intersects a lon/lat box, in file order."""
        b = self.index.boxes
        x0, y0, x1, y1 = box
        near = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
        inside = near & (b[:, 0] >= x0) & (b[:, 2] <= x1) & (b[:, 1] >= y0) & (b[:, 3] <= y1)
        partly = np.flatnonzero(near & ~inside)
        if partly.size:  # only features the box partly covers need their exact geometry
            hit = shapely.intersects(self.geometries(partly), shapely.box(*box))
            inside[partly[hit]] = True
        return np.flatnonzero(inside)


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


def load_layer(path: Path, name: str, index_dir: Path | None = None) -> Layer:
    """Open one results GeoJSON layer through its index (built, and written when possible, if missing or stale).

    Parameters
    ----------
    path : Path
        The layer's GeoJSON file (RFC 7946 FeatureCollection, WGS84).
    name : str
        Layer name (``roofs``, ``walls``, ``buildings``); chooses the id property.
    index_dir : Path, optional
        The index folder (default ``path.parent / layer_index``).

    Raises
    ------
    ResultsError
        The file cannot be read, is not a FeatureCollection or has features without geometry or id.
    """
    index_dir = Path(index_dir) if index_dir is not None else Path(path).parent / INDEX_DIR
    index = open_layer_index(path, name, index_dir)
    if index is None:
        try:
            index = build_layer_index(path, name, ID_FIELDS[name], index_dir)
        except OSError as exc:  # a read-only folder: keep the index in memory
            log.info("cannot write the index of %s (%s); keeping it in memory", path, exc)
            index = build_layer_index(path, name, ID_FIELDS[name], None)
    return Layer(index)


def _empty_layer(name) -> Layer:
    empty = np.empty(0, dtype=np.int64)
    return Layer(LayerIndex(name, {}, None, 0, b"", False, empty, empty, np.empty((0, 4)),
                            np.empty(0, dtype="S1"), empty, empty, np.empty(0, dtype="S1"), empty))


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
                        layer = _empty_layer(name)
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
        hits = layer.intersecting(bbox)
        return FeatureSelection([layer.features_json[int(i)] for i in hits[:limit]], int(hits.size))

    def feature(self, name: str, feature_id: str) -> dict:
        """One feature as a dict (parsed from its stored JSON)."""
        layer = self.layer(name)
        i = layer.find(feature_id)
        if i is None:
            raise NotFoundError(f"no {name[:-1]} with {ID_FIELDS[name]}={feature_id!r} in {self.results_dir}")
        return orjson.loads(layer.features_json[i])

    def building_features(self, name: str, building_id: str) -> list[str]:
        """Pre-serialised features of one building in a layer (in file order)."""
        layer = self.layer(name)
        return [layer.features_json[i] for i in layer.of_building(building_id)]

    def features_at_point(self, name: str, lon: float, lat: float, tolerance_m: float = 0.0) -> list[int]:
        """Find the indices of the features within ``tolerance_m`` [m] of a point, nearest first.

        Distances use a local equirectangular scale (exact enough for metres around one point).
        """
        layer = self.layer(name)
        if not len(layer):
            return []
        if tolerance_m <= 0:
            b = layer.index.boxes
            near = np.flatnonzero((b[:, 0] <= lon) & (b[:, 2] >= lon) & (b[:, 1] <= lat) & (b[:, 3] >= lat))
            geoms = layer.geometries(near)
            inside = shapely.intersects(geoms, shapely.Point(lon, lat)) if near.size else np.zeros(0, bool)
            hits, areas = near[inside], shapely.area(geoms[inside]) if near.size else []
            # overlapping faces: the smallest one is the one the user most likely aimed at
            return [int(hits[k]) for k in np.argsort(areas, kind="stable")]
        dlat = tolerance_m / 111_320.0
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        b = layer.index.boxes
        hits = np.flatnonzero((b[:, 0] <= lon + dlon) & (b[:, 2] >= lon - dlon) & (b[:, 1] <= lat + dlat)
                              & (b[:, 3] >= lat - dlat))
        if not hits.size:
            return []
        # scale lon by cos(lat) so that distances are isotropic, then compare in metres
        scale = math.cos(math.radians(lat))
        geoms = shapely.transform(layer.geometries(hits), lambda xy: xy * [scale, 1.0])
        dist_m = shapely.distance(geoms, shapely.Point(lon * scale, lat)) * 111_320.0
        order = np.argsort(dist_m, kind="stable")
        return [int(hits[k]) for k in order if dist_m[k] <= tolerance_m]

    def prepare_search(self):
        """Build the search index now (the warm-up thread does, so the first search answers at once)."""
        self._search_index()

    def _search_index(self) -> list:
        """Per building: (index, id, [(field, lower-case text)]) over its string and number attributes."""
        if self._search is None:
            layer = self.layer("buildings")
            index = []
            for i in range(len(layer)):
                text = layer.features_json[i]
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
            box = [float(v) for v in layer.index.boxes[i]]
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
