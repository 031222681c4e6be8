"""LoD2 building models: read CityGML 1.0/2.0 and CityJSON 1.x/2.0 (``.city.json``, ``.city.jsonl``).

The reader keeps what a solar cadastre needs and nothing else: the building's thematic surfaces
(``RoofSurface``, ``WallSurface``, ``GroundSurface``) as 3-D planar polygons with their ids, the building's
attributes, and the CRS. Surfaces of a ``BuildingPart`` belong to the top-level building, whose id is the
``gml:id`` (CityGML) or the CityObject key (CityJSON); the part keeps its own id in ``part_id``.

CRS: the file's own declaration (``srsName`` on any GML element, CityJSON ``metadata.referenceSystem``) in
any of its usual spellings (``EPSG:25832``, ``urn:ogc:def:crs:EPSG::25832``, OGC URLs, compound CRSs like
``EPSG:2056+5728`` or ``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837``, the German AdV names such as
``urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH``); the horizontal part is used, heights stay as they are. When
the file declares nothing, ``crs`` (``--roofs-crs``) is used; when neither is there, an error says so.

CityGML is parsed with the standard library's ElementTree in streaming mode (one building in memory at
a time); namespaces are matched by local name, so CityGML 1.0 and 2.0 (and GML 3.1/3.2) read alike.

References
----------
.. [1] Gröger, G., Kolbe, T. H., Nagel, C., & Häfele, K.-H. (2012). OGC City Geography Markup Language
   (CityGML) Encoding Standard 2.0. OGC 12-019. https://doi.org/10.62973/12-019
.. [2] Ledoux, H., Arroyo Ohori, K., Kumar, K., Dukai, B., Labetski, A., & Vitalis, S. (2019). CityJSON: a
   compact and easy-to-use encoding of the CityGML data model. Open Geospatial Data, Software and
   Standards, 4(4). https://doi.org/10.1186/s40965-019-0064-0
"""
from __future__ import annotations

import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CRSError, LoD2Error

log = logging.getLogger(__name__)

__all__ = ["LoD2Error", "LoD2Model", "is_lod2_file", "parse_crs_name", "read_lod2", "read_lod2_footprints"]

#: Surface kinds kept, by CityGML/CityJSON semantic type.
SURFACE_KINDS = {"RoofSurface": "roof", "WallSurface": "wall", "GroundSurface": "ground"}
#: Columns of :attr:`LoD2Model.surfaces`.
SURFACE_COLUMNS = ["building_id", "part_id", "kind", "surface_id", "polygon_id", "exterior", "interiors"]
#: Normalised building attributes (CityGML element / CityJSON attribute names mapped to these).
BUILDING_COLUMNS = ["building_id", "name", "function", "usage", "roof_type", "measured_height",
                    "storeys_above_ground", "year_of_construction", "address", "attributes"]
_ATTRIBUTE_NAMES = {"name": "name", "function": "function", "usage": "usage", "class": "class",
                    "roofType": "roof_type", "measuredHeight": "measured_height",
                    "storeysAboveGround": "storeys_above_ground", "yearOfConstruction": "year_of_construction"}
#: German AdV CRS names (urn:adv:crs:...) and their horizontal EPSG codes.
_ADV_CRS = {"ETRS89_UTM32": 25832, "ETRS89_UTM33": 25833, "DE_DHDN_3GK2": 31466, "DE_DHDN_3GK3": 31467,
            "DE_DHDN_3GK4": 31468, "DE_DHDN_3GK5": 31469, "DE_DHDN_GK2": 31466, "DE_DHDN_GK3": 31467,
            "DE_DHDN_GK4": 31468}


