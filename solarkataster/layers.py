"""The layer contract: every column of the vector outputs, its unit, type, rounding and meaning, in one place.

The vector layers a run writes (``roofs``, ``walls``, ``buildings`` and, when buildings were detected,
``footprints_detected``) are read by the web service, the map page, GIS users and other programs. This
module is the only place that says what they contain:

* :data:`LAYERS` holds one :class:`Layer` per layer with its :class:`Column` s in output order. A column
  has a name, a JSON type, a unit, a description, the decimals it is rounded to, whether it may be null,
  its value range and whether it identifies the feature.
* :data:`SUITABILITY` holds the suitability classes, best first, with the one colour table and the labels
  that the overview, the legend and the map use. The classes are site-relative: a surface's mean annual
  irradiation against the site's best unobstructed orientation (:data:`DEFAULT_SUITABILITY_THRESHOLDS`).
* The unit strings (:data:`IRRADIATION_UNIT` and friends) are spelled once, ``kWh/m²/a`` style.

Everything else is derived: :func:`json_schema` builds the JSON Schema of a layer (the files shipped in
``solarkataster/schemas`` are generated from it and tested to be equal), :func:`round_frame` applies the
rounding, :func:`order_columns` the column order, :func:`units` the units recorded in each layer's
metadata, and :func:`contract` a JSON-able summary that the service hands to the map page.

A new column is one edit: add a :class:`Column` to its layer below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError

# ------------------------------------------------------------------------------------------- units

#: Annual irradiation per area.
IRRADIATION_UNIT = "kWh/m²/a"
#: Monthly irradiation per area.
IRRADIATION_MONTHLY_UNIT = "kWh/m²/month"
#: Annual AC energy.
ENERGY_UNIT = "kWh/a"
#: Monthly AC energy.
ENERGY_MONTHLY_UNIT = "kWh/month"
#: Annual AC energy per installed peak power.
SPECIFIC_YIELD_UNIT = "kWh/kWp/a"
#: Installed peak power.
POWER_UNIT = "kWp"
#: Avoided CO₂ per year.
CO2_UNIT = "kg/a"
#: Area.
AREA_UNIT = "m²"
#: Length and height.
LENGTH_UNIT = "m"
#: Angles (tilt, azimuth clockwise from north).
ANGLE_UNIT = "°"
#: Dimensionless ratios and counts.
RATIO_UNIT = "1"

#: Decimals of WGS84 longitude/latitude in GeoJSON (1e-7° is about 1 cm).
COORDINATE_DECIMALS = 7

# ------------------------------------------------------------------------------------- suitability


@dataclass(frozen=True)
class SuitabilityClass:
    """One suitability class: its value in the layers, a label for people, and its colour."""

    name: str
    label: str
    color: str
    description: str


#: The suitability classes, best first. The only colour table of the project (overview, legend, map).
SUITABILITY = (
    SuitabilityClass("very good", "very good", "#d7301f",
                     "at least the first threshold times the site's best unobstructed irradiation"),
    SuitabilityClass("good", "good", "#fc8d59", "at least the second threshold times the reference"),
    SuitabilityClass("limited", "limited", "#fdcc8a", "at least the third threshold times the reference"),
    SuitabilityClass("unsuitable", "unsuitable", "#bdbdbd",
                     "below the third threshold, or too little usable area"),
)
#: Class names, best first.
SUITABILITY_CLASSES = tuple(c.name for c in SUITABILITY)
#: Lower bounds of 'very good', 'good' and 'limited' as fractions of the site's best unobstructed
#: annual irradiation [-]; the defaults of the assessment's ``suitability_thresholds``.
DEFAULT_SUITABILITY_THRESHOLDS = (0.85, 0.70, 0.55)
#: Colour of a feature without a class.
NO_CLASS_COLOR = "#9e9e9e"


def suitability_colors():
    """Class name -> colour (``#rrggbb``), best class first."""
    return {c.name: c.color for c in SUITABILITY}


def suitability_legend(reference_irradiation=None, thresholds=DEFAULT_SUITABILITY_THRESHOLDS):
    """Return the legend of the suitability classes, best first.

    Parameters
    ----------
    reference_irradiation : float, optional
        Annual irradiation of the site's best unobstructed orientation [kWh/m²/a]; without it the
        entries carry only the relative thresholds.
    thresholds : (float, float, float)
        Lower bounds of 'very good', 'good' and 'limited' as fractions of the reference [-].

    Returns
    -------
    list of dict
        ``class``, ``label``, ``color``, ``min_share`` (fraction of the reference, 0 for 'unsuitable') and
        ``min`` (the absolute lower bound [kWh/m²/a], None without a reference).
    """
    shares = [float(t) for t in thresholds] + [0.0]
    ref = None if reference_irradiation is None or not math.isfinite(reference_irradiation) \
        else float(reference_irradiation)
    return [{"class": c.name, "label": c.label, "color": c.color, "min_share": share,
             "min": None if ref is None else round(share * ref, 1)} for c, share in zip(SUITABILITY, shares)]


def suitability_metadata(reference_irradiation, thresholds=DEFAULT_SUITABILITY_THRESHOLDS):
    """Return the ``suitability`` member of each layer's metadata: how the classes were drawn at this site.

    Parameters
    ----------
    reference_irradiation : float
        Annual irradiation of the site's best unobstructed orientation [kWh/m²/a].
    thresholds : (float, float, float)
        Lower bounds of 'very good', 'good' and 'limited' as fractions of the reference [-].

    Returns
    -------
    dict
        ``property``, ``unit``, ``reference_irradiation``, ``thresholds`` and ``min`` (class -> absolute
        lower bound [kWh/m²/a]).
    """
    legend = suitability_legend(reference_irradiation, thresholds)
    return {"property": "irradiation", "unit": IRRADIATION_UNIT,
            "reference_irradiation": round(float(reference_irradiation), 1),
            "thresholds": [float(t) for t in thresholds],
            "min": {entry["class"]: entry["min"] for entry in legend[:3]}}


# ----------------------------------------------------------------------------------------- columns

_MONTHLY_ITEMS = {"type": ["number", "null"]}
_BAND_ITEMS = {
    "type": "object",
    "required": ["z_min", "z_max", "irradiation"],
    "properties": {
        "z_min": {"type": "number", "description": "Band bottom above ground [m]"},
        "z_max": {"type": "number", "description": "Band top above ground [m]"},
        "irradiation": {"type": ["number", "null"], "minimum": 0,
                        "description": f"Mean annual irradiation [{IRRADIATION_UNIT}]"},
        "vegetation_loss": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                            "description": f"Fraction of the unobstructed wall's irradiation lost to vegetation, "
                                           f"only with vegetation [{RATIO_UNIT}]"},
    },
}


