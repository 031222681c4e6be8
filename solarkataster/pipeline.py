"""Convenience layer: from a surface model file (or Grid) to irradiation rasters with provenance.

This module wires readers and the core together; the physics lives in :mod:`horizon`, :mod:`sky` and
:mod:`irradiation`, and :mod:`solarkataster.io.results` writes the results.
"""
from __future__ import annotations

import datetime as _dt
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, layers
from .errors import ParameterError, RasterError, check_range
from .grid import Grid
from .horizon import DEFAULT_SECTORS, grid_anchor, horizon_codes, vegetation_horizon_codes
from .irradiation import Irradiation, irradiation_from_normals
from .sky import DEFAULT_AZIMUTH_BINS, SkyTable, sky_table, sun_steps
from .surface import surface_normals
from .weather import WeatherYear

log = logging.getLogger(__name__)

@dataclass
class EngineOptions:
    """Model choices of the engine (all recorded in ``run.json``).

    Parameters
    ----------
    albedo : float
        Ground albedo [0-1].
    sectors : int
        Horizon azimuth sectors.
    max_distance : float or None
        Horizon search distance [m]; None = the whole scene.
    step_minutes : float
        Sun position step within each weather record [min].
    sky_model : {'perez', 'isotropic'}
    azimuth_bins : int
        Solar azimuth bins of the sky table.
    """

    albedo: float = 0.2
    sectors: int = DEFAULT_SECTORS
    max_distance: float | None = None
    step_minutes: float = 10.0
    sky_model: str = "perez"
    azimuth_bins: int = DEFAULT_AZIMUTH_BINS

    def __post_init__(self):
        if self.sectors is None:
            self.sectors = DEFAULT_SECTORS
        check_range("albedo", self.albedo, 0.0, 1.0)
        check_range("sectors", self.sectors, 4, 720)
        if int(self.sectors) != self.sectors:
            raise ParameterError(f"sectors={self.sectors} must be a whole number")
        self.sectors = int(self.sectors)
        if self.max_distance is not None:
            check_range("max_distance", self.max_distance, 1.0, 1e6, " m")
        check_range("step_minutes", self.step_minutes, 0.5, 60, " min")
        if self.sky_model not in ("perez", "isotropic"):
            raise ParameterError(f"sky_model={self.sky_model!r}: use 'perez' or 'isotropic'")


@dataclass
class Site:
    """Where the sun is computed: the raster's centre and its typical height."""

    latitude: float
    longitude: float
    altitude: float

    @classmethod
    def from_grid(cls, grid: Grid, ground=None):
        """Return the site of a grid: its centre [°] and the median height of ``ground`` or the DSM [m]."""
        lon, lat = grid.center_lonlat()
        z = ground if ground is not None else grid.z
        alt = float(np.nanmedian(z)) if np.isfinite(z).any() else 0.0
        return cls(latitude=lat, longitude=lon, altitude=alt)


@dataclass
class IrradianceResult:
    """Rasters and provenance of one engine run."""

    grid: Grid
    irradiation: Irradiation
    sky: SkyTable
    weather: WeatherYear
    site: Site
    options: EngineOptions
    provenance: dict = field(default_factory=dict)
    #: Further sky tables of the same sun steps, by number of azimuth bins (e.g. the walls' fine one).
    skies: dict = field(default_factory=dict)


def load_grid(dsm) -> Grid:
    """Return a Grid read from a path, or the Grid given."""
    if isinstance(dsm, Grid):
        return dsm
    from .io.raster import read_surface

    return read_surface(dsm)


def resolve_weather(weather, site: Site, year=2025, linke=None):
    """Resolve a weather spec at the site: see :func:`solarkataster.io.weather.resolve_weather`."""
    from .io.weather import resolve_weather as _resolve

    return _resolve(weather, latitude=site.latitude, longitude=site.longitude, altitude=site.altitude, year=year,
                    linke=linke)


def build_sky(weather: WeatherYear, site: Site, options: EngineOptions, vegetation=None) -> SkyTable:
    """Integrate the weather over time into a sky table at the site (with the leaf-on split for a canopy)."""
    steps = sun_steps(weather, site.latitude, site.longitude, site.altitude, options.step_minutes,
                      options.sky_model)
    return sky_table(steps, options.azimuth_bins, leaf_on=_leaf_on(vegetation))


def _leaf_on(vegetation):
    """Leaf-on days for the sky table: only when a canopy is given."""
    return None if vegetation is None else vegetation.leaf_on