@dataclass
class LoD2Model:
    """Building surfaces of an LoD2 model as planar 3-D polygons, with building attributes.

    Attributes
    ----------
    surfaces : pandas.DataFrame
        One row per polygon, columns :data:`SURFACE_COLUMNS`: ``building_id`` (top-level building),
        ``part_id`` (the BuildingPart, else the building), ``kind`` ('roof', 'wall', 'ground'),
        ``surface_id`` (the thematic surface's id), ``polygon_id`` (the polygon's own id, else
        ``surface_id#k``), ``exterior`` (ndarray (k, 3), open ring, map coordinates and heights [m]) and
        ``interiors`` (list of such rings).
    buildings : pandas.DataFrame
        One row per building with surfaces, columns :data:`BUILDING_COLUMNS` (``attributes``: dict of the
        remaining and generic attributes; ``measured_height`` [m]).
    crs : pyproj.CRS
        Horizontal CRS of the coordinates (projected, metres).
    source : dict
        ``path``, ``format`` ('CityGML' or 'CityJSON'), ``version``, ``crs_from`` ('file' or 'roofs_crs'),
        ``skipped`` (building ids without LoD2 surfaces).
    """

    surfaces: pd.DataFrame
    buildings: pd.DataFrame
    crs: object
    source: dict = field(default_factory=dict)

    def attribute_table(self):
        """Return the building attributes ready for a layer: ``attributes`` as a JSON string, ids as str.

        Returns
        -------
        pandas.DataFrame
            :data:`BUILDING_COLUMNS`, one row per building (join on ``building_id`` into ``buildings``).
        """
        t = self.buildings.copy()
        t["building_id"] = t["building_id"].astype(str)
        t["attributes"] = [json.dumps(a, ensure_ascii=False, default=str) if a else None for a in t["attributes"]]
        return t

    def to_crs(self, crs):
        """Return the same model with x, y transformed to ``crs`` (heights unchanged)."""
        from pyproj import CRS, Transformer

        target = CRS.from_user_input(crs)
        if target.equals(self.crs):
            return self
        tr = Transformer.from_crs(self.crs, target, always_xy=True)

        def move(ring):
            x, y = tr.transform(ring[:, 0], ring[:, 1])
            return np.column_stack([x, y, ring[:, 2]])

        s = self.surfaces.copy()
        s["exterior"] = [move(r) for r in s["exterior"]]
        s["interiors"] = [[move(r) for r in rings] for rings in s["interiors"]]
        return LoD2Model(s, self.buildings, target, dict(self.source, reprojected_from=self.crs.to_string()))


