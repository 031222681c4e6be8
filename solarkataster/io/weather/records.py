"""Parsing helpers shared by the weather-file readers: text decoding, numeric rows, hour labels, time steps.

Every reader turns its file into ``(frame, interval, source, locate)``: a frame of ``ghi``, ``dni``, ``dhi``
[W/m²], ``temp_air`` [°C] and ``wind_speed`` [m/s] on UTC interval starts, the record interval, the source
fields it knows, and ``locate(i)``, which names record ``i``'s place in the file ("line 17") for messages.
The checks here raise :class:`~solarkataster.errors.WeatherError` naming the file, the line and the column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import WeatherError

#: Year given to typical-year records (TRY, TMY) whose months come from different years; non-leap, as
#: pvlib's ``coerce_year`` default. :func:`~solarkataster.io.weather.to_year` maps onto the calendar year the
#: user asks for.
NOMINAL_YEAR = 1990
#: What a generic CSV or UMEP file's time stamps may mark within their interval.
TIME_LABELS = ("start", "end", "center")


def decode(raw: bytes, path) -> str:
    """Return a file's text (UTF-8, else Windows-1252) with Unix line ends."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    raise WeatherError(f"{path}: not a text file (neither UTF-8 nor Windows-1252)")


def number_row(path, number, fields, names):
    """Return the fields of one whitespace-separated data line as floats, or name the first bad column."""
    try:
        return [float(f) for f in fields]
    except ValueError:
        bad = next(i for i, f in enumerate(fields) if float_or_none(f) is None)
        raise WeatherError(f"{path}: line {number}, column {names[bad]}: {fields[bad]!r} is not a "
                           "number") from None


def float_or_none(value):
    """Return ``float(value)``, or None where it is no number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def line_locator(row_lines):
    """Return ``locate(i)`` -> "line N" for records read from the file lines ``row_lines``."""
    return lambda i: f"line {row_lines[i]}"


def hour_ending_starts(year, month, day, hour):
    """Naive interval starts of hour-ending labels: label HH (1..24) of a day starts at HH - 1 h."""
    return (pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
            + pd.to_timedelta(np.asarray(hour) - 1, unit="h"))


def label_shift(time_label, interval):
    """Return what to subtract from a stamp marking the interval ``time_label`` to get its start."""
    return {"start": pd.Timedelta(0), "end": interval, "center": interval / 2}[time_label]


def check_hour_labels(path, month, day, hour, locate, year):
    """Raise unless the labels are valid dates with hours 1..24 that advance one hour per line."""
    bad = np.flatnonzero((hour < 1) | (hour > 24))
    if bad.size:
        raise WeatherError(f"{path}: {locate(int(bad[0]))}, column hour: {hour[bad[0]]} is outside 1..24")
    try:
        dates = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
    except (ValueError, OverflowError):
        for i, (m, d) in enumerate(zip(month, day)):
            try:
                pd.Timestamp(year=2000, month=int(m), day=int(d))
            except ValueError:
                raise WeatherError(f"{path}: {locate(i)}, columns month/day: {m}/{d} is not a date"
                                   ) from None
        raise
    stamps = dates.to_numpy().astype("datetime64[h]").astype(np.int64) + hour
    steps = np.diff(stamps)
    for i in np.flatnonzero(steps != 1):
        kind = "gap" if steps[i] > 1 else "repeated or backward hour"
        raise WeatherError(f"{path}: {locate(i + 1)}: {kind} after {locate(i)} (month {month[i + 1]}, "
                           f"day {day[i + 1]}, hour {hour[i + 1]}); hourly records must be consecutive")


def check_complete_year(path, count, row_lines, what, expected=8760):
    """Raise unless a file holds ``expected`` hourly records, naming its last data line."""
    if count != expected:
        last = row_lines[-1] if row_lines and row_lines[-1] is not None else None
        where = f" (last data line {last})" if last else ""
        raise WeatherError(f"{path}: {what} file has {count} hourly records{where}, expected {expected}; the "
                           "file is truncated or has extra lines")


def check_steps(index, path, locate):
    """Return the records' interval (the most common step); raise on gaps, repeats and irregular steps."""
    if len(index) < 2:
        raise WeatherError(f"{path}: fewer than 2 records; the interval cannot be inferred")
    steps = np.diff(index.as_unit("ns").asi8)
    for i in np.flatnonzero(steps <= 0):
        raise WeatherError(f"{path}: {locate(i + 1)}, column time: {index[i + 1]} does not follow "
                           f"{index[i]} ({locate(i)}); timestamps must increase")
    values, counts = np.unique(steps, return_counts=True)
    interval = pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")
    if interval > pd.Timedelta(hours=1) or pd.Timedelta(hours=1) % interval != pd.Timedelta(0):
        raise WeatherError(f"{path}: column time: step {interval} is neither hourly nor an even fraction "
                           "of an hour (e.g. 10min, 15min, 30min)")
    step_ns = int(interval / pd.Timedelta(nanoseconds=1))
    for i in np.flatnonzero(steps != step_ns):
        kind = "gap" if steps[i] % step_ns == 0 else "irregular step"
        raise WeatherError(f"{path}: {locate(i + 1)}, column time: {kind} of "
                           f"{pd.Timedelta(int(steps[i]), unit='ns')} after {index[i]} (expected "
                           f"{interval}); fill or remove the missing records")
    return interval


def main_year(index):
    """Return the calendar year most records fall in (a dated file's own year)."""
    years, counts = np.unique(pd.DatetimeIndex(index).year, return_counts=True)
    return int(years[np.argmax(counts)])
