"""Reader of EnergyPlus weather files (EPW), including the EPW variant of PVGIS TMY.

Hour HH (1..24) ends the interval in local standard time, whose UTC offset is field 9 of the LOCATION line
(EnergyPlus Auxiliary Programs, "Weather Data Format"); PVGIS writes offset 0. Field indices are those of
:func:`pvlib.iotools.read_epw`. Missing-value codes: 9999 for irradiance, 99.9 for temperature, 999 for wind.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import NOMINAL_YEAR, check_complete_year, check_hour_labels, hour_ending_starts, line_locator

#: EPW data fields read (0-based) and their names in the EnergyPlus documentation.
_FIELDS = {"year": (0, "Year"), "month": (1, "Month"), "day": (2, "Day"), "hour": (3, "Hour"),
           "temp_air": (6, "Dry Bulb Temperature (field 7)"), "ghi": (13, "Global Horizontal Radiation (field 14)"),
           "dni": (14, "Direct Normal Radiation (field 15)"), "dhi": (15, "Diffuse Horizontal Radiation (field 16)"),
           "wind_speed": (21, "Wind Speed (field 22)")}
#: Values at or above these are EPW's "missing" codes.
_MISSING_AT_OR_ABOVE = {"ghi": 9999, "dni": 9999, "dhi": 9999, "temp_air": 99.9, "wind_speed": 999}


def read_epw(text, path):
    """Read an EPW file's text; returns ``(frame, interval, source, locate)`` like every reader."""
    lines = text.splitlines()
    lat, lon, tz, elevation, loc = _location(lines[0], path)
    data_start = next((i for i, line in enumerate(lines) if line.upper().startswith("DATA PERIODS")), 6) + 1
    table, row_lines = _data_table(lines, data_start, path)
    for column, code in _MISSING_AT_OR_ABOVE.items():
        table.loc[table[column] >= code, column] = np.nan
    locate = line_locator(row_lines)
    month, day, hour = (table[c].to_numpy().astype(int) for c in ("month", "day", "hour"))
    years = table["year"].to_numpy().astype(int)
    single_year = len(np.unique(years)) == 1
    year = int(years[0]) if single_year else NOMINAL_YEAR
    check_hour_labels(path, month, day, hour, locate, year)
    check_complete_year(path, len(table), row_lines, "EPW",
                        expected=_expected_records(lines[data_start - 1], year))
    utc_start = pd.DatetimeIndex(hour_ending_starts(year, month, day, hour)) - pd.Timedelta(hours=tz)
    frame = table[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    frame.index = utc_start.tz_localize("UTC")
    station = ", ".join(x for x in (loc[1], loc[3]) if x and x.lower() != "unknown") or None
    wmo = loc[5] if loc[5] and loc[5].lower() != "unknown" else None
    source = {"station": f"{station} (WMO {wmo})" if station and wmo else station,
              "latitude": lat, "longitude": lon, "elevation": elevation,
              "period": (f"{years.min()}-{years.max()}" if not single_year else str(year)),
              "year": year if single_year else None,
              "time_convention": f"EPW hour-ending local standard time, UTC{tz:+g} (LOCATION line)"}
    return frame, pd.Timedelta(hours=1), source, locate


def _location(line, path):
    """Latitude, longitude [°], UTC offset [h], elevation [m] and the fields of the LOCATION line."""
    loc = [f.strip() for f in line.split(",")]
    if len(loc) < 10:
        raise WeatherError(f"{path}: line 1: EPW LOCATION line has {len(loc)} fields, expected 10 "
                           "(LOCATION,city,state,country,source,WMO,latitude,longitude,TZ,elevation)")
    try:
        lat, lon, tz, elevation = (float(loc[i]) for i in (6, 7, 8, 9))
    except ValueError:
        raise WeatherError(f"{path}: line 1: EPW LOCATION latitude/longitude/time zone/elevation are "
                           "not numbers") from None
    return lat, lon, tz, elevation, loc


def _data_table(lines, data_start, path):
    """Return the fields of :data:`_FIELDS` of every data line, and each row's file line."""
    values, row_lines = [], []
    for number, line in enumerate(lines[data_start:], start=data_start + 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 22:
            raise WeatherError(f"{path}: line {number}: EPW data line has {len(fields)} fields, expected "
                               "at least 22 (35 in full files); the file is truncated or damaged")
        row = []
        for i, name in _FIELDS.values():
            try:
                row.append(float(fields[i]))
            except ValueError:
                raise WeatherError(f"{path}: line {number}, column {name}: {fields[i]!r} is not a "
                                   "number") from None
        values.append(row)
        row_lines.append(number)
    if not values:
        raise WeatherError(f"{path}: EPW file has no data lines")
    return pd.DataFrame(values, columns=list(_FIELDS)), row_lines


def _expected_records(data_periods, year):
    """Hourly records the DATA PERIODS line announces (start/end 'm/d'); a whole year if unreadable."""
    fields = [f.strip() for f in data_periods.split(",")]
    try:
        per_hour = int(fields[2])
        (m0, d0), (m1, d1) = ([int(x) for x in f.split("/")] for f in fields[-2:])
        days = (pd.Timestamp(year=year, month=m1, day=d1) - pd.Timestamp(year=year, month=m0, day=d0)).days
        return (days + 1) * 24 * per_hour
    except (ValueError, IndexError):
        return 8784 if pd.Timestamp(year=year, month=1, day=1).is_leap_year else 8760
