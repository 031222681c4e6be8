"""Read any supported weather file: detect the format from the content, parse, validate, complete.

See :mod:`solarkataster.io.weather` for the formats and their time conventions.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ...errors import WeatherError
from ...weather import WeatherYear
from .dwd_try import read_dwd_try
from .epw import read_epw
from .generic_csv import read_csv
from .pvgis import read_pvgis_csv, read_pvgis_json
from .records import TIME_LABELS, decode
from .tmy3 import read_tmy3
from .transform import complete_components
from .umep import read_umep, umep_offset
from .validation import check_values

#: Readers of the formats with their own time convention: text, path -> (frame, interval, source, locate).
_READERS = {"dwd-try2010": lambda text, path: read_dwd_try(text, path, "2010"),
            "dwd-try2015": lambda text, path: read_dwd_try(text, path, "2015"),
            "epw": read_epw, "pvgis-json": read_pvgis_json, "pvgis-csv": read_pvgis_csv, "tmy3": read_tmy3}


def read_weather(path, *, time_label=None, latitude=None, longitude=None, utc_offset=None) -> WeatherYear:
    """Read a weather file of any supported format into a :class:`WeatherYear` (UTC interval starts).

    Parameters
    ----------
    path : str or Path
        DWD TRY 2010 / 2015 / 2017 (``.dat``), EPW, PVGIS TMY (JSON, CSV or EPW), TMY3 CSV, UMEP/SUEWS met
        file or generic CSV. The format is detected from the content.
    time_label : {'start', 'end', 'center'}, optional
        Only for generic CSV (default 'start') and UMEP files (default 'end'): what the time stamps mark
        within each interval. The other formats define their own convention (see the package docstring).
    latitude, longitude : float, optional
        Site coordinates [°], used for files without coordinates (generic CSV, UMEP): they enable the
        extraterrestrial plausibility check and the GHI decomposition of GHI-only files, and give a UMEP
        file's default UTC offset.
    utc_offset : float, optional
        UTC offset [h] of a UMEP file's local standard time (default round(longitude / 15), with a warning).

    Returns
    -------
    WeatherYear
        Always with ``ghi``, ``dhi``, ``temp_air`` and ``wind_speed``; ``dni`` may be NaN where only direct
        horizontal is known (see :func:`complete_components`). ``source`` holds name, path, sha256, station,
        latitude, longitude, elevation, period, time_convention, and ``year`` for dated files (the calendar
        year most records fall in; None for typical years).

    Raises
    ------
    WeatherError
        Unknown format, truncated file, wrong or missing columns, long gaps or irregular steps, negative or
        physically impossible irradiance, temperature or wind out of range. Messages name the file and the
        line or column.
    """
    path = Path(path)
    if time_label is not None and time_label not in TIME_LABELS:
        raise WeatherError(f"{path}: time_label={time_label!r} is not one of {TIME_LABELS}")
    if not path.is_file():
        raise WeatherError(f"{path}: weather file not found")
    raw = path.read_bytes()
    text = decode(raw, path)
    fmt = detect_format(text, path)
    if time_label is not None and fmt not in ("csv", "umep"):
        raise WeatherError(f"{path}: time_label={time_label!r} applies to generic CSV and UMEP files only; "
                           f"the {fmt} format defines its own time convention")
    if fmt == "csv":
        frame, interval, source, locate = read_csv(text, path, time_label or "start")
    elif fmt == "umep":
        frame, interval, source, locate = read_umep(text, path, time_label or "end",
                                                    umep_offset(path, utc_offset, longitude))
    else:
        frame, interval, source, locate = _READERS[fmt](text, path)
    source = {"name": fmt, "path": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "year": None,
              **source}
    lat = source.get("latitude") if source.get("latitude") is not None else latitude
    lon = source.get("longitude") if source.get("longitude") is not None else longitude
    frame = check_values(frame, interval, path, locate, lat, lon)
    if frame["dhi"].isna().all():
        if lat is None or lon is None:
            raise WeatherError(
                f"{path}: has ghi but no dhi column and no coordinates; add a 'dhi' column or pass "
                "latitude/longitude so the diffuse part can be estimated (Erbs decomposition)")
        return complete_components(WeatherYear(frame, interval, source), lat, lon, decompose=True)
    return WeatherYear(frame, interval, source)


def detect_format(text: str, path) -> str:
    """Name the format of a weather file's text.

    Parameters
    ----------
    text : str
        The file's decoded text.
    path : str or Path
        For messages.

    Returns
    -------
    str
        'dwd-try2010', 'dwd-try2015', 'epw', 'pvgis-json', 'pvgis-csv', 'tmy3', 'umep' or 'csv'.

    Raises
    ------
    WeatherError
        Naming the file when no format fits.
    """
    head = text[:8000]
    first = head.split("\n", 1)[0].strip()
    if first.startswith("{"):
        if '"tmy_hourly"' in text:
            return "pvgis-json"
        raise WeatherError(f"{path}: JSON file without 'outputs.tmy_hourly'; only PVGIS TMY JSON is "
                           "supported among JSON weather files")
    if first.upper().startswith("LOCATION,"):
        return "epw"
    if first.startswith("Latitude (decimal degrees)"):
        return "pvgis-csv"
    if first.split()[:4] in (["iy", "id", "it", "imin"], ["%iy", "id", "it", "imin"]):
        return "umep"
    try_generation = _dwd_try_generation(head)
    if try_generation is not None:
        if re.search(r"^\*\*\*", head, flags=re.M) is None:
            raise WeatherError(f"{path}: DWD TRY header without the '***' line that ends it; the file "
                               "is truncated or edited")
        return try_generation
    lines = head.splitlines()
    if len(lines) > 1 and lines[1].startswith("Date (MM/DD/YYYY)"):
        return "tmy3"
    header = [c.strip().strip('"').lower() for c in first.split(",")]
    if "time" in header:
        return "csv"
    raise WeatherError(
        f"{path}: unknown weather format (first line {first[:60]!r}); supported: DWD TRY 2010/2015/2017 "
        "(.dat), EPW, PVGIS TMY (JSON/CSV/EPW), TMY3 CSV, UMEP/SUEWS met files (iy id it imin ... kdown), "
        "or CSV with a 'time' column (ISO 8601 with UTC offset) and ghi, dhi[, dni, temp_air, wind_speed] "
        "columns")


def _dwd_try_generation(head):
    """'dwd-try2015' or 'dwd-try2010' when the header looks like a DWD TRY, else None."""
    if "Lambert konform konisch" in head or re.search(r"^\s*RW\s+HW\s+MM\s+DD\s+HH", head, re.M):
        return "dwd-try2015"
    if "WMO-Nummer" in head or re.search(r"^\s*RG\s+IS\s+MM\s+DD\s+HH", head, re.M):
        return "dwd-try2010"
    return None
