"""LoD2 models as input (solarkataster.io.lod2, solarkataster.lod2).

References: the models' own polygons (plane of each merged roof surface from Newell's method summed per
group, tests/lod2.py, written independently of the package), analytic geometry of a synthetic gable house,
pvlib's Perez transposition on the same clear-sky records for unshaded faces, and the test helper's own
rasteriser (tests/lod2.py) for the DSM made from the model.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pvlib
import pytest
import shapely
from conftest import shared_file
from lod2 import rasterise_roofs, read_cityjson_roofs, true_planes
from pyproj import Transformer

from solarkataster import lod2 as L
from solarkataster.errors import CRSError, SolarkatasterError
from solarkataster.grid import Grid
from solarkataster.io.lod2 import LoD2Error, parse_crs_name, read_lod2
from solarkataster.sky import clear_sky_weather, sky_table, sun_steps

LAT, LON, ALT = 49.44, 7.77, 240.0
X0, Y0 = (round(v) for v in Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(LON, LAT))
ZURICH = ("zurich-lod2-cityjson", "zurich_subset_lod2.city.json")
KARLSRUHE = ("karlsruhe-lod2", "lindenallee_kranichweg_v1.gml")


# ---------------------------------------------------------------------------------- synthetic house

def house(length=20.0, width=10.0, eave=6.0, pitch=35.0, angle=0.0, dx=0.0, dy=0.0, ground=True):
    """Surfaces of a gable house (ridge along its length), rotated ``angle``° counter-clockwise.

    Returns a list of (kind, ring (k, 3) in EPSG:25832 around (X0, Y0), ALT) with outward normals.
    """
    hr = eave + width / 2 * math.tan(math.radians(pitch))
    g = [(0, 0, 0), (length, 0, 0), (length, width, 0), (0, width, 0)]
    e = [(x, y, eave) for x, y, _ in g]
    r = [(0, width / 2, hr), (length, width / 2, hr)]
    faces = [("ground", [g[0], g[3], g[2], g[1]]),
             ("wall", [g[0], g[1], e[1], e[0]]), ("wall", [g[2], g[3], e[3], e[2]]),
             ("wall", [g[1], g[2], e[2], r[1], e[1]]), ("wall", [g[3], g[0], e[0], r[0], e[3]]),
             ("roof", [e[0], e[1], r[1], r[0]]), ("roof", [e[2], e[3], r[0], r[1]])]
    centre = np.array([length / 2, width / 2, eave / 2])
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    out = []
    for kind, ring in faces:
        if kind == "ground" and not ground:
            continue
        ring = np.array(ring, float)
        n = np.cross(ring[1] - ring[0], ring[2] - ring[0])
        if n @ (ring.mean(0) - centre) < 0 and kind != "ground":
            ring = ring[::-1]
        out.append((kind, (ring - [length / 2, width / 2, 0]) @ rot.T + [X0 + dx, Y0 + dy, ALT]))
    return out


SEMANTIC = {"roof": "RoofSurface", "wall": "WallSurface", "ground": "GroundSurface"}


def cityjson_doc(buildings, version="2.0", crs="https://www.opengis.net/def/crs/EPSG/0/25832"):
    """A CityJSON document (dict) of {building id: surfaces} with quantised vertices."""
    scale, translate = 0.001, [X0 - 100.0, Y0 - 100.0, 0.0]
    verts, objects = [], {}
    for bid, surfaces in buildings.items():
        bounds, kinds = [], []
        for kind, ring in surfaces:
            idx = []
            for p in ring:
                verts.append([int(round((p[k] - translate[k]) / scale)) for k in range(3)])
                idx.append(len(verts) - 1)
            bounds.append([idx])
            kinds.append({"type": SEMANTIC[kind]})
        objects[bid] = {"type": "Building", "attributes": {"function": "1000", "measuredHeight": 11.0,
                                                           "storeysAboveGround": 2},
                        "address": [{"ThoroughfareName": "Hauptstraße", "ThoroughfareNumber": "1"}],
                        "geometry": [{"type": "MultiSurface", "lod": "2.2", "boundaries": bounds,
                                      "semantics": {"surfaces": kinds, "values": list(range(len(kinds)))}}]}
    doc = {"type": "CityJSON", "version": version, "transform": {"scale": [scale] * 3, "translate": translate},
           "CityObjects": objects, "vertices": verts}
    if crs:
        doc["metadata"] = {"referenceSystem": crs}
    return doc


def write_cityjsonl(path, doc):
    header = {k: v for k, v in doc.items() if k not in ("CityObjects", "vertices")}
    header.update(CityObjects={}, vertices=[])
    lines = [json.dumps(header)]
    for oid, obj in doc["CityObjects"].items():  # each feature carries its own (re-indexed) vertices
        used = sorted({i for b in obj["geometry"][0]["boundaries"] for ring in b for i in ring})
        new = {old: k for k, old in enumerate(used)}
        geom = dict(obj["geometry"][0], boundaries=[[[new[i] for i in ring] for ring in b]
                                                    for b in obj["geometry"][0]["boundaries"]])
        lines.append(json.dumps({"type": "CityJSONFeature", "id": oid,
                                 "CityObjects": {oid: dict(obj, geometry=[geom])},
                                 "vertices": [doc["vertices"][i] for i in used]}))
    path.write_text("\n".join(lines) + "\n")


def write_citygml(path, buildings, srs="urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837", parts=False):
    """A CityGML 2.0 file of {building id: surfaces} (each building's surfaces in one BuildingPart if ``parts``)."""
    bl = "http://www.opengis.net/citygml/building/2.0"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:bldg="{bl}" '
             'xmlns:gml="http://www.opengis.net/gml" xmlns:gen="http://www.opengis.net/citygml/generics/2.0" '
             'xmlns:xAL="urn:oasis:names:tc:ciq:xsdschema:xAL:2.0">',
             f'<gml:boundedBy><gml:Envelope srsName="{srs}" srsDimension="3"/></gml:boundedBy>']
    for bid, surfaces in buildings.items():
        lines.append(f'<core:cityObjectMember><bldg:Building gml:id="{bid}">'
                     '<gen:stringAttribute name="Dachform"><gen:value>Satteldach</gen:value></gen:stringAttribute>'
                     '<bldg:function>31001_1000</bldg:function><bldg:measuredHeight uom="m">11.0</bldg:measuredHeight>'
                     '<bldg:storeysAboveGround>2</bldg:storeysAboveGround>')
        if parts:
            lines.append(f'<bldg:consistsOfBuildingPart><bldg:BuildingPart gml:id="{bid}_part">')
        for k, (kind, ring) in enumerate(surfaces):
            pos = " ".join(f"{v:.3f}" for p in np.vstack([ring, ring[:1]]) for v in p)
            lines.append(f'<bldg:boundedBy><bldg:{SEMANTIC[kind]} gml:id="{bid}_s{k}"><bldg:lod2MultiSurface>'
                         f'<gml:MultiSurface><gml:surfaceMember><gml:Polygon gml:id="{bid}_p{k}"><gml:exterior>'
                         f'<gml:LinearRing><gml:posList srsDimension="3">{pos}</gml:posList></gml:LinearRing>'
                         '</gml:exterior></gml:Polygon></gml:surfaceMember></gml:MultiSurface>'
                         f'</bldg:lod2MultiSurface></bldg:{SEMANTIC[kind]}></bldg:boundedBy>')
        if parts:
            lines.append("</bldg:BuildingPart></bldg:consistsOfBuildingPart>")
        lines.append('<bldg:address><core:Address><core:xalAddress><xAL:AddressDetails><xAL:Locality>'
                     '<xAL:LocalityName>Kaiserslautern</xAL:LocalityName><xAL:Thoroughfare><xAL:ThoroughfareName>'
                     'Hauptstraße</xAL:ThoroughfareName></xAL:Thoroughfare></xAL:Locality></xAL:AddressDetails>'
                     '</core:xalAddress></core:Address></bldg:address>')
        lines.append("</bldg:Building></core:cityObjectMember>")
    lines.append("</core:CityModel>")
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------ readers

