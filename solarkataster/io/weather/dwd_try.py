"""Reader of DWD test reference years: TRY 2010 (15 climate regions) and TRY 2015/2017 (1 km grid cells).

Both generations are whitespace-separated tables below a header that ends with a ``***`` line; hour HH
(1..24) *ends* each record's interval. TRY files give B (direct horizontal) and D (diffuse horizontal) [W/m²]:
``ghi = B + D``, ``dhi = D``, and ``dni`` stays NaN until
:func:`~solarkataster.io.weather.complete_components` derives it.

Time basis
----------
TRY 2015/2017: MEZ = UTC+1 (DWD TRY handbook 2017), start = HH - 1 h - 1 h UTC. TRY 2010: the header says
MEZ, but the radiation follows a *solar* time scale detected per file (true solar time for the measured
series); see :mod:`solarkataster.io.weather.solar_time` for the evidence and the exact conversion. The choice
and the residuals behind it are recorded in ``source['time_convention']``.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import NOMINAL_YEAR, check_complete_year, check_hour_labels, hour_ending_starts, line_locator, number_row
from .solar_time import detect_time_basis, labels_to_utc
from .validation import missing_to_nan

#: Documented column layouts (DWD TRY handbooks 2011 and 2017).
TRY2010_COLUMNS = "RG IS MM DD HH N WR WG t p x RF W B D IK A E IL".split()
TRY2015_COLUMNS = "RW HW MM DD HH t p WR WG N x RF B D A E IL".split()


def read_dwd_try(text, path, generation):
    """Read a DWD TRY file's text.

    Parameters
    ----------
    text : str
        The decoded file.
    path : str or Path
        For messages.
    generation : {'2010', '2015'}
        TRY 2010, or TRY 2015/2017 (same layout).

    Returns
    -------
    frame : pandas.DataFrame
        ``ghi``, ``dni`` (NaN), ``dhi`` [W/m²], ``temp_air`` [°C], ``wind_speed`` [m/s] on UTC interval starts.
    interval : pandas.Timedelta
        One hour.
    source : dict
        station, latitude, longitude, elevation, period, time_convention.
    locate : callable
        ``locate(i)`` -> "line N".
    """
    lines = text.splitlines()
    stars = next(i for i, line in enumerate(lines) if line.startswith("***"))
    header = lines[:stars]
    expected = TRY2010_COLUMNS if generation == "2010" else TRY2015_COLUMNS
    table, row_lines = _read_table(lines, stars, _column_names(header, expected, path, stars), path)
    locate = line_locator(row_lines)
    month, day, hour = (table[c].to_numpy().astype(int) for c in ("MM", "DD", "HH"))
    check_hour_labels(path, month, day, hour, locate, NOMINAL_YEAR)
    check_complete_year(path, len(table), row_lines, "DWD TRY")
    b, d = (missing_to_nan(table[c].to_numpy(float)) for c in ("B", "D"))
    frame = pd.DataFrame({"ghi": b + d, "dni": np.nan, "dhi": d, "temp_air": table["t"].to_numpy(float),
                          "wind_speed": table["WG"].to_numpy(float)})
    label_start = hour_ending_starts(NOMINAL_YEAR, month, day, hour)
    if generation == "2010":
        source = _try2010_header(header, path)
        lat, lon = source["latitude"], source["longitude"]
        basis, rms = detect_time_basis(month, day, hour, b, d, lat, lon, NOMINAL_YEAR)
        frame.index = labels_to_utc(basis, label_start, lat, lon)
        source["time_convention"] = (
            f"hour-ending {basis} (detected from the data: clear-day rms of the daily irradiance centroid "
            + ", ".join(f"{k} {v:.1f} min" for k, v in rms.items())
            + "); header says MEZ; index = exact UTC interval starts")
    else:
        source = _try2015_header(header, path)
        frame.index = labels_to_utc("MEZ", label_start, source["latitude"], source["longitude"])
        source["time_convention"] = "hour-ending MEZ (UTC+1), DWD TRY 2017 handbook"
    return frame, pd.Timedelta(hours=1), source, locate


def _read_table(lines, stars, names, path):
    """Parse the data lines below the ``***`` line into a table and the file line of each row."""
    rows, row_lines = [], []
    for number, line in enumerate(lines[stars + 1:], start=stars + 2):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != len(names):
            raise WeatherError(f"{path}: line {number}: expected {len(names)} columns "
                               f"({' '.join(names)}), found {len(fields)}; the file is truncated or "
                               "damaged")
        rows.append(number_row(path, number, fields, names))
        row_lines.append(number)
    if not rows:
        raise WeatherError(f"{path}: no data lines after the '***' header line")
    return pd.DataFrame(rows, columns=names), row_lines


def _column_names(header, expected, path, stars):
    """Column names from the line above '***' when it lists them, else the documented layout."""
    for line in reversed(header):
        if line.strip():
            found = line.split()
            break
    else:
        return expected
    if found[:2] != expected[:2]:
        return expected
    missing = [c for c in ("MM", "DD", "HH", "B", "D", "t", "WG") if c not in found]
    if missing:
        raise WeatherError(f"{path}: line {stars}: column header lacks {missing} (expected "
                           f"{' '.join(expected)})")
    return found


def _try2010_header(header, path):
    """Station, coordinates (``Lage:`` line), elevation and period of a TRY 2010 header."""
    text = "\n".join(header)
    station = re.search(r"Station:\s*(.+?)\s+WMO-Nummer:\s*(\d+)", text)
    where = re.search(r"Lage:\s*(\d+)°\s*(\d+)'\s*([NS]).*?(\d+)°\s*(\d+)'\s*([OEW]).*?(-?\d+)\s*Meter",
                      text)
    if where is None:
        raise WeatherError(f"{path}: DWD TRY 2010 header has no readable 'Lage:' line with the station "
                           "coordinates (e.g. \"Lage: 49°31'N <- B.   8°33'O <- L.    96 Meter\")")
    lat = int(where[1]) + int(where[2]) / 60
    lon = int(where[4]) + int(where[5]) / 60
    lat = -lat if where[3] == "S" else lat
    lon = -lon if where[6] == "W" else lon
    period = re.search(r"Bezugszeitraum\s*:\s*(\S+)", text)
    return {"station": f"{station[1].strip()} (WMO {station[2]})" if station else None,
            "latitude": round(lat, 5), "longitude": round(lon, 5), "elevation": float(where[7]),
            "period": period[1] if period else None}


def _try2015_header(header, path):
    """Grid cell (Lambert conformal conic, EPSG:3034) -> WGS84 centre, elevation and period."""
    text = "\n".join(header)
    east = re.search(r"Rechtswert\s*:\s*(\d+)", text)
    north = re.search(r"Hochwert\s*:\s*(\d+)", text)
    height = re.search(r"H(?:oe|ö)henlage\s*:\s*(-?\d+)", text)
    period = re.search(r"Bezugszeitraum\s*:\s*(\S+)", text)
    kind = re.search(r"Art des TRY\s*:\s*(.+)", text)
    if east is None or north is None:
        raise WeatherError(f"{path}: DWD TRY header lacks 'Rechtswert' / 'Hochwert' (grid cell "
                           "coordinates, Lambert conformal conic)")
    from pyproj import Transformer
    # the TRY grid is ETRS89 / LCC Europe (EPSG:3034): DWD TRY handbook (2017), chapter 2
    to_wgs84 = Transformer.from_crs("EPSG:3034", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(float(east[1]), float(north[1]))
    return {"station": f"TRY grid cell RW {east[1]} HW {north[1]}"
                       + (f" ({kind[1].strip()})" if kind else ""),
            "latitude": round(lat, 5), "longitude": round(lon, 5),
            "elevation": float(height[1]) if height else None, "period": period[1] if period else None}
