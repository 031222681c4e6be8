"""Irradiance time series at arbitrary points: balcony modules, façade sensors, pyranometers.

A point is (x, y, z) in the surface model's CRS and vertical datum plus a plane orientation. Its horizon
is marched over the bilinear DSM from the point itself (:func:`solarkataster.horizon.horizon_at_points`);
the sun and sky come sub-hourly from :func:`solarkataster.sky.sun_steps`, and the plane-of-array
components per step from :func:`solarkataster.irradiation.poa_time_series`. Sub-steps are averaged back
onto the weather's records, so the output has one row per record, labelled by the record's interval
start in UTC, with the mean irradiance over the interval.

References
----------
.. [1] Perez, R., Ineichen, P., Seals, R., Michalsky, J., & Stewart, R. (1990). Modeling daylight
   availability and irradiance components from direct and global irradiance. Solar Energy, 44(5),
   271-289. https://doi.org/10.1016/0038-092X(90)90055-H
.. [2] Lindberg, F., Holmer, B., & Thorsson, S. (2008). SOLWEIG 1.0 - Modelling spatial variations of 3D
   radiant fluxes and mean radiant temperature in complex urban settings. International Journal of
   Biometeorology, 52, 697-713. https://doi.org/10.1007/s00484-008-0162-7 (UMEP meteorological files).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import ParameterError, check_range
from .grid import Grid
from .weather import WeatherYear

log = logging.getLogger(__name__)

#: A point may lie this far below the DSM pixel it falls in before it counts as buried [m].
BELOW_SURFACE_TOLERANCE = 0.05

POA_COLUMNS = ("poa_global", "poa_beam", "poa_diffuse", "poa_reflected", "sun_visible")

#: Column documentation written next to CSV output.
COLUMN_DOCS = {
    "time": "UTC, start of the weather record's interval (ISO 8601)",
    "poa_global": "mean plane-of-array global irradiance over the interval [W/m²]",
    "poa_beam": "mean plane-of-array beam irradiance [W/m²]",
    "poa_diffuse": "mean plane-of-array sky diffuse irradiance incl. circumsolar and horizon band [W/m²]",
    "poa_reflected": "mean plane-of-array ground-reflected irradiance [W/m²]",
    "sun_visible": "share of the interval's sun steps with the sun above the horizon and in front of the plane [0-1]",
}


def _restrict(weather: WeatherYear, start, end) -> WeatherYear:
    """Keep the records whose interval starts in [start, end)."""
    idx = weather.data.index
    keep = np.ones(len(idx), bool)
    for name, value, op in (("start", start, np.greater_equal), ("end", end, np.less)):
        if value is None:
            continue
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{name}={value!r} is not an ISO 8601 time (e.g. 2025-06-21T00:00Z)") from None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        keep &= op(idx, ts)
    if not keep.any():
        raise ParameterError(f"no weather records in [{start}, {end}): the weather covers {weather.start} to "
                             f"{weather.end}; choose --start/--end inside it")
    return WeatherYear(weather.data[keep], weather.interval, dict(weather.source))


def point_irradiance(grid: Grid, x, y, z, surface_tilt, surface_azimuth, weather: WeatherYear, *, start=None,
                     end=None, albedo=0.2, sectors=72, step_minutes=10, model="perez", max_distance=None,
                     vegetation=None):
    """Plane-of-array irradiance time series at points.

    Parameters
    ----------
    grid : Grid
        Surface model (DSM, buildings and vegetation as obstacles) [m].
    x, y : array_like
        Point positions in the grid's CRS [m].
    z : array_like
        Absolute point heights in the DSM's vertical datum [m] (a roof sensor sits at the DSM plus its
        mounting height).
    surface_tilt, surface_azimuth : array_like
        Plane orientation [°] (tilt 0 horizontal, 90 vertical; azimuth clockwise from north).
    weather : WeatherYear
        Any period (a day, a week, a year), UTC records.
    start, end : str or Timestamp, optional
        Restrict to records starting in [start, end) (naive times are UTC).
    albedo : float
        Ground albedo [0-1].
    sectors : int
        Horizon azimuths.
    step_minutes : float
        Sun position sub-step [min].
    model : {'perez', 'isotropic'}
    max_distance : float, optional
        Horizon search distance [m].
    vegetation : solarkataster.vegetation.Vegetation, optional
        Canopy on the grid, whose ``z`` is then the opaque surface (trees removed): each step's ray to the
        sun through the canopy, and the sky seen through it, are attenuated with that day's transmissivity.

    Returns
    -------
    list of pandas.DataFrame
        One per point, indexed by the records' interval start (UTC), with the interval means of
        ``poa_global``, ``poa_beam``, ``poa_diffuse``, ``poa_reflected`` [W/m²] and ``sun_visible`` (share
        of sub-steps with the sun visible) [0-1]. ``frame.attrs`` holds ``period`` (first start, last end),
        ``horizon`` (the horizon profile [°]) and ``sky_view_factor``; with vegetation also
        ``canopy_top`` and ``canopy_bottom`` [°] per sector (bottom 90 where no canopy).

    Raises
    ------
    ParameterError
        A point lies outside the raster, on nodata, or more than 5 cm below the DSM pixel it falls in
        (inside a building or under the ground).
    """
    from .horizon import horizon_at_points
    from .irradiation import poa_time_series
    from .sky import sun_steps

    x, y, z, tilt, azimuth = (np.atleast_1d(np.asarray(v, float)) for v in
                              np.broadcast_arrays(x, y, z, surface_tilt, surface_azimuth))
    for i in range(x.size):
        check_range(f"surface_tilt (point {i})", tilt[i], 0, 180, "°")
        check_range(f"surface_azimuth (point {i})", azimuth[i], -360, 720, "°")
    azimuth = azimuth % 360.0
    sectors = int(check_range("sectors", sectors, 4, 720))
    rows, cols = _check_points(grid, x, y, z)
    weather = _restrict(weather, start, end)
    lon, lat = grid.center_lonlat()
    altitude = float(np.nanmedian(grid.z))
    steps = sun_steps(weather, lat, lon, altitude, step_minutes=step_minutes, model=model)
    azimuths = np.arange(sectors) * 360.0 / sectors
    horizon = horizon_at_points(grid.z, grid.cellsize, rows, cols, z, azimuths, max_distance).T
    canopy = None
    if vegetation is not None and vegetation.mask.any():
        canopy = point_canopy_horizons(grid.z, grid.cellsize, vegetation, rows, cols, z, azimuths, max_distance)
    per_step = poa_time_series(horizon, tilt, azimuth, steps, albedo, canopy=canopy, vegetation=vegetation)
    svf = _sky_view_factor(horizon, canopy, tilt, azimuth, steps, albedo, vegetation)
    n_rec = len(weather.data)
    w = steps.weight
    hours = weather.interval / pd.Timedelta(hours=1)
    period = (weather.start.isoformat(), weather.end.isoformat())
    out = []
    for i, frame in enumerate(per_step):
        cols_out = {}
        for name in POA_COLUMNS:
            values = frame[name].to_numpy(float)
            cols_out[name] = np.bincount(steps.record, values * w, minlength=n_rec) / hours
        series = pd.DataFrame(cols_out, index=weather.data.index)
        series.index.name = "time"
        series.attrs.update(period=period, horizon=horizon[:, i].tolist(), sky_view_factor=float(svf[i]),
                            weather=dict(weather.source))
        if canopy is not None:
            series.attrs.update(canopy_top=canopy[0][:, i].tolist(), canopy_bottom=canopy[1][:, i].tolist())
        out.append(series)
    log.info("point irradiance for %d point(s) over %s to %s", x.size, *period)
    return out


def _check_points(grid: Grid, x, y, z):
    """Fractional (row, col) of the points; ParameterError for one outside, on nodata or below the DSM."""
    rows, cols = grid.rowcol(x, y)
    nr, nc = grid.shape
    for i in range(x.size):
        where = f"point {i} (x={x[i]:.2f}, y={y[i]:.2f}, z={z[i]:.2f})"
        if not (-0.5 <= rows[i] <= nr - 0.5 and -0.5 <= cols[i] <= nc - 0.5):
            raise ParameterError(f"{where} lies outside the surface model; give coordinates in its CRS "
                                 f"({grid.crs}) inside its extent")
        # the pixel the point falls in (not bilinear: a facade sensor 0.1 m from a wall must not be lifted
        # by the roof pixel next to it)
        surface = grid.z[int(np.clip(np.rint(rows[i]), 0, nr - 1)), int(np.clip(np.rint(cols[i]), 0, nc - 1))]
        if not np.isfinite(surface):
            raise ParameterError(f"{where} lies on a nodata pixel of the surface model")
        if z[i] < surface - BELOW_SURFACE_TOLERANCE:
            raise ParameterError(f"{where} is {surface - z[i]:.2f} m below the surface model ({surface:.2f} m): "
                                 "inside a building or under the ground; give z as the DSM height plus the "
                                 "mounting height")
    return rows, cols


def point_canopy_horizons(z, cellsize, vegetation, rows, cols, heights, azimuths, max_distance=None, *,
                          facing=None, clearance=0.0):
    """Canopy-top and canopy-bottom horizons [°] seen from points, by the march of ``horizon_at_points``.

    The top is the horizon of the opaque surface with the canopy tops on it; the bottom is the lowest
    elevation at which a ray meets the canopy above its trunk zone (the march over the negated trunk tops
    from the negated point height), as :func:`solarkataster.horizon.canopy_horizon_codes` defines them.

    Parameters
    ----------
    z : ndarray
        Opaque surface [m] (trees removed).
    cellsize : float
        Pixel size [m].
    vegetation : solarkataster.vegetation.Vegetation
        Canopy on the same grid.
    rows, cols, heights, azimuths, max_distance, facing, clearance
        As :func:`solarkataster.horizon.horizon_at_points`.

    Returns
    -------
    top, bottom : ndarray of float64, shape (n_azimuths, n_points)
        Elevation [°]; top -90 where open, bottom 90 where no canopy lies along the azimuth (also behind
        a wall, where ``facing`` marks azimuths behind it as blocked).
    """
    from .horizon import canopy_surfaces, horizon_at_points

    top_z, bottom_z = canopy_surfaces(z, vegetation)
    heights = np.asarray(heights, float)
    top = horizon_at_points(top_z, cellsize, rows, cols, heights, azimuths, max_distance, facing=facing,
                            clearance=clearance)
    neg = horizon_at_points(-bottom_z, cellsize, rows, cols, -heights, azimuths, max_distance, facing=facing,
                            clearance=clearance)
    bottom = np.where((neg <= -89.999) | (neg >= 89.999), 90.0, -neg)
    return top.T, bottom.T


def _sky_view_factor(horizon, canopy, tilt, azimuth, steps, albedo, vegetation):
    """Sky view factor [0-1] of each point; the sky seen through a canopy counts with its transmissivity.

    As the raster engine's: the transmissivity is the leaf-on/leaf-off mean weighted by the diffuse light of
    the period (:func:`solarkataster.irradiation.irradiation_from_codes`).
    """
    from .horizon import angles_to_codes
    from .irradiation import empty_sky, irradiation_from_codes
    from .sky import sky_table

    codes = angles_to_codes(horizon)
    if canopy is None:
        return irradiation_from_codes(codes, tilt, azimuth, empty_sky(len(horizon)), albedo).sky_view_factor
    sky = sky_table(steps, leaf_on=vegetation.leaf_on)
    return irradiation_from_codes(codes, tilt, azimuth, sky, albedo, canopy=tuple(angles_to_codes(c) for c in canopy),
                                  vegetation=vegetation).sky_view_factor
