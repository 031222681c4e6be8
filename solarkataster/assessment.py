"""One PV assessment for any set of planar surfaces: roof faces and walls (later LoD2 faces).

A *surface table* (one row per surface, columns below) goes in; a table of assessment columns comes out,
indexed like the input. The chain is the same for every kind of surface; only the layout step differs:

1. **Layout** (:func:`roof_layout` or :func:`facade_layout_table`): usable area [m²], the number of modules
   that fit, their orientation and the *mounting* whose yield table applies.

   * Roof faces: a regular module grid on the face polygon inside the edge ``setback``
     (:func:`solarkataster.pv.module_layout`), capped by the usable area: the face area inside the setback,
     measured in the roof plane (:func:`solarkataster.pv.setback_region`: ``setback``, 0.5 m, from every
     edge, mitred; with a ``building`` column not from ridges and hips between faces of one roof,
     :func:`ridge_edges`), times the share of its pixels that reach ``irradiation_threshold`` of the
     reference.
     Superstructures are not in the face polygon, so they and their setback are not usable. Faces flatter
     than ``flat_threshold`` carry racked rows (mounting ``'rack'``, tilt ``flat_rack_tilt``); the others
     carry modules flush with the roof (mounting ``'roof'``). This is the one place of the rack-or-roof
     rule.
   * Walls: usable facade area = wall area minus the edge setback, minus the ground floor
     (``exclude_ground_floor``, one ``storey_height``), minus windows (``window_share``, default 40 %);
     the rest is taken as one contiguous field, and ``min_usable_area`` (10 m²) is its minimum size, as on
     roofs (smaller surfaces are 'unsuitable'). Party walls and walls without sampled irradiation carry no
     modules. Mounting ``'facade'``, modules vertical.

2. **Shading loss** ``1 - irradiation / unobstructed_irradiation`` (clipped to [0, 1]).
3. **Yield** from the run's :class:`solarkataster.pv.YieldTables` (one table per mounting, built once per
   run and weather): specific yield [kWh/kWp] and its twelve months at the modules' orientation and the
   shading loss.
4. **Suitability** relative to the site's reference irradiation (:func:`solarkataster.pv.suitability` with
   ``suitability_thresholds`` and ``min_usable_area``).
5. **Honest totals**: a surface classed below ``min_class`` (default 'limited', so 'unsuitable' surfaces)
   gets no modules: ``modules``, ``kwp``, ``yield_kwh``, ``co2_savings_kg`` and ``monthly_yield`` are 0,
   and what it could carry stays in ``potential_kwp`` and ``potential_yield_kwh``. Totals over surfaces
   (buildings) sum ``kwp`` and ``yield_kwh``, so they count only counted surfaces.

Input columns
-------------
all kinds
    ``azimuth`` [°] (NaN allowed for flat roofs), ``irradiation`` (mean annual, NaN = not sampled)
    [kWh/m²], ``unobstructed_irradiation`` (same orientation, no obstructions) [kWh/m²].
``kind='roof'``
    ``tilt`` [°], ``geometry`` (shapely polygon: horizontal projection of the face) [m], ``usable_share``
    (share of the face's pixels whose irradiation reaches the threshold) [-]; optional ``building`` (roof
    id: ridges and hips between its faces keep no setback).
``kind='wall'``
    ``length``, ``height`` (above ground) [m], ``shared`` (party wall, bool).

Output columns
--------------
:data:`ASSESSMENT_COLUMNS`: ``usable_area`` [m²], ``mounting``, ``module_tilt``, ``module_azimuth`` [°],
``shading_loss`` [-], ``specific_yield`` [kWh/kWp] (NaN without modules), ``potential_modules``,
``potential_kwp`` [kWp], ``potential_yield_kwh`` [kWh/a], ``suitability``, ``counted`` (bool),
``modules``, ``kwp`` [kWp], ``yield_kwh`` [kWh/a], ``co2_savings_kg`` [kg/a], ``monthly_yield``
(ndarray (12,)) [kWh/month].
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .errors import ParameterError, check_range
from .pv import (
    SUITABILITY_CLASSES,
    ModuleSpec,
    PVOptions,
    _Region,
    co2_savings_kg,
    facade_layout,
    module_layout,
    setback_regions,
    suitability,
)

KINDS = ("roof", "wall")

#: Columns of the assessment table, in order.
ASSESSMENT_COLUMNS = ("usable_area", "mounting", "module_tilt", "module_azimuth", "shading_loss", "specific_yield",
                      "potential_modules", "potential_kwp", "potential_yield_kwh", "suitability", "counted",
                      "modules", "kwp", "yield_kwh", "co2_savings_kg", "monthly_yield")

_REQUIRED = {"roof": ("tilt", "azimuth", "geometry", "usable_share", "irradiation", "unobstructed_irradiation"),
             "wall": ("azimuth", "length", "height", "shared", "irradiation", "unobstructed_irradiation")}


@dataclass(frozen=True)
class FacadeOptions:
    """Which part of a wall can carry modules.

    Parameters
    ----------
    window_share : float
        Share of the facade taken by windows and doors [-] (default 0.4, a typical residential facade).
    exclude_ground_floor : bool
        No modules on the ground floor (entrances, shop windows, vandalism).
    storey_height : float
        Height of the ground floor [m].
    """

    window_share: float = 0.4
    exclude_ground_floor: bool = True
    storey_height: float = 3.0

    def __post_init__(self):
        check_range("window_share", self.window_share, 0, 1)
        check_range("storey_height", self.storey_height, 0, 20, " m")


def is_racked(tilt, options=PVOptions()):
    """Whether roof faces of ``tilt`` [°] carry racked rows (below ``flat_threshold``) rather than flush modules."""
    return np.asarray(tilt, dtype=float) < options.flat_threshold


def roof_layout(surfaces, module=ModuleSpec(), options=PVOptions(), *, plan=None):
    """Usable area, module count and mounting of roof faces.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        ``tilt``, ``azimuth`` [°], ``geometry`` (horizontal projection) [m], ``usable_share`` [-]; optional
        ``latitude`` [°] of each surface (see :func:`surface_latitudes`), which sets the rack row spacing
        instead of ``options.latitude``, so a face's layout does not depend on the extent of the run;
        optional ``building`` (id of the roof a face belongs to): ridges and hips between faces of one
        roof then keep no setback (:func:`ridge_edges`).
    module : ModuleSpec
    options : PVOptions
    plan : pandas.DataFrame, optional
        :func:`roof_module_plan` of these surfaces, when already computed (it needs no irradiation).

    Returns
    -------
    pandas.DataFrame
        ``usable_area`` [m²], ``potential_modules``, ``module_tilt``, ``module_azimuth`` [°], ``mounting``
        ('rack' below ``flat_threshold``, else 'roof'); indexed like ``surfaces``.
    """
    if plan is None:
        plan = roof_module_plan(surfaces, module, options)
    share = np.nan_to_num(surfaces["usable_share"].to_numpy(float))
    usable = plan["setback_area"].to_numpy(float) * share
    fits = np.floor(np.where(usable > 0, usable, 0.0) / module.area)
    count = np.where(usable > 0, np.minimum(plan["layout_modules"].to_numpy(), fits), 0).astype(int)
    return pd.DataFrame({"usable_area": usable, "potential_modules": count,
                         "module_tilt": plan["module_tilt"].to_numpy(float),
                         "module_azimuth": plan["module_azimuth"].to_numpy(float),
                         "mounting": plan["mounting"].to_numpy()}, index=surfaces.index)


def roof_module_plan(surfaces, module=ModuleSpec(), options=PVOptions()):
    """Plan the modules of roof faces from their geometry alone (the part of :func:`roof_layout` before irradiation).

    It needs no irradiation, so a run computes it beside the engine.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        As :func:`roof_layout`'s, without ``usable_share``.
    module : ModuleSpec
    options : PVOptions

    Returns
    -------
    pandas.DataFrame
        ``setback_area`` [m²] (the face inside its setbacks, 0 where none), ``layout_modules`` (modules the
        layout fits), ``module_tilt``, ``module_azimuth`` [°] (NaN for faces without a geometry), ``mounting``;
        indexed like ``surfaces``.
    """
    import shapely

    n = len(surfaces)
    free = (ridge_edges(surfaces["geometry"], surfaces["tilt"], surfaces["azimuth"], surfaces["building"], options)
            if "building" in surfaces else [None] * n)
    tilt = surfaces["tilt"].to_numpy(float)
    latitude = (surfaces["latitude"].to_numpy(float) if "latitude" in surfaces
                else np.full(n, options.latitude))
    azimuth = surfaces["azimuth"].to_numpy(float)
    geoms = np.asarray(list(surfaces["geometry"]), dtype=object)
    present = np.array([g is not None and not g.is_empty for g in geoms], bool) & np.isfinite(tilt)
    # the setback regions (latitude plays no part in them) once, for the layout and the usable area
    regions = np.full(n, None, dtype=object)
    with np.errstate(invalid="ignore"):
        laid = present & (tilt < 89.0) & (np.isfinite(azimuth) | is_racked(tilt, options))
    if laid.any():
        regions[laid] = setback_regions(geoms[laid], tilt[laid], azimuth[laid], options,
                                        [free[k] for k in np.flatnonzero(laid)])
    # what the grid tests of each non-empty region need, in array calls (module_layout takes it as it is)
    prepared = regions.copy()
    there = np.flatnonzero(laid)
    there = there[~shapely.is_empty(regions[there])]
    for k, ready in zip(there, _Region.many(regions[there]) if len(there) else []):
        prepared[k] = ready
    setback_area = np.array([0.0 if r is None else r.area for r in regions])
    fits = np.zeros(n, dtype=int)
    m_tilt = np.full(n, np.nan)
    m_azimuth = np.full(n, np.nan)
    sites = {options.latitude: options}  # the options at each latitude, built (and validated) once
    for k in np.flatnonzero(present):
        at_site = sites.get(latitude[k])
        if at_site is None:
            at_site = sites[latitude[k]] = replace(options, latitude=float(latitude[k]))
        lay = module_layout(geoms[k], tilt[k], azimuth[k], module, at_site, free[k], region=prepared[k])
        m_tilt[k], m_azimuth[k], fits[k] = lay.module_tilt, lay.module_azimuth, lay.count
    return pd.DataFrame({"setback_area": setback_area, "layout_modules": fits, "module_tilt": m_tilt,
                         "module_azimuth": m_azimuth, "mounting": np.where(is_racked(tilt, options), "rack", "roof")},
                        index=surfaces.index)


def _same_roof_pairs(geoms, building, tolerance):
    """Pairs ``(a, b)``, a < b, of faces of one building whose bounding boxes come within ``tolerance`` [m]."""
    import shapely

    bounds = shapely.bounds(geoms)
    tree = shapely.STRtree(shapely.box(*(bounds + np.array([-1, -1, 1, 1]) * 0.5 * tolerance).T))
    a, b = tree.query(tree.geometries)
    keep = (a < b) & (building[a] == building[b])
    order = np.lexsort((b[keep], a[keep]))
    return a[keep][order], b[keep][order]


def _shared_pieces(geoms, first, second, tolerance, min_length):
    """Straight pieces of face ``first[k]``'s boundary within ``tolerance`` of face ``second[k]``'s.

    Parameters
    ----------
    geoms : ndarray of shapely Polygon or MultiPolygon
        Faces [m].
    first, second : ndarray of int
        Pairs of faces (indices into ``geoms``).
    tolerance : float
        Distance within which two boundaries count as shared [m].
    min_length : float
        Shortest piece kept [m].

    Returns
    -------
    p, q : ndarray, shape (pieces, 2)
        Start and end of every piece [m], pair by pair and along each edge of the first face's rings.
    pair : ndarray of int
        Index into ``first`` / ``second`` of each piece.
    """
    import shapely

    from ._kernels.layout import shared_edges

    rings, face_of_ring = shapely.get_parts(shapely.boundary(geoms), return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    edge = np.flatnonzero(ring_of[:-1] == ring_of[1:])
    edge_start = np.searchsorted(face_of_ring[ring_of[edge]], np.arange(len(geoms) + 1))
    x0, y0 = np.ascontiguousarray(xy[edge].T)
    x1, y1 = np.ascontiguousarray(xy[edge + 1].T)
    px, py, qx, qy, pair = shared_edges(np.asarray(first, np.int64), np.asarray(second, np.int64), edge_start,
                                        x0, y0, x1, y1, float(tolerance), float(min_length))
    return np.stack([px, py], axis=1), np.stack([qx, qy], axis=1), pair


def _top_of(polygons, p, q, azimuth, probe):
    """Whether each segment p-q is a top edge of its polygon: the face lies downslope, 17° or more off it.

    Parameters
    ----------
    polygons : ndarray of shapely Polygon or MultiPolygon
        One face per segment [m].
    p, q : ndarray, shape (segments, 2)
        Segment ends [m].
    azimuth : ndarray
        Face azimuth per segment [°].
    probe : float
        Distance from the segment's midpoint at which the face is looked for, on either side [m].

    Returns
    -------
    ndarray of bool
    """
    import shapely

    d = (q - p) / np.hypot(*(q - p).T)[:, None]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    mid = 0.5 * (p + q)
    ahead, behind = mid + probe * normal, mid - probe * normal
    inside_ahead = shapely.contains_xy(polygons, ahead[:, 0], ahead[:, 1])
    inside_behind = shapely.contains_xy(polygons, behind[:, 0], behind[:, 1])
    into = np.where(inside_ahead[:, None], normal, -normal)
    down = np.stack([np.sin(np.radians(azimuth)), np.cos(np.radians(azimuth))], axis=1)
    return (inside_ahead | inside_behind) & (np.einsum("ij,ij->i", down, into) >= 0.3)


def ridge_edges(geometries, tilt, azimuth, building, options=PVOptions(), tolerance=0.05):
    """Ridges and hips of each roof face: edges shared with a face of the same roof, both sloping away.

    Parameters
    ----------
    geometries : sequence of shapely Polygon or MultiPolygon
        Horizontal projections of the faces [m].
    tilt, azimuth : array_like
        Face tilt and azimuth [°].
    building : array_like
        Roof (building) id of each face; only faces of one building share ridges.
    options : PVOptions
        ``flat_threshold``: flatter faces (racked rows) keep their setback on every edge.
    tolerance : float
        Distance within which two face boundaries count as shared [m].

    Returns
    -------
    list
        Per face a MultiLineString of its ridge and hip edges, or None.

    Notes
    -----
    The setback of ``PVOptions.setback`` (0.5 m) protects the roof's edges: eaves and verges, where wind
    suction peaks (edge zones F and G of EN 1991-1-4, section 7.2.5), and party walls between houses, where
    the building codes ask for 0.5 m from a fire wall for roof-parallel PV with non-combustible surfaces
    (Musterbauordnung section 32 (5), as amended in 2022). No code asks for a distance from a ridge or hip
    between two faces of one roof, and this rule keeps none there: the ridge or hip tiles take about
    0.1-0.2 m, under the accuracy of a face boundary drawn from a 0.5-1 m surface model. A shared edge
    counts as a ridge or hip when it is the top edge of both faces (each face's downslope direction points
    away from it, 17° or more off the edge line); valleys (bottom edges of both faces, where water and
    snow collect) and edges along the slope keep their setback. Faces in different buildings (row houses)
    never share a ridge here.
    """
    import shapely

    geoms = np.asarray(list(geometries), dtype=object)
    tilt = np.asarray(tilt, float)
    azimuth = np.asarray(azimuth, float)
    building = np.asarray(building)
    out = [None] * len(geoms)
    valid = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    pitched = np.nonzero(valid & np.isfinite(tilt) & (tilt >= options.flat_threshold) & (tilt < 89.0)
                         & np.isfinite(azimuth))[0]
    if len(pitched) < 2:
        return out
    first, second = _same_roof_pairs(geoms[pitched], building[pitched], tolerance)
    first, second = pitched[first], pitched[second]
    # every straight piece of every shared boundary (a kernel over the faces' edges), then the top-edge test on
    # both faces, in array calls
    p, q, pair = _shared_pieces(geoms, first, second, tolerance, 4 * tolerance)
    i, j = first[pair], second[pair]
    ridge = (_top_of(geoms[i], p, q, azimuth[i], 2 * tolerance)
             & _top_of(geoms[j], p, q, azimuth[j], 2 * tolerance))
    segments = shapely.linestrings(np.stack([p[ridge], q[ridge]], axis=1))
    # each face's ridges in the order found (pair by pair along each boundary), as one MultiLineString
    face = np.concatenate([i[ridge], j[ridge]])
    order = np.argsort(face * 2 * len(segments) + np.concatenate([np.arange(len(segments))] * 2), kind="stable")
    ridges = np.full(len(geoms), None, dtype=object)  # faces without ridges stay None
    if len(order):
        shapely.multilinestrings(np.concatenate([segments, segments])[order], indices=face[order], out=ridges)
    return ridges.tolist()


def surface_latitudes(geometries, crs):
    """Latitude of each surface's representative point [°], rounded to 0.001° (about 100 m).

    Parameters
    ----------
    geometries : sequence of shapely geometries
        Horizontal projections of the surfaces [m] in ``crs``.
    crs : pyproj.CRS, str
        Their projected CRS.

    Returns
    -------
    numpy.ndarray
        WGS84 latitudes [°]; NaN for empty geometries.
    """
    import shapely
    from pyproj import Transformer

    points = shapely.point_on_surface(np.asarray(list(geometries), dtype=object))
    x, y = shapely.get_x(points), shapely.get_y(points)
    _, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.round(np.asarray(lat, dtype=float), 3)


def facade_layout_table(surfaces, module=ModuleSpec(), options=PVOptions(), facade=FacadeOptions()):
    """Usable area and module count of walls (see the module notes).

    Parameters
    ----------
    surfaces : pandas.DataFrame
        ``azimuth`` [°], ``length``, ``height`` [m], ``shared`` (bool), ``irradiation`` [kWh/m²].
    module : ModuleSpec
    options : PVOptions
    facade : FacadeOptions

    Returns
    -------
    pandas.DataFrame
        Like :func:`roof_layout`; mounting 'facade', module tilt 90°, azimuth the wall's.
    """
    lay = facade_layout(surfaces["length"].to_numpy(float), surfaces["height"].to_numpy(float),
                        window_share=facade.window_share, exclude_ground_floor=facade.exclude_ground_floor,
                        storey_height=facade.storey_height, module=module, options=options)
    blocked = surfaces["shared"].to_numpy(bool) | ~np.isfinite(surfaces["irradiation"].to_numpy(float))
    usable = np.where(blocked, 0.0, lay.usable_area)
    count = np.where(usable > 0, lay.count, 0).astype(int)
    return pd.DataFrame({"usable_area": usable, "potential_modules": count, "module_tilt": 90.0,
                         "module_azimuth": surfaces["azimuth"].to_numpy(float), "mounting": "facade"},
                        index=surfaces.index)


def _check_surfaces(surfaces, kind):
    if kind not in KINDS:
        raise ParameterError(f"kind={kind!r}: use one of {KINDS}")
    missing = [c for c in _REQUIRED[kind] if c not in surfaces.columns]
    if missing:
        raise ParameterError(f"surface table for kind={kind!r} lacks column(s) {missing}")


def shading_loss(irradiation, unobstructed_irradiation):
    """Share of the unobstructed plane-of-array irradiation lost to obstructions [-], in [0, 1].

    Surfaces whose unobstructed irradiation is 0 lose everything (1); NaN irradiation gives NaN.
    """
    irr = np.asarray(irradiation, float)
    unob = np.asarray(unobstructed_irradiation, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.clip(1.0 - irr / unob, 0.0, 1.0)
    return np.where(unob > 0, loss, np.where(np.isfinite(irr), 1.0, np.nan))


def vegetation_loss(lost_irradiation, unobstructed_irradiation):
    """Share of the unobstructed plane-of-array irradiation lost to vegetation [-], in [0, 1].

    Parameters
    ----------
    lost_irradiation : array_like
        Irradiation the canopy takes [kWh/m²/a] (:attr:`solarkataster.irradiation.Irradiation.vegetation_loss`
        averaged over the surface); NaN where the run has no vegetation.
    unobstructed_irradiation : array_like
        Irradiation of the same plane without any obstruction [kWh/m²/a].

    Returns
    -------
    ndarray
        NaN where ``lost_irradiation`` is NaN; 0 where the unobstructed plane gets nothing.
    """
    lost = np.asarray(lost_irradiation, float)
    unob = np.asarray(unobstructed_irradiation, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(lost / unob, 0.0, 1.0)
    return np.where(unob > 0, share, np.where(np.isfinite(lost), 0.0, np.nan))


def counted_classes(min_class="limited"):
    """Suitability classes that get modules: ``min_class`` and every better one."""
    if min_class not in SUITABILITY_CLASSES:
        raise ParameterError(f"min_class={min_class!r}: use one of {SUITABILITY_CLASSES}")
    return SUITABILITY_CLASSES[:SUITABILITY_CLASSES.index(min_class) + 1]


def assess_surfaces(surfaces, tables, reference_irradiation, *, kind, module=ModuleSpec(), options=PVOptions(),
                    facade=FacadeOptions(), plan=None):
    """PV assessment of a table of planar surfaces: layout, shading, yield, CO2, suitability, totals.

    Parameters
    ----------
    surfaces : pandas.DataFrame
        One row per surface with the input columns of ``kind`` (module notes).
    tables : solarkataster.pv.YieldTables
        The run's yield tables (built once, :func:`solarkataster.pv.build_yield_tables`).
    reference_irradiation : float
        Annual irradiation of the best unobstructed plane at the site [kWh/m²].
    kind : {'roof', 'wall'}
        Selects the layout step.
    module : ModuleSpec
    options : PVOptions
        Rack rule, setback, thresholds, ``min_usable_area``, ``min_class``, CO2 factor.
    facade : FacadeOptions
        Wall layout (``kind='wall'`` only).
    plan : pandas.DataFrame, optional
        :func:`roof_module_plan` of the surfaces, when already computed (``kind='roof'`` only).

    Returns
    -------
    pandas.DataFrame
        :data:`ASSESSMENT_COLUMNS`, indexed like ``surfaces``.
    """
    _check_surfaces(surfaces, kind)
    if kind == "roof":
        out = roof_layout(surfaces, module, options, plan=plan)
    else:
        out = facade_layout_table(surfaces, module, options, facade)
    irr = surfaces["irradiation"].to_numpy(float)
    loss = shading_loss(irr, surfaces["unobstructed_irradiation"].to_numpy(float))
    out["shading_loss"] = loss
    n = len(out)
    spec = np.full(n, np.nan)
    monthly = np.zeros((n, 12))
    for mounting in np.unique(out["mounting"]):
        sel = (out["mounting"] == mounting).to_numpy() & (out["potential_modules"].to_numpy() > 0)
        if sel.any():
            table = tables.table(mounting)
            args = (out["module_tilt"].to_numpy(float)[sel], out["module_azimuth"].to_numpy(float)[sel],
                    np.nan_to_num(loss[sel]))
            spec[sel] = table.specific_yield(*args)
            monthly[sel] = table.monthly_specific_yield(*args)
    kwp = out["potential_modules"].to_numpy() * module.power / 1000.0
    out["specific_yield"] = spec
    out["potential_kwp"] = kwp
    out["potential_yield_kwh"] = np.where(kwp > 0, kwp * np.nan_to_num(spec), 0.0)
    classes = suitability(np.nan_to_num(irr), out["usable_area"].to_numpy(float), reference_irradiation,
                          thresholds=options.suitability_thresholds, min_usable_area=options.min_usable_area)
    if kind == "wall":  # party walls are 'unsuitable'; walls without a sampled point have no class
        classes = np.where(np.isfinite(irr) | surfaces["shared"].to_numpy(bool), classes, None)
    out["suitability"] = classes
    counted = np.isin(out["suitability"].to_numpy(object), counted_classes(options.min_class))
    out["counted"] = counted
    out["modules"] = np.where(counted, out["potential_modules"].to_numpy(), 0)
    out["kwp"] = np.where(counted, kwp, 0.0)
    out["yield_kwh"] = np.where(counted, out["potential_yield_kwh"].to_numpy(), 0.0)
    out["co2_savings_kg"] = co2_savings_kg(out["yield_kwh"].to_numpy(), options.grid_emission_factor)
    out["monthly_yield"] = list(monthly * out["kwp"].to_numpy()[:, None])
    return out[list(ASSESSMENT_COLUMNS)]


# ---------------------------------------------------------------------------------------- hourly profiles

@dataclass(frozen=True)
class HourlyProfiles:
    """Hourly AC yield of the buildings of a run [kWh per record], float32.

    Attributes
    ----------
    times : pandas.DatetimeIndex
        Interval starts of the records (UTC).
    building_ids : ndarray
        One per row of ``roof`` and ``walls``.
    roof : ndarray, shape (buildings, records)
        Sum over the building's counted roof faces.
    walls : ndarray, shape (buildings, records), or None
        Sum over its counted walls (None when walls were not assessed).
    face_ids : ndarray
        Counted roof faces with modules, one per row of ``faces``.
    faces : ndarray, shape (faces, records)
    """

    times: pd.DatetimeIndex
    building_ids: np.ndarray
    roof: np.ndarray
    walls: np.ndarray | None
    face_ids: np.ndarray
    faces: np.ndarray


def _shading_from_yield(table, tilt, azimuth, specific):
    """Shading loss that gives ``specific`` [kWh/kWp] at (tilt, azimuth): exact inverse of the interpolation.

    At a fixed orientation the table's specific yield is piecewise linear and decreasing in the loss.
    """
    nodes = np.stack([table.specific_yield(tilt, azimuth, s) for s in table.shading], axis=1)
    loss = np.zeros(len(specific))
    for j in range(len(table.shading) - 1):
        hi, lo = nodes[:, j], nodes[:, j + 1]
        inside = (specific <= hi) & (specific >= lo) & (hi > lo)
        frac = np.where(inside, (hi - specific) / np.where(hi > lo, hi - lo, 1.0), 0.0)
        loss = np.where(inside & (loss == 0), table.shading[j] + frac * (table.shading[j + 1] - table.shading[j]),
                        loss)
    return loss


def _sum_rows(values, groups, order):
    """Sum the rows of ``values`` by group, rows in the order of ``order`` (zeros where a group has none)."""
    out = np.zeros((len(order), values.shape[1]), dtype=np.float32)
    pos = pd.Index(order).get_indexer(np.asarray(groups, dtype=object))
    keep = np.flatnonzero(pos >= 0)
    if keep.size:
        keep = keep[np.argsort(pos[keep], kind="stable")]
        p = pos[keep]
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        out[p[starts]] = np.add.reduceat(values[keep], starts, axis=0)
    return out


def building_profiles(building_ids, roofs, walls, tables, options=PVOptions()):
    """Hourly AC yield per building from the layers of a run and its yield tables (the same PV chain).

    Parameters
    ----------
    building_ids : sequence of str
        Buildings, in output order.
    roofs : pandas.DataFrame
        Roofs layer: ``building_id``, ``face_id``, ``tilt``, ``azimuth`` [°], ``shading_loss`` [-],
        ``kwp`` [kWp] (counted faces only carry kWp).
    walls : pandas.DataFrame or None
        Walls layer: ``building_id``, ``azimuth`` [°], ``kwp`` [kWp], ``yield_kwh`` [kWh/a].
    tables : solarkataster.pv.YieldTables
        Built with hourly values.
    options : PVOptions
        The rack-or-roof rule (``flat_threshold``, ``flat_rack_tilt``, ``flat_rack_azimuth``).

    Returns
    -------
    HourlyProfiles
        Roof faces: kWp x hourly specific yield at the module orientation and shading loss, so a profile
        sums to ``yield_kwh``. Walls carry no shading loss in their layer: it is recovered from
        ``yield_kwh / kwp`` by inverting the (piecewise linear) facade table, which gives back the same
        hourly chain.
    """
    ids = np.asarray(building_ids, dtype=object)
    r = roofs[roofs["kwp"].to_numpy(float) > 0]
    tilt = r["tilt"].to_numpy(float)
    flat = is_racked(tilt, options)
    m_tilt = np.where(flat, options.flat_rack_tilt, tilt)
    m_az = np.where(flat, options.flat_rack_azimuth, r["azimuth"].to_numpy(float))
    kwp = r["kwp"].to_numpy(float)
    loss = np.nan_to_num(r["shading_loss"].to_numpy(float))
    n_t = len(tables.roof.times)
    faces = np.zeros((len(r), n_t), dtype=np.float32)
    for mounting, sel in (("rack", flat), ("roof", ~flat)):
        if sel.any():
            faces[sel] = tables.table(mounting).scaled_hourly_yield(m_tilt[sel], m_az[sel], loss[sel], kwp[sel])
    roof = _sum_rows(faces, r["building_id"].to_numpy(), ids)
    wall = wall_profiles(ids, walls, tables) if walls is not None and tables.facade is not None else None
    return HourlyProfiles(tables.roof.times, ids, roof, wall, r["face_id"].to_numpy(object), faces)


def wall_profiles(building_ids, walls, tables):
    """Hourly AC yield of the walls per building [kWh per record], shape (buildings, records), float32.

    The walls' part of :func:`building_profiles` (which see): the shading loss of each wall is recovered
    from ``yield_kwh / kwp`` on the facade table.

    Parameters
    ----------
    building_ids : sequence of str
        Buildings, in output order.
    walls : pandas.DataFrame
        Walls layer: ``building_id``, ``azimuth`` [°], ``kwp`` [kWp], ``yield_kwh`` [kWh/a].
    tables : solarkataster.pv.YieldTables
        Built with a facade table with hourly values.
    """
    ids = np.asarray(building_ids, dtype=object)
    w = walls[walls["kwp"].to_numpy(float) > 0]
    wk, az = w["kwp"].to_numpy(float), w["azimuth"].to_numpy(float)
    tilt90 = np.full(len(w), 90.0)
    wloss = _shading_from_yield(tables.facade, tilt90, az, w["yield_kwh"].to_numpy(float) / np.maximum(wk, 1e-9))
    return _sum_rows(tables.facade.scaled_hourly_yield(tilt90, az, wloss, wk), w["building_id"].to_numpy(), ids)