def is_lod2_file(path):
    """Whether ``path`` looks like a CityGML or CityJSON file (by name, then by its first bytes)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".gml", ".citygml", ".city.json", ".city.jsonl", ".jsonl", ".cityjson")):
        return True
    if not name.endswith((".json", ".xml")) or not p.is_file():
        return False
    with open(p, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    return "CityJSON" in head or "CityModel" in head


# ------------------------------------------------------------------------------------------------- CRS

def parse_crs_name(text):
    """Horizontal EPSG code of a CRS name as CityGML/CityJSON files write it, or None when unknown.

    Parameters
    ----------
    text : str
        ``EPSG:25832``, ``urn:ogc:def:crs:EPSG::25832``, ``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837``,
        ``http://www.opengis.net/def/crs/EPSG/0/2056``, ``EPSG:2056+5728``, ``urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH``.

    Returns
    -------
    int or None
        The first EPSG code in the name that is not a vertical CRS (the horizontal part of a compound).
    """
    from pyproj import CRS

    if not text:
        return None
    for key, code in _ADV_CRS.items():
        if key.lower() in text.lower():
            return code
    codes = []
    for part in re.split(r"(?i)EPSG", text)[1:]:
        m = re.match(r"[\d:/.]*", part)
        digits = re.findall(r"\d+", m.group(0)) if m else []
        if digits:
            codes.append(int(digits[-1]))
    for code in codes:
        try:
            c = CRS.from_epsg(code)
        except Exception:
            continue
        if c.is_compound:
            c = c.sub_crs_list[0]
        if c.is_vertical:
            continue
        return int(c.to_epsg() or code)
    return None


def _resolve_crs(declared, crs, name):
    """Find the model's horizontal CRS: the file's declaration, else ``crs``; projected metres only."""
    from pyproj import CRS

    from ..grid import check_projected

    code = parse_crs_name(declared) if declared else None
    if declared and code is None:
        log.warning("%s: CRS %r not understood", name, declared)
    if code is not None:
        c = CRS.from_epsg(code)
        if crs is not None and not CRS.from_user_input(crs).equals(c):
            log.warning("%s declares %s; --roofs-crs %s is ignored", name, c.to_string(), crs)
        source = "file"
    elif crs is not None:
        try:
            c = CRS.from_user_input(crs)
        except Exception:
            raise CRSError(f"{name}: --roofs-crs {crs!r} is not a CRS (give e.g. EPSG:25832)") from None
        source = "roofs_crs"
    else:
        what = f"a CRS ({declared!r}) that is not understood" if declared else "no CRS"
        raise CRSError(f"{name}: the LoD2 file declares {what}; give it with --roofs-crs (e.g. EPSG:25832)")
    if c.is_compound:
        c = c.sub_crs_list[0]
    return check_projected(c, what=name), source


# -------------------------------------------------------------------------------------------- reading

def read_lod2(path, crs=None):
    """Read an LoD2 model (CityGML 1.0/2.0 or CityJSON 1.x/2.0, including CityJSONL).

    Parameters
    ----------
    path : str or Path
        ``.gml``/``.xml`` (CityGML), ``.json``/``.city.json`` (CityJSON) or ``.jsonl``/``.city.jsonl``
        (a CityJSON header line followed by CityJSONFeature lines).
    crs : str or pyproj.CRS, optional
        CRS of the coordinates when the file declares none (``--roofs-crs``).

    Returns
    -------
    LoD2Model

    Raises
    ------
    LoD2Error
        The file is missing, not CityGML/CityJSON, broken, or has no LoD2 roof surfaces (e.g. LoD1 only).
    CRSError
        No CRS in the file and none given, or a CRS that is not projected in metres.
    """
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise LoD2Error(f"{name}: LoD2 file not found")
    with open(p, "rb") as f:
        head = f.read(2048).lstrip()
    try:
        if head.startswith(b"{"):
            rows, buildings, declared, meta = _read_cityjson(p)
        elif head.startswith(b"<"):
            rows, buildings, declared, meta = _read_citygml(p)
        else:
            raise LoD2Error(f"{name}: not a CityGML (XML) or CityJSON file")
    except LoD2Error:
        raise
    except ET.ParseError as exc:
        raise LoD2Error(f"{name}: broken XML ({exc}); is the file complete?") from None
    except json.JSONDecodeError as exc:
        raise LoD2Error(f"{name}: broken JSON ({exc.msg} at line {exc.lineno}); is the file complete?") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise LoD2Error(f"{name}: malformed {'CityJSON' if head.startswith(b'{') else 'CityGML'} "
                        f"({type(exc).__name__}: {exc})") from None
    surfaces = pd.DataFrame(rows, columns=SURFACE_COLUMNS)
    derived = int(surfaces["kind"].isna().sum())
    if derived:
        log.warning("%s: %d LoD2 surface(s) without semantics: roof, wall and ground told apart by orientation",
                    name, derived)
        surfaces = _derive_kinds(surfaces)
    kinds = set(surfaces["kind"])
    if "roof" not in kinds:
        lod = f" (found {meta.get('lods') or 'no LoD2 surfaces'})"
        raise LoD2Error(f"{name}: no LoD2 RoofSurface in the model{lod}; an LoD2 model with semantic "
                        "surfaces (RoofSurface, WallSurface, GroundSurface) is required, LoD1 blocks are not enough")
    horizontal, crs_from = _resolve_crs(declared, crs, name)
    have = set(surfaces["building_id"])
    btable = pd.DataFrame([b for b in buildings if b["building_id"] in have], columns=BUILDING_COLUMNS)
    skipped = sorted(b["building_id"] for b in buildings if b["building_id"] not in have)
    if skipped:
        log.warning("%s: %d building(s) without LoD2 surfaces skipped, e.g. %s", name, len(skipped), skipped[0])
    source = {"path": name, "format": meta["format"], "version": meta.get("version"), "crs": horizontal.to_string(),
              "crs_from": crs_from, "buildings": len(btable), "surfaces": len(surfaces), "skipped": skipped,
              "semantics_from_orientation": derived}
    return LoD2Model(surfaces, btable.reset_index(drop=True), horizontal, source)


#: Surfaces without semantics: within this angle of vertical a surface is a wall [°]; a downward one within
#: GROUND_BAND of the building's lowest vertex is ground [m].
WALL_ANGLE = 10.0
GROUND_BAND = 0.5


def _derive_kinds(surfaces):
    """Give surfaces without semantics a kind from their orientation (walls, roofs facing up, ground)."""
    s = surfaces.copy()
    normal = np.array([_unit_normal(r) for r in s["exterior"]]).reshape(-1, 3)
    zmin = np.array([r[:, 2].min() for r in s["exterior"]])
    zmax = np.array([r[:, 2].max() for r in s["exterior"]])
    base = pd.Series(zmin).groupby(s["building_id"].to_numpy()).transform("min").to_numpy()
    todo = s["kind"].isna().to_numpy()
    low = todo & (zmax - base <= GROUND_BAND) & (np.abs(normal[:, 2]) > math.sin(math.radians(WALL_ANGLE)))
    # a shell oriented inwards has its lowest horizontal surfaces facing up: flip that building's normals
    inverted = pd.Series(np.where(low, np.sign(normal[:, 2]), 0.0)).groupby(s["building_id"].to_numpy()).transform(
        "sum").to_numpy() > 0
    nz = np.where(inverted, -normal[:, 2], normal[:, 2])
    kind = np.where(np.abs(nz) < math.sin(math.radians(WALL_ANGLE)), "wall",
                    np.where(nz > 0, "roof", np.where(zmax - base <= GROUND_BAND, "ground", "")))
    s.loc[todo, "kind"] = kind[todo]
    s.loc[todo, "surface_id"] = [f"{sid}-{k}" for sid, k in zip(s.loc[todo, "surface_id"], kind[todo])]
    return s[s["kind"] != ""].reset_index(drop=True)


def _unit_normal(ring):
    p = np.asarray(ring, float) - np.asarray(ring, float).mean(axis=0)
    q = np.roll(p, -1, axis=0)
    a = 0.5 * np.array([np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
                        np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                        np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]))])
    size = np.linalg.norm(a)
    return a / size if size > 0 else np.array([0.0, 0.0, 1.0])


def _building_record(bid, values):
    """Make a row of :data:`BUILDING_COLUMNS` from a flat dict of attribute name -> value."""
    rec = {c: None for c in BUILDING_COLUMNS}
    rec["building_id"] = bid
    rest = {}
    for k, v in values.items():
        col = _ATTRIBUTE_NAMES.get(k)
        if col in BUILDING_COLUMNS and rec[col] is None:
            rec[col] = v
        elif k == "address":
            rec["address"] = v
        else:
            rest[k] = v
    for col in ("measured_height", "storeys_above_ground", "year_of_construction"):
        try:
            rec[col] = None if rec[col] is None else float(rec[col])
        except (TypeError, ValueError):
            rest[col] = rec[col]
            rec[col] = None
    rec["attributes"] = rest
    return rec


# ---------------------------------------------------------------------------------------------- CityGML

def _local(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _ring_coords(ring):
    """(k, 3) open ring of a gml:LinearRing (posList or pos elements); empty when unreadable."""
    dim = 3
    values = []
    for el in ring.iter():
        ln = _local(el.tag)
        if ln == "posList" and el.text:
            dim = int(el.get("srsDimension") or el.get("dimension") or 3)
            values.extend(el.text.split())
        elif ln in ("pos", "coordinates") and el.text:
            values.extend(el.text.replace(",", " ").split())
    pts = np.asarray(values, float)
    if pts.size == 0 or pts.size % dim or dim < 3:
        return np.empty((0, 3))
    pts = pts.reshape(-1, dim)[:, :3]
    if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    return pts


def _gml_polygons(surface, sid, ids):
    """(polygon_id, exterior, interiors) of every gml:Polygon below a thematic surface."""
    out = []
    for k, poly in enumerate(el for el in surface.iter() if _local(el.tag) == "Polygon"):
        ext, ints = None, []
        for child in poly:
            ln = _local(child.tag)
            rings = [r for r in child.iter() if _local(r.tag) == "LinearRing"]
            if not rings:
                continue
            if ln == "exterior":
                ext = _ring_coords(rings[0])
            elif ln == "interior":
                ints.append(_ring_coords(rings[0]))
        if ext is not None and len(ext) >= 3:
            out.append((poly.get(ids) or f"{sid}#{k}", ext, [r for r in ints if len(r) >= 3]))
    return out


def _gml_attributes(building):
    """Flat dict of a bldg:Building's simple attributes, generic attributes and address."""
    values = {}
    for child in building:
        ln = _local(child.tag)
        if ln.endswith("Attribute") and child.get("name"):
            v = next((c.text for c in child if _local(c.tag) == "value"), child.text)
            values[child.get("name")] = v.strip() if isinstance(v, str) else v
        elif ln == "address":
            parts = [el.text.strip() for el in child.iter() if el.text and el.text.strip() and len(el) == 0]
            values["address"] = ", ".join(parts) if parts else None
        elif len(child) == 0 and child.text and child.text.strip() and ln not in ("boundedBy",):
            values.setdefault(ln, child.text.strip())
    return values