@dataclass(frozen=True)
class Column:
    """One property of a layer.

    Parameters
    ----------
    name : str
        Property name.
    type : {'string', 'number', 'integer', 'boolean', 'array'}
        JSON type of a value.
    unit : str
        Unit ('' for identifiers, classes and flags; '1' for ratios and counts).
    description : str
        What the value is, without the unit.
    decimals : int, optional
        Decimals a number (or every number inside an array) is rounded to on output.
    nullable : bool
        Whether a value may be null.
    is_id : bool
        Whether the column identifies a feature or its parent (building).
    minimum, maximum, exclusive_maximum : float, optional
        Value range.
    enum : tuple, optional
        The allowed values (classes).
    items : dict, optional
        JSON Schema of the items of an array column.
    length : int, optional
        Exact number of items of an array column.
    """

    name: str
    type: str
    unit: str = ""
    description: str = ""
    decimals: int | None = None
    nullable: bool = False
    is_id: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    enum: tuple | None = None
    items: dict | None = None
    length: int | None = None

    def schema(self) -> dict:
        """JSON Schema of one value of the column."""
        if self.enum is not None:
            out = {"enum": list(self.enum) + ([None] if self.nullable else [])}
        else:
            out = {"type": [self.type, "null"] if self.nullable else self.type}
        for key, value in (("minLength", 1 if self.is_id else None), ("minimum", self.minimum),
                           ("maximum", self.maximum), ("exclusiveMaximum", self.exclusive_maximum),
                           ("minItems", self.length), ("maxItems", self.length), ("items", self.items)):
            if value is not None:
                out[key] = value
        shown = "-" if self.unit == RATIO_UNIT else self.unit
        unit = f" [{shown}]" if self.unit and self.type != "integer" else ""
        out["description"] = self.description + unit
        return out


