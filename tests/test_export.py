"""GeoJSON / GeoPackage export and the layer schemas (solarkataster.io.export)."""
from __future__ import annotations

import json
import types

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from solarkataster import layers
from solarkataster.errors import InputError
from solarkataster.io import export

CRS = "EPSG:25832"  # UTM 32N, Kaiserslautern
X0, Y0 = 410_000.0, 5_477_000.0


def _monthly(scale):
    return list(scale * np.array([20, 35, 70, 110, 140, 150, 150, 130, 90, 55, 25, 15], float))


@pytest.fixture
def roofs():
    # clockwise exterior (wrong for RFC 7946) with a counter-clockwise hole: the writer must fix both
    outer = [(X0, Y0), (X0, Y0 + 10), (X0 + 12, Y0 + 10), (X0 + 12, Y0)]
    hole = [(X0 + 4, Y0 + 4), (X0 + 6, Y0 + 4), (X0 + 6, Y0 + 6), (X0 + 4, Y0 + 6)]
    face_a = shapely.Polygon(outer, [hole])
    face_b = shapely.MultiPolygon([shapely.box(X0 + 20, Y0, X0 + 25, Y0 + 5),
                                   shapely.box(X0 + 30, Y0, X0 + 33, Y0 + 4)])
    frame = pd.DataFrame({
        "building_id": ["b1", "b2"],
        "face_id": ["b1-0", "b2-0"],
        "tilt": np.array([35.0, 2.0]),
        "azimuth": np.array([180.0, np.nan]),        # flat face: azimuth unknown -> null
        "area": np.array([142.0, 37.0], np.float32),
        "footprint_area": [116.0, 37.0],
        "height": [np.nan, 9.5],
        "irradiation": [1150.5, 1010.25],
        "irradiation_p10": [1000.0, 980.0],
        "irradiation_p50": [1160.0, 1012.0],
        "irradiation_p90": [1210.0, 1030.0],
        "monthly_irradiation": [_monthly(1.0), np.array(_monthly(0.9))],
        "shading_loss": [0.05, 0.0],
        "usable_area": [100.0, 20.0],
        "modules": np.array([40, 8], np.int64),
        "kwp": [18.0, 3.6],
        "yield_kwh": [17100.0, 3200.0],
        "specific_yield": [950.0, 888.9],
        "co2_savings_kg": [6207.3, 1161.6],
        "suitability": ["very good", "good"],
        "extra_note": ["x", None],
    })
    return gpd.GeoDataFrame(frame, geometry=[face_a, face_b], crs=CRS)


@pytest.fixture
def walls():
    frame = pd.DataFrame({
        "building_id": ["b1", "b1"], "wall_id": ["b1-w0", "b1-w1"], "azimuth": [180.0, 90.0],
        "length": [12.0, 10.0], "height": [7.0, 7.0], "area": [84.0, 70.0],
        "irradiation": [650.0, np.nan], "monthly_irradiation": [_monthly(0.5), None],
        "bands": [[{"z_min": 0.0, "z_max": 3.0, "irradiation": 600.0},
                   {"z_min": 3.0, "z_max": 7.0, "irradiation": np.float64(700.0)}], []],
        "usable_area": [40.0, 0.0], "kwp": [8.1, 0.0], "yield_kwh": [5000.0, None],
        "suitability": ["limited", None], "shared": np.array([False, True]),
    })
    lines = [shapely.LineString([(X0 + 12, Y0), (X0, Y0)]), shapely.LineString([(X0 + 12, Y0 + 10), (X0 + 12, Y0)])]
    return gpd.GeoDataFrame(frame, geometry=lines, crs=CRS)


@pytest.fixture
def buildings():
    frame = pd.DataFrame({
        "building_id": ["b1", "b2"], "source": ["footprints", "detected"], "status": ["ok", "no roof faces"],
        "partly_outside": [False, True], "faces": np.array([2, 0], np.int32), "roof_area": [142.0, 0.0],
        "usable_area": [100.0, 0.0], "kwp": [18.0, 0.0], "yield_kwh": [17100.0, 0.0],
        "specific_yield": [950.0, np.nan], "co2_savings_kg": [6207.3, 0.0],
        "monthly_yield": [_monthly(10.0), _monthly(0.0)], "suitability": ["very good", "unsuitable"],
        "wall_area": [154.0, np.nan], "wall_kwp": [8.1, np.nan], "wall_yield_kwh": [5000.0, np.nan],
        "height": [9.0, None],
    })
    geoms = [shapely.box(X0, Y0, X0 + 12, Y0 + 10), shapely.box(X0 + 20, Y0, X0 + 33, Y0 + 5)]
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=CRS)


