"""PVGIS typical meteorological years: readers of the JSON and CSV downloads, and the download cache.

``time(UTC)`` labels the hour that *starts* at the timestamp (PVGIS TMY tool documentation;
:func:`pvlib.iotools.read_pvgis_tmy` returns these UTC stamps unchanged). The months come from different
years, so the records are put on :data:`~solarkataster.io.weather.records.NOMINAL_YEAR` (leap days dropped).
The EPW variant is read by :mod:`solarkataster.io.weather.epw`.
"""
from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import WeatherError
from .records import NOMINAL_YEAR, check_complete_year, check_hour_labels, float_or_none

log = logging.getLogger(__name__)


def read_pvgis_json(text, path):
    """Read a PVGIS TMY JSON file's text; returns ``(frame, interval, source, locate)`` like every reader."""
    from pvlib.iotools import read_pvgis_tmy
    try:
        data, meta = read_pvgis_tmy(io.StringIO(text), pvgis_format="json", map_variables=True)
    except (KeyError, ValueError, TypeError) as exc:
        raise WeatherError(f"{path}: not a readable PVGIS TMY JSON file ({exc!r}); field "
                           "'outputs.tmy_hourly' with 'time(UTC)' records expected") from None
    return _pvgis_frame(data, meta, path, lambda i: f"record {i + 1} of outputs.tmy_hourly")