@dataclass(frozen=True)
class Layer:
    """One vector layer: its columns in output order, its id column and its geometry types.

    Parameters
    ----------
    name : str
        Layer (and file) name.
    title : str
        Title of its JSON Schema.
    geometry : tuple of str
        GeoJSON geometry types its features have.
    id_field : str
        The column unique within the layer.
    columns : tuple of Column
        The contract columns, in output order.
    passthrough : str
        What other columns of a frame are: '' (none expected; written after the contract columns if
        present) or a description of the attributes that pass through (model attributes of buildings).
    """

    name: str
    title: str
    geometry: tuple
    id_field: str
    columns: tuple
    passthrough: str = ""
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> list:
        """Column names in output order."""
        return [c.name for c in self.columns]


def _num(name, unit, description, decimals, *, nullable=False, minimum=0, maximum=None, **extra):
    return Column(name, "number", unit, description, decimals, nullable, minimum=minimum, maximum=maximum,
                  **extra)


def _irr(name, description):
    return _num(name, IRRADIATION_UNIT, description, 1, nullable=True)


def _monthly(name, unit, description, decimals):
    return Column(name, "array", unit, description, decimals, True, items=_MONTHLY_ITEMS, length=12)


_CLASS = dict(enum=SUITABILITY_CLASSES, nullable=True)
_BUILDING_ID = Column("building_id", "string", "", "Building identifier", is_id=True)

ROOFS = Layer("roofs", "Roof faces", ("Polygon", "MultiPolygon"), "face_id", (
    _BUILDING_ID,
    Column("face_id", "string", "", "Roof face identifier, unique in the layer and stable between runs",
           is_id=True),
    # nullable until the surface assessment writes it (issue 10); then nullable=False
    Column("source", "string", "", "Where the face's plane comes from: 'lidar' (fitted to the surface "
           "model) or 'lod2' (a city model's roof surface)", enum=("lidar", "lod2"), nullable=True),
    _num("tilt", ANGLE_UNIT, "Face tilt, 0 = flat", 2, maximum=90),
    _num("azimuth", ANGLE_UNIT, "Face azimuth clockwise from north; null for faces flatter than 5°", 2,
         nullable=True, exclusive_maximum=360),
    _num("area", AREA_UNIT, "True (sloped) face area", 2),
    _num("footprint_area", AREA_UNIT, "Horizontal projection of the face", 2),
    _num("height", LENGTH_UNIT, "Mean face height above ground; null if no terrain model", 2, nullable=True,
         minimum=None),
    _num("plane_rmse", LENGTH_UNIT, "Root-mean-square distance of the face's surface-model pixels from its "
         "plane; null where the plane is not fitted", 3, nullable=True),
    _num("plane_share", RATIO_UNIT, "Share of the face's pixels within tolerance of its plane; null where the "
         "plane is not fitted", 3, nullable=True, maximum=1),
    _irr("irradiation", "Mean annual irradiation"),
    _irr("irradiation_p10", "10th percentile of pixel annual irradiation"),
    _irr("irradiation_p50", "Median pixel annual irradiation"),
    _irr("irradiation_p90", "90th percentile of pixel annual irradiation"),
    _monthly("monthly_irradiation", IRRADIATION_MONTHLY_UNIT, "Mean monthly irradiation, January to December",
             2),
    _num("shading_loss", RATIO_UNIT, "Fraction of the unobstructed plane's irradiation lost to obstructions",
         4, nullable=True, maximum=1),
    _num("vegetation_loss", RATIO_UNIT, "Fraction of the unobstructed plane's irradiation lost to vegetation "
         "(the trees' part of shading_loss); null where no vegetation was given", 4, nullable=True, maximum=1),
    _num("usable_area", AREA_UNIT, "Area suitable for modules", 2),
    Column("modules", "integer", RATIO_UNIT, "Number of modules placed (0 where unsuitable)", minimum=0),
    _num("kwp", POWER_UNIT, "Installed peak power (0 where unsuitable)", 3),
    _num("yield_kwh", ENERGY_UNIT, "Annual AC energy (0 where unsuitable)", 1, nullable=True),
    _num("specific_yield", SPECIFIC_YIELD_UNIT, "Annual AC energy per kWp", 1, nullable=True),
    _num("co2_savings_kg", CO2_UNIT, "CO₂ avoided per year", 1, nullable=True),
    # nullable until the surface assessment writes it (issue 10); then nullable=False
    _num("potential_kwp", POWER_UNIT, "Peak power the face would carry whatever its class", 3, nullable=True),
    _num("potential_yield_kwh", ENERGY_UNIT, "Annual AC energy the face would give whatever its class", 1,
         nullable=True),
    Column("suitability", "string", "", "Suitability class relative to the site's best orientation", **_CLASS),
))