def _read_citygml(path):
    """Rows of surfaces, building records, declared CRS and metadata of a CityGML file (streaming)."""
    rows, buildings, lods = [], [], set()
    declared = version = None
    model = False
    depth = 0
    ids = "{http://www.opengis.net/gml}id"
    for event, el in ET.iterparse(path, events=("start", "end")):
        ln = _local(el.tag)
        if event == "start":
            if ln == "CityModel":
                model = True
            if declared is None and el.get("srsName"):
                declared = el.get("srsName")
            if ln in ("Building", "BuildingPart"):
                depth += 1
                if version is None and el.tag.startswith("{"):
                    version = el.tag[1:].split("}")[0].rsplit("/", 1)[-1]  # .../citygml/building/2.0
            continue
        if ln not in ("Building", "BuildingPart"):
            continue
        depth -= 1
        if ln != "Building" or depth > 0:
            continue
        if ids not in el.attrib:  # GML 3.2 (CityGML 3.0) ids
            ids = next((k for k in el.attrib if k.endswith("}id")), ids)
        bid = el.get(ids) or f"B{len(buildings) + 1:05d}"
        rows.extend(_gml_building_surfaces(el, bid, ids, lods))
        buildings.append(_building_record(bid, _gml_attributes(el)))
        el.clear()
    if not model:
        raise LoD2Error(f"{path}: XML without a CityGML CityModel")
    return rows, buildings, declared, {"format": "CityGML", "version": version, "lods": sorted(lods)}