def test_formats_read_alike(tmp_path):
    buildings = {"H1": house(angle=20.0), "H2": house(dx=40.0, pitch=45.0)}
    doc = cityjson_doc(buildings)
    (tmp_path / "m.city.json").write_text(json.dumps(doc))
    write_cityjsonl(tmp_path / "m.city.jsonl", doc)
    write_citygml(tmp_path / "m.gml", buildings)
    models = [read_lod2(tmp_path / n) for n in ("m.city.json", "m.city.jsonl", "m.gml")]
    for m in models:
        assert m.crs.to_epsg() == 25832 and m.source["crs_from"] == "file"
        assert sorted(m.buildings["building_id"]) == ["H1", "H2"]
        assert m.surfaces.groupby("kind").size().to_dict() == {"ground": 2, "roof": 4, "wall": 8}
        b = m.buildings.set_index("building_id").loc["H1"]
        assert b["measured_height"] == 11.0 and b["storeys_above_ground"] == 2.0
        assert "Hauptstraße" in b["address"]
        for (kind, ring), ext in zip(buildings["H1"], m.surfaces[m.surfaces.building_id == "H1"]["exterior"]):
            np.testing.assert_allclose(ext, ring, atol=1e-3)  # open rings, millimetre quantisation
    assert models[0].buildings.set_index("building_id").loc["H1", "function"] == "1000"
    assert models[2].buildings.set_index("building_id").loc["H1", "attributes"]["Dachform"] == "Satteldach"
    table = models[2].attribute_table()
    assert json.loads(table.set_index("building_id").loc["H1", "attributes"]) == {"Dachform": "Satteldach"}