WALLS = Layer("walls", "Wall segments", ("LineString",), "wall_id", (
    _BUILDING_ID,
    Column("wall_id", "string", "", "Wall segment identifier, unique in the layer and stable between runs",
           is_id=True),
    _num("azimuth", ANGLE_UNIT, "Azimuth of the outward wall normal clockwise from north", 2,
         exclusive_maximum=360),
    _num("length", LENGTH_UNIT, "Wall segment length", 2),
    _num("height", LENGTH_UNIT, "Wall height above ground", 2),
    _num("area", AREA_UNIT, "Wall area", 2),
    _irr("irradiation", "Mean annual irradiation on the wall"),
    _monthly("monthly_irradiation", IRRADIATION_MONTHLY_UNIT, "Mean monthly irradiation, January to December",
             2),
    Column("bands", "array", f"z_min, z_max: {LENGTH_UNIT} above ground; irradiation: {IRRADIATION_UNIT}",
           "Annual irradiation per height band (storey)", 2, True, items=_BAND_ITEMS),
    _num("sky_view_factor", RATIO_UNIT, "Mean sky view factor of the wall's samples", 4, nullable=True,
         maximum=1),
    _num("covered_share", RATIO_UNIT, "Share of the wall's samples covered by a neighbouring structure", 4,
         nullable=True, maximum=1),
    _num("vegetation_loss", RATIO_UNIT, "Fraction of the unobstructed wall's irradiation lost to vegetation; "
         "null where no vegetation was given", 4, nullable=True, maximum=1),
    _num("usable_area", AREA_UNIT, "Facade area suitable for modules", 2),
    _num("kwp", POWER_UNIT, "Installed peak power (0 where unsuitable)", 3),
    _num("yield_kwh", ENERGY_UNIT, "Annual AC energy (0 where unsuitable)", 1, nullable=True),
    # nullable until the surface assessment writes it (issue 10); then nullable=False
    _num("potential_kwp", POWER_UNIT, "Peak power the wall would carry whatever its class", 3, nullable=True),
    _num("potential_yield_kwh", ENERGY_UNIT, "Annual AC energy the wall would give whatever its class", 1,
         nullable=True),
    Column("suitability", "string", "", "Suitability class relative to the site's best orientation", **_CLASS),
    Column("shared", "boolean", "", "Party wall shared with a neighbouring building (no PV)"),
))

#: Currency unit of the economics columns.
EURO_UNIT = "€"
EURO_PER_YEAR_UNIT = "€/a"
YEAR_UNIT = "a"


def _household_columns():
    """Default-household economics of the roof PV (:mod:`solarkataster.economics`): no battery, 5 kWh."""
    cols = [_num("consumption_kwh", ENERGY_UNIT, "Annual electricity consumption of the default household(s) "
                 "(footprint column or the default rule)", 0, nullable=True),
            Column("load_profile", "string", "", "BDEW 2025 standard load profile of the load",
                   enum=("H25", "G25"), nullable=True)]
    for suffix, case in (("", "without battery"), ("_5kwh", "with a 5 kWh battery")):
        cols += [
            _num(f"self_consumption_share{suffix}", RATIO_UNIT, f"Share of the roof PV energy used on site, {case}; "
                 "null without PV", 4, nullable=True, maximum=1),
            _num(f"autarky_share{suffix}", RATIO_UNIT, f"Share of the consumption covered by the roof PV, {case}",
                 4, nullable=True, maximum=1),
            _num(f"annual_savings_eur{suffix}", EURO_PER_YEAR_UNIT, "Electricity cost avoided plus feed-in "
                 f"revenue in the first year, {case}", 0, nullable=True, minimum=None),
            _num(f"investment_eur{suffix}", EURO_UNIT, f"Cost of the PV system, {case}", 0, nullable=True),
            _num(f"payback_years{suffix}", YEAR_UNIT, f"Simple payback time, {case}; null if never", 1,
                 nullable=True),
            _num(f"npv_eur{suffix}", EURO_UNIT, f"Net present value over 20 years, {case}", 0, nullable=True,
                 minimum=None)]
    return cols