def _signed_area(ring):
    xy = np.asarray(ring)
    return 0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1])


def test_geojson_roofs_valid_rounded_oriented(tmp_path, roofs):
    path = export.write_geojson(tmp_path / "roofs.geojson", roofs, layer="roofs",
                                metadata={"weather": {"name": "clear-sky"}, "resolution": np.float32(0.5)})
    text = path.read_text("utf-8")
    assert "NaN" not in text
    doc = json.loads(text)
    assert export.validate_layer(doc, "roofs") and export.validate_layer(path, "roofs")
    assert "crs" not in doc
    meta = doc["metadata"]
    assert meta["layer"] == "roofs" and meta["units"]["irradiation"] == "kWh/m²/a"
    assert meta["weather"] == {"name": "clear-sky"} and meta["resolution"] == 0.5
    assert meta["source_crs"] == CRS and meta["created"].endswith("+00:00")
    a, b = doc["features"]
    # property order: contract order, then extras
    assert list(a["properties"]) == layers.columns("roofs") + ["extra_note"]
    assert a["properties"]["height"] is None and b["properties"]["azimuth"] is None
    assert b["properties"]["extra_note"] is None
    assert isinstance(a["properties"]["modules"], int) and a["properties"]["area"] == 142.0
    assert a["properties"]["monthly_irradiation"] == pytest.approx(_monthly(1.0))
    assert b["properties"]["monthly_irradiation"] == pytest.approx(_monthly(0.9))
    # coordinates: lon/lat near Kaiserslautern, at most 7 decimals, equal to pyproj's transform
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon0, lat0 = to_wgs84.transform(X0, Y0)
    ring = a["geometry"]["coordinates"][0]
    for lon, lat in ring:
        assert 7.0 < lon < 8.5 and 49.0 < lat < 50.0
        assert round(lon, 7) == lon and round(lat, 7) == lat
    assert min(abs(lon - lon0) + abs(lat - lat0) for lon, lat in ring) < 2e-7
    # right-hand rule: exterior counter-clockwise (positive area), holes clockwise
    assert a["geometry"]["type"] == "Polygon"
    assert _signed_area(a["geometry"]["coordinates"][0]) > 0
    assert _signed_area(a["geometry"]["coordinates"][1]) < 0
    assert b["geometry"]["type"] == "MultiPolygon"
    assert all(_signed_area(p[0]) > 0 for p in b["geometry"]["coordinates"])


def test_geojson_walls_and_buildings_valid(tmp_path, walls, buildings):
    doc = json.loads(export.write_geojson(tmp_path / "w.geojson", walls, layer="walls").read_text())
    export.validate_layer(doc, "walls")
    w0, w1 = doc["features"]
    assert w0["geometry"]["type"] == "LineString"
    assert w0["properties"]["bands"][1] == {"z_min": 3.0, "z_max": 7.0, "irradiation": 700.0}
    assert w1["properties"]["irradiation"] is None and w1["properties"]["shared"] is True
    doc = json.loads(export.write_geojson(tmp_path / "b.geojson", buildings, layer="buildings").read_text())
    export.validate_layer(doc, "buildings")
    assert doc["features"][1]["properties"]["specific_yield"] is None
    assert doc["features"][0]["properties"]["faces"] == 2


def test_rounding_and_missing_columns_follow_the_contract(tmp_path, roofs, caplog):
    roofs = roofs.copy()
    roofs["irradiation"] = [1150.54999, 1010.25001]
    roofs["kwp"] = [18.00049, 3.6]
    roofs["monthly_irradiation"] = [[v + 0.004321 for v in _monthly(1.0)], _monthly(0.9)]
    doc = json.loads(export.write_geojson(tmp_path / "r.geojson", roofs, layer="roofs").read_text())
    a = doc["features"][0]["properties"]
    assert a["irradiation"] == 1150.5 and a["kwp"] == 18.0
    assert a["monthly_irradiation"][0] == round(_monthly(1.0)[0] + 0.004321, 2)
    # columns the frame lacks are written as null, and the writer says which
    assert a["potential_kwp"] is None and a["plane_rmse"] is None
    assert "potential_kwp" in caplog.text