def _gml_building_surfaces(building, bid, ids, lods):
    """Surface rows of one bldg:Building and its BuildingParts; notes the LoD geometries seen in ``lods``."""
    rows, keys = [], []
    parts = [(building, bid)] + [(p, p.get(ids) or f"{bid}-P{k}") for k, p in
                                 enumerate(e for e in building.iter() if _local(e.tag) == "BuildingPart")]
    seen = set()
    for part, pid in reversed(parts):  # innermost part first: it claims its surfaces
        for el in part.iter():
            ln = _local(el.tag)
            if ln.startswith("lod") and ("Solid" in ln or "Surface" in ln):
                lods.add(ln)
            kind = SURFACE_KINDS.get(ln)
            if kind is None or id(el) in seen:
                continue
            seen.add(id(el))
            sid = el.get(ids) or f"{pid}-{kind}{len(rows)}"
            for poly_id, ext, ints in _gml_polygons(el, sid, ids):
                rows.append((bid, pid, kind, sid, poly_id, ext, ints))
                keys.append(id(el))
    if not rows:  # no thematic surfaces: the LoD2 solid or multi-surface, classified by orientation
        for el in building.iter():
            if _local(el.tag) in ("lod2Solid", "lod2MultiSurface"):
                for poly_id, ext, ints in _gml_polygons(el, f"{bid}-lod2", ids):
                    rows.append((bid, bid, None, poly_id, poly_id, ext, ints))
                    keys.append(id(el))
    order = {id(el): k for k, el in enumerate(building.iter())}  # back to document order
    return [r for _, r in sorted(zip(keys, rows), key=lambda t: order[t[0]])]