def read_pvgis_csv(text, path):
    """Read a PVGIS TMY CSV file's text; returns ``(frame, interval, source, locate)`` like every reader."""
    from pvlib.iotools import read_pvgis_tmy
    lines = text.splitlines()
    header_line = next((i for i, line in enumerate(lines) if line.startswith("time(UTC)")), None)
    if header_line is None:
        raise WeatherError(f"{path}: PVGIS TMY CSV without the 'time(UTC),...' column header line")
    last = header_line + 1
    for number in range(header_line + 2, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or not line[:1].isdigit():
            break  # footer notes follow the data
        last = number
        if line.count(",") != lines[header_line].count(","):
            raise WeatherError(f"{path}: line {number}: {line.count(',') + 1} fields, the header "
                               f"(line {header_line + 1}) has {lines[header_line].count(',') + 1}; the "
                               "file is truncated or damaged")
    if last - header_line - 1 != 8760:
        raise WeatherError(f"{path}: PVGIS TMY CSV has {last - header_line - 1} hourly records (lines "
                           f"{header_line + 2}-{last}), expected 8760; the file is truncated")
    try:
        data, meta = read_pvgis_tmy(io.BytesIO(text.encode("utf-8")), pvgis_format="csv",
                                    map_variables=True)
    except (KeyError, ValueError, IndexError) as exc:
        raise WeatherError(f"{path}: not a readable PVGIS TMY CSV file ({exc!r})") from None
    first = header_line + 2
    return _pvgis_frame(data, meta, path, lambda i: f"line {first + i}")


def _pvgis_frame(data, meta, path, locate):
    """Return the records on the nominal year, source fields, and a locator into the original records."""
    missing = [c for c in ("ghi", "dhi") if c not in data.columns]
    if missing:
        raise WeatherError(f"{path}: PVGIS TMY lacks column(s) {missing} (G(h), Gd(h))")
    meta = meta if isinstance(meta, dict) else {}
    inputs = meta.get("inputs", {})
    location = inputs.get("location", inputs)
    idx = data.index
    month, day, hour = idx.month.to_numpy(), idx.day.to_numpy(), idx.hour.to_numpy()
    keep = ~((month == 2) & (day == 29))
    if not keep.all():
        log.info("%s: dropping %d Feb 29 records of the PVGIS TMY", path, int((~keep).sum()))
    frame = data.loc[keep, [c for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed")
                            if c in data.columns]].copy()
    positions = np.flatnonzero(keep)
    kept_locate = lambda i: locate(int(positions[i]))  # noqa: E731
    month, day, hour = month[keep], day[keep], hour[keep]
    check_hour_labels(path, month, day, hour + 1, kept_locate, NOMINAL_YEAR)
    check_complete_year(path, len(frame), [None] * len(frame), "PVGIS TMY")
    new_index = (pd.to_datetime(pd.DataFrame({"year": NOMINAL_YEAR, "month": month, "day": day}))
                 + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(idx.minute[keep], unit="min"))
    frame.index = pd.DatetimeIndex(new_index).tz_localize("UTC")
    years = [m.get("year") for m in meta.get("months_selected", [])]
    source = {"station": f"PVGIS {inputs.get('meteo_data', {}).get('radiation_db', '')}".strip()
                         if meta else "PVGIS",
              "latitude": float_or_none(location.get("latitude")),
              "longitude": float_or_none(location.get("longitude")),
              "elevation": float_or_none(location.get("elevation")),
              "period": f"{min(years)}-{max(years)}" if years else None,
              "time_convention": "PVGIS time(UTC) marks the start of the hour"}
    offset = inputs.get("irradiance time offset")
    if offset is not None:
        source["irradiance_time_offset_h"] = offset
    return frame, pd.Timedelta(hours=1), source, kept_locate


def pvgis_cache_dir() -> Path:
    """Folder of cached PVGIS downloads: ``$SOLARKATASTER_CACHE_DIR/pvgis`` or the platform cache."""
    root = os.environ.get("SOLARKATASTER_CACHE_DIR")
    if not root:
        import platformdirs
        root = platformdirs.user_cache_dir("solarkataster")
    return Path(root) / "pvgis"


def pvgis_cache_path(latitude, longitude) -> Path:
    """Where the PVGIS TMY JSON of a site is cached (key: lat/lon to 0.01°)."""
    return pvgis_cache_dir() / f"tmy_{latitude:.2f}_{longitude:.2f}.json"


def cached_pvgis_tmy(latitude, longitude) -> Path:
    """Path of the cached PVGIS TMY JSON for the site, downloading it once (key: lat/lon to 0.01°).

    Parameters
    ----------
    latitude, longitude : float
        Site [°] (WGS84).

    Returns
    -------
    Path
        The cached JSON file.

    Raises
    ------
    WeatherError
        The download failed (no network); the message names the offline alternatives.
    """
    path = pvgis_cache_path(latitude, longitude)
    if path.is_file():
        log.info("PVGIS TMY from cache %s", path)
        return path
    import pvlib
    import requests
    try:
        data, meta = pvlib.iotools.get_pvgis_tmy(round(latitude, 2), round(longitude, 2),
                                                 outputformat="json", map_variables=False,
                                                 coerce_year=None)
    except (requests.exceptions.RequestException, OSError) as exc:
        raise WeatherError(
            f"could not download the PVGIS TMY for ({latitude:.4f}, {longitude:.4f}): {exc}. Without a "
            "network connection pass a weather file instead (--weather PATH: DWD TRY, EPW, PVGIS TMY, "
            "TMY3, CSV) or use --weather clear-sky") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(_pvgis_json_document(data, meta)), encoding="utf-8")
    tmp.replace(path)
    log.info("PVGIS TMY cached at %s", path)
    return path


def _pvgis_json_document(data: pd.DataFrame, meta: dict) -> dict:
    """Rebuild the PVGIS TMY JSON layout (as the API sends it) from pvlib's parsed (data, meta)."""
    records = data.reset_index(drop=True)
    records.insert(0, "time(UTC)", list(data.index.tz_convert("UTC").strftime("%Y%m%d:%H%M")))
    inputs = {k: v for k, v in meta.get("inputs", {}).items() if k != "descriptions"}
    return {"inputs": inputs,
            "outputs": {"months_selected": meta.get("months_selected", []),
                        "tmy_hourly": json.loads(records.to_json(orient="records"))},
            "meta": {"inputs": meta.get("inputs", {}).get("descriptions", {}),
                     "outputs": meta.get("outputs", {})}}
