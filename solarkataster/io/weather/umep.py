"""Reader of UMEP/SUEWS meteorological forcing files (SOLWEIG and SEBE users' weather).

Whitespace-separated, header ``iy id it imin qn qh qe qs qf U RH Tair pres rain kdown snow ldown fcld wuh
xsmd lai kdiff kdir wdir`` (older files: ``%iy ... Wind RH Td ... Kdn ... Kdiff Kdir Wd``): year, day of year,
hour and minute in local standard time, the stamp ending the interval (SUEWS manual, "Meteorological input
file"); -999 is missing. The files carry no time zone: ``utc_offset`` gives it, else it is taken as
round(longitude / 15) of the site with a warning.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import check_steps, label_shift, line_locator, main_year, number_row

log = logging.getLogger(__name__)

#: UMEP/SUEWS column names (lower case, '%' stripped) of each WeatherYear column, in order of preference.
UMEP_COLUMNS = {"ghi": ("kdown", "kdn"), "dhi": ("kdiff",), "dni": ("kdir",), "temp_air": ("tair", "td"),
                "wind_speed": ("u", "wind")}


def umep_offset(path, utc_offset, longitude):
    """Return the UTC offset [h] of a UMEP file: the given one, else round(longitude / 15) with a warning."""
    if utc_offset is not None:
        offset = float(utc_offset)
        if not -14 <= offset <= 14:
            raise WeatherError(f"{path}: utc_offset={utc_offset!r} h is outside -14..14")
        return offset
    if longitude is None:
        raise WeatherError(f"{path}: a UMEP met file has no time zone; give its UTC offset (--utc-offset, "
                           "e.g. 1 for CET) or the site's longitude")
    offset = float(round(longitude / 15.0))
    log.warning("%s: UMEP met file in local standard time without a time zone: assuming UTC%+g from the "
                "site's longitude %.2f°; pass --utc-offset (utc_offset) if that is wrong", path, offset,
                longitude)
    return offset


def read_umep(text, path, time_label="end", utc_offset=0.0):
    """Read a UMEP met file's text; returns ``(frame, interval, source, locate)`` like every reader.

    Parameters
    ----------
    text : str
        The decoded file.
    path : str or Path
        For messages.
    time_label : {'end', 'start', 'center'}
        What the stamps mark within each interval (SUEWS: the end).
    utc_offset : float
        UTC offset [h] of the stamps' local standard time (see :func:`umep_offset`).
    """
    table, row_lines = _read_table(text, path)
    locate = line_locator(row_lines)
    minutes = table["imin"].to_numpy().astype(int)
    hours = table["it"].to_numpy().astype(int)
    if len(hours) > 1 and np.all(np.diff(hours) % 24 == 1) and np.all(minutes == minutes[0]) and minutes[0]:
        # hourly rows with one constant nonzero minute (seen in UMEP-prepared files): not a time of day
        log.warning("%s: constant imin=%d in hourly rows ignored", path, minutes[0])
        minutes = np.zeros_like(minutes)
    local = (pd.to_datetime(table["iy"].astype(int).astype(str), format="%Y")
             + pd.to_timedelta(table["id"].astype(int) - 1, unit="D") + pd.to_timedelta(hours, unit="h")
             + pd.to_timedelta(minutes, unit="min"))
    stamps = pd.DatetimeIndex(local - pd.Timedelta(hours=utc_offset)).tz_localize("UTC")
    interval = check_steps(stamps, path, locate)
    shift = label_shift(time_label, interval)
    frame = pd.DataFrame(index=stamps - shift)
    for column, candidates in UMEP_COLUMNS.items():
        found = next((c for c in candidates if c in table.columns), None)
        frame[column] = table[found].to_numpy(float) if found else np.nan
    source = {"station": None, "latitude": None, "longitude": None, "elevation": None,
              "period": f"{frame.index[0]} to {frame.index[-1] + interval}",
              "year": main_year(local + pd.Timedelta(minutes=1) - shift),
              "time_convention": f"UMEP/SUEWS stamps (iy id it imin) in local standard time UTC{utc_offset:+g}, "
                                 f"marking the interval {time_label}"}
    return frame, interval, source, locate


def _read_table(text, path):
    """Return the numeric table of a UMEP met file and the file line of each row."""
    lines = text.splitlines()
    names = [c.lstrip("%").strip().lower() for c in lines[0].split()]
    missing = [c for c in ("iy", "id", "it", "imin") if c not in names]
    if missing or not any(c in names for c in UMEP_COLUMNS["ghi"]):
        raise WeatherError(f"{path}: line 1: UMEP met header lacks {missing or ['kdown']} (expected iy id it "
                           "imin qn qh qe qs qf U RH Tair pres rain kdown snow ldown fcld wuh xsmd lai kdiff "
                           "kdir wdir)")
    rows, row_lines = [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names):
            raise WeatherError(f"{path}: line {number}: {len(fields)} fields, the header has {len(names)}; "
                               "the file is truncated or damaged")
        rows.append(number_row(path, number, fields, names))
        row_lines.append(number)
    return pd.DataFrame(rows, columns=names), row_lines