def test_citygml_building_parts_belong_to_their_building(tmp_path):
    write_citygml(tmp_path / "parts.gml", {"H1": house()}, srs="EPSG:25832", parts=True)
    m = read_lod2(tmp_path / "parts.gml")
    assert set(m.surfaces["building_id"]) == {"H1"} and set(m.surfaces["part_id"]) == {"H1_part"}
    assert len(m.surfaces) == 7 and len(m.buildings) == 1


@pytest.mark.parametrize("inverted", [False, True])
def test_surfaces_without_semantics_are_classified(tmp_path, inverted):
    surfaces = [(k, r[::-1] if inverted else r) for k, r in house(pitch=30.0)]
    doc = cityjson_doc({"H": surfaces})
    geom = doc["CityObjects"]["H"]["geometry"][0]
    doc["CityObjects"]["H"]["geometry"] = [{"type": "Solid", "lod": "2", "boundaries": [geom["boundaries"]]}]
    (tmp_path / "solid.city.json").write_text(json.dumps(doc))
    gml = tmp_path / "solid.gml"
    write_citygml(gml, {"H": surfaces}, srs="EPSG:25832")
    text = gml.read_text()
    for kind in ("RoofSurface", "WallSurface", "GroundSurface"):  # the same polygons as an lod2Solid
        text = text.replace(f"<bldg:{kind} ", "<bldg:Thing ").replace(f"</bldg:{kind}>", "</bldg:Thing>")
    gml.write_text(text.replace("lod2MultiSurface", "lod2Solid"))
    for path in (tmp_path / "solid.city.json", gml):
        m = read_lod2(path)
        assert m.source["semantics_from_orientation"] == 7
        assert m.surfaces.groupby("kind").size().to_dict() == {"ground": 1, "roof": 2, "wall": 4}
        np.testing.assert_allclose(L.roof_faces(m.surfaces)["tilt"], 30.0, atol=0.01)  # mm coordinates