BUILDINGS = Layer("buildings", "Buildings", ("Polygon", "MultiPolygon"), "building_id", (
    Column("building_id", "string", "", "Building identifier, unique in the layer", is_id=True),
    Column("source", "string", "", "Where the footprint came from", enum=("footprints", "detected", "lod2")),
    Column("status", "string", "", "'ok' or a short description of the problem", minimum=None),
    Column("partly_outside", "boolean", "", "Footprint reaches beyond the surface model"),
    Column("faces", "integer", RATIO_UNIT, "Number of roof faces", minimum=0),
    # nullable until the surface assessment writes it (issue 10); then nullable=False
    _num("footprint_area", AREA_UNIT, "Area of the footprint", 2, nullable=True),
    _num("roof_area", AREA_UNIT, "True (sloped) roof area", 2),
    _num("roof_plan_area", AREA_UNIT, "Horizontal projection of the roof faces; null without faces", 2,
         nullable=True),
    _num("usable_area", AREA_UNIT, "Roof area suitable for modules", 2),
    _num("kwp", POWER_UNIT, "Roof peak power on counted faces", 3),
    _num("yield_kwh", ENERGY_UNIT, "Roof annual AC energy on counted faces", 1, nullable=True),
    _num("specific_yield", SPECIFIC_YIELD_UNIT, "Roof annual AC energy per kWp", 1, nullable=True),
    _num("co2_savings_kg", CO2_UNIT, "CO₂ avoided per year by roof PV", 1, nullable=True),
    _monthly("monthly_yield", ENERGY_MONTHLY_UNIT, "Roof AC energy per month, January to December", 1),
    Column("suitability", "string", "", "Best suitability class of the building's roof faces", **_CLASS),
    _num("wall_area", AREA_UNIT, "Facade area (non-shared walls)", 2, nullable=True),
    _num("wall_kwp", POWER_UNIT, "Facade peak power on counted walls", 3, nullable=True),
    _num("wall_yield_kwh", ENERGY_UNIT, "Facade annual AC energy on counted walls", 1, nullable=True),
    _num("height", LENGTH_UNIT, "Building height above ground; null if no terrain model", 2, nullable=True,
         minimum=None),
    *_household_columns(),
), passthrough="attributes of the footprints or the city model (address, function, ...), written unchanged "
               "after the contract columns")

FOOTPRINTS_DETECTED = Layer(
    "footprints_detected", "Detected building footprints", ("Polygon", "MultiPolygon"), "building_id",
    (Column("building_id", "string", "", "Building identifier (as in the buildings layer)", is_id=True),))

#: Every layer of the contract by name.
LAYERS = {layer.name: layer for layer in (ROOFS, WALLS, BUILDINGS, FOOTPRINTS_DETECTED)}


def layer(name) -> Layer:
    """Look up the :class:`Layer` called ``name``; a :class:`ParameterError` names the known ones."""
    try:
        return LAYERS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"layer={name!r}: use one of {sorted(LAYERS)}") from None


def columns(name) -> list:
    """Column names of a layer in output order."""
    return layer(name).names


def units(name) -> dict:
    """Column -> unit of a layer, in output order (recorded in every layer's metadata)."""
    return {c.name: c.unit for c in layer(name).columns}


def id_field(name) -> str:
    """Return the column of a layer that is unique per feature."""
    return layer(name).id_field


def order_columns(names, name) -> list:
    """``names`` in output order: the contract's columns present, then the others in their order."""
    contract_names = layer(name).names
    present = set(names)
    return [c for c in contract_names if c in present] + [c for c in names if c not in contract_names]


# ---------------------------------------------------------------------------------------- rounding

def _round_nested(value, decimals):
    """Round every finite float in a list, tuple, array or dict cell; other values stay as they are."""
    if isinstance(value, dict):  # finite floats (most values) inline
        return {k: round(v, decimals) if type(v) is float and math.isfinite(v) else _round_nested(v, decimals)
                for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":  # most cells: one pass over Python floats
        return [round(v, decimals) if math.isfinite(v) else v for v in value.tolist()]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [round(v, decimals) if type(v) is float and math.isfinite(v) else _round_nested(v, decimals)
                for v in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), decimals) if math.isfinite(value) else value
    return value


