"""The layer contract (solarkataster.layers): schemas, written layers, rounding, classes and colours agree with it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from shapely.geometry import LinearRing

from solarkataster import layers
from solarkataster.cadastre import CadastreOptions, compute_cadastre
from solarkataster.io import export
from solarkataster.io.results import write_cadastre_results
from solarkataster.pipeline import EngineOptions, Site, load_grid
from solarkataster.sky import clear_sky_weather

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
CRS = "EPSG:25832"
X0, Y0 = 410_000.0, 5_477_000.0


@pytest.fixture(scope="module")
def detected_town(tmp_path_factory):
    """The sample town without footprints (buildings detected: all four layers), computed once, written once."""
    dsm = SAMPLE / "town_dsm.tif"
    site = Site.from_grid(load_grid(dsm))
    weather = clear_sky_weather(site.latitude, site.longitude, site.altitude, 2025, freq="1h")
    options = CadastreOptions(engine=EngineOptions(sectors=8, step_minutes=60), walls=True)
    result = compute_cadastre(dsm, dtm=SAMPLE / "town_dtm.tif", weather=weather, options=options)
    out = write_cadastre_results(result, tmp_path_factory.mktemp("contract") / "out", overview=False)
    return result, out


# ---------------------------------------------------------------------------------------- schemas

@pytest.mark.parametrize("name", sorted(layers.LAYERS))
def test_shipped_schema_equals_the_contract_field_for_field(name):
    shipped = export.load_schema(name)
    generated = layers.json_schema(name)
    props = shipped["$defs"]["properties"]
    assert props["required"] == layers.columns(name)
    assert list(props["properties"]) == layers.columns(name)  # order too
    for column in layers.layer(name).columns:
        assert props["properties"][column.name] == column.schema(), (name, column.name)
    # and the rest of the document (regenerate with solarkataster.io.export.write_schema_files())
    assert shipped == generated


def test_column_schema_follows_type_nullability_and_unit():
    roofs = layers.layer("roofs")
    assert roofs.by_name["irradiation"].schema()["type"] == ["number", "null"]
    assert roofs.by_name["area"].schema()["type"] == "number"
    assert roofs.by_name["irradiation"].schema()["description"].endswith(f"[{layers.IRRADIATION_UNIT}]")
    assert roofs.by_name["suitability"].schema()["enum"] == [*layers.SUITABILITY_CLASSES, None]
    assert roofs.by_name["face_id"].schema()["minLength"] == 1
    assert layers.id_field("roofs") == "face_id" and layers.id_field("walls") == "wall_id"
    assert all(c.is_id for c in roofs.columns if c.name in ("building_id", "face_id"))
    with pytest.raises(Exception, match="use one of"):
        layers.layer("chimneys")


def test_units_are_spelled_once():
    spelled = {u for name in layers.LAYERS for u in layers.units(name).values()}
    assert not any("m2" in u or "kWh/m^2" in u for u in spelled)
    for name in ("roofs", "walls"):
        assert layers.units(name)["irradiation"] == "kWh/m²/a"
        assert layers.units(name)["monthly_irradiation"] == "kWh/m²/month"


# ---------------------------------------------------------------------------------------- classes

def test_one_colour_table_best_class_first():
    colors = layers.suitability_colors()
    assert list(colors) == ["very good", "good", "limited", "unsuitable"] == list(layers.SUITABILITY_CLASSES)
    assert all(c.startswith("#") and len(c) == 7 for c in colors.values())
    assert len(set(colors.values())) == 4
    legend = layers.suitability_legend(2000.0, (0.85, 0.70, 0.55))
    assert [e["min"] for e in legend] == [1700.0, 1400.0, 1100.0, 0.0]
    assert [e["color"] for e in legend] == list(colors.values())
    assert layers.suitability_metadata(2000.0)["min"] == {"very good": 1700.0, "good": 1400.0, "limited": 1100.0}


def test_service_legend_uses_the_contract_and_relative_defaults(tmp_path):
    from results_fixture import write_results

    from solarkataster.service.store import ResultsStore

    folder = write_results(tmp_path, n_x=2, n_y=1, with_walls=False)
    meta = ResultsStore(folder).meta()
    assert {e["class"]: e["color"] for e in meta["legend"]} == layers.suitability_colors()
    assert meta["contract"] == layers.contract()
    # without thresholds in the results: the contract's site-relative shares, no absolute kWh bounds
    fc = json.loads((folder / "roofs.geojson").read_text())
    del fc["metadata"]["suitability"]
    (folder / "roofs.geojson").write_text(json.dumps(fc))
    (folder / "run.json").unlink()
    meta = ResultsStore(folder).meta()
    assert meta["suitability"]["thresholds"] == list(layers.DEFAULT_SUITABILITY_THRESHOLDS)
    assert all(e["min"] is None for e in meta["legend"])
    assert [e["min_share"] for e in meta["legend"]] == [*layers.DEFAULT_SUITABILITY_THRESHOLDS, 0.0]


# ---------------------------------------------------------------------------------------- rounding

def test_round_frame_applies_each_columns_decimals():
    frame = gpd.GeoDataFrame({
        "irradiation": [1234.5678, np.nan], "kwp": [1.23456, 0.0], "modules": [3, 0],
        "monthly_irradiation": [[1.23456] * 12, None], "building_id": ["a", "b"], "other": [1.23456, 2.0],
    }, geometry=[shapely.Point(0, 0)] * 2)
    out = layers.round_frame(frame, "roofs")
    assert out["irradiation"].iloc[0] == 1234.6 and np.isnan(out["irradiation"].iloc[1])
    assert out["kwp"].iloc[0] == 1.235 and out["modules"].tolist() == [3, 0]
    assert out["monthly_irradiation"].iloc[0] == [1.23] * 12 and out["monthly_irradiation"].iloc[1] is None
    assert out["other"].iloc[0] == 1.23456  # not a contract column: untouched
    bands = [[{"z_min": 0.0, "z_max": 3.00001, "irradiation": 612.3456}]]
    walls = layers.round_frame(gpd.GeoDataFrame({"bands": bands}, geometry=[shapely.Point(0, 0)]), "walls")
    assert walls["bands"].iloc[0] == [{"z_min": 0.0, "z_max": 3.0, "irradiation": 612.35}]


def test_a_new_column_is_one_edit(tmp_path, monkeypatch):
    """Adding a Column to a layer adds it to the schema, the units, the order and the rounding."""
    roofs = layers.layer("roofs")
    added = layers.Column("albedo_guess", "number", layers.RATIO_UNIT, "A new column", 2, minimum=0, maximum=1)
    monkeypatch.setitem(layers.LAYERS, "roofs", dataclasses.replace(roofs, columns=roofs.columns + (added,)))
    assert layers.columns("roofs")[-1] == "albedo_guess"
    assert layers.json_schema("roofs")["$defs"]["properties"]["properties"]["albedo_guess"]["maximum"] == 1
    frame = gpd.GeoDataFrame({"face_id": ["b-F01"], "albedo_guess": [0.123456], "building_id": ["b"]},
                             geometry=[shapely.box(X0, Y0, X0 + 5, Y0 + 5)], crs=CRS)
    doc = json.loads(export.write_geojson(tmp_path / "r.geojson", frame, layer="roofs").read_text())
    props = doc["features"][0]["properties"]
    assert list(props) == layers.columns("roofs") and props["albedo_guess"] == 0.12
    assert doc["metadata"]["units"]["albedo_guess"] == "1"


# ---------------------------------------------------------------------------------------- written layers

def _read(out, name):
    return json.loads((out / f"{name}.geojson").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["roofs", "walls", "buildings", "footprints_detected"])
def test_written_layer_properties_are_exactly_the_contract(detected_town, name):
    _, out = detected_town
    doc = _read(out, name)
    assert doc["features"], name
    for feature in doc["features"]:
        assert list(feature["properties"]) == layers.columns(name), name
    assert doc["metadata"]["layer"] == name and doc["metadata"]["units"] == layers.units(name)
    export.validate_layer(doc, name)
    frame = pyogrio.read_dataframe(out / "solarkataster.gpkg", layer=name)
    assert [c for c in frame.columns if c != "geometry"] == layers.columns(name)
    info = pyogrio.read_info(out / "solarkataster.gpkg", layer=name)
    assert json.loads(info["layer_metadata"]["units"]) == layers.units(name)


def test_written_values_are_rounded_as_the_contract_says(detected_town):
    _, out = detected_town
    for name in ("roofs", "walls", "buildings"):
        spec = layers.layer(name)
        for feature in _read(out, name)["features"]:
            for column, value in feature["properties"].items():
                decimals = spec.by_name[column].decimals
                if isinstance(value, float) and decimals is not None:
                    assert round(value, decimals) == value, (name, column, value)


def test_footprints_detected_follow_rfc7946(detected_town):
    result, out = detected_town
    doc = _read(out, "footprints_detected")
    assert "crs" not in doc and doc["metadata"]["source_crs"] == "EPSG:25832"
    assert len(doc["features"]) == int((result.footprints["source"] == "detected").sum())
    for feature in doc["features"]:
        geom = feature["geometry"]
        polygons = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for rings in polygons:
            for k, ring in enumerate(rings):
                assert all(round(v, 7) == v for xy in ring for v in xy)
                assert LinearRing(ring).is_ccw == (k == 0)  # right-hand rule


def test_rasters_and_run_json_use_the_contract_units(detected_town):
    _, out = detected_town
    run = json.loads((out / "run.json").read_text())
    assert run["units"]["irradiation"] == layers.IRRADIATION_UNIT
    assert "footprints_detected.geojson" in run["outputs_vector"]
    assert run["weather_label"] == _read(out, "roofs")["metadata"]["weather_label"]
    with rasterio.open(out / "irradiation.tif") as ds:
        assert ds.tags(1)["units"] == layers.IRRADIATION_UNIT


def test_computed_frames_carry_every_contract_column(detected_town):
    result, _ = detected_town
    for name, frame in (("roofs", result.roofs), ("walls", result.walls), ("buildings", result.buildings)):
        assert set(layers.columns(name)) <= set(frame.columns), name