def test_validation_reports_missing_and_wrong_type(tmp_path, roofs):
    doc = json.loads(export.write_geojson(tmp_path / "r.geojson", roofs, layer="roofs").read_text())
    missing = json.loads(json.dumps(doc))
    del missing["features"][1]["properties"]["kwp"]
    with pytest.raises(InputError, match=r"features/1/properties.*'kwp' is a required property"):
        export.validate_layer(missing, "roofs")
    wrong = json.loads(json.dumps(doc))
    wrong["features"][0]["properties"]["modules"] = "forty"
    wrong["features"][0]["properties"]["suitability"] = "excellent"
    with pytest.raises(InputError) as info:
        export.validate_layer(wrong, "roofs")
    assert "modules" in str(info.value) and "'forty' is not of type" in str(info.value)
    assert "excellent" in str(info.value)
    short = json.loads(json.dumps(doc))
    short["features"][0]["properties"]["monthly_irradiation"] = [1.0] * 11
    with pytest.raises(InputError, match="monthly_irradiation"):
        export.validate_layer(short, "roofs")
    dup = json.loads(json.dumps(doc))
    dup["features"][1]["properties"]["face_id"] = dup["features"][0]["properties"]["face_id"]
    with pytest.raises(InputError, match="duplicate face_id"):
        export.validate_layer(dup, "roofs")
    bad_file = tmp_path / "bad.geojson"
    bad_file.write_text("{not json")
    with pytest.raises(InputError, match="bad.geojson"):
        export.validate_layer(bad_file, "roofs")


def test_atomic_geojson_leaves_old_file_on_failure(tmp_path, roofs, monkeypatch):
    target = tmp_path / "roofs.geojson"
    target.write_text("previous content")
    calls = {"n": 0, "partial": []}
    real = export.orjson.dumps

    def encode_or_fail(feature):
        calls["n"] += 1
        if calls["n"] > 1:  # the second feature: the temp file already holds the header and the first
            calls["partial"] = [p.name for p in tmp_path.iterdir() if p.name != target.name]
            raise RuntimeError("disk full")
        return real(feature)

    monkeypatch.setattr(export, "orjson", types.SimpleNamespace(dumps=encode_or_fail))
    with pytest.raises(RuntimeError, match="disk full"):
        export.write_geojson(target, roofs, layer="roofs")
    assert calls["n"] == 2 and len(calls["partial"]) == 1  # it failed mid-write, into a temp file
    assert target.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roofs.geojson"]


def test_gpkg_layers_round_trip(tmp_path, roofs, walls, buildings):
    path = export.write_gpkg(tmp_path / "out.gpkg", {"roofs": roofs, "walls": walls, "buildings": buildings},
                             metadata={"weather": "clear-sky"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]  # GDAL reads may add .aux.xml
    assert sorted(name for name, _ in pyogrio.list_layers(path)) == ["buildings", "roofs", "walls"]
    back = gpd.read_file(path, layer="roofs")
    assert back.crs.to_epsg() == 25832
    assert list(back.columns[:len(layers.columns("roofs"))]) == layers.columns("roofs")
    for column in ("building_id", "face_id", "suitability"):
        assert back[column].tolist() == roofs[column].tolist()
    rounded = layers.round_frame(roofs, "roofs")  # the writer rounds as the contract says
    assert rounded["irradiation"].tolist() == [1150.5, 1010.2]
    for column in ("tilt", "azimuth", "area", "height", "irradiation", "kwp", "modules"):
        np.testing.assert_allclose(back[column].to_numpy(float), rounded[column].to_numpy(float), rtol=1e-6)
    assert [json.loads(v) for v in back["monthly_irradiation"]] == [pytest.approx(_monthly(1.0)),
                                                                    pytest.approx(_monthly(0.9))]
    # mixed Polygon/MultiPolygon layers come back as MultiPolygon (GDAL promotes); shapes are equal
    assert all(back.geometry.geom_equals(roofs.geometry.reset_index(drop=True)))
    w = gpd.read_file(path, layer="walls")
    assert w["shared"].tolist() == [False, True]
    assert json.loads(w["bands"][0])[0] == {"z_min": 0.0, "z_max": 3.0, "irradiation": 600.0}
    b = gpd.read_file(path, layer="buildings")
    assert b["partly_outside"].tolist() == [False, True] and b["faces"].tolist() == [2, 0]
    assert np.isnan(b["specific_yield"][1])
    meta = pyogrio.read_info(path, layer="roofs")
    assert json.loads(meta["layer_metadata"]["units"])["kwp"] == "kWp"


def test_gpkg_atomic_on_failure(tmp_path, roofs, monkeypatch):
    target = tmp_path / "out.gpkg"
    target.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pyogrio, "write_dataframe", broken)
    with pytest.raises(RuntimeError, match="boom"):
        export.write_gpkg(target, {"roofs": roofs})
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_missing_crs_is_an_error(tmp_path, roofs):
    from solarkataster.errors import CRSError
    with pytest.raises(CRSError, match="no CRS"):
        export.write_geojson(tmp_path / "x.geojson", roofs.set_crs(None, allow_override=True), layer="roofs")
    assert not (tmp_path / "x.geojson").exists()


