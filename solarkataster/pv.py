"""PV potential of roof faces and walls: module layout, specific yield, suitability class and CO2.

The chain per surface is

1. :func:`module_layout` (roofs) or :func:`facade_layout` (walls): how many modules fit, in which
   orientation, and their peak power [kWp];
2. :func:`specific_yield_table`: annual and monthly AC energy per installed kWp [kWh/kWp] for a grid of
   orientations and shading losses, computed once per weather year with pvlib and then interpolated for
   every face by :meth:`YieldTable.specific_yield`;
3. :func:`co2_savings_kg` and :func:`suitability`.

:mod:`solarkataster.assessment` chains these for whole tables of roof faces and walls.

Loss budget
-----------
The DC losses are the components of the PVWatts v5 loss chain [1]_ (``pvlib.pvsystem.pvwatts_losses``,
multiplied as ``1 - prod(1 - l_i / 100)``), with PVWatts' defaults except shading, which the cadastre
models itself (horizons, :attr:`YieldTable.shading`): soiling 2 %, snow 0 %, mismatch 2 %, wiring 2 %,
connections 0.5 %, light-induced degradation 1.5 %, nameplate rating 1 %, age 0 %, availability 3 %,
together 11.42 % (:data:`PVWATTS_LOSSES`). The inverter is applied once, after these, with pvlib's PVWatts
inverter model at ``eta_inv_nom = 0.96`` (PVWatts' default; about 0.963 at typical load). PVGIS's 14 %
[7]_ is not used: it already contains the inverter, so applying it together with an inverter model would
count the inverter twice. The resulting performance ratio (AC yield per kWp / plane-of-array irradiation)
of an unshaded south 35° roof at Kaiserslautern (49.4° N) is 0.81 under the DWD test reference year 2010 of
region 6 (859 kWh/kWp from 1062 kWh/m²) and 0.77 under a clear-sky year (1631 kWh/kWp from 2118 kWh/m²: the
cells run hotter), end to end through :func:`solarkataster.cadastre.compute_cadastre` and within 0.4 % of
pvlib's ModelChain with the same models and losses (``tests/test_cadastre.py``, ``tests/test_assessment.py``).
Before, 14 % and the inverter gave 3.0 % less.

Suitability classes
-------------------
German solar cadastres (e.g. the state portals of Rhineland-Palatinate, NRW, Bavaria) grade a roof
*relative to the best orientation at the site*, so that the classes mean the same thing in Kiel and in
Freiburg and under any weather year. We do the same: a surface's mean annual irradiation [kWh/m²] is divided
by ``reference_irradiation``, the annual irradiation of the best unobstructed plane at the site
(:attr:`YieldTable.reference_irradiation`).

============  ==========================  ===========================================
class         irradiation / reference     note
============  ==========================  ===========================================
very good     >= 0.85                     south-ish, little shading
good          >= 0.70                     east/west roofs, moderate shading
limited       >= 0.55                     steep north-east/west, facades, shaded
unsuitable    < 0.55                      or usable area < ``min_usable_area`` (10 m²)
============  ==========================  ===========================================

CO2 factor
----------
:data:`GRID_EMISSION_FACTOR_DE_2024` = 0.363 kg CO2/kWh is the Umweltbundesamt's estimate of the direct CO2
emissions per kWh of the German electricity mix for 2024 (UBA, "Entwicklung der spezifischen
Treibhausgas-Emissionen des deutschen Strommix in den Jahren 1990 - 2024", 2025; 363 g/kWh). The previous
report (Climate Change 23/2024, years 1990 - 2023) gives 380 g/kWh for 2023
(:data:`GRID_EMISSION_FACTOR_DE_2023`). The default is the newest figure; pass another factor for other
countries or years.

References
----------
.. [1] Dobos, A. P. (2014). PVWatts Version 5 Manual. NREL/TP-6A20-62641. https://doi.org/10.2172/1158421
.. [2] Faiman, D. (2008). Assessing the outdoor operating temperature of photovoltaic modules. Progress in
   Photovoltaics 16(4), 307-315. https://doi.org/10.1002/pip.813
.. [3] Driesse, A., Theristis, M., Stein, J. S. (2022). PV module operating temperature model equivalence
   and parameter translation. IEEE PVSC 2022. https://doi.org/10.1109/PVSC48317.2022.9938895
.. [4] King, D. L., Boyson, W. E., Kratochvil, J. A. (2004). Photovoltaic array performance model.
   SAND2004-3535. https://doi.org/10.2172/919131
.. [5] Perez, R., Ineichen, P., Seals, R., Michalsky, J., Stewart, R. (1990). Modeling daylight
   availability and irradiance components from direct and global irradiance. Solar Energy 44(5), 271-289.
   https://doi.org/10.1016/0038-092X(90)90055-H
.. [6] De Soto, W., Klein, S. A., Beckman, W. A. (2006). Improvement and validation of a model for
   photovoltaic array performance. Solar Energy 80(1), 78-88. https://doi.org/10.1016/j.solener.2005.06.010
   (``iam_model='physical'``); Souka, A. F., Safwat, H. H. (1966). Determination of the optimum
   orientations for the double exposure flat-plate collector and its reflections. Solar Energy 10(4),
   170-174. https://doi.org/10.1016/0038-092X(66)90004-1 (``'ashrae'``).
.. [7] Huld, T. et al. (2012). A new solar radiation database for estimating PV performance in Europe and
   Africa. Solar Energy 86(6), 1803-1815. https://doi.org/10.1016/j.solener.2012.03.006 (PVGIS, 14 %
   default system loss).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from ._kernels import layout as _kl
from .decomposition import complete_irradiance
from .errors import ParameterError, check_range
from .hours import to_utc_hours
from .layers import SUITABILITY_CLASSES
from .weather import DEFAULT_TEMP_AIR, DEFAULT_WIND_SPEED, WeatherYear

log = logging.getLogger(__name__)

#: German electricity mix, direct CO2 per kWh consumed, UBA estimate for 2024 [kg CO2/kWh].
GRID_EMISSION_FACTOR_DE_2024 = 0.363
#: German electricity mix, UBA Climate Change 23/2024, value for 2023 [kg CO2/kWh].
GRID_EMISSION_FACTOR_DE_2023 = 0.380
#: Default factor used by :func:`co2_savings_kg` [kg CO2/kWh].
GRID_EMISSION_FACTOR = GRID_EMISSION_FACTOR_DE_2024

#: Obliquity of the ecliptic: solar declination at the solstices [°].
SOLSTICE_DECLINATION = 23.44

#: Faiman parameters (u0 [W/(m² K)], u1 [W s/(m³ K)]) per mounting. 'rack': Faiman's own open-rack fit [2]
#: (pvlib defaults). 'roof' and 'facade': the SAPM close-mount glass/glass and insulated-back
#: glass/polymer sets [4] translated to Faiman with pvlib's GenericLinearModel [3] (efficiency 0.20,
#: absorptance 0.90).
FAIMAN_PARAMETERS = {
    "rack": (25.0, 6.84),
    "roof": (19.5, 1.09),
    "facade": (16.5, 0.88),
}

#: PVWatts v5 DC loss components [%] (Dobos 2014 [1]_, pvlib ``pvwatts_losses`` defaults) without shading,
#: which is modelled: together 11.42 %.
PVWATTS_LOSSES = {"soiling": 2.0, "snow": 0.0, "mismatch": 2.0, "wiring": 2.0, "connections": 0.5, "lid": 1.5,
                  "nameplate_rating": 1.0, "age": 0.0, "availability": 3.0}

MOUNTINGS = ("rack", "roof", "facade")

DEFAULT_TILTS = tuple(float(t) for t in range(0, 91, 5))
DEFAULT_AZIMUTHS = tuple(float(a) for a in range(0, 360, 15))
DEFAULT_SHADING = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class ModuleSpec:
    """A PV module.

    Parameters
    ----------
    length, width : float
        Module dimensions [m] (long side, short side).
    power : float
        Peak power at STC [Wp].
    """

    length: float = 1.76
    width: float = 1.13
    power: float = 450.0

    @property
    def area(self) -> float:
        """Module area [m²]."""
        return self.length * self.width

    @property
    def efficiency(self) -> float:
        """STC efficiency [-]: power / (1000 W/m² * area)."""
        return self.power / (1000.0 * self.area)


@dataclass(frozen=True)
class PVOptions:
    """Model choices for layout, yield and grading.

    Parameters
    ----------
    setback : float
        Clear edge strip kept free of modules on every roof edge [m] (fire code and wind loads).
    flat_threshold : float
        Faces flatter than this are treated as flat roofs with racked rows [°].
    flat_rack_tilt, flat_rack_azimuth : float
        Tilt and azimuth of modules racked on flat roofs [°].
    latitude : float
        Site latitude for the row-spacing rule [°]; the pipeline sets the raster centre's.
    max_gcr : float
        Upper limit of the ground coverage ratio of racked rows [-] (matters near the equator only).
    losses : dict
        DC loss components [%] of the PVWatts loss chain [1]_, keys of ``pvlib.pvsystem.pvwatts_losses``
        except ``shading`` (modelled); default :data:`PVWATTS_LOSSES` (11.42 % together). Missing keys
        are 0.
    inverter_efficiency : float
        Nominal inverter efficiency for pvlib's PVWatts inverter model [1]_ [-], applied once after the
        DC losses.
    gamma_pdc : float
        Power temperature coefficient [1/K].
    temperature_model : str
        Cell temperature model; only ``'faiman'`` [2]_.
    temperature_parameters : dict
        ``mounting -> (u0, u1)`` Faiman parameters, see :data:`FAIMAN_PARAMETERS`.
    iam_model : str
        ``'physical'`` or ``'ashrae'`` (pvlib.iam) [6]_, applied to the beam only.
    albedo : float
        Ground reflectance for the Perez transposition [-].
    min_usable_area : float
        Smallest usable area that makes a surface worth a system [m²].
    grid_emission_factor : float
        CO2 avoided per kWh of PV electricity [kg CO2/kWh], see :data:`GRID_EMISSION_FACTOR`.
    irradiation_threshold : float
        A pixel is usable when its annual irradiation reaches this fraction of the site's reference
        irradiation [-] (same scale as the 'limited' class).
    suitability_thresholds : (float, float, float)
        Lower bounds of 'very good', 'good' and 'limited' as fractions of the site's reference
        irradiation [-] (:func:`suitability`), for roofs and walls alike.
    min_class : str
        Lowest suitability class that gets modules (one of :data:`SUITABILITY_CLASSES`): surfaces below
        it keep their potential in ``potential_kwp`` and ``potential_yield_kwh`` but count 0 modules, kWp,
        kWh and CO2, and add nothing to their building's totals.
    """

    setback: float = 0.5
    flat_threshold: float = 10.0
    flat_rack_tilt: float = 15.0
    flat_rack_azimuth: float = 180.0
    latitude: float = 51.0
    max_gcr: float = 0.7
    losses: dict = field(default_factory=lambda: dict(PVWATTS_LOSSES))
    inverter_efficiency: float = 0.96
    gamma_pdc: float = -0.0037
    temperature_model: str = "faiman"
    temperature_parameters: dict = field(default_factory=lambda: dict(FAIMAN_PARAMETERS))
    iam_model: str = "physical"
    albedo: float = 0.2
    min_usable_area: float = 10.0
    grid_emission_factor: float = GRID_EMISSION_FACTOR
    irradiation_threshold: float = 0.55
    suitability_thresholds: tuple = (0.85, 0.70, 0.55)
    min_class: str = "limited"

    def __post_init__(self):
        check_range("setback", self.setback, 0, 10, " m")
        check_range("flat_threshold", self.flat_threshold, 0, 45, "°")
        check_range("flat_rack_tilt", self.flat_rack_tilt, 0, 60, "°")
        check_range("flat_rack_azimuth", self.flat_rack_azimuth, 0, 360, "°")
        check_range("latitude", self.latitude, -66, 66, "°")
        check_range("max_gcr", self.max_gcr, 0.05, 1.0)
        _check_losses(self.losses)
        check_range("inverter_efficiency", self.inverter_efficiency, 0.5, 1.0)
        check_range("gamma_pdc", self.gamma_pdc, -0.02, 0.0, " 1/K")
        check_range("albedo", self.albedo, 0, 1)
        check_range("min_usable_area", self.min_usable_area, 0, 1e6, " m²")
        check_range("grid_emission_factor", self.grid_emission_factor, 0, 2, " kg/kWh")
        check_range("irradiation_threshold", self.irradiation_threshold, 0, 1)
        if self.temperature_model != "faiman":
            raise ParameterError(f"temperature_model={self.temperature_model!r}: only 'faiman' is supported")
        if self.iam_model not in ("physical", "ashrae"):
            raise ParameterError(f"iam_model={self.iam_model!r}: use 'physical' or 'ashrae'")
        if self.min_class not in SUITABILITY_CLASSES:
            raise ParameterError(f"min_class={self.min_class!r}: use one of {SUITABILITY_CLASSES}")
        very_good, good, limited = (float(t) for t in self.suitability_thresholds)
        if not 1.5 >= very_good >= good >= limited >= 0:
            raise ParameterError(f"suitability_thresholds={self.suitability_thresholds}: must be decreasing "
                                 "fractions of the reference irradiation")

    @property
    def system_loss(self) -> float:
        """Combined DC loss of :attr:`losses` [%]: ``100 (1 - prod(1 - l_i / 100))``."""
        return float(100.0 * (1.0 - np.prod([1.0 - float(v) / 100.0 for v in self.losses.values()])))


def _check_losses(losses):
    allowed = ("soiling", "snow", "mismatch", "wiring", "connections", "lid", "nameplate_rating", "age",
               "availability")
    if not isinstance(losses, dict):
        raise ParameterError(f"losses={losses!r}: give a dict of PVWatts loss components [%], e.g. "
                             f"{PVWATTS_LOSSES}")
    for key, value in losses.items():
        if key == "shading":
            raise ParameterError("losses: 'shading' is modelled from the horizons; leave it out")
        if key not in allowed:
            raise ParameterError(f"losses: unknown component {key!r}; use {allowed}")
        check_range(f"losses[{key!r}]", value, 0, 100, " %")


# ----------------------------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class ModuleLayout:
    """Modules placed on one face.

    Attributes
    ----------
    count : int
        Number of modules.
    kwp : float
        Installed peak power [kWp].
    module_tilt, module_azimuth : float
        Orientation of the modules [°] (the face's, or the rack's on flat roofs).
    area_modules : float
        Total module area [m²].
    rows : int
        Number of module rows.
    orientation : str
        ``'portrait'`` (long side up the slope / across the row) or ``'landscape'``; ``''`` if empty.
    """

    count: int
    kwp: float
    module_tilt: float
    module_azimuth: float
    area_modules: float
    rows: int
    orientation: str


_N_OFFSETS = 4  # grid offsets tried per axis (fractions k/4 of a module)
#: Points closer to a region's edge than this many units in the last place of its coordinates are tested
#: by GEOS's exact predicate; farther ones by the floating-point parity test (its error is a few units).
_EXACT_BAND_ULPS = 100.0


@dataclass(frozen=True)
class _Region:
    """A setback region with what every grid test of it needs, computed once for all module orientations.

    Attributes
    ----------
    geometry : shapely geometry
        The region (prepared).
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` [m].
    rings : tuple of ndarray or None
        :func:`solarkataster._kernels.layout.ring_arrays` of the region.
    convex : bool
        Whether the region fills its convex hull (then corners inside prove a rectangle inside).
    valid : bool
        Whether the region is a valid geometry (then an edge through a rectangle proves it not inside).
    """

    geometry: object
    bounds: tuple
    rings: tuple | None
    convex: bool
    valid: bool = False

    @classmethod
    def of(cls, region):
        """Return the region's bounds, rings, convexity and validity."""
        shapely.prepare(region)
        return cls(region, region.bounds, _kl.ring_arrays(region),
                   not region.area < shapely.convex_hull(region).area * (1 - 1e-9), shapely.is_valid(region))

    @classmethod
    def many(cls, regions):
        """:meth:`of` of an array of non-empty regions, each GEOS query in one array call."""
        regions = np.asarray(regions, dtype=object)
        shapely.prepare(regions)
        bounds = shapely.bounds(regions).tolist()
        convex = ~(shapely.area(regions) < shapely.area(shapely.convex_hull(regions)) * (1 - 1e-9))
        valid = shapely.is_valid(regions)
        areal = np.isin(shapely.get_type_id(regions), (3, 6))  # Polygon, MultiPolygon: ring arrays
        # every ring of every areal region in one pass, then each region's slice (as ring_arrays)
        parts, part_of = shapely.get_parts(regions[areal], return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        ring_start = np.zeros(len(rings) + 1, np.int64)
        np.cumsum(np.bincount(vertex_of, minlength=len(rings)), out=ring_start[1:])
        region_rings = np.searchsorted(part_of[ring_of], np.arange(areal.sum() + 1))  # first ring of each
        out = []
        k = 0
        for g, b, c, v, a in zip(regions, bounds, convex.tolist(), valid.tolist(), areal.tolist()):
            rings_of_g = None
            if a:
                start = ring_start[region_rings[k]:region_rings[k + 1] + 1]
                rings_of_g = (x[start[0]:start[-1]], y[start[0]:start[-1]], start - start[0])
                k += 1
            out.append(cls(g, tuple(b), rings_of_g, bool(c), bool(v)))
        return out


def _exact_band(region, xs, ys):
    """Distance from a region's edges within which its grid tests defer to GEOS [m] (:data:`_EXACT_BAND_ULPS`)."""
    scale = max(np.abs(region.bounds).max(), np.abs(xs).max(initial=0.0), np.abs(ys).max(initial=0.0))
    return _EXACT_BAND_ULPS * np.spacing(scale)


def _grid_contains_xy(region, xs, ys, tol=None):
    """``shapely.contains_xy(region, x, y)`` for every point ``(xs[j], ys[i])`` of a grid, shape (ny, nx).

    The parity test of :func:`solarkataster._kernels.layout.grid_in_rings` decides the points clear of the
    edges, a row of points at a time; GEOS decides the few within :data:`_EXACT_BAND_ULPS` of one, so the
    answers are GEOS's, point for point. ``region`` is a :class:`_Region`; ``tol`` is
    ``_exact_band(region, xs, ys)`` when the caller has it.
    """
    rings = region.rings
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    if rings is None:
        gx, gy = np.meshgrid(xs, ys)
        return shapely.contains_xy(region.geometry, gx, gy)
    code = np.empty((ys.size, xs.size), np.int8)
    undecided = _kl.grid_in_rings(xs, ys, rings[0], rings[1], rings[2],
                                  _exact_band(region, xs, ys) if tol is None else tol, code)
    inside = code == 1
    if undecided:
        near_y, near_x = np.nonzero(code == _kl.UNDECIDED)
        inside[near_y, near_x] = shapely.contains_xy(region.geometry, xs[near_x], ys[near_y])
    return inside


def _grid_offsets(extent, cell, pitch):
    """Grid offsets along one axis: k/4 of the pitch, plus the one that centres the grid in ``extent``."""
    # plain float arithmetic (the same IEEE operations as numpy's, without its call overhead on 5 numbers)
    n = math.floor((extent - cell) / pitch) + 1.0 if extent >= cell else 0
    centred = 0.5 * (extent - cell - (n - 1) * pitch) if n else 0.0
    return np.array([k / _N_OFFSETS * pitch for k in range(_N_OFFSETS)] + [centred])


def _best_grid(region, cell_u, cell_v, pitch_v):
    """Count the ``cell_u`` x ``cell_v`` rectangles on a grid with row pitch ``pitch_v`` inside ``region``.

    Rectangles must lie fully inside ``region`` (a :class:`_Region`; touching its boundary allowed). Tries
    (_N_OFFSETS + 1)² grid offsets and returns the best (count, rows).
    """
    if region.rings is not None and (region.convex or region.valid):
        # all of the below in one kernel call, unless a corner or a rectangle lies near an edge (GEOS decides)
        count, rows, sure = _kl.grid_layout(*region.bounds, cell_u, cell_v, pitch_v, _N_OFFSETS, _EXACT_BAND_ULPS,
                                            region.convex, *region.rings)
        if sure:
            return int(count), int(rows)
    minx, miny, maxx, maxy = region.bounds
    nu = int(np.floor((maxx - minx) / cell_u + 1e-9))
    nv = int(np.floor((maxy - miny - cell_v) / pitch_v + 1e-9)) + 1 if maxy - miny >= cell_v - 1e-9 else 0
    if nu < 1 or nv < 1:
        return 0, 0
    # the corners of every candidate at every offset: x0 = minx + offset + i * cell + eps (and the far side)
    # lie on a grid of 2 x offsets x nu columns and 2 x offsets x nv rows, tested in one pass
    eps = 1e-6  # modules may touch the setback line: test corners pulled in by 1 micrometre
    ou = _grid_offsets(maxx - minx, cell_u, cell_u)
    ov = _grid_offsets(maxy - miny, cell_v, pitch_v)
    gx0 = minx + ou[:, None] + np.arange(nu)[None, :] * cell_u + eps           # (offsets, nu)
    gy0 = miny + ov[:, None] + np.arange(nv)[None, :] * pitch_v + eps          # (offsets, nv)
    gx1, gy1 = gx0 + cell_u - 2 * eps, gy0 + cell_v - 2 * eps
    xs, ys = np.concatenate([gx0.ravel(), gx1.ravel()]), np.concatenate([gy0.ravel(), gy1.ravel()])
    tol = _exact_band(region, xs, ys)
    grid = _grid_contains_xy(region, xs, ys, tol)
    if region.rings is not None and (region.convex or region.valid):
        # the same rule in one kernel pass; where a rectangle lies near an edge of a region that is not
        # convex, GEOS decides below, as for every region without ring arrays
        count, rows, sure = _kl.best_grid(grid, xs, ys, ou.size, ov.size, nu, nv, region.convex, *region.rings, tol)
        if sure:
            return int(count), int(rows)
    # axes (y side, v offset, v index, x side, u offset, u index): a candidate is in when all 4 corners are
    grid = grid.reshape(2, ov.size, nv, 2, ou.size, nu).all(axis=(0, 3))
    inside = grid.transpose(2, 0, 3, 1).reshape(ou.size * ov.size, nu * nv)  # (offsets, candidates)
    counts = inside.sum(axis=1)
    if not region.convex:
        # corners inside prove containment only for convex regions: check exactly, best offsets first,
        # until no remaining offset's corner count can beat the best exact count
        exact = np.zeros_like(counts)
        best_exact = 0
        for k in np.argsort(-counts, kind="stable"):
            if counts[k] <= best_exact:
                break
            j = np.nonzero(inside[k])[0]
            x0 = minx + ou[k // ov.size] + (j // nv) * cell_u + eps
            y0 = miny + ov[k % ov.size] + (j % nv) * pitch_v + eps
            ok = shapely.contains(region.geometry, shapely.box(x0, y0, x0 + cell_u - 2 * eps, y0 + cell_v - 2 * eps))
            inside[k, j] = ok
            exact[k] = ok.sum()
            best_exact = max(best_exact, exact[k])
        counts = exact
    best = int(np.argmax(counts))
    rows = int(inside[best].reshape(nu, nv).any(axis=0).sum())
    return int(counts[best]), rows


def winter_noon_elevation(latitude):
    """Solar elevation at solar noon on the winter solstice [°]: ``90 - |latitude| - 23.44``."""
    return 90.0 - abs(float(latitude)) - SOLSTICE_DECLINATION


def row_pitch(slant_length, rack_tilt, latitude, max_gcr=1.0):
    """Distance between racked rows [m] so that no row shades the next at winter-solstice solar noon.

    A row of modules with slant length ``L`` at tilt ``beta`` has depth ``L cos(beta)`` and rises
    ``H = L sin(beta)``; at solar noon on the winter solstice the sun stands at
    ``h = 90° - |latitude| - 23.44°`` behind the row (rows facing the equator), so its shadow reaches
    ``H / tan(h)`` behind it. The pitch is ``L cos(beta) + H / tan(h)``, and at least ``L / max_gcr``.
    For rows not facing the equator this is conservative. Where the winter noon sun stays below 5° the
    elevation is clamped to 5°.

    Parameters
    ----------
    slant_length : float
        Module dimension across the row [m].
    rack_tilt : float
        Rack tilt [°].
    latitude : float
        Site latitude [°].
    max_gcr : float
        Ground coverage ratio limit [-].
    """
    b = np.radians(rack_tilt)
    h = np.radians(max(winter_noon_elevation(latitude), 5.0))
    pitch = slant_length * np.cos(b) + slant_length * np.sin(b) / np.tan(h)
    return float(max(pitch, slant_length / max_gcr))


def setback_region(polygon, surface_tilt, surface_azimuth, options=PVOptions(), free_edges=None):
    """Return the part of a roof face that may carry modules: the face in its own plane inside the setback.

    Parameters
    ----------
    polygon : shapely Polygon or MultiPolygon
        Horizontal projection of the face in a projected CRS [m].
    surface_tilt : float
        Face tilt [°] (below 89).
    surface_azimuth : float
        Face azimuth [°]; ignored for faces flatter than ``options.flat_threshold`` (their racks face
        ``flat_rack_azimuth``).
    options : PVOptions
        ``setback`` [m], ``flat_threshold``, ``flat_rack_azimuth``.
    free_edges : shapely LineString or MultiLineString, optional
        Edges of the face that need no setback [m, horizontal projection]: ridges and hips shared with
        another face of the same roof (:func:`solarkataster.assessment.ridge_edges`). None: every edge.

    Returns
    -------
    shapely geometry
        The region in the face's frame (u along the contour, v down the slope, true lengths in the roof
        plane) [m]; its area is the roof area inside the setback [m²].

    Notes
    -----
    The face is rotated so that v points down the slope (towards ``surface_azimuth``) and stretched along v
    by ``1 / cos(tilt)``, which maps the horizontal projection onto the true roof plane; flat faces are
    only rotated. The setback is then a true distance on the roof, ``setback`` from every edge (eaves,
    verge, ridge, hips, steps), with mitred corners, so a rectangular face loses a strip of exactly
    ``setback`` on each side. Measured in the horizontal projection instead, the strip along the slope
    would be ``1 / cos(tilt)`` wider on the roof (0.71 m instead of 0.5 m at 45°).

    ``free_edges`` are exempt: the setback is then a flat-ended, mitred strip along the other edges only.
    """
    return setback_regions([polygon], [surface_tilt], [surface_azimuth], options, [free_edges])[0]


def _affine_each(geoms, a, b, d, e):
    """``shapely.affinity.affine_transform(g, [a, b, d, e, 0, 0])`` of every geometry, coefficients per geometry.

    The same arithmetic as shapely's, coordinate by coordinate, for all geometries in one pass.
    """
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    x, y = xy.T
    xp = a[index] * x + b[index] * y + 0.0
    yp = d[index] * x + e[index] * y + 0.0
    return shapely.set_coordinates(np.array(geoms, dtype=object), np.stack([xp, yp]).T)


def setback_regions(polygons, surface_tilt, surface_azimuth, options=PVOptions(), free_edges=None):
    """:func:`setback_region` of many faces: the same regions, each GEOS operation in one array call.

    Parameters
    ----------
    polygons : sequence of shapely Polygon or MultiPolygon
        Horizontal projections of the faces [m] (none empty).
    surface_tilt, surface_azimuth : array_like
        Face tilts (below 89) and azimuths [°].
    options : PVOptions
    free_edges : sequence of shapely LineString, MultiLineString or None, optional
        Per face, its edges without setback (:func:`setback_region`).

    Returns
    -------
    ndarray of shapely geometries
        The regions in the faces' frames [m].
    """
    polygons = np.asarray(list(polygons), dtype=object)
    n = len(polygons)
    tilt = np.asarray(surface_tilt, dtype=float).reshape(n)
    azimuth = np.asarray(surface_azimuth, dtype=float).reshape(n)
    free = np.asarray(list(free_edges), dtype=object) if free_edges is not None \
        else np.full(n, None, dtype=object)
    # the frame of each face, with the scalar sin and cos of shapely.affinity (one face at a time)
    sa, ca, stretch = np.empty(n), np.empty(n), np.empty(n)
    flat = tilt < options.flat_threshold
    for k in range(n):
        r = np.radians(options.flat_rack_azimuth if flat[k] else float(azimuth[k]))
        sa[k], ca[k] = np.sin(r), np.cos(r)
        stretch[k] = 1.0 if flat[k] else 1.0 / np.cos(np.radians(min(float(tilt[k]), 89.0)))
    ones, zeros = np.ones(n), np.zeros(n)

    def frame(geoms, k):
        # rotate (v towards the azimuth, u along the contour), then stretch v onto the roof plane
        out = _affine_each(geoms, ca[k], -sa[k], sa[k], ca[k])
        steep = ~flat[k]
        if steep.any():
            out[steep] = _affine_each(out[steep], ones[k][steep], zeros[k][steep], zeros[k][steep], stretch[k][steep])
        return out

    every = np.arange(n)
    plane = frame(polygons, every)
    if options.setback <= 0 or n == 0:
        return plane
    out = np.empty(n, dtype=object)
    has_free = np.array([f is not None and not f.is_empty for f in free], bool)
    whole = ~has_free
    out[whole] = shapely.buffer(plane[whole], -options.setback, quad_segs=16, join_style="mitre")
    k = every[has_free]
    if len(k):
        # the edges that keep their setback: the boundary less the free edges (matched within 1 cm)
        kept = shapely.difference(shapely.boundary(plane[k]), shapely.buffer(frame(free[k], k), 0.01, quad_segs=16))
        empty = shapely.is_empty(kept)
        out[k[empty]] = plane[k[empty]]
        k, kept = k[~empty], kept[~empty]
        out[k] = shapely.difference(plane[k], shapely.buffer(kept, options.setback, quad_segs=16, cap_style="flat",
                                                             join_style="mitre"))
    return out


def module_layout(polygon, surface_tilt, surface_azimuth, module=ModuleSpec(), options=PVOptions(),
                  free_edges=None, *, region=None):
    """Place a regular grid of modules on one roof face.

    Parameters
    ----------
    polygon : shapely Polygon or MultiPolygon
        Horizontal projection of the face in a projected CRS [m].
    surface_tilt : float
        Face tilt [°].
    surface_azimuth : float
        Face azimuth [°] (ignored, may be NaN, for faces flatter than ``options.flat_threshold``).
    module : ModuleSpec
    options : PVOptions
    free_edges : shapely LineString or MultiLineString, optional
        Edges without setback (see :func:`setback_region`).
    region : shapely geometry, optional
        ``setback_region(polygon, surface_tilt, surface_azimuth, options, free_edges)`` when the caller has it
        already.

    Returns
    -------
    ModuleLayout

    Notes
    -----
    *Pitched faces* (tilt >= ``flat_threshold``): the polygon is rotated so that v points down the slope
    and stretched along v by ``1 / cos(tilt)``, which maps the horizontal projection onto the true roof
    plane. It is shrunk by ``setback`` (mitred; not along ``free_edges``) and a gap-free grid of modules,
    portrait (long side along the slope) and landscape, is laid at 5 x 5 offsets (quarters of a module and
    the centred grid); the largest count wins. A module counts when it lies fully inside the shrunk face,
    touching allowed (its corners for convex faces, exact containment otherwise). Vertical faces
    (tilt >= 89°) get no layout here: use :func:`facade_layout`.

    *Flat faces*: rows of modules racked at ``flat_rack_tilt`` facing ``flat_rack_azimuth``; each row's
    horizontal footprint is ``module x L cos(tilt)`` and rows repeat at :func:`row_pitch`, the spacing that
    leaves the next row unshaded at solar noon on the winter solstice at ``options.latitude``. The
    shading between rows at other times (low winter and morning/evening sun) is not modelled: it costs a
    few per cent a year at this spacing.
    """
    tilt = float(surface_tilt)
    empty = ModuleLayout(0, 0.0, tilt, float(surface_azimuth), 0.0, 0, "")
    if polygon is None or polygon.is_empty or not np.isfinite(tilt):
        return empty
    flat = tilt < options.flat_threshold
    if flat:
        azimuth = options.flat_rack_azimuth
        module_tilt = options.flat_rack_tilt
    else:
        azimuth = float(surface_azimuth)
        if not np.isfinite(azimuth):
            return empty
        module_tilt = tilt
        if tilt >= 89.0:  # a vertical face has no horizontal projection to stretch: use facade_layout
            return ModuleLayout(0, 0.0, tilt, azimuth, 0.0, 0, "")
    if region is None:
        region = setback_region(polygon, tilt, azimuth, options, free_edges)
    if isinstance(region, _Region):
        pass  # the caller prepared it (:meth:`_Region.many`)
    elif region.is_empty:
        return ModuleLayout(0, 0.0, module_tilt, azimuth, 0.0, 0, "")
    else:
        region = _Region.of(region)  # both orientations test the same region
    best = (0, 0, "")
    for orientation, across, along in (("portrait", module.width, module.length),
                                       ("landscape", module.length, module.width)):
        # across: module side along the contour / the row; along: side up the slope / across the row
        if flat:
            depth = along * np.cos(np.radians(module_tilt))
            pitch = row_pitch(along, module_tilt, options.latitude, options.max_gcr)
            count, rows = _best_grid(region, across, depth, pitch)
        else:
            count, rows = _best_grid(region, across, along, along)
        if count > best[0]:
            best = (count, rows, orientation)
    count, rows, orientation = best
    return ModuleLayout(count, count * module.power / 1000.0, module_tilt, azimuth, count * module.area,
                        rows, orientation)


@dataclass(frozen=True)
class FacadeLayout:
    """Facade PV on walls (arrays broadcast like the inputs).

    Attributes
    ----------
    usable_area : ndarray
        Wall area available for modules [m²].
    count : ndarray of int
        Number of modules (area-based: facade modules are cut to fit between windows).
    kwp : ndarray
        Peak power [kWp].
    """

    usable_area: np.ndarray
    count: np.ndarray
    kwp: np.ndarray


def facade_layout(wall_length, wall_height, window_share=0.4, exclude_ground_floor=True, storey_height=3.0,
                  module=ModuleSpec(), options=PVOptions()):
    """Usable facade area and module count of walls.

    ``usable_area = max(L - 2 s, 0) * max(H - g - s, 0) * (1 - window_share)``, with the edge ``setback``
    ``s`` at both wall ends and below the eaves, and ``g = storey_height`` when the ground floor is excluded
    (entrances, shop windows, vandalism), else 0. Modules: ``floor(usable_area / module.area)``.

    Parameters
    ----------
    wall_length, wall_height : array_like
        Wall length along the footprint and height above ground [m].
    window_share : float
        Fraction of the facade taken by windows and doors [-].
    exclude_ground_floor : bool
    storey_height : float
        [m]
    module : ModuleSpec
    options : PVOptions

    Returns
    -------
    FacadeLayout
    """
    check_range("window_share", window_share, 0, 1)
    check_range("storey_height", storey_height, 0, 20, " m")
    length = np.asarray(wall_length, dtype=float)
    height = np.asarray(wall_height, dtype=float)
    s = options.setback
    g = storey_height if exclude_ground_floor else 0.0
    usable = np.maximum(length - 2 * s, 0) * np.maximum(height - g - s, 0) * (1.0 - window_share)
    usable = np.where(np.isfinite(usable), usable, 0.0)
    count = np.floor(usable / module.area + 1e-9).astype(int)
    return FacadeLayout(usable, count, count * module.power / 1000.0)


# ------------------------------------------------------------------------------------------------ yield

def _iam(aoi, model):
    import pvlib
    if model == "physical":
        return pvlib.iam.physical(aoi)
    return pvlib.iam.ashrae(aoi)


@dataclass(frozen=True)
class YieldTable:
    """Specific yield on a grid of orientations and shading losses.

    Attributes
    ----------
    tilts, azimuths, shading : ndarray
        Grid axes [°], [°], [-].
    annual : ndarray, shape (tilts, azimuths, shading)
        Annual AC specific yield [kWh/kWp].
    monthly : ndarray, shape (tilts, azimuths, shading, 12)
        Monthly AC specific yield [kWh/kWp] (months of the UTC interval midpoints).
    poa_irradiation : ndarray, shape (tilts, azimuths)
        Unobstructed annual plane-of-array irradiation [kWh/m²].
    mounting : str
    source : dict
        Weather provenance and model choices.
    hourly : ndarray, shape (tilts, azimuths, shading, hours), float32, optional
        AC specific yield of every whole UTC hour of the year [kWh/kWp] (the same chain, records re-binned
        by :func:`solarkataster.hours.to_utc_hours`; sums to ``annual``).
    times : pandas.DatetimeIndex, optional
        Starts of the UTC hours of ``hourly``.
    """

    tilts: np.ndarray
    azimuths: np.ndarray
    shading: np.ndarray
    annual: np.ndarray
    monthly: np.ndarray
    poa_irradiation: np.ndarray
    mounting: str
    source: dict = field(default_factory=dict)
    hourly: np.ndarray | None = None
    times: pd.DatetimeIndex | None = None

    @property
    def reference_irradiation(self) -> float:
        """Annual irradiation of the best unobstructed orientation in the table [kWh/m²]."""
        return float(np.nanmax(self.poa_irradiation))

    def _weights(self, surface_tilt, surface_azimuth, shading_loss):
        t, a, s = np.broadcast_arrays(np.asarray(surface_tilt, float), np.asarray(surface_azimuth, float),
                                      np.asarray(shading_loss, float))
        a = np.where(np.isfinite(a), a, 180.0)  # flat faces: azimuth is irrelevant at tilt 0
        return (_axis_weights(t, self.tilts, periodic=False),
                _axis_weights(a % 360.0, self.azimuths, periodic=True),
                _axis_weights(np.clip(s, 0, 1), self.shading, periodic=False), np.isfinite(t) & np.isfinite(s))

    def _corners(self, surface_tilt, surface_azimuth, shading_loss):
        """Return the 8 grid corners around each input: ([(tilt, azimuth, shading) index], [weight], ok)."""
        (ti, tw), (ai, aw), (si, sw), ok = self._weights(surface_tilt, surface_azimuth, shading_loss)
        index, weight = [], []
        for dt in (0, 1):
            for da in (0, 1):
                for ds in (0, 1):
                    weight.append((tw if dt else 1 - tw) * (aw if da else 1 - aw) * (sw if ds else 1 - sw))
                    index.append((ti[dt], ai[da], si[ds]))
        return index, weight, ok

    def _interpolate(self, values, surface_tilt, surface_azimuth, shading_loss):
        index, weight, ok = self._corners(surface_tilt, surface_azimuth, shading_loss)
        out = 0.0
        for (i, j, k), w in zip(index, weight):
            v = values[i, j, k]
            out = out + (w[..., None] * v if v.ndim > w.ndim else w * v)
        return np.where(ok[..., None] if np.ndim(out) > ok.ndim else ok, out, np.nan)

    def scaled_hourly_yield(self, surface_tilt, surface_azimuth, shading_loss, kwp):
        """``kwp x`` :meth:`hourly_specific_yield` with NaN as 0, as float32 [kWh per record], shape (n, records).

        The same interpolation, summed corner by corner in the same order, in one pass of a numba kernel
        (:func:`solarkataster._kernels.layout.scaled_rows`) instead of eight gathered (n, records) arrays.
        """
        if self.hourly is None:
            raise ParameterError(f"the {self.mounting} yield table was built without hourly values")
        index, weight, ok = self._corners(np.asarray(surface_tilt, float).ravel(),
                                          np.asarray(surface_azimuth, float).ravel(),
                                          np.asarray(shading_loss, float).ravel())
        kwp = np.ascontiguousarray(kwp, dtype=np.float64).ravel()
        out = np.empty((kwp.size, self.hourly.shape[-1]), np.float32)
        _kl.scaled_rows(np.ascontiguousarray(self.hourly), np.stack([np.stack(i) for i in index]).astype(np.int64),
                        np.stack(weight).astype(np.float64), np.ascontiguousarray(ok), kwp, out)
        return out

    def specific_yield(self, surface_tilt, surface_azimuth, shading_loss=0.0):
        """Annual AC specific yield [kWh/kWp], trilinear interpolation (azimuth periodic).

        Parameters
        ----------
        surface_tilt, surface_azimuth : array_like
            Module orientation [°]; azimuth may be NaN for horizontal modules.
        shading_loss : array_like
            Fraction of the unobstructed plane-of-array irradiation lost to obstructions [-].
        """
        return self._interpolate(self.annual, surface_tilt, surface_azimuth, shading_loss)

    def monthly_specific_yield(self, surface_tilt, surface_azimuth, shading_loss=0.0):
        """Monthly AC specific yield [kWh/kWp], shape ``broadcast(inputs) + (12,)``."""
        return self._interpolate(self.monthly, surface_tilt, surface_azimuth, shading_loss)

    def hourly_specific_yield(self, surface_tilt, surface_azimuth, shading_loss=0.0):
        """AC specific yield of every weather record [kWh/kWp], shape ``broadcast(inputs) + (records,)``.

        Same chain and interpolation as :meth:`specific_yield`, so the records sum to it.
        """
        if self.hourly is None:
            raise ParameterError(f"the {self.mounting} yield table was built without hourly values")
        return self._interpolate(self.hourly, surface_tilt, surface_azimuth, shading_loss)

    def irradiation(self, surface_tilt, surface_azimuth):
        """Unobstructed annual plane-of-array irradiation [kWh/m²], interpolated."""
        values = self.poa_irradiation[:, :, None] * np.ones(len(self.shading))
        return self._interpolate(values, surface_tilt, surface_azimuth, 0.0)


def _axis_weights(x, grid, periodic):
    """Lower/upper grid indices and the weight of the upper one for linear interpolation."""
    grid = np.asarray(grid, dtype=float)
    n = grid.size
    if n == 1:
        z = np.zeros(x.shape, dtype=int)
        return (z, z), np.zeros(x.shape)
    if periodic:
        ext = np.append(grid, grid[0] + 360.0)
        xx = np.where(x < grid[0], x + 360.0, x)
        i = np.clip(np.searchsorted(ext, xx, side="right") - 1, 0, n - 1)
        w = (xx - ext[i]) / (ext[i + 1] - ext[i])
        return (i, (i + 1) % n), np.clip(np.nan_to_num(w), 0, 1)
    xx = np.clip(x, grid[0], grid[-1])
    i = np.clip(np.searchsorted(grid, xx, side="right") - 1, 0, n - 2)
    w = (xx - grid[i]) / (grid[i + 1] - grid[i])
    return (i, i + 1), np.clip(np.nan_to_num(w), 0, 1)


def _weather_arrays(weather, latitude, longitude, altitude):
    """Per-record arrays of the yield chain: sun position at interval midpoints, irradiance, temperature."""
    import pvlib

    frame = weather.data
    times = frame.index + weather.interval / 2
    solpos = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude)
    zenith = solpos["apparent_zenith"].to_numpy()
    dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy()
    ghi = np.nan_to_num(frame["ghi"].to_numpy(dtype=float))
    dhi = np.nan_to_num(frame["dhi"].to_numpy(dtype=float))
    dni = frame["dni"].to_numpy(dtype=float) if "dni" in frame else np.full(ghi.shape, np.nan)
    temp_air = frame["temp_air"].to_numpy(dtype=float) if "temp_air" in frame else np.full(ghi.shape, 12.0)
    wind = frame["wind_speed"].to_numpy(dtype=float) if "wind_speed" in frame else np.full(ghi.shape, 1.0)
    return {"zenith": zenith, "sun_azimuth": solpos["azimuth"].to_numpy(), "dni_extra": dni_extra,
            "airmass": pvlib.atmosphere.get_relative_airmass(zenith), "ghi": ghi, "dhi": dhi,
            "dni": np.nan_to_num(complete_irradiance(ghi, dhi, dni, solpos["zenith"].to_numpy(), dni_extra).dni),
            "temp_air": np.where(np.isfinite(temp_air), temp_air, DEFAULT_TEMP_AIR),
            "wind": np.where(np.isfinite(wind), wind, DEFAULT_WIND_SPEED),
            "hours": weather.interval / pd.Timedelta(hours=1), "month": times.month.to_numpy() - 1}


def specific_yield_table(weather, latitude, longitude, altitude, *, tilts=DEFAULT_TILTS,
                         azimuths=DEFAULT_AZIMUTHS, shading=DEFAULT_SHADING, mounting="roof",
                         options=PVOptions(), weather_arrays=None, planes=None):
    """Annual and monthly AC specific yield for a grid of orientations and shading losses.

    Parameters
    ----------
    weather : solarkataster.weather.WeatherYear
        A full year; index = interval start (UTC), ``ghi``, ``dni`` (may be NaN), ``dhi`` [W/m²],
        optional ``temp_air`` [°C] (default 12) and ``wind_speed`` [m/s] (default 1).
    latitude, longitude : float
        Site [°].
    altitude : float
        Site elevation [m].
    tilts, azimuths : sequence of float
        Grid of module orientations [°]. Azimuths wrap around (periodic interpolation).
    shading : sequence of float
        Grid of shading losses [-], increasing, within [0, 1].
    mounting : {'rack', 'roof', 'facade'}
        Selects the Faiman parameter set (open rack, close roof mount, insulated-back facade).
    options : PVOptions
    weather_arrays : dict, optional
        The per-record arrays of ``weather`` at the site (sun position, irradiance, temperature), when the
        caller has them from building another table of the same weather (:func:`build_yield_tables`).
    planes : dict, optional
        Tilt [°] -> :func:`_plane_irradiance` of the lit records of ``weather_arrays`` at ``azimuths``, with
        ``options``' albedo and IAM model: read where present and filled in, so tables of the same weather,
        azimuths and options that share tilts transpose each tilt once.

    Returns
    -------
    YieldTable

    Notes
    -----
    Only records with any irradiance (GHI, DNI or DHI not 0) are computed: in the others every
    plane-of-array irradiance, and so the yield, is exactly 0.

    Per time step (solar position at interval midpoints, apparent zenith, Kasten-Young air mass):
    Perez transposition [5]_ with ``options.albedo``; the plane-of-array beam and diffuse are both scaled
    by ``1 - shading_loss`` (a simplification: obstructions take beam and sky light in proportion);
    Faiman cell temperature [2]_ from the shaded POA global; IAM ('physical' or 'ashrae') on the beam only;
    PVWatts DC [1]_ with ``gamma_pdc`` for 1 kWp; the PVWatts loss components ``options.losses`` off the DC
    power; PVWatts inverter with
    ``eta_inv_nom = inverter_efficiency`` and a DC rating equal to the array's. This is the chain of pvlib's
    ``ModelChain`` with ``dc_model='pvwatts'``, ``ac_model='pvwatts'``, ``losses_model='pvwatts'``,
    ``spectral_model='no_loss'``, which the tests use as the reference.
    """
    import pvlib

    if mounting not in MOUNTINGS:
        raise ParameterError(f"mounting={mounting!r}: use one of {MOUNTINGS}")
    check_range("latitude", latitude, -90, 90, "°")
    check_range("longitude", longitude, -180, 180, "°")
    weather.require_full_year()
    tilts = np.asarray(tilts, dtype=float)
    azimuths = np.asarray(azimuths, dtype=float) % 360.0
    shading = np.asarray(shading, dtype=float)
    if np.any(np.diff(tilts) <= 0) or np.any(np.diff(azimuths) <= 0) or np.any(np.diff(shading) <= 0):
        raise ParameterError("tilts, azimuths (mod 360) and shading must be strictly increasing")
    if tilts.min() < 0 or tilts.max() > 180 or shading.min() < 0 or shading.max() > 1:
        raise ParameterError("tilts must lie in [0, 180]° and shading in [0, 1]")

    w = weather_arrays if weather_arrays is not None else _weather_arrays(weather, latitude, longitude, altitude)
    records = w["ghi"].size
    lit, w = _lit_records(w)
    ghi, temp_air, wind, hours = w["ghi"], w["temp_air"], w["wind"], w["hours"]
    u0, u1 = options.temperature_parameters[mounting]
    month_onehot = np.zeros((ghi.size, 12))
    month_onehot[np.arange(ghi.size), w["month"]] = hours / 1000.0  # W -> kWh per record

    annual = np.empty((tilts.size, azimuths.size, shading.size))
    monthly = np.empty(annual.shape + (12,))
    hourly = np.zeros(annual.shape + (records,), dtype=np.float32)
    poa_irradiation = np.empty((tilts.size, azimuths.size))
    for k, tilt in enumerate(tilts):  # one tilt at a time keeps memory at azimuths x records (unless shared)
        plane = planes.get(float(tilt)) if planes is not None else None
        if plane is None:
            plane = _plane_irradiance(w, tilt, azimuths, options)
            if planes is not None:
                planes[float(tilt)] = plane
        poa_global_clear, effective_clear = plane
        poa_irradiation[k] = poa_global_clear.sum(axis=1) * hours / 1000.0
        for j, loss in enumerate(shading):
            keep = 1.0 - loss
            poa_global = keep * poa_global_clear
            effective = keep * effective_clear
            temp_cell = pvlib.temperature.faiman(poa_global, temp_air[None], wind[None], u0=u0, u1=u1)
            pdc = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, 1000.0, options.gamma_pdc)
            pdc = pdc * (1.0 - options.system_loss / 100.0)
            pac = pvlib.inverter.pvwatts(pdc, 1000.0, eta_inv_nom=options.inverter_efficiency)
            pac = np.nan_to_num(np.asarray(pac, dtype=float))
            monthly[k, :, j] = pac @ month_onehot
            hourly[k, :, j][:, lit] = pac * (hours / 1000.0)
            annual[k, :, j] = monthly[k, :, j].sum(axis=1)
    index = weather.data.index
    hours_utc, hourly = to_utc_hours(hourly, index, weather.interval, year=index[len(index) // 2].year)
    return YieldTable(tilts, azimuths, shading, annual, monthly, poa_irradiation, mounting,
                      _table_source(weather, latitude, longitude, altitude, mounting, options), hourly, hours_utc)


def _plane_irradiance(lit_arrays, tilt, azimuths, options):
    """Unobstructed plane-of-array global and effective irradiance [W/m²] of one tilt, all azimuths.

    Perez transposition of :func:`specific_yield_table` on the lit records (:func:`_lit_records`), NaN as 0:
    ``poa_direct + poa_diffuse`` and ``poa_direct * iam + poa_diffuse`` (IAM on the beam only), each of
    shape (azimuths, records).
    """
    import pvlib

    w = lit_arrays
    zenith, sun_azimuth = w["zenith"][None], w["sun_azimuth"][None]
    irrad = pvlib.irradiance.get_total_irradiance(
        tilt, azimuths[:, None], zenith, sun_azimuth, w["dni"][None], w["ghi"][None], w["dhi"][None],
        dni_extra=w["dni_extra"][None], airmass=w["airmass"][None], albedo=options.albedo, model="perez")
    poa_direct = np.nan_to_num(np.asarray(irrad["poa_direct"], dtype=float))
    poa_diffuse = np.nan_to_num(np.asarray(irrad["poa_diffuse"], dtype=float))
    aoi = pvlib.irradiance.aoi(tilt, azimuths[:, None], zenith, sun_azimuth)
    iam = np.nan_to_num(_iam(aoi, options.iam_model))
    return poa_direct + poa_diffuse, poa_direct * iam + poa_diffuse


def _lit_records(weather_arrays):
    """Return the records with any irradiance (indices) and :func:`_weather_arrays` at those records only.

    In the other records (the night) every plane-of-array irradiance, and so the yield, is exactly 0: the
    yield chain runs on about half the records.
    """
    w = weather_arrays
    lit = np.flatnonzero((w["ghi"] != 0) | (w["dhi"] != 0) | (w["dni"] != 0))
    return lit, {key: value[lit] if isinstance(value, np.ndarray) else value for key, value in w.items()}


def _table_source(weather, latitude, longitude, altitude, mounting, options):
    """Provenance of a yield table: weather, site and model choices (:attr:`YieldTable.source`)."""
    return {"weather": dict(weather.source), "latitude": float(latitude), "longitude": float(longitude),
            "altitude": float(altitude), "mounting": mounting, "transposition": "perez",
            "albedo": options.albedo, "temperature_model": "faiman",
            "faiman_u0_u1": list(options.temperature_parameters[mounting]),
            "iam_model": options.iam_model, "dc_model": "pvwatts", "gamma_pdc": options.gamma_pdc,
            "losses_percent": dict(options.losses), "system_loss_percent": round(options.system_loss, 3),
            "inverter": "pvwatts", "inverter_efficiency": options.inverter_efficiency}


#: Orientation grid of the roof yield table (specific yield is smooth in both: interpolation error < 0.5 %).
ROOF_TILTS = tuple(float(t) for t in range(0, 91, 10))
#: Tilts of the racked-module table (flat roofs); ``flat_rack_tilt`` is added when outside.
RACK_TILTS = (0.0, 10.0, 20.0, 30.0)
#: Tilts of the facade table.
FACADE_TILTS = (80.0, 90.0)
#: Azimuth grid of all three tables [°].
TABLE_AZIMUTHS = tuple(float(a) for a in range(0, 360, 20))


@dataclass(frozen=True)
class YieldTables:
    """The yield tables of one run and weather, one per mounting.

    Attributes
    ----------
    roof, rack : YieldTable
        Close roof mount (pitched faces) and open rack (modules racked on flat roofs).
    facade : YieldTable or None
        Insulated-back facade mount; None when walls are not assessed.
    """

    roof: YieldTable
    rack: YieldTable
    facade: YieldTable | None = None

    def table(self, mounting) -> YieldTable:
        """Return the table of ``mounting`` ('roof', 'rack' or 'facade')."""
        if mounting not in MOUNTINGS or getattr(self, mounting) is None:
            raise ParameterError(f"no yield table for mounting={mounting!r}")
        return getattr(self, mounting)


def hourly_weather(weather):
    """Weather averaged to hourly records (the yield tables' time step); hourly or longer stays as is."""
    if weather.interval >= pd.Timedelta(hours=1):
        return weather
    data = weather.data.resample("1h").mean()
    return WeatherYear(data, pd.Timedelta(hours=1), dict(weather.source, yield_step="hourly means"))


def build_yield_tables(weather, latitude, longitude, altitude, *, options=PVOptions(), facade=True):
    """Build the roof, rack and (with ``facade``) facade yield tables of a run, once, from hourly weather.

    Parameters
    ----------
    weather : solarkataster.weather.WeatherYear
        A full year; sub-hourly records are averaged to hours first (:func:`hourly_weather`).
    latitude, longitude : float
        Site [°].
    altitude : float
        Site elevation [m].
    options : PVOptions
    facade : bool
        Also build the facade table (needed for walls).

    Returns
    -------
    YieldTables
        Grids :data:`ROOF_TILTS` / :data:`RACK_TILTS` (plus ``flat_rack_tilt``) / :data:`FACADE_TILTS` by
        :data:`TABLE_AZIMUTHS` by :data:`DEFAULT_SHADING`.
    """
    hourly = hourly_weather(weather)
    rack_tilts = RACK_TILTS
    if not RACK_TILTS[0] <= options.flat_rack_tilt <= RACK_TILTS[-1]:
        rack_tilts = tuple(sorted(set(RACK_TILTS) | {float(options.flat_rack_tilt)}))

    arrays = _weather_arrays(hourly, latitude, longitude, altitude)  # the sun's path once for all tables
    planes = {}  # the rack and facade tilts are roof tilts: each tilt is transposed once for all tables

    def table(mounting, tilts):
        return specific_yield_table(hourly, latitude, longitude, altitude, mounting=mounting, tilts=tilts,
                                    azimuths=TABLE_AZIMUTHS, options=options, weather_arrays=arrays,
                                    planes=planes)

    return YieldTables(table("roof", ROOF_TILTS), table("rack", rack_tilts),
                       table("facade", FACADE_TILTS) if facade else None)


# ------------------------------------------------------------------------------------ energy and grading

def co2_savings_kg(yield_kwh, factor=GRID_EMISSION_FACTOR):
    """CO2 avoided [kg/a] when ``yield_kwh`` [kWh/a] displaces grid electricity.

    The grid emits ``factor`` [kg CO2/kWh] (default: German mix, UBA, see module docstring).
    """
    return np.asarray(yield_kwh, dtype=float) * float(factor)


def suitability(irradiation, usable_area, reference_irradiation, *, thresholds=(0.85, 0.70, 0.55),
                min_usable_area=10.0):
    """Suitability class of surfaces relative to the site's best orientation.

    Parameters
    ----------
    irradiation : array_like
        Mean annual irradiation of each surface [kWh/m²].
    usable_area : array_like
        Usable area [m²].
    reference_irradiation : float
        Annual irradiation of the best unobstructed plane at the site [kWh/m²].
    thresholds : (float, float, float)
        Lower bounds of 'very good', 'good' and 'limited' as fractions of the reference [-].
    min_usable_area : float
        Below this usable area a surface is 'unsuitable' [m²].

    Returns
    -------
    ndarray of str
        One of 'very good', 'good', 'limited', 'unsuitable' (also for NaN input).

    Examples
    --------
    >>> suitability([1000, 850, 700, 549], 20, 1000).tolist()
    ['very good', 'very good', 'good', 'unsuitable']
    """
    very_good, good, limited = (float(t) for t in thresholds)
    if not very_good >= good >= limited >= 0:
        raise ParameterError(f"thresholds={thresholds}: must be decreasing fractions of the reference")
    ref = float(reference_irradiation)
    if not ref > 0:
        raise ParameterError(f"reference_irradiation={reference_irradiation}: must be a positive kWh/m²")
    irr, area = np.broadcast_arrays(np.asarray(irradiation, float), np.asarray(usable_area, float))
    ratio = irr / ref
    labels = np.full(ratio.shape, "unsuitable", dtype="<U10")
    labels[ratio >= limited] = "limited"
    labels[ratio >= good] = "good"
    labels[ratio >= very_good] = "very good"
    labels[~(area >= min_usable_area)] = "unsuitable"
    return labels