def test_footprints_from_lod2(tmp_path):
    from solarkataster.io.lod2 import read_lod2_footprints

    write_citygml(tmp_path / "m.gml", {"H1": house(angle=20.0), "H2": house(dx=40.0)})
    fp, report, model = read_lod2_footprints(tmp_path / "m.gml", "EPSG:25832")
    assert fp["building_id"].tolist() == ["H1", "H2"] and list(fp.columns) == ["building_id", "geometry"]
    np.testing.assert_allclose(fp.geometry.area, 200.0, rtol=1e-4)
    assert report.features == 2 and report.reprojected_from is None and len(model.buildings) == 2
    fp, report, _ = read_lod2_footprints(tmp_path / "m.gml", "EPSG:3035")
    assert report.reprojected_from == "EPSG:25832" and fp.crs.to_epsg() == 3035


def test_clusters_of_scattered_buildings():
    s = pd.DataFrame([(b, b, k, f"{b}{i}", f"{b}{i}", r, []) for b, dx in (("A", 0.0), ("B", 40.0), ("C", 600.0))
                      for i, (k, r) in enumerate(house(dx=dx))],
                     columns=["building_id", "part_id", "kind", "surface_id", "polygon_id", "exterior", "interiors"])
    assert L.model_clusters(s, 100.0) == [["A", "B"], ["C"]]
    assert L.model_clusters(s, 10.0) == [["A"], ["B"], ["C"]] or sorted(map(tuple, L.model_clusters(s, 10.0))) == [
        ("A",), ("B",), ("C",)]


def test_real_models_read():
    zh = read_lod2(shared_file(*ZURICH))
    assert zh.crs.to_epsg() == 2056 and zh.source["format"] == "CityJSON" and zh.source["version"] == "1.1"
    assert zh.surfaces["building_id"].nunique() == 49 and len(zh.buildings) == 49  # SOURCE.md
    assert zh.surfaces["part_id"].nunique() == 161  # BuildingParts map to their Building
    counts = zh.surfaces.groupby("kind").size()
    assert counts["roof"] == 644 and counts["wall"] == 1340
    xyz = np.vstack(zh.surfaces["exterior"])  # transform applied: inside metadata.geographicalExtent
    assert xyz[:, 0].min() >= 2678219.19 and xyz[:, 0].max() <= 2687404.74 and xyz[:, 2].min() >= 395.78
    ka = read_lod2(shared_file(*KARLSRUHE))
    assert ka.crs.to_epsg() == 31467 and ka.source["version"] == "1.0"  # srsName "urn:ogc:def,crs::EPSG:31467"
    assert ka.surfaces.groupby("kind").size().to_dict() == {"ground": 95, "roof": 146, "wall": 504}
    b = ka.buildings.set_index("building_id").loc["A08212000048050110_______"]
    assert b["roof_type"] == "1030" and b["attributes"]["EavesHeight"] == "121.273"


@pytest.mark.parametrize("text, code", [
    ("EPSG:25832", 25832), ("urn:ogc:def:crs:EPSG::25832", 25832), ("urn:ogc:def:crs:EPSG:6.18:3:31467", 31467),
    ("urn:ogc:def,crs::EPSG:31467", 31467), ("http://www.opengis.net/def/crs/EPSG/0/2056", 2056),
    ("https://www.opengis.net/def/crs/EPSG/0/2056", 2056), ("EPSG:2056+5728", 2056),
    ("urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::7837", 25832),
    ("http://www.opengis.net/def/crs-compound?1=http://www.opengis.net/def/crs/EPSG/0/7837"
     "&2=http://www.opengis.net/def/crs/EPSG/0/25833", 25833),
    ("https://www.opengis.net/def/crs/EPSG/0/7415", 28992),  # 3D BAG: compound RD New + NAP
    ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", 25832), ("urn:adv:crs:DE_DHDN_3GK3*DE_DHHN92_NH", 31467),
    ("local", None), ("", None)])
def test_crs_names(text, code):
    assert parse_crs_name(text) == code


