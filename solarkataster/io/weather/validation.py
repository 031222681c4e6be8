"""Validation of weather records, the same for every format.

Sentinels -999, -9999 and 9999 are missing values. Gaps up to :data:`MAX_GAP_HOURS` are filled by linear
interpolation in time, with a warning; longer gaps are errors naming the file, the column and the first
missing line. Temperature must lie within :data:`TEMP_AIR_RANGE`, wind within :data:`WIND_SPEED_RANGE`,
irradiance between 0 (after rounding noise down to :data:`NEGATIVE_NOISE`) and the extraterrestrial limit.
A file without temperature or wind gets :data:`solarkataster.weather.DEFAULT_TEMP_AIR` /
:data:`~solarkataster.weather.DEFAULT_WIND_SPEED` with a warning.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...decomposition import SOLAR_CONSTANT, extraterrestrial_horizontal_max
from ...errors import WeatherError
from ...weather import DEFAULT_TEMP_AIR, DEFAULT_WIND_SPEED

log = logging.getLogger(__name__)

#: Irradiance below this is noise rounded to zero; below it, an error [W/m²].
NEGATIVE_NOISE = -10.0
#: A record's ghi may exceed the extraterrestrial horizontal irradiance (maximum over its interval) by
#: this factor and offset [W/m²] before it is called impossible.
ETR_FACTOR, ETR_MARGIN = 1.10, 25.0
#: Values that weather files use for "missing" (EPW, UMEP, DWD, TMY3 conventions).
SENTINELS = (-999.0, -9999.0, 9999.0)
#: Longest run of missing records filled by linear interpolation [h]; longer gaps are errors.
MAX_GAP_HOURS = 3.0
#: Plausible air temperature [°C] and wind speed [m/s] (world records: -89 °C, 57 °C; 113 m/s gust).
TEMP_AIR_RANGE = (-60.0, 60.0)
WIND_SPEED_RANGE = (0.0, 75.0)
#: Extraterrestrial irradiance at perihelion [W/m²]: the bound when the site is unknown.
_PERIHELION_IRRADIANCE = SOLAR_CONSTANT * 1.035


def missing_to_nan(values):
    """Return the values as floats with the sentinels (:data:`SENTINELS`) as NaN."""
    values = np.asarray(values, float)
    return np.where(np.isin(values, SENTINELS), np.nan, values)


def check_values(frame, interval, path, locate, latitude, longitude):
    """Check and repair the records of one file (module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        Records on UTC interval starts; missing columns become NaN.
    interval : pandas.Timedelta
        Record length.
    path : str or Path
        For messages.
    locate : callable
        ``locate(i)`` -> where record ``i`` is in the file ("line 17").
    latitude, longitude : float or None
        Site [°]; with them irradiance is bounded by the extraterrestrial horizontal irradiance over each
        record's interval, without them by the solar constant at perihelion.

    Returns
    -------
    pandas.DataFrame
        ``ghi``, ``dni``, ``dhi`` [W/m²] (negative noise set to 0, short gaps filled), ``temp_air`` [°C] and
        ``wind_speed`` [m/s] (defaults where the file has none).

    Raises
    ------
    WeatherError
        Out-of-range values, long gaps, dhi above ghi, or ghi above the extraterrestrial limit.
    """
    frame = frame.copy()
    for column in ("ghi", "dni", "dhi", "temp_air", "wind_speed"):
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = missing_to_nan(frame[column].to_numpy(float))
    _check_ranges(frame, path, locate)
    for column, default, unit in (("temp_air", DEFAULT_TEMP_AIR, "°C"), ("wind_speed", DEFAULT_WIND_SPEED, "m/s")):
        if frame[column].isna().all():
            log.warning("%s: no %s values; assuming %g %s throughout", path, column, default, unit)
            frame[column] = default
    filled = frame["ghi"].isna().to_numpy() | frame["dhi"].isna().to_numpy()
    for column in ("ghi", "dhi", "temp_air", "wind_speed"):
        if column == "dhi" and frame[column].isna().all():
            continue  # GHI-only file: decomposed later
        frame[column] = _fill_short_gaps(frame[column], interval, path, locate)
    for column in ("ghi", "dni", "dhi"):
        values = frame[column].to_numpy(float)
        frame[column] = np.where(values < 0, 0.0, values)
    if latitude is not None and longitude is not None:
        limit = extraterrestrial_horizontal_max(frame.index, interval, latitude, longitude)
        what = "the extraterrestrial horizontal irradiance"
        # interpolation across sunrise or sunset must not put light where the sun is down
        frame["ghi"] = np.where(filled, np.minimum(frame["ghi"].to_numpy(float), limit), frame["ghi"])
        frame["dhi"] = np.where(filled, np.minimum(frame["dhi"].to_numpy(float), frame["ghi"]), frame["dhi"])
    else:
        limit = np.full(len(frame), _PERIHELION_IRRADIANCE)
        what = "the solar constant at perihelion"
    _check_physical_limits(frame, limit, what, path, locate)
    return frame


def _check_physical_limits(frame, limit, what, path, locate):
    """Raise where diffuse exceeds global or global exceeds the extraterrestrial ``limit`` [W/m²]."""
    ghi, dhi = frame["ghi"].to_numpy(float), frame["dhi"].to_numpy(float)
    bad = np.flatnonzero(dhi > ghi * 1.05 + 10.0)
    if bad.size:
        raise WeatherError(f"{path}: {locate(int(bad[0]))}, column dhi: {dhi[bad[0]]:g} W/m² exceeds ghi "
                           f"{ghi[bad[0]]:g} W/m²; diffuse is part of global")
    bad = np.flatnonzero(ghi > ETR_FACTOR * limit + ETR_MARGIN)
    if bad.size:
        i = int(bad[0])
        raise WeatherError(
            f"{path}: {locate(i)}, column ghi: {ghi[i]:g} W/m² for the interval starting "
            f"{frame.index[i]} exceeds {what} ({limit[i]:.0f} W/m²; {bad.size} records in all). Wrong "
            "time convention or units? (CSV: see time_label; files need W/m² interval means)")


def _check_ranges(frame, path, locate):
    """Raise on values outside their physical range (NaN = missing is handled by the gap filling)."""
    dni_max = ETR_FACTOR * _PERIHELION_IRRADIANCE + ETR_MARGIN
    limits = {"ghi": (NEGATIVE_NOISE, np.inf, "W/m²", "irradiance cannot be below zero"),
              "dhi": (NEGATIVE_NOISE, np.inf, "W/m²", "irradiance cannot be below zero"),
              "dni": (NEGATIVE_NOISE, dni_max, "W/m²", "direct normal irradiance lies within 0 and "
                      f"{dni_max:.0f} W/m² (extraterrestrial)"),
              "temp_air": (*TEMP_AIR_RANGE, "°C", f"air temperature lies within {TEMP_AIR_RANGE[0]:g} and "
                           f"{TEMP_AIR_RANGE[1]:g} °C; wrong units (K, °F)?"),
              "wind_speed": (*WIND_SPEED_RANGE, "m/s", f"wind speed lies within {WIND_SPEED_RANGE[0]:g} and "
                             f"{WIND_SPEED_RANGE[1]:g} m/s; wrong units (km/h)?")}
    for column, (low, high, unit, why) in limits.items():
        values = frame[column].to_numpy(float)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero((values < low) | (values > high))
        if bad.size:
            i = int(bad[0])
            what = "is negative" if unit == "W/m²" and values[i] < 0 else "is out of range"
            raise WeatherError(f"{path}: {locate(i)}, column {column}: {values[i]:g} {unit} {what} "
                               f"({bad.size} records in all); {why}")


def _fill_short_gaps(series, interval, path, locate):
    """Interpolate runs of NaN up to :data:`MAX_GAP_HOURS` with a warning; raise on longer runs."""
    values = series.to_numpy(float)
    missing = np.isnan(values)
    if not missing.any():
        return series
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    limit = int(np.floor(pd.Timedelta(hours=MAX_GAP_HOURS) / interval + 1e-9))
    if ends[longest] - starts[longest] > limit or missing.all():
        first = int(starts[np.flatnonzero(ends - starts > limit)[0]]) if not missing.all() else 0
        run = int(ends[longest] - starts[longest])
        raise WeatherError(
            f"{path}: {locate(first)}, column {series.name}: missing values (empty or -999/-9999/9999) over "
            f"{run * interval / pd.Timedelta(hours=1):g} h; gaps up to {MAX_GAP_HOURS:g} h are interpolated, "
            "fill longer ones from another source")
    log.warning("%s: column %s: %d missing value(s) in %d gap(s) of at most %g h, first at %s, filled by "
                "linear interpolation", path, series.name, int(missing.sum()), len(starts),
                (ends - starts).max() * interval / pd.Timedelta(hours=1), locate(int(starts[0])))
    return series.interpolate(method="time", limit_direction="both")