def irradiation_raster(z, cellsize, sky, options: EngineOptions, progress=None, block_rows=128, anchor=(0, 0), *,
                       vegetation=None):
    """Horizons, orientation and irradiation of every pixel of a height array.

    Parameters
    ----------
    z : ndarray
        Heights [m], NaN where missing.
    cellsize : float
        Pixel size [m].
    sky : SkyTable
    options : EngineOptions
    progress : callable, optional
        Called as ``progress(done, total)`` with work units (sectors, then row blocks).
    anchor : (int, int)
        Global (row, col) of pixel (0, 0) (:func:`solarkataster.horizon.grid_anchor`), so that windows
        and tiles of one mosaic give the same horizons as the whole.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Canopy on the same grid; ``z`` is then the opaque surface (trees removed). Adds the canopy
        horizons (:func:`solarkataster.horizon.canopy_horizon_codes`) and attenuates through them; ``sky``
        needs the leaf-on split (:func:`build_sky` with the vegetation) when the transmissivities differ.

    Returns
    -------
    Irradiation
        float32 arrays on the raster.
    """
    rows, cols = z.shape
    n_blocks = -(-rows // block_rows)
    total = options.sectors + n_blocks

    def hz_progress(done, _n):
        if progress:
            progress(done, total)

    canopy = None
    if vegetation is not None and vegetation.mask.any():
        hor, *canopy = vegetation_horizon_codes(z, cellsize, vegetation, options.sectors, options.max_distance,
                                                progress=hz_progress, anchor=anchor)
    else:
        hor = horizon_codes(z, cellsize, options.sectors, options.max_distance, progress=hz_progress,
                            anchor=anchor)
    shape = z.shape
    out = {k: np.full(shape, np.nan, np.float32) for k in ("global_", "beam", "diffuse", "reflected",
                                                          "sky_view_factor", "vegetation_loss")}
    monthly = np.full((12,) + shape, np.nan, np.float32)
    for i, r0 in enumerate(range(0, rows, block_rows)):
        r1 = min(rows, r0 + block_rows)
        # orientation per block (with a one-row margin for the 3 x 3 fit) keeps float64 temporaries small
        a, b = max(r0 - 1, 0), min(r1 + 1, rows)
        normals = surface_normals(z[a:b], cellsize)[:, r0 - a:r0 - a + (r1 - r0)]
        block_canopy = None if canopy is None else (canopy[0][:, r0:r1], canopy[1][:, r0:r1])
        res = irradiation_from_normals(hor[:, r0:r1], normals, sky, options.albedo, canopy=block_canopy,
                                       vegetation=vegetation)
        for k in out:
            out[k][r0:r1] = getattr(res, k)
        monthly[:, r0:r1] = res.monthly
        if progress:
            progress(options.sectors + i + 1, total)
    del hor, canopy
    return Irradiation(monthly=monthly, **out)


def engine_skies(weather: WeatherYear, site: Site, options: EngineOptions, extra_azimuth_bins=(), vegetation=None):
    """Build the sky tables of :func:`run_engine` (``{azimuth bins: table}``) from the weather's sun steps.

    They need no surface model, so a run can hand them to surfaces computed beside the engine.
    """
    weather.require_full_year()
    steps = sun_steps(weather, site.latitude, site.longitude, site.altitude, options.step_minutes,
                      options.sky_model)
    return {int(b): sky_table(steps, int(b), leaf_on=_leaf_on(vegetation))
            for b in {options.azimuth_bins, *extra_azimuth_bins}}


def run_engine(grid: Grid, weather: WeatherYear, options: EngineOptions, *, site: Site | None = None,
               progress=None, extra_azimuth_bins=(), inputs=None, vegetation=None, skies=None) -> IrradianceResult:
    """Run the engine once: sun steps, sky tables, horizons and irradiation of every pixel.

    Parameters
    ----------
    grid : Grid
        Surface model [m].
    weather : WeatherYear
        A full year.
    options : EngineOptions
    site : Site, optional
        Where the sun is computed; default :meth:`Site.from_grid`.
    progress : callable, optional
        ``progress(done, total)`` with work units of :func:`irradiation_raster`.
    extra_azimuth_bins : sequence of int
        Further sky tables to build from the same sun steps (``result.skies[bins]``), e.g.
        :data:`solarkataster.sky.FINE_AZIMUTH_BINS` for walls.
    inputs : list of path, optional
        Further input files recorded (with hashes) in the provenance.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Canopy on the grid, whose ``z`` is then the opaque surface (trees removed). Every sky table gets
        the leaf-on split; the provenance records ``vegetation.parameters()`` under "vegetation".
    skies : dict, optional
        :func:`engine_skies` of these arguments, when already built.

    Returns
    -------
    IrradianceResult
        With ``skies`` holding every sky table built (the default one included).
    """
    t0 = time.perf_counter()
    if not np.isfinite(grid.z).any():
        raise RasterError(f"{grid.source.get('path', 'surface model')}: every pixel is nodata")
    site = site or Site.from_grid(grid)
    if skies is None:
        skies = engine_skies(weather, site, options, extra_azimuth_bins, vegetation)
    sky = skies[options.azimuth_bins]
    t1 = time.perf_counter()
    irr = irradiation_raster(grid.z, grid.cellsize, sky, options, progress, anchor=grid_anchor(grid.transform),
                             vegetation=vegetation)
    t2 = time.perf_counter()
    prov = provenance(grid, weather, site, options, {"sky_table_s": t1 - t0, "irradiation_s": t2 - t1},
                      inputs=inputs)
    if vegetation is not None:
        prov["vegetation"] = vegetation.parameters()
    return IrradianceResult(grid, irr, sky, weather, site, options, prov, skies)


def compute_irradiance(dsm, *, weather="auto", year=2025, linke=None, options=None, progress=None, vegetation=None,
                       site=None, **option_kwargs) -> IrradianceResult:
    """Read a surface model and compute annual and monthly irradiation for every pixel.

    Parameters
    ----------
    dsm : str, Path or Grid
        Surface model (projected metric CRS).
    weather : str or WeatherYear
        'auto' (default: the DWD TRY of the site's region in Germany, else cached PVGIS, else clear sky),
        'dwd-try[:NN]', 'clear-sky', 'pvgis', a weather file path, or a WeatherYear.
    year : int
        Calendar year the weather is mapped onto.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    options : EngineOptions, optional
        Model choices; keyword arguments (albedo=..., sectors=...) build one when omitted.
    progress : callable, optional
        ``progress(done, total)``.
    vegetation : solarkataster.vegetation.Vegetation, optional
        Canopy on the surface model's grid (see :func:`run_engine`); ``dsm`` is then the opaque surface.
    site : Site, optional
        Where the sun is computed and the weather resolved; default :meth:`Site.from_grid` (a windowed run
        passes its whole raster's, so that every window sees the same sun).

    Returns
    -------
    IrradianceResult
    """
    t0 = time.perf_counter()
    options = options or EngineOptions(**option_kwargs)
    grid = load_grid(dsm)
    if not np.isfinite(grid.z).any():
        raise RasterError(f"{grid.source.get('path', 'surface model')}: every pixel is nodata")
    site = site or Site.from_grid(grid)
    wy = resolve_weather(weather, site, year, linke)
    wy.require_full_year()
    t1 = time.perf_counter()
    result = run_engine(grid, wy, options, site=site, progress=progress, vegetation=vegetation)
    timings = {"weather_s": t1 - t0, **result.provenance["timings_s"], "total_s": time.perf_counter() - t0}
    result.provenance["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return result


def provenance(grid, weather, site, options, timings=None, inputs=None) -> dict:
    """Describe what a result rests on: inputs with hashes, weather source, model options, version, timings."""
    from .io.raster import sha256

    files = []
    for p in [grid.source.get("path")] + list(inputs or []):
        if p and Path(p).exists():
            files.append({"path": str(p), "sha256": sha256(p), "bytes": Path(p).stat().st_size})
    src = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
           for k, v in weather.source.items()}
    return {
        "software": {"name": "solarkataster", "version": __version__, "python": platform.python_version()},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": files,
        "grid": {"crs": str(grid.crs), "cellsize_m": grid.cellsize, "shape": list(grid.shape),
                 "bounds": list(_bounds(grid))},
        "site": {"latitude": site.latitude, "longitude": site.longitude, "altitude_m": site.altitude},
        "weather": src,
        "weather_distance_km": src.get("distance_km"),
        "options": {"albedo": options.albedo, "sectors": options.sectors,
                    "max_distance_m": options.max_distance, "sun_step_min": options.step_minutes,
                    "sky_model": options.sky_model, "azimuth_bins": options.azimuth_bins,
                    "transposition": "Perez 1990 (pvlib allsitescomposite1990)" if options.sky_model == "perez"
                    else "isotropic", "clear_sky": "Ineichen-Perez (pvlib)",
                    "solar_position": "NREL SPA (pvlib)", "ground_reflection": "isotropic, albedo x GHI x (1 - SVF)"},
        "units": {"irradiation": layers.IRRADIATION_UNIT, "irradiation_monthly": layers.IRRADIATION_MONTHLY_UNIT,
                  "sky_view_factor": "1"},
        "timings_s": {k: round(v, 3) for k, v in (timings or {}).items()},
    }


def _bounds(grid):
    t = grid.transform
    rows, cols = grid.shape
    return (t.c, t.f + rows * t.e, t.c + cols * t.a, t.f)
