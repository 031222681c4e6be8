"""Transformations of a weather year: complete the irradiance components, map onto a calendar year."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...decomposition import MAX_ZENITH, complete_irradiance, interval_mean_cos_zenith
from ...errors import WeatherError
from ...weather import WeatherYear

#: Column order of completed weather frames (others follow).
_COLUMN_ORDER = ("ghi", "dni", "dhi", "temp_air", "wind_speed")


def complete_components(weather: WeatherYear, latitude, longitude, *, decompose=False,
                        model="erbs_driesse") -> WeatherYear:
    """Fill ``dni`` from direct horizontal, or split ``ghi`` into ``dni`` and ``dhi`` when only ghi exists.

    Parameters
    ----------
    weather : WeatherYear
        Records to complete.
    latitude, longitude : float
        Site [°].
    decompose : bool
        If True, or if ``dhi`` is all NaN, estimate ``dhi`` from ``ghi``
        (:func:`solarkataster.decomposition.complete_irradiance` with ``model``) at the interval-mean
        zenith, then derive ``dni``.
    model : {'erbs_driesse', 'erbs'}
        Decomposition model.

    Returns
    -------
    WeatherYear
        With ``dni`` filled where it was NaN; existing dni values are kept unless dhi was estimated.

    Notes
    -----
    The zenith used is that of the interval mean of max(cos zenith, 0) (10 sub-samples), so that
    ``dni * mean cos = ghi - dhi`` keeps the record's beam energy on the horizontal; see
    :func:`solarkataster.decomposition.dni_from_horizontal` for the zenith limit and the cap.
    """
    frame = weather.data.copy()
    mean_cos, dni_extra = interval_mean_cos_zenith(frame.index, weather.interval, latitude, longitude)
    zenith = np.degrees(np.arccos(np.clip(mean_cos, 0.0, 1.0)))
    source = dict(weather.source)
    dhi = frame["dhi"].to_numpy(float)
    if decompose or np.isnan(dhi).all():
        dhi = np.full(len(frame), np.nan)
        source["notes"] = [*source.get("notes", []), f"dhi estimated from ghi ({model} decomposition)"]
    dni = frame["dni"].to_numpy(float) if "dni" in frame.columns else np.full(len(frame), np.nan)
    parts = complete_irradiance(frame["ghi"].to_numpy(float), dhi, dni, zenith, dni_extra, model=model,
                                max_zenith=MAX_ZENITH)
    frame["dhi"], frame["dni"] = parts.dhi, parts.dni
    first = [c for c in _COLUMN_ORDER if c in frame.columns]
    return WeatherYear(frame[first + [c for c in frame.columns if c not in first]], weather.interval, source)


def to_year(weather: WeatherYear, year: int) -> WeatherYear:
    """Map records onto calendar ``year``, keeping month, day and time of day (UTC).

    Feb 29 records are dropped for a non-leap target; a leap target without Feb 29 gets Feb 28 repeated.
    Records that a time-zone shift put into the neighbouring year wrap around (the 23:00Z record of
    Dec 31 of the previous year becomes Dec 31 23:00Z of ``year``), as pvlib's ``roll_utc_offset`` does.

    Parameters
    ----------
    weather : WeatherYear
        Records on any year.
    year : int
        Target calendar year.

    Returns
    -------
    WeatherYear
        Sorted, same interval; ``source['mapped_to_year']`` = year.

    Raises
    ------
    WeatherError
        Records overlap after the mapping (the source spans more than one year).
    """
    year = int(year)
    idx = weather.data.index
    month, day = idx.month.to_numpy(), idx.day.to_numpy()
    time_of_day = (idx - idx.normalize()).to_numpy()
    frame = weather.data.copy()
    leap_target = pd.Timestamp(year=year, month=1, day=1).is_leap_year
    feb29 = (month == 2) & (day == 29)
    if not leap_target and feb29.any():
        keep = ~feb29
        frame, month, day, time_of_day = frame[keep], month[keep], day[keep], time_of_day[keep]
    dates = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
    frame.index = pd.DatetimeIndex(dates.to_numpy() + time_of_day).tz_localize("UTC")
    if leap_target and not feb29.any() and (month == 2).any():
        feb28 = frame[(month == 2) & (day == 28)].copy()
        feb28.index = feb28.index + pd.Timedelta(days=1)
        frame = pd.concat([frame, feb28])
    frame = frame.sort_index()
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        name = weather.source.get("path") or weather.source.get("name", "weather")
        raise WeatherError(f"{name}: records overlap after mapping onto {year} (at {dup}); the source "
                           "spans more than one year, cut it to one year")
    return WeatherYear(frame, weather.interval, dict(weather.source, mapped_to_year=year))