def round_values(values, column: Column):
    """Round the values of one column to its decimals (arrays elementwise, list cells recursively).

    Parameters
    ----------
    values : array_like
        The column's values.
    column : Column

    Returns
    -------
    ndarray
        Same length; float columns as float64, others as object.
    """
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if column.decimals is None:
        return arr
    if arr.dtype.kind == "f":
        return np.round(arr.astype(np.float64), column.decimals)
    if arr.dtype.kind in "iub":
        return arr
    return np.array([_round_nested(v, column.decimals) for v in arr] if arr.size else [], dtype=object)


def round_frame(frame, name):
    """Return a copy of ``frame`` with every contract column of layer ``name`` rounded to its decimals.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        One row per feature.
    name : str
        Layer name.

    Returns
    -------
    same type as ``frame``
    """
    out = frame.copy()
    for column in layer(name).columns:
        if column.name in out.columns and column.decimals is not None:
            rounded = round_values(out[column.name].to_numpy(), column)
            out[column.name] = list(rounded) if rounded.dtype == object else rounded
    return out


# ---------------------------------------------------------------------------------------- schemas

_SCHEMA_BASE = "https://solarkataster.org/schemas/"


def _geometry_schema(kind):
    if kind == "Polygon":
        coordinates = {"$ref": "#/$defs/polygon"}
    elif kind == "MultiPolygon":
        coordinates = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/polygon"}}
    elif kind == "LineString":
        coordinates = {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/position"}}
    else:
        raise ParameterError(f"geometry type {kind!r} has no schema")
    return {"type": "object", "required": ["type", "coordinates"],
            "properties": {"type": {"const": kind}, "coordinates": coordinates}}


def json_schema(name) -> dict:
    """Build the JSON Schema (draft 2020-12) of a layer's GeoJSON file, built from the contract.

    Parameters
    ----------
    name : str
        Layer name.

    Returns
    -------
    dict
        Requires every contract column in every feature (null where the column is nullable); extra
        properties are allowed.
    """
    spec = layer(name)
    extra = f" Other properties: {spec.passthrough}." if spec.passthrough else " Extra properties are allowed."
    position = {"type": "array", "minItems": 2, "maxItems": 3,
                "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180},
                                {"type": "number", "minimum": -90, "maximum": 90}],
                "items": {"type": "number"}}
    metadata = {"type": "object", "required": ["layer", "units", "version", "created"],
                "properties": {"layer": {"const": name}, "units": {"type": "object"},
                               "version": {"type": "string"}, "created": {"type": "string"},
                               "source_crs": {"type": ["string", "null"]}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_SCHEMA_BASE}{name}.schema.json",
        "title": spec.title,
        "description": f"solarkataster '{name}' layer: an RFC 7946 FeatureCollection (WGS84 lon/lat) with a "
                       f"'metadata' foreign member. Properties are listed in their output order.{extra}",
        "type": "object",
        "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"}, "metadata": metadata,
                       "features": {"type": "array", "items": {"$ref": "#/$defs/feature"}}},
        "$defs": {
            "position": position,
            "ring": {"type": "array", "minItems": 4, "items": {"$ref": "#/$defs/position"}},
            "polygon": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/ring"}},
            "feature": {"type": "object", "required": ["type", "geometry", "properties"],
                        "properties": {"type": {"const": "Feature"},
                                       "geometry": {"oneOf": [_geometry_schema(k) for k in spec.geometry]},
                                       "properties": {"$ref": "#/$defs/properties"}}},
            "properties": {"type": "object", "required": spec.names,
                           "properties": {c.name: c.schema() for c in spec.columns}},
        },
    }


def contract() -> dict:
    """Return the contract as plain JSON: per layer its columns, and the suitability classes.

    The service serves it to the map page, which takes units, labels and colours from it.
    """
    return {
        "layers": {spec.name: {"id_field": spec.id_field, "passthrough": spec.passthrough or None,
                               "columns": [{"name": c.name, "type": c.type, "unit": c.unit,
                                            "description": c.description, "nullable": c.nullable,
                                            "id": c.is_id} for c in spec.columns]}
                   for spec in LAYERS.values()},
        "suitability": [{"class": c.name, "label": c.label, "color": c.color, "description": c.description}
                        for c in SUITABILITY],
        "no_class_color": NO_CLASS_COLOR,
    }
