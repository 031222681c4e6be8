"""Reader of generic weather CSV files: a ``time`` column and ghi[, dhi, dni, temp_air, wind_speed].

``time`` is ISO 8601 with a UTC offset (a naive stamp is an error) and marks the interval start; the
``time_label`` option ('end', 'center') reads files that label interval ends or centres. Any interval that
divides the hour is accepted (e.g. 10, 15, 30 or 60 min) if the steps are regular.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import check_steps, label_shift, main_year

#: Columns read when present; a missing one is NaN (then validated or decomposed).
_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed")


def read_csv(text, path, time_label="start"):
    """Read a generic weather CSV's text; returns ``(frame, interval, source, locate)`` like every reader."""
    try:
        table = pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        where = f"line {match[1]}" if match else "a data line"
        raise WeatherError(f"{path}: {where}: wrong number of fields ({exc}); the file is truncated or "
                           "damaged") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    for number, line in enumerate(text.splitlines()[1:], start=2):
        if line.strip() and line.count(",") < len(table.columns) - 1:
            raise WeatherError(f"{path}: line {number}: {line.count(',') + 1} fields, the header has "
                               f"{len(table.columns)}; the file is truncated or damaged")
    if "ghi" not in table.columns:
        raise WeatherError(f"{path}: column 'ghi' missing (found {list(table.columns)}); a weather CSV "
                           "needs time, ghi[, dhi, dni, temp_air, wind_speed]")
    locate = lambda i: f"line {i + 2}"  # noqa: E731
    index = _utc_times(table["time"].astype(str), path, locate)
    interval = check_steps(index, path, locate)
    frame = pd.DataFrame(index=index - label_shift(time_label, interval))
    for column in _COLUMNS:
        if column in table.columns:
            numbers = pd.to_numeric(table[column], errors="coerce")
            bad = numbers.isna() & table[column].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise WeatherError(f"{path}: {locate(i)}, column {column}: {table[column].iloc[i]!r} is "
                                   "not a number")
            frame[column] = numbers.to_numpy(float)
        else:
            frame[column] = np.nan
    source = {"station": None, "latitude": None, "longitude": None, "elevation": None,
              "period": f"{frame.index[0]} to {frame.index[-1] + interval}", "year": main_year(frame.index),
              "time_convention": f"ISO 8601 with UTC offset, time column marks the interval {time_label}"}
    return frame, interval, source, locate


def _utc_times(values, path, locate):
    """Parse ISO 8601 stamps with a UTC offset into a UTC index; name the first bad line."""
    times = []
    for i, value in enumerate(values):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            raise WeatherError(f"{path}: {locate(i)}, column time: {value!r} is not an ISO 8601 "
                               "timestamp") from None
        if stamp.tzinfo is None:
            raise WeatherError(f"{path}: {locate(i)}, column time: {value!r} has no UTC offset; write "
                               "e.g. 2025-06-01T12:00+00:00 (or +01:00 for MEZ)")
        times.append(stamp.tz_convert("UTC"))
    return pd.DatetimeIndex(times)