def test_crs_from_option_or_error(tmp_path):
    p = tmp_path / "nocrs.city.json"
    p.write_text(json.dumps(cityjson_doc({"H": house()}, crs=None)))
    with pytest.raises(CRSError, match="--roofs-crs"):
        read_lod2(p)
    m = read_lod2(p, crs="EPSG:25832")
    assert m.crs.to_epsg() == 25832 and m.source["crs_from"] == "roofs_crs"
    q = tmp_path / "geo.city.json"
    q.write_text(json.dumps(cityjson_doc({"H": house()}, crs="EPSG:4326")))
    with pytest.raises(CRSError, match="geographic"):
        read_lod2(q)
    moved = read_lod2(tmp_path / "nocrs.city.json", crs="EPSG:25832").to_crs("EPSG:3035")
    assert moved.crs.to_epsg() == 3035 and moved.surfaces["exterior"].iloc[0][:, 0].min() > 4e6


LOD1_GML = ('<?xml version="1.0"?><core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" '
            'xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:gml="http://www.opengis.net/gml">'
            '<core:cityObjectMember><bldg:Building gml:id="b1"><bldg:lod1Solid><gml:Solid><gml:exterior>'
            '<gml:CompositeSurface><gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>'
            '0 0 0 1 0 0 1 1 0 0 0 0</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>'
            '</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid></bldg:Building>'
            '</core:cityObjectMember></core:CityModel>')