# --------------------------------------------------------------------------------------------- CityJSON

def _read_cityjson(path):
    """Rows of surfaces, building records, declared CRS and metadata of a CityJSON or CityJSONL file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        if not _is_jsonl(text):
            raise
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    header = docs[0]
    if header.get("type") != "CityJSON":
        raise LoD2Error(f"{path}: not CityJSON (the first object has type {header.get('type')!r})")
    transform = header.get("transform")
    rows, buildings, lods = [], [], set()
    features = [header] + [d for d in docs[1:] if d.get("type") == "CityJSONFeature"]
    for doc in features:
        if doc is header and len(features) > 1 and not doc.get("CityObjects"):
            continue
        verts = doc.get("vertices")
        if doc.get("CityObjects") and not verts:
            raise LoD2Error(f"{path}: CityJSON without vertices")
        _cityjson_objects(doc, _vertices(verts or [], doc.get("transform", transform), path), rows, buildings,
                          lods)
    meta = header.get("metadata") or {}
    declared = meta.get("referenceSystem") or meta.get("crs")
    return rows, buildings, declared, {"format": "CityJSON", "version": header.get("version"),
                                       "lods": sorted(lods)}


def _is_jsonl(text):
    first = text.split("\n", 1)[0]
    try:
        return json.loads(first).get("type") == "CityJSON"
    except (json.JSONDecodeError, AttributeError):
        return False


def _vertices(verts, transform, path):
    v = np.asarray(verts, float)
    if v.size and (v.ndim != 2 or v.shape[1] != 3):
        raise LoD2Error(f"{path}: CityJSON vertices must be [x, y, z] triples")
    v = v.reshape(-1, 3)
    if transform:
        v = v * np.asarray(transform.get("scale", [1, 1, 1]), float) + np.asarray(
            transform.get("translate", [0, 0, 0]), float)
    return v


def _root(objects, oid):
    seen = set()
    while objects.get(oid, {}).get("parents") and oid not in seen:
        seen.add(oid)
        oid = objects[oid]["parents"][0]
    return oid


def _lod_key(g):
    try:
        return float(str(g.get("lod", "0")))
    except ValueError:
        return 0.0


def _cityjson_objects(doc, verts, rows, buildings, lods):
    """Append surface rows and building records of one CityJSON document (or feature)."""
    objects = doc["CityObjects"]
    for oid, obj in objects.items():
        if not str(obj.get("type", "")).startswith("Building"):
            continue
        bid = _root(objects, oid)
        if bid == oid and obj.get("type") == "Building":
            values = dict(obj.get("attributes") or {})
            if obj.get("address"):
                values["address"] = _address_text(obj["address"])
            buildings.append(_building_record(bid, values))
        geoms = obj.get("geometry") or []
        lods.update(str(g.get("lod")) for g in geoms)
        lod2 = [g for g in geoms if str(g.get("lod", "")).startswith("2")]
        if not lod2:
            continue
        with_semantics = [g for g in lod2 if g.get("semantics")]
        g = max(with_semantics or lod2, key=_lod_key)
        for k, (ring_ids, sem) in enumerate(_cityjson_surfaces(g)):
            kind = SURFACE_KINDS.get(sem.get("type")) if sem else None
            if kind is None and with_semantics:
                continue
            sem = sem or {}
            rings = [verts[np.asarray(r, int)] for r in ring_ids]
            if len(rings[0]) < 3:
                continue
            sid = str(sem.get("id") or (sem.get("attributes") or {}).get("id") or f"{oid}-{kind or 'surface'}{k}")
            rows.append((bid, oid, kind, sid, f"{oid}#{k}", rings[0], [r for r in rings[1:] if len(r) >= 3]))


def _cityjson_surfaces(g):
    """(rings, semantic surface dict or None) of every surface of a CityJSON geometry."""
    sem = g.get("semantics") or {}
    kinds = sem.get("surfaces") or []
    values = sem.get("values")
    t = g.get("type")
    if t in ("MultiSurface", "CompositeSurface"):
        shells, vals = [g["boundaries"]], [values]
    elif t == "Solid":
        shells, vals = g["boundaries"], values
    elif t in ("MultiSolid", "CompositeSolid"):
        shells = [s for solid in g["boundaries"] for s in solid]
        vals = [v for solid in values for v in solid] if values else None
    else:
        return
    for i, shell in enumerate(shells):
        for j, surface in enumerate(shell):
            v = vals[i][j] if vals is not None and vals[i] is not None else None
            yield surface, (kinds[v] if v is not None else None)


def _address_text(address):
    """One line of text from a CityJSON address (dict or list of dicts)."""
    items = address if isinstance(address, list) else [address]
    out = []
    for a in items:
        if isinstance(a, dict):
            out.append(", ".join(str(v) for k, v in a.items() if k != "location" and v not in (None, "")))
    return "; ".join(s for s in out if s) or None


# ------------------------------------------------------------------------------------------ footprints

def read_lod2_footprints(path, crs, *, roofs_crs=None):
    """Read building footprints from an LoD2 file (``--footprints model.gml``) like ``read_footprints``.

    Parameters
    ----------
    path : str or Path
        CityGML or CityJSON file (see :func:`read_lod2`).
    crs : CRS
        Target CRS (the raster's).
    roofs_crs : str, optional
        CRS of the file when it declares none.

    Returns
    -------
    footprints : geopandas.GeoDataFrame
        ``building_id`` (the model's) and Polygon/MultiPolygon geometry in ``crs``: each building's ground
        surfaces, else the union of its roof outlines.
    report : solarkataster.io.vector.FootprintReport
        With ``id_column`` 'gml:id' (CityGML) or 'CityObjects key' (CityJSON).
    model : LoD2Model
        The model read (its ``buildings`` table carries the attributes for ``buildings.geojson``).
    """
    from pyproj import CRS

    from ..lod2 import model_footprints
    from .vector import FootprintReport

    model = read_lod2(path, crs=roofs_crs)
    fp = model_footprints(model.surfaces, crs=model.crs)
    report = FootprintReport(path=str(path), features=len(fp),
                             id_column="gml:id" if model.source["format"] == "CityGML" else "CityObjects key")
    target = CRS.from_user_input(crs)
    if not target.equals(model.crs):
        report.reprojected_from = model.crs.to_string()
        fp = fp.to_crs(target)
    counts = fp["footprint_source"].value_counts().to_dict()
    if counts.get("roofs"):
        report.repaired.append({"building_id": "*", "reason": f"{counts['roofs']} building(s) without "
                                                              "GroundSurface: footprint = union of roof outlines"})
    return fp[["building_id", "geometry"]], report, model