def test_weather_label_names_the_basis():
    from solarkataster.io.results import weather_label

    assert weather_label({"name": "clear-sky"}) == "clear-sky"
    assert weather_label({"name": "DWD TRY 2010", "region": 12}) == "DWD TRY 2010 region 12"
    assert weather_label({"name": "dwd-try", "label": "DWD TRY 2010 region 12 (Mannheim)", "region": 12}) \
        == "DWD TRY 2010 region 12 (Mannheim)"
    assert weather_label({}) == "unknown weather"


def test_geometry_objects_equal_geos_geojson():
    """The array-built GeoJSON geometries are shapely's (GEOS's) own, for every kind a layer can hold."""
    from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon

    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)], [[(0.25, 0.25), (0.25, 0.5), (0.5, 0.5)]])
    geoms = [square, None, Polygon(), MultiPolygon([square, Polygon([(2, 2), (3.1234567, 2), (3, 2.7)])]),
             LineString([(7.0123456, 51.4), (7.0123457, 51.5)]), MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
             Point(1, 2), LineString([(0, 0, 1), (1, 1, 2)]), shapely.from_wkt("GEOMETRYCOLLECTION (POINT (1 1))")]
    expected = [None if g is None or g.is_empty else json.loads(shapely.to_geojson(g)) for g in geoms]
    assert export._geometry_objects(np.array(geoms, dtype=object)) == expected
    assert export._geometry_objects(np.array([], dtype=object)) == []


def test_json_column_equals_json_value_per_cell():
    columns = [np.array([1.5, np.nan, np.inf, -2.0]), np.array([1.5, np.nan], dtype=np.float32),
               np.array([3, -1], dtype=np.int64), np.array([True, False]),
               np.array(["a", None, [1.0, float("nan")], {"k": np.float64(2.0)}], dtype=object)]
    for values in columns:
        converted = export._json_column(values)
        assert converted == [export._json_value(v) for v in values]
        assert [type(v) for v in converted] == [type(export._json_value(v)) for v in values]


def test_rounding_keeps_polygons_valid(tmp_path):
    # a notch whose tip lies 4e-8° above the bottom edge: plain rounding to 1e-7° puts the tip on the edge
    lon, lat = 6.93, 51.43
    ring = [(lon, lat), (lon + 1e-5, lat), (lon + 1e-5, lat + 1e-5), (lon + 5e-6, lat + 4e-8), (lon, lat + 1e-5)]
    notched = shapely.Polygon(ring)
    assert notched.is_valid and not shapely.transform(notched, lambda xy: np.round(xy, 7)).is_valid
    frame = gpd.GeoDataFrame({"building_id": ["b1"], "source": ["footprints"]},
                             geometry=[notched, ], crs="EPSG:4326")
    doc = json.loads(export.write_geojson(tmp_path / "b.geojson", frame, layer="buildings", metadata={})
                     .read_text("utf-8"))
    geom = shapely.geometry.shape(doc["features"][0]["geometry"])
    assert geom.is_valid and geom.area == pytest.approx(notched.area, rel=0.02)
    coords = shapely.get_coordinates(geom)
    assert np.array_equal(np.round(coords, 7), coords)