@pytest.mark.parametrize("name, content, message", [
    ("broken.gml", '<?xml version="1.0"?><core:CityModel xmlns:core="x"><a>', "broken XML"),
    ("lod1.gml", LOD1_GML, "no LoD2 RoofSurface"),
    ("novertices.city.json", json.dumps({"type": "CityJSON", "version": "2.0", "CityObjects": {
        "b": {"type": "Building", "geometry": [{"type": "MultiSurface", "lod": "2", "boundaries": [[[0, 1, 2]]],
                                               "semantics": {"surfaces": [{"type": "RoofSurface"}],
                                                             "values": [0]}}]}}, "vertices": []}),
     "without vertices"),
    ("truncated.city.json", '{"type": "CityJSON", "version": "2.0", "CityObj', "broken JSON"),
    ("other.json", json.dumps({"type": "FeatureCollection", "features": []}), "not CityJSON"),
    ("text.gml", "hello", "not a CityGML"),
    ("plain.xml", "<root><a/></root>", "CityModel"),
])
def test_unreadable_lod2_is_a_clear_error(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(LoD2Error, match=message) as info:
        read_lod2(p, crs="EPSG:25832")
    assert isinstance(info.value, SolarkatasterError)
    assert str(p) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(LoD2Error, match="not found"):
        read_lod2(tmp_path / "missing.gml")


# --------------------------------------------------------------------------------- exact roof faces

@pytest.mark.parametrize("where", [ZURICH, KARLSRUHE])
def test_one_face_per_merged_roof_surface(where):
    path = shared_file(*where)
    truth = true_planes(read_cityjson_roofs(path)[0])  # Newell per polygon, summed per coplanar group
    faces = L.roof_faces(read_lod2(path).surfaces)
    by_ids = {frozenset(s): i for i, s in enumerate(faces["surface_ids"])}
    assert set(by_ids) == set(truth["surface_ids"]) and len(faces) == len(truth)
    f = faces.iloc[[by_ids[s] for s in truth["surface_ids"]]]
    assert np.abs(f["tilt"].to_numpy() - truth["tilt"].to_numpy()).max() <= 0.5
    sloped = truth["tilt"].to_numpy() >= 1.0  # the azimuth of a flat roof means nothing
    d_az = np.abs((f["azimuth"].to_numpy() - truth["azimuth"].to_numpy() + 180) % 360 - 180)
    assert d_az[sloped].max() <= 0.5
    np.testing.assert_allclose(f["area"].to_numpy(), truth["area"].to_numpy(), rtol=0.02)
    assert (faces["plane_rmse"] < 0.05).all() and (faces["source"] == "lod2").all()
    assert faces["face_id"].is_unique


def test_house_geometry_is_exact():
    pitch, angle = 35.0, 20.0
    s = pd.DataFrame([("H", "H", k, f"s{i}", f"p{i}", r, []) for i, (k, r) in enumerate(house(pitch=pitch,
                                                                                              angle=angle))],
                     columns=["building_id", "part_id", "kind", "surface_id", "polygon_id", "exterior", "interiors"])
    faces = L.roof_faces(s)
    assert len(faces) == 2
    np.testing.assert_allclose(faces["tilt"], pitch, atol=1e-9)
    np.testing.assert_allclose(sorted(faces["azimuth"]), sorted([(180 - angle) % 360, (360 - angle) % 360]),
                               atol=1e-9)
    np.testing.assert_allclose(faces["area"], 20 * 5 / math.cos(math.radians(pitch)), rtol=1e-9)
    np.testing.assert_allclose(faces["footprint_area"], 100.0, rtol=1e-6)
    walls = L.wall_faces(s)
    assert len(walls) == 4 and not walls["shared"].any()
    gable = 10 * 6 + 0.5 * 10 * 5 * math.tan(math.radians(pitch))
    np.testing.assert_allclose(sorted(walls["area"]), sorted([120.0, 120.0, gable, gable]), rtol=1e-9)
    np.testing.assert_allclose(sorted(walls["length"]), [10, 10, 20, 20], rtol=1e-9)
    np.testing.assert_allclose(sorted(walls["azimuth"]), sorted((np.array([0, 90, 180, 270]) - angle) % 360),
                               atol=1e-9)
    fp = L.model_footprints(s)
    assert fp["footprint_source"].tolist() == ["ground"] and fp.geometry.iloc[0].area == pytest.approx(200.0)
    fp = L.model_footprints(s[s["kind"] != "ground"])
    assert fp["footprint_source"].tolist() == ["roofs"] and fp.geometry.iloc[0].area == pytest.approx(200.0, rel=1e-4)


def test_real_walls_and_footprints():
    s = read_lod2(shared_file(*KARLSRUHE)).surfaces
    walls = L.wall_faces(s)
    total = sum(np.linalg.norm(L.newell_vector(r)) for r in s.loc[s["kind"] == "wall", "exterior"])
    assert walls["area"].sum() == pytest.approx(total, rel=1e-9)  # merging keeps every wall polygon
    fp = L.model_footprints(s)
    assert len(fp) == 95 and (fp["footprint_source"] == "ground").all()
    own = dict(zip(fp["building_id"], fp.geometry))
    free = walls[~walls["shared"]]
    a = np.radians(free["azimuth"].to_numpy())
    mid = free.geometry.interpolate(0.5, normalized=True)
    out_x, out_y = mid.x.to_numpy() + 0.5 * np.sin(a), mid.y.to_numpy() + 0.5 * np.cos(a)
    outward = [not shapely.intersects_xy(own[b], x, y) for b, x, y in zip(free["building_id"], out_x, out_y)]
    assert np.mean(outward) == 1.0
    assert 0 < walls["shared"].sum() < len(walls)  # row houses have party walls


# -------------------------------------------------------------------------------------------- DSM

def test_rasterised_dsm_reproduces_roof_heights():
    path = shared_file(*KARLSRUHE)
    roofs, base = read_cityjson_roofs(path)
    ref = rasterise_roofs(roofs, base, 0.5)  # the test helper's own rasteriser
    s = read_lod2(path).surfaces
    z = L.rasterise_model(s, ref.transform, ref.z.shape)
    roof = ref.plane_labels > 0
    assert roof.sum() > 30000  # ~9400 m² of roof at 0.5 m
    np.testing.assert_allclose(z[roof], ref.z[roof], atol=1e-6)
    assert np.all(z[~roof] == min(r[:, 2].min() for r in s.loc[s["kind"] == "ground", "exterior"]))
    # flat roofs: every pixel centre well inside the polygon carries the roof's height (unless a higher roof)
    cs = 0.5
    checked = 0
    for ext in s.loc[s["kind"] == "roof", "exterior"]:
        if np.ptp(ext[:, 2]) > 1e-6:
            continue
        inner = shapely.Polygon(ext[:, :2]).buffer(-0.3)
        rows, cols = np.mgrid[0:z.shape[0], 0:z.shape[1]]
        x, y = ref.transform.c + (cols + 0.5) * cs, ref.transform.f - (rows + 0.5) * cs
        inside = shapely.contains_xy(inner, x, y)
        assert np.all(z[inside] >= ext[0, 2] - 1e-9)
        checked += inside.sum()
    assert checked > 10000
    dtm = np.full(z.shape, 100.0)
    assert np.all(L.rasterise_model(s, ref.transform, ref.z.shape, dtm)[~roof] == 100.0)


# ------------------------------------------------------------------------------------- irradiation

def _sky(lat, lon, alt):
    weather = clear_sky_weather(lat, lon, alt, 2025, freq="30min")
    return weather, sky_table(sun_steps(weather, lat, lon, alt, step_minutes=30))


def pvlib_plane(weather, lat, lon, alt, tilt, azimuth, albedo=0.2):
    """Annual POA [kWh/m²] of open planes, pvlib Perez at the weather's record midpoints."""
    times = weather.data.index + weather.interval / 2
    sp = pvlib.solarposition.get_solarposition(times, lat, lon, alt)
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    am = pvlib.atmosphere.get_relative_airmass(sp["apparent_zenith"])
    d = weather.data
    out = []
    for t, a in zip(np.atleast_1d(tilt), np.atleast_1d(azimuth)):
        poa = pvlib.irradiance.get_total_irradiance(t, a, sp["apparent_zenith"], sp["azimuth"], d["dni"].values,
                                                    d["ghi"].values, d["dhi"].values, dni_extra=dni_extra,
                                                    airmass=am, albedo=albedo, model="perez")
        out.append(np.nansum(poa["poa_global"]) * weather.interval / pd.Timedelta(hours=1) / 1000)
    return np.array(out)


@pytest.fixture(scope="module")
def site_sky():
    return _sky(LAT, LON, ALT)


def _house_scene(tmp_path, buildings, lift=0.0):
    p = tmp_path / "scene.city.json"
    p.write_text(json.dumps(cityjson_doc(buildings)))
    model = read_lod2(p)
    transform, shape = L.model_extent(model.surfaces, 0.5, margin=30.0)
    z = L.rasterise_model(model.surfaces, transform, shape)
    roofs = L.rasterise_model(model.surfaces, transform, shape, np.full(shape, -np.inf)) > -np.inf
    return model, Grid(np.where(roofs, z + lift, z), transform, "EPSG:25832")


def test_unshaded_faces_match_pvlib(tmp_path, site_sky):
    weather, sky = site_sky
    model, grid = _house_scene(tmp_path, {"H": house(pitch=35.0, angle=20.0)})
    faces, walls = L.lod2_surfaces(model, grid, sky)
    assert len(faces) == 2 and len(walls) == 4
    assert list(faces.columns) == L.FACE_COLUMNS + ["geometry"] and faces.crs == grid.crs
    assert list(walls.columns) == L.LOD2_WALL_COLUMNS + ["geometry"] and walls.crs == grid.crs
    assert (faces["source"] == "lod2").all() and faces["face_id"].tolist() == ["H-F01", "H-F02"]
    ref = pvlib_plane(weather, LAT, LON, ALT, faces["tilt"], faces["azimuth"])
    np.testing.assert_allclose(faces["irradiation"], ref, rtol=0.02)
    assert (faces["shading_loss"] < 0.01).all()
    assert (faces["irradiation_p10"] <= faces["irradiation_p50"]).all()
    assert (faces["irradiation_p50"] <= faces["irradiation_p90"]).all()
    np.testing.assert_allclose([sum(m) for m in faces["monthly_irradiation"]], faces["irradiation"], rtol=1e-6)
    np.testing.assert_allclose(faces["beam"] + faces["diffuse"] + faces["reflected"], faces["irradiation"],
                               rtol=1e-6)
    # every wall of the isolated house, gables included, against pvlib's vertical plane
    ref = pvlib_plane(weather, LAT, LON, ALT, [90.0] * len(walls), walls["azimuth"])
    np.testing.assert_allclose(walls["irradiation"], ref, rtol=0.02)


def test_measured_dsm_above_the_model_does_not_shade_its_own_roof(tmp_path, site_sky):
    _, sky = site_sky
    buildings = {"H": house(pitch=35.0, angle=20.0)}
    model, grid = _house_scene(tmp_path, buildings)
    _, lifted = _house_scene(tmp_path, buildings, lift=0.25)  # the DSM's roof 25 cm above the model's
    a, _ = L.lod2_surfaces(model, grid, sky, walls=False)
    b, _ = L.lod2_surfaces(model, lifted, sky, walls=False)
    np.testing.assert_allclose(b["irradiation"], a["irradiation"], rtol=0.005)


def test_neighbour_shades_the_face(tmp_path, site_sky):
    _, sky = site_sky
    tall = [(k, r + [0, 0, 0]) for k, r in house(length=30.0, width=8.0, eave=25.0, pitch=0.1, dy=-14.0)]
    model, grid = _house_scene(tmp_path, {"H": house(pitch=35.0), "T": tall})
    faces, _ = L.lod2_surfaces(model, grid, sky, walls=False)
    south = faces[(faces["building_id"] == "H") & (np.abs(faces["azimuth"] - 180) < 1)].iloc[0]
    north = faces[(faces["building_id"] == "H") & (np.abs(faces["azimuth"]) < 1)].iloc[0]
    assert south["shading_loss"] > 0.2  # a 25 m block 14 m to the south
    assert south["irradiation_p10"] < south["irradiation_p90"]
    assert north["shading_loss"] < south["shading_loss"]


def test_real_unshaded_roof_matches_pvlib():
    model = read_lod2(shared_file(*KARLSRUHE))
    s = model.surfaces
    transform, shape = L.model_extent(s, 0.5, margin=20.0)
    grid = Grid(L.rasterise_model(s, transform, shape), transform, model.crs)
    faces = L.roof_faces(s).set_crs(model.crs)
    top = faces.iloc[[int(np.argmax(faces["z_min"].to_numpy()))]]  # the highest roof: nothing above it
    assert top["tilt"].iloc[0] < 1.0 and top["z_min"].iloc[0] >= grid.z.max() - 1e-6
    lon, lat = grid.center_lonlat()
    weather, sky = _sky(lat, lon, 115.0)
    per_face, samples = L.roof_face_irradiation(top, grid, sky)
    assert per_face["n_samples"].iloc[0] >= top["area"].iloc[0] * 0.9  # ~1 sample per m²
    ref = pvlib_plane(weather, lat, lon, 115.0, top["tilt"], top["azimuth"])
    np.testing.assert_allclose(per_face["irradiation"], ref, rtol=0.02)


def test_lod2_files_are_recognised(tmp_path):
    from solarkataster.io.lod2 import is_lod2_file

    (tmp_path / "a.json").write_text(json.dumps(cityjson_doc({"H": house()})))
    (tmp_path / "b.json").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    (tmp_path / "c.geojson").write_text("{}")
    assert is_lod2_file(tmp_path / "a.json") and not is_lod2_file(tmp_path / "b.json")
    assert not is_lod2_file(tmp_path / "c.geojson") and not is_lod2_file(tmp_path / "d.gpkg")
    assert is_lod2_file("x.gml") and is_lod2_file("x.city.jsonl")
