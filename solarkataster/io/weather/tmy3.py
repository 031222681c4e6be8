"""Reader of NREL TMY3 files (CSV with two header lines).

``Time`` HH:MM (01:00..24:00) ends the interval in local standard time, whose UTC offset is the fourth field
of the first header line (Wilcox & Marion 2008, "Users Manual for TMY3 Data Sets", NREL/TP-581-43156,
https://doi.org/10.2172/928611).
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import NOMINAL_YEAR, check_complete_year, check_hour_labels, hour_ending_starts, line_locator

#: TMY3 column of each WeatherYear column.
_COLUMNS = {"ghi": "GHI (W/m^2)", "dni": "DNI (W/m^2)", "dhi": "DHI (W/m^2)", "temp_air": "Dry-bulb (C)",
            "wind_speed": "Wspd (m/s)"}


def read_tmy3(text, path):
    """Read a TMY3 file's text; returns ``(frame, interval, source, locate)`` like every reader."""
    lines = text.splitlines()
    meta = [f.strip() for f in lines[0].split(",")]
    try:
        tz, lat, lon, elevation = (float(meta[i]) for i in (3, 4, 5, 6))
    except (ValueError, IndexError):
        raise WeatherError(f"{path}: line 1: TMY3 header must be 'USAF,Name,State,TZ,latitude,longitude,"
                           "elevation'") from None
    header = [c.strip() for c in lines[1].split(",")]
    missing = [v for k, v in _COLUMNS.items() if v not in header and k in ("ghi", "dhi")]
    if missing or "Time (HH:MM)" not in header:
        raise WeatherError(f"{path}: line 2: TMY3 column(s) {missing or ['Time (HH:MM)']} missing")
    for number, line in enumerate(lines[2:], start=3):
        if line.strip() and line.count(",") != lines[1].count(","):
            raise WeatherError(f"{path}: line {number}: {line.count(',') + 1} fields, the header (line 2) "
                               f"has {lines[1].count(',') + 1}; the file is truncated or damaged")
    table = pd.read_csv(io.StringIO(text), header=1, skip_blank_lines=True)
    row_lines = list(range(3, 3 + len(table)))
    locate = line_locator(row_lines)
    try:
        date = pd.to_datetime(table["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
        hour = table["Time (HH:MM)"].str.slice(0, 2).astype(int).to_numpy()
    except (ValueError, TypeError) as exc:
        raise WeatherError(f"{path}: column 'Date (MM/DD/YYYY)' or 'Time (HH:MM)' unreadable ({exc})"
                           ) from None
    month, day = date.dt.month.to_numpy(), date.dt.day.to_numpy()
    check_hour_labels(path, month, day, hour, locate, NOMINAL_YEAR)
    check_complete_year(path, len(table), row_lines, "TMY3")
    frame = pd.DataFrame({k: pd.to_numeric(table[v], errors="coerce").to_numpy() if v in table else np.nan
                          for k, v in _COLUMNS.items()})
    label_start = pd.DatetimeIndex(hour_ending_starts(NOMINAL_YEAR, month, day, hour))
    frame.index = (label_start - pd.Timedelta(hours=tz)).tz_localize("UTC")
    years = date.dt.year
    source = {"station": f"{meta[1].strip(chr(34))} (USAF {meta[0]})", "latitude": lat, "longitude": lon,
              "elevation": elevation, "period": f"{years.min()}-{years.max()}",
              "time_convention": f"TMY3 hour-ending local standard time, UTC{tz:+g} (header line 1)"}
    return frame, pd.Timedelta(hours=1), source, locate
