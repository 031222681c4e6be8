"""Weather-file readers: DWD TRY 2010 and 2015/2017, EPW, PVGIS TMY (JSON, CSV, EPW), TMY3, generic CSV.

Every reader returns a :class:`~solarkataster.weather.WeatherYear`: UTC timestamps marking the *start* of
each record's interval, interval means of ``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C] and
``wind_speed`` [m/s]. The format is detected from the file's content, not its extension.

Time conventions (what each label means, and how it becomes a UTC interval start)
--------------------------------------------------------------------------------
===================  =========================================================================================
format               convention applied
===================  =========================================================================================
DWD TRY 2015/2017    hour HH (1..24) ends the interval, MEZ = UTC+1 (DWD TRY handbook 2017): start =
                     HH - 1 h - 1 h UTC
DWD TRY 2010         hour HH ends the interval in a *solar* time scale detected from the data (see below);
                     start = (HH - 1 h) - longitude/15 - EoT/60 (true solar time) or - longitude/15 (mean
                     solar time); the header's "MEZ" is kept only when the data agree with it
EPW (incl. PVGIS)    hour HH (1..24) ends the interval in local standard time, offset in the LOCATION line
                     (EnergyPlus Auxiliary Programs, "Weather Data Format"); PVGIS writes offset 0
PVGIS TMY JSON/CSV   ``time(UTC)`` labels the hour that *starts* at the timestamp (PVGIS TMY tool docs;
                     pvlib.iotools.read_pvgis_tmy returns these UTC stamps unchanged)
TMY3                 ``Time`` HH:MM (01:00..24:00) ends the interval, local standard time, offset in the
                     first header line (Wilcox & Marion 2008, NREL/TP-581-43156)
generic CSV          ``time`` column, ISO 8601 with UTC offset, marks the interval start; ``time_label``
                     = 'end' or 'center' for files that label ends or centres
===================  =========================================================================================

DWD TRY 2010: which clock do the radiation values follow?
---------------------------------------------------------
The TRY 2010 header says "Stunde (MEZ)", but historically DWD radiation data were kept in true solar time
(wahre Ortszeit). We tested this on the two regions in ``shared/validation/dwd-try2010`` by comparing
the irradiance-weighted centroid of (B + D) over the hour labels of each day (label HH counted at HH -
0.5 h) with the centroid the same hours would have for extraterrestrial irradiance under each candidate
convention (computed at 1-min resolution, so the hourly discretisation cancels). Residuals [min], mean
over all 365 days; rms and slope of the residual against -EoT over clear days (B/(B+D) > 0.5):

=====================================  ============================  ===========================
candidate (hour-ending unless noted)   Mannheim, region 12, IK = 1    Bad Marienberg, region 6,
                                       (measured B, D), 112 clear     IK = 9, 32 clear days
=====================================  ============================  ===========================
MEZ (the header's claim)               -24.7; rms 34.7; slope -1.06  -26.8; rms 30.8; slope 0.11
hour-beginning MEZ                     +35.3; rms 35.3               +33.2; rms 29.4
true solar time (TST)                  +1.1; rms 16.3; slope -0.06   +1.4; rms 9.8; slope 1.11
mean solar time (LMT, no EoT)          +1.3; rms 18.4; slope -1.06   +1.2; rms 3.6; slope 0.11
=====================================  ============================  ===========================

Mannheim's daily centroid sits at true solar noon (mean offset 1 min; no seasonal equation-of-time
signal, slope ≈ 0 where MEZ and LMT predict -1), so the measured data are hour-ending in true solar time.
The region-6 file (radiation flagged IK = 9 throughout, i.e. not the measured series) is 27 min off MEZ
too, but *does* follow the clock seasonally: it is hour-ending in mean solar time (equivalently, at
7.97° E, centred on the MEZ hour). Both readings are 25-30 min away from the header's MEZ. The reader
therefore chooses, per file, the candidate (TST, LMT, MEZ) with the smallest clear-day rms residual when
the file has at least 20 clear days, and TST (the measured case) otherwise; the choice and its residuals
are recorded in ``source['time_convention']``. TST -> UTC uses the station longitude from the header and
:func:`pvlib.solarposition.equation_of_time_spencer71`; the resulting index is irregular by the daily
change of the equation of time, which the engine accepts (each record is index[i] .. index[i] + 1 h).

TRY files give B (direct horizontal) and D (diffuse horizontal): ``ghi = B + D``, ``dhi = D`` and ``dni``
is derived by :func:`complete_components` (:func:`solarkataster.decomposition.dni_from_horizontal` at the
interval-mean zenith). The physics (sun geometry, DNI, decomposition) lives in
:mod:`solarkataster.decomposition`; this module only reads.

UMEP/SUEWS met files
--------------------
Whitespace-separated, header ``iy id it imin qn qh qe qs qf U RH Tair pres rain kdown snow ldown fcld wuh
xsmd lai kdiff kdir wdir`` (older files: ``%iy ... Wind RH Td ... Kdn ... Kdiff Kdir Wd``): year, day of year,
hour and minute in local standard time, the stamp ending the interval (SUEWS manual, "Meteorological
input file"); -999 is missing. The files carry no time zone: ``utc_offset`` gives it, else it is taken as
round(longitude / 15) of the site with a warning.

Validation (every format)
-------------------------
Sentinels -999, -9999 and 9999 are missing values. Gaps up to :data:`MAX_GAP_HOURS` are filled by linear
interpolation in time, with a warning; longer gaps are errors naming the file, the column and the first
missing line. Temperature must lie within :data:`TEMP_AIR_RANGE`, wind within :data:`WIND_SPEED_RANGE`,
irradiance between 0 and the extraterrestrial limit. A file without temperature or wind gets
:data:`solarkataster.weather.DEFAULT_TEMP_AIR` / :data:`~solarkataster.weather.DEFAULT_WIND_SPEED` with a
warning.

Which weather when none is given (:func:`resolve_weather`, spec 'auto')
------------------------------------------------------------------------
In Germany, the DWD test reference year TRY 2010 (mean year) of the climate region that contains the site,
read from the installed ``demandlib`` package (region polygons ``TRY_polygons.geojson``, files
``TRY2010_NN_Jahr.dat``). Elsewhere the cached PVGIS TMY of the site when it is already on disk (no network
is used to decide), otherwise the clear sky, with a warning that the results are an upper bound.
``source['label']`` says in one line what the numbers rest on.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..decomposition import (
    MAX_ZENITH,
    SOLAR_CONSTANT,
    complete_irradiance,
    cos_zenith_solar_time,
    equation_of_time,
    extraterrestrial_horizontal_max,
    interval_mean_cos_zenith,
)
from ..errors import WeatherError
from ..weather import DEFAULT_TEMP_AIR, DEFAULT_WIND_SPEED, DEFAULT_YEAR, WeatherYear

log = logging.getLogger(__name__)

#: Year given to typical-year records (TRY, TMY) whose months come from different years; non-leap, as
#: pvlib's ``coerce_year`` default. :func:`to_year` maps onto the calendar year the user asks for.
NOMINAL_YEAR = 1990
#: Irradiance below this is noise rounded to zero; below it, an error [W/m²].
NEGATIVE_NOISE = -10.0
#: A record's ghi may exceed the extraterrestrial horizontal irradiance (maximum over its interval) by
#: this factor and offset before it is called impossible.
ETR_FACTOR, ETR_MARGIN = 1.10, 25.0
#: A warning is logged when the weather station is farther than this from the site [km] (not for the DWD
#: TRY default, whose station stands for its climate region by design).
DISTANCE_WARNING_KM = 50.0
TIME_LABELS = ("start", "end", "center")
#: Values that weather files use for "missing" (EPW, UMEP, DWD, TMY3 conventions).
SENTINELS = (-999.0, -9999.0, 9999.0)
#: Longest run of missing records filled by linear interpolation [h]; longer gaps are errors.
MAX_GAP_HOURS = 3.0
#: Plausible air temperature [°C] and wind speed [m/s] (world records: -89 °C, 57 °C; 113 m/s gust).
TEMP_AIR_RANGE = (-60.0, 60.0)
WIND_SPEED_RANGE = (0.0, 75.0)
#: Weather keywords of :func:`resolve_weather` besides a file path.
KEYWORDS = ("auto", "dwd-try", "dwd-try:NN", "clear-sky", "pvgis")
CLEAR_SKY_LABEL = "clear sky (upper bound)"
_DEMANDLIB_WEATHER = "vdi/resources_weather"


class WeatherSpec(str):
    """A ``--weather`` specification with the reading options that travel with it.

    A ``str`` (the spec itself, e.g. a path, 'auto', 'dwd-try:12'), so code that stores or compares the
    spec keeps working; :func:`resolve_weather` reads ``time_label`` and ``utc_offset`` from it.

    Parameters
    ----------
    spec : str
        The specification.
    time_label : {'start', 'end', 'center'}, optional
        What a CSV or UMEP file's time stamps mark within the interval.
    utc_offset : float, optional
        UTC offset [h] of a UMEP file's local standard time.
    """

    def __new__(cls, spec, time_label=None, utc_offset=None):
        """Create the spec string with its options."""
        obj = super().__new__(cls, str(spec))
        obj.time_label = time_label
        obj.utc_offset = utc_offset
        return obj

    def __reduce__(self):
        """Pickle with the options (batch workers)."""
        return (WeatherSpec, (str(self), self.time_label, self.utc_offset))


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------

def read_weather(path, *, time_label=None, latitude=None, longitude=None, utc_offset=None) -> WeatherYear:
    """Read a weather file of any supported format into a :class:`WeatherYear` (UTC interval starts).

    Parameters
    ----------
    path : str or Path
        DWD TRY 2010 / 2015 / 2017 (``.dat``), EPW, PVGIS TMY (JSON, CSV or EPW), TMY3 CSV, UMEP/SUEWS met
        file or generic CSV. The format is detected from the content.
    time_label : {'start', 'end', 'center'}, optional
        Only for generic CSV (default 'start') and UMEP files (default 'end'): what the time stamps mark
        within each interval. The other formats define their own convention (see the module docstring).
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
    text = _decode(raw, path)
    fmt = detect_format(text, path)
    if time_label is not None and fmt not in ("csv", "umep"):
        raise WeatherError(f"{path}: time_label={time_label!r} applies to generic CSV and UMEP files only; "
                           f"the {fmt} format defines its own time convention")
    if fmt == "csv":
        frame, interval, source, locate = _read_csv(text, path, time_label or "start")
    elif fmt == "umep":
        frame, interval, source, locate = _read_umep(text, path, time_label or "end",
                                                     _umep_offset(path, utc_offset, longitude))
    else:
        frame, interval, source, locate = _READERS[fmt](text, path)
    source = {"name": fmt, "path": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "year": None,
              **source}
    lat = source.get("latitude") if source.get("latitude") is not None else latitude
    lon = source.get("longitude") if source.get("longitude") is not None else longitude
    frame = _check_values(frame, interval, path, locate, lat, lon)
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
    has_stars = re.search(r"^\*\*\*", head, flags=re.M) is not None
    if "Lambert konform konisch" in head or re.search(r"^\s*RW\s+HW\s+MM\s+DD\s+HH", head, re.M):
        if not has_stars:
            raise WeatherError(f"{path}: DWD TRY header without the '***' line that ends it; the file "
                               "is truncated or edited")
        return "dwd-try2015"
    if "WMO-Nummer" in head or re.search(r"^\s*RG\s+IS\s+MM\s+DD\s+HH", head, re.M):
        if not has_stars:
            raise WeatherError(f"{path}: DWD TRY header without the '***' line that ends it; the file "
                               "is truncated or edited")
        return "dwd-try2010"
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
    return WeatherYear(frame[_column_order(frame)], weather.interval, source)


def to_year(weather: WeatherYear, year: int) -> WeatherYear:
    """Map records onto calendar ``year``, keeping month, day and time of day (UTC).

    Feb 29 records are dropped for a non-leap target; a leap target without Feb 29 gets Feb 28 repeated.
    Records that a time-zone shift put into the neighbouring year wrap around (the 23:00Z record of
    Dec 31 of the previous year becomes Dec 31 23:00Z of ``year``), as pvlib's ``roll_utc_offset`` does.

    Parameters
    ----------
    weather : WeatherYear
    year : int
        Target calendar year.

    Returns
    -------
    WeatherYear
        Sorted, same interval; ``source['mapped_to_year']`` = year.
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
    new_index = pd.DatetimeIndex(dates.to_numpy() + time_of_day).tz_localize("UTC")
    frame.index = new_index
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
    source = dict(weather.source, mapped_to_year=year)
    return WeatherYear(frame, weather.interval, source)


def resolve_weather(spec, *, latitude, longitude, altitude, year=None, linke=None, time_label=None,
                    utc_offset=None, freq="10min") -> WeatherYear:
    """Turn a ``--weather`` specification into a :class:`WeatherYear` on a calendar year.

    Parameters
    ----------
    spec : str, Path, WeatherSpec or WeatherYear
        'auto' (the default, :data:`solarkataster.weather.DEFAULT_WEATHER`): the DWD TRY 2010 of the site's
        climate region in Germany, elsewhere the cached PVGIS TMY if on disk, else the clear sky with a
        warning. 'dwd-try' (the region's TRY, an error outside Germany), 'dwd-try:NN' (region NN, 1-15),
        'clear-sky' (offline, :func:`solarkataster.sky.clear_sky_weather`; an upper bound), 'pvgis' (PVGIS
        TMY for the site, downloaded once and cached in ``platformdirs.user_cache_dir('solarkataster')/pvgis``
        or ``$SOLARKATASTER_CACHE_DIR/pvgis``) or a weather-file path. A WeatherYear is returned unchanged.
    latitude, longitude : float
        Site [°] (WGS84).
    altitude : float
        Site altitude [m] (clear sky only).
    year : int, optional
        Calendar year the records are mapped onto; default the file's own year for dated files (EPW of one
        year, CSV, UMEP), else :data:`solarkataster.weather.DEFAULT_YEAR`.
    linke : float, optional
        Constant Linke turbidity for clear sky.
    time_label : {'start', 'end', 'center'}, optional
        For CSV and UMEP files: what their time stamps mark (default: taken from a :class:`WeatherSpec`,
        else the format's convention).
    utc_offset : float, optional
        UTC offset [h] of a UMEP file's local standard time (default: from a :class:`WeatherSpec`, else
        round(longitude / 15)).
    freq : str
        Clear-sky record interval.

    Returns
    -------
    WeatherYear
        ``source`` has ``label``, ``basis``, ``region``, ``station``, ``distance_km`` (great-circle distance
        from the weather station to the site; a WARNING above :data:`DISTANCE_WARNING_KM` for files and
        PVGIS), ``period`` and ``upper_bound``.
    """
    from ..errors import check_range

    if isinstance(spec, WeatherYear):
        return spec
    time_label = time_label if time_label is not None else getattr(spec, "time_label", None)
    utc_offset = utc_offset if utc_offset is not None else getattr(spec, "utc_offset", None)
    if year is not None:
        year = int(check_range("year", year, 1900, 2200))
    key = str(spec).strip() if spec is not None else "auto"
    site = {"latitude": latitude, "longitude": longitude, "altitude": altitude, "year": year}
    if key.lower() == "clear-sky":
        return _clear_sky(site, linke, freq)
    if key.lower() == "auto":
        return _auto_weather(site, linke, freq)
    if key.lower() == "dwd-try" or key.lower().startswith("dwd-try:"):
        return _dwd_try_weather(key, site)
    if key.lower() == "pvgis":
        return _file_weather(_pvgis_cached(latitude, longitude), site, "pvgis")
    path = Path(key)
    if not path.is_file():
        raise WeatherError(
            f"weather {key!r} is neither an existing file nor one of {', '.join(KEYWORDS)}; give a "
            "weather-file path (DWD TRY, EPW, PVGIS TMY, TMY3, UMEP, CSV) or a keyword")
    return _file_weather(path, site, "file", time_label=time_label, utc_offset=utc_offset)


def dwd_try_region(latitude, longitude):
    """Find the DWD TRY 2010 climate region containing a site (region polygons shipped with demandlib).

    Parameters
    ----------
    latitude, longitude : float
        Site [°] (WGS84).

    Returns
    -------
    dict or None
        ``region`` (1-15), ``region_name`` and ``station`` (the region's reference station), or None
        outside Germany (outside every polygon).

    Raises
    ------
    WeatherError
        demandlib (a dependency) is not installed.
    """
    from shapely import Point

    point = Point(float(longitude), float(latitude))
    for region, name, station, shape in _try_regions():
        if shape.covers(point):
            return {"region": region, "region_name": name, "station": station}
    return None


def dwd_try_path(region) -> Path:
    """Path of the DWD TRY 2010 mean-year file of ``region`` (1-15) inside the installed demandlib."""
    region = int(region)
    if not 1 <= region <= 15:
        raise WeatherError(f"weather dwd-try:{region}: DWD TRY regions are 1 to 15")
    path = _demandlib_weather_dir() / f"TRY2010_{region:02d}_Jahr.dat"
    if not path.is_file():
        raise WeatherError(f"{path}: DWD TRY file missing from the demandlib package; reinstall demandlib")
    return path


def _demandlib_weather_dir() -> Path:
    try:
        from importlib.resources import files

        return Path(str(files("demandlib"))) / _DEMANDLIB_WEATHER
    except ModuleNotFoundError:
        raise WeatherError("the DWD test reference years come from the 'demandlib' package, which is not "
                           "installed: pip install demandlib, or pass --weather PATH / clear-sky") from None


@lru_cache(maxsize=1)
def _try_regions():
    from shapely.geometry import shape

    path = _demandlib_weather_dir() / "TRY_polygons.geojson"
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError) as exc:
        raise WeatherError(f"{path}: DWD TRY region polygons unreadable ({exc}); reinstall demandlib"
                           ) from None
    regions = [(int(f["properties"]["TRY_code"]), f["properties"].get("Region"),
                f["properties"].get("Station"), shape(f["geometry"])) for f in features]
    return tuple(sorted(regions, key=lambda r: r[0]))


def _region_by_number(region):
    for number, name, station, _ in _try_regions():
        if number == region:
            return {"region": number, "region_name": name, "station": station}
    raise WeatherError(f"weather dwd-try:{region}: no such DWD TRY region (1-15)")


def _dwd_try_weather(key, site):
    if ":" in key:
        number = key.split(":", 1)[1].strip()
        if not number.isdigit():
            raise WeatherError(f"weather {key!r}: write dwd-try:NN with a region number 1-15")
        region = _region_by_number(int(number))
    else:
        region = dwd_try_region(site["latitude"], site["longitude"])
        if region is None:
            raise WeatherError(
                f"weather dwd-try: the site ({site['latitude']:.4f}, {site['longitude']:.4f}) lies outside "
                "the German DWD TRY regions; name one (dwd-try:NN), or use pvgis, a weather file or auto")
    return _file_weather(dwd_try_path(region["region"]), site, "dwd-try", region=region)


def _auto_weather(site, linke, freq):
    lat, lon = site["latitude"], site["longitude"]
    try:
        region = dwd_try_region(lat, lon)
    except WeatherError as exc:
        log.warning("%s", exc)
        region = None
    if region is not None:
        return _file_weather(dwd_try_path(region["region"]), site, "dwd-try", region=region)
    cached = _pvgis_cache_path(lat, lon)
    if cached.is_file():
        return _file_weather(cached, site, "pvgis")
    log.warning("no weather given and the site (%.4f, %.4f) is outside the German DWD TRY regions with no "
                "cached PVGIS TMY: using the CLEAR SKY, so irradiation and yields are an UPPER BOUND "
                "(about 1.5x a real year in central Europe). Use --weather pvgis (download once) or a "
                "weather file", lat, lon)
    return _clear_sky(site, linke, freq)


def _clear_sky(site, linke, freq):
    from ..sky import clear_sky_weather

    weather = clear_sky_weather(site["latitude"], site["longitude"], site["altitude"],
                                DEFAULT_YEAR if site["year"] is None else site["year"], freq=freq, linke=linke)
    weather.source.update(label=CLEAR_SKY_LABEL, basis="clear-sky", region=None, station=None,
                          distance_km=0.0, upper_bound=True)
    return weather


def _file_weather(path, site, basis, region=None, time_label=None, utc_offset=None):
    lat, lon = site["latitude"], site["longitude"]
    weather = read_weather(path, latitude=lat, longitude=lon, time_label=time_label, utc_offset=utc_offset)
    own_year = weather.source.get("year")
    weather = to_year(weather, site["year"] or own_year or DEFAULT_YEAR)
    source = weather.source
    source.update(basis=basis, upper_bound=False, region=None, distance_km=None)
    if region is not None:
        source.update(region=region["region"], region_name=region["region_name"],
                      station=region["station"] or source.get("station"))
    if source.get("latitude") is not None and source.get("longitude") is not None:
        distance = great_circle_km(source["latitude"], source["longitude"], lat, lon)
        source["distance_km"] = round(distance, 2)
        if distance > DISTANCE_WARNING_KM and basis != "dwd-try":
            log.warning("weather station %s is %.0f km from the site (%.4f, %.4f): its climate may not "
                        "represent the site; use a nearer station or 'pvgis'",
                        source.get("station") or path, distance, lat, lon)
    source["label"] = weather_label(source)
    return weather


def weather_label(source) -> str:
    """One line saying what a weather year rests on, for titles, legends, popups and run.json.

    Parameters
    ----------
    source : dict
        A WeatherYear's ``source``.

    Returns
    -------
    str
        E.g. "DWD TRY 2010, region 12 (Mannheim, station 3 km away), mean year 1988–2007" or
        "clear sky (upper bound)".
    """
    if source.get("basis") == "clear-sky" or source.get("name") == "clear-sky":
        return CLEAR_SKY_LABEL
    period = str(source.get("period") or "").replace("-", "–") if source.get("period") else None
    away = f"station {source['distance_km']:.0f} km away" if source.get("distance_km") is not None else None
    if source.get("basis") == "dwd-try":
        where = ", ".join(x for x in (source.get("station"), away) if x)
        return (f"DWD TRY 2010, region {source['region']} ({where})"
                + (f", mean year {period}" if period else ""))
    if source.get("basis") == "pvgis":
        return ", ".join(x for x in (f"PVGIS TMY ({source.get('station') or 'PVGIS'})", away,
                                     f"months from {period}" if period else None) if x)
    name = source.get("station") or Path(str(source.get("path", "weather"))).name
    return ", ".join(x for x in (f"{name} ({source.get('name')})", away,
                                 period if source.get("name") != "csv" else None) if x)


def great_circle_km(lat1, lon1, lat2, lon2) -> float:
    """Great-circle (haversine) distance [km] on a sphere of radius 6371.0088 km (IUGG mean radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def pvgis_cache_dir() -> Path:
    """Folder of cached PVGIS downloads: ``$SOLARKATASTER_CACHE_DIR/pvgis`` or the platform cache."""
    root = os.environ.get("SOLARKATASTER_CACHE_DIR")
    if not root:
        import platformdirs
        root = platformdirs.user_cache_dir("solarkataster")
    return Path(root) / "pvgis"


# ---------------------------------------------------------------------------------------------------
# Readers: each returns (frame on UTC interval starts, interval, source fields, locate(i) -> "line N")
# ---------------------------------------------------------------------------------------------------

_TRY2010_COLUMNS = "RG IS MM DD HH N WR WG t p x RF W B D IK A E IL".split()
_TRY2015_COLUMNS = "RW HW MM DD HH t p WR WG N x RF B D A E IL".split()


def _read_dwd_try(text, path, generation):
    lines = text.splitlines()
    stars = next(i for i, line in enumerate(lines) if line.startswith("***"))
    header = lines[:stars]
    expected = _TRY2010_COLUMNS if generation == "2010" else _TRY2015_COLUMNS
    names = _try_column_names(header, expected, path, stars)
    rows, row_lines = [], []
    for number, line in enumerate(lines[stars + 1:], start=stars + 2):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != len(names):
            raise WeatherError(f"{path}: line {number}: expected {len(names)} columns "
                               f"({' '.join(names)}), found {len(fields)}; the file is truncated or "
                               "damaged")
        rows.append(_number_row(path, number, fields, names))
        row_lines.append(number)
    if not rows:
        raise WeatherError(f"{path}: no data lines after the '***' header line")
    table = pd.DataFrame(rows, columns=names)
    month, day, hour = (table[c].to_numpy().astype(int) for c in ("MM", "DD", "HH"))
    locate = _line_locator(row_lines)
    _check_hour_labels(path, month, day, hour, locate, NOMINAL_YEAR)
    _check_complete_year(path, len(table), row_lines, "DWD TRY")
    b, d = (_missing_to_nan(table[c].to_numpy(float)) for c in ("B", "D"))
    frame = pd.DataFrame({"ghi": b + d, "dni": np.nan, "dhi": d,
                          "temp_air": table["t"].to_numpy(float),
                          "wind_speed": table["WG"].to_numpy(float)})
    # hour-ending labels: the interval starts at HH - 1 on the label's day (HH = 24 -> 23:00)
    label_start = (pd.to_datetime(pd.DataFrame({"year": NOMINAL_YEAR, "month": month, "day": day}))
                   + pd.to_timedelta(hour - 1, unit="h"))
    if generation == "2010":
        source = _try2010_header(header, path)
        lat, lon = source["latitude"], source["longitude"]
        basis, stats = _try2010_time_basis(month, day, hour, b, d, lat, lon)
        shift_h = _solar_time_shift_hours(basis, label_start, lon)
        source["time_convention"] = (
            f"hour-ending {basis} (detected from the data: clear-day rms of the daily irradiance centroid "
            + ", ".join(f"{k} {v:.1f} min" for k, v in stats.items())
            + "); header says MEZ")
    else:
        source = _try2015_header(header, path)
        shift_h = np.full(len(table), -1.0)  # MEZ = UTC+1
        source["time_convention"] = "hour-ending MEZ (UTC+1), DWD TRY 2017 handbook"
    utc_start = label_start + pd.to_timedelta(shift_h, unit="h")
    frame.index = pd.DatetimeIndex(utc_start).tz_localize("UTC").round("s")
    return frame, pd.Timedelta(hours=1), source, locate


def _read_try2010(text, path):
    return _read_dwd_try(text, path, "2010")


def _read_try2015(text, path):
    return _read_dwd_try(text, path, "2015")


def _try_column_names(header, expected, path, stars):
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


def _try2010_time_basis(month, day, hour, beam_h, diffuse_h, latitude, longitude):
    """Pick the solar time scale whose clear-day centroids best match the data (module docstring)."""
    global_h = beam_h + diffuse_h
    day_key = month * 100 + day
    days, inverse = np.unique(day_key, return_inverse=True)
    label_centre = hour - 0.5
    g_sum = np.bincount(inverse, global_h)
    b_sum = np.bincount(inverse, beam_h)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.bincount(inverse, global_h * label_centre) / g_sum
    clear = (g_sum > 500.0) & (b_sum > 0.5 * g_sum)
    if clear.sum() < 20:
        return "true solar time", {}
    doy = pd.to_datetime(pd.DataFrame({"year": NOMINAL_YEAR, "month": days // 100,
                                       "day": days % 100})).dt.day_of_year.to_numpy()[clear]
    # extraterrestrial horizontal irradiance on a 1-min UTC grid, days x minutes
    t_utc = (np.arange(1440) + 0.5) / 60.0
    tst = t_utc[None, :] + longitude / 15.0 + (equation_of_time(doy) / 60.0)[:, None]
    cos_z = cos_zenith_solar_time(doy[:, None], tst, latitude)
    etr = np.clip(cos_z, 0.0, None)
    stats = {}
    for basis in ("true solar time", "mean solar time", "MEZ"):
        shift = _solar_time_shift_hours(basis, doy, longitude)  # UTC = label + shift
        shift = np.broadcast_to(shift, doy.shape)
        centre = np.floor(t_utc[None, :] - shift[:, None]) + 0.5
        expected = (etr * centre).sum(1) / etr.sum(1)
        residual = (centroid[clear] - expected) * 60.0
        stats[basis] = float(np.sqrt(np.mean(residual ** 2)))
    return min(stats, key=stats.get), stats


def _solar_time_shift_hours(basis, when, longitude):
    """Hours to add to a local label to get UTC: TST -> -(lon/15 + EoT), LMT -> -lon/15, MEZ -> -1."""
    if basis == "MEZ":
        return np.full(np.shape(when), -1.0)
    if basis == "mean solar time":
        return np.full(np.shape(when), -longitude / 15.0)
    doy = when if isinstance(when, np.ndarray) else pd.DatetimeIndex(when).day_of_year.to_numpy()
    return -longitude / 15.0 - equation_of_time(doy) / 60.0


def _read_epw(text, path):
    lines = text.splitlines()
    loc = [f.strip() for f in lines[0].split(",")]
    if len(loc) < 10:
        raise WeatherError(f"{path}: line 1: EPW LOCATION line has {len(loc)} fields, expected 10 "
                           "(LOCATION,city,state,country,source,WMO,latitude,longitude,TZ,elevation)")
    try:
        lat, lon, tz, elevation = (float(loc[i]) for i in (6, 7, 8, 9))
    except ValueError:
        raise WeatherError(f"{path}: line 1: EPW LOCATION latitude/longitude/time zone/elevation are "
                           "not numbers") from None
    data_start = next((i for i, line in enumerate(lines) if line.upper().startswith("DATA PERIODS")),
                      6) + 1
    # EPW fields (EnergyPlus Auxiliary Programs; same indices as pvlib.iotools.read_epw)
    cols = {"year": 0, "month": 1, "day": 2, "hour": 3, "temp_air": 6, "ghi": 13, "dni": 14, "dhi": 15,
            "wind_speed": 21}
    names = {13: "Global Horizontal Radiation (field 14)", 14: "Direct Normal Radiation (field 15)",
             15: "Diffuse Horizontal Radiation (field 16)", 6: "Dry Bulb Temperature (field 7)",
             21: "Wind Speed (field 22)", 0: "Year", 1: "Month", 2: "Day", 3: "Hour"}
    values, row_lines = [], []
    for number, line in enumerate(lines[data_start:], start=data_start + 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 22:
            raise WeatherError(f"{path}: line {number}: EPW data line has {len(fields)} fields, expected "
                               "at least 22 (35 in full files); the file is truncated or damaged")
        row = []
        for key, i in cols.items():
            try:
                row.append(float(fields[i]))
            except ValueError:
                raise WeatherError(f"{path}: line {number}, column {names[i]}: {fields[i]!r} is not a "
                                   "number") from None
        values.append(row)
        row_lines.append(number)
    if not values:
        raise WeatherError(f"{path}: EPW file has no data lines")
    table = pd.DataFrame(values, columns=list(cols))
    # EPW missing-value codes
    table.loc[table["ghi"] >= 9999, "ghi"] = np.nan
    table.loc[table["dni"] >= 9999, "dni"] = np.nan
    table.loc[table["dhi"] >= 9999, "dhi"] = np.nan
    table.loc[table["temp_air"] >= 99.9, "temp_air"] = np.nan
    table.loc[table["wind_speed"] >= 999, "wind_speed"] = np.nan
    locate = _line_locator(row_lines)
    month, day, hour = (table[c].to_numpy().astype(int) for c in ("month", "day", "hour"))
    years = table["year"].to_numpy().astype(int)
    single_year = len(np.unique(years)) == 1
    year = int(years[0]) if single_year else NOMINAL_YEAR
    _check_hour_labels(path, month, day, hour, locate, year)
    expected = _epw_expected_records(lines[data_start - 1], year)
    if len(table) != expected:
        _check_complete_year(path, len(table), row_lines, "EPW", expected=expected)
    label_start = (pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
                   + pd.to_timedelta(hour - 1, unit="h"))
    utc_start = pd.DatetimeIndex(label_start) - pd.Timedelta(hours=tz)
    frame = table[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].copy()
    frame.index = utc_start.tz_localize("UTC")
    station = ", ".join(x for x in (loc[1], loc[3]) if x and x.lower() != "unknown") or None
    wmo = loc[5] if len(loc) > 5 and loc[5] and loc[5].lower() != "unknown" else None
    source = {"station": f"{station} (WMO {wmo})" if station and wmo else station,
              "latitude": lat, "longitude": lon, "elevation": elevation,
              "period": (f"{years.min()}-{years.max()}" if not single_year else str(year)),
              "year": year if single_year else None,
              "time_convention": f"EPW hour-ending local standard time, UTC{tz:+g} (LOCATION line)"}
    return frame, pd.Timedelta(hours=1), source, locate


def _read_pvgis_json(text, path):
    import io

    from pvlib.iotools import read_pvgis_tmy
    try:
        data, meta = read_pvgis_tmy(io.StringIO(text), pvgis_format="json", map_variables=True)
    except (KeyError, ValueError, TypeError) as exc:
        raise WeatherError(f"{path}: not a readable PVGIS TMY JSON file ({exc!r}); field "
                           "'outputs.tmy_hourly' with 'time(UTC)' records expected") from None
    locate = lambda i: f"record {i + 1} of outputs.tmy_hourly"  # noqa: E731
    return _pvgis_frame(data, meta, path, locate, "json")


def _read_pvgis_csv(text, path):
    import io

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
    return _pvgis_frame(data, meta, path, lambda i: f"line {first + i}", "csv")


def _pvgis_frame(data, meta, path, locate, variant):
    missing = [c for c in ("ghi", "dhi") if c not in data.columns]
    if missing:
        raise WeatherError(f"{path}: PVGIS TMY lacks column(s) {missing} (G(h), Gd(h))")
    inputs = meta.get("inputs", {}) if isinstance(meta, dict) else {}
    location = inputs.get("location", inputs)
    idx = data.index
    month, day, hour = idx.month.to_numpy(), idx.day.to_numpy(), idx.hour.to_numpy()
    # months come from different years: put them on one nominal year (leap days dropped)
    keep = ~((month == 2) & (day == 29))
    if not keep.all():
        log.info("%s: dropping %d Feb 29 records of the PVGIS TMY", path, int((~keep).sum()))
    frame = data.loc[keep, [c for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed")
                            if c in data.columns]].copy()
    positions = np.flatnonzero(keep)
    month, day, hour = month[keep], day[keep], hour[keep]
    _check_hour_labels(path, month, day, hour + 1, lambda i: locate(int(positions[i])), NOMINAL_YEAR)
    _check_complete_year(path, len(frame), [None] * len(frame), "PVGIS TMY", locate)
    new_index = (pd.to_datetime(pd.DataFrame({"year": NOMINAL_YEAR, "month": month, "day": day}))
                 + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(idx.minute[keep], unit="min"))
    frame.index = pd.DatetimeIndex(new_index).tz_localize("UTC")
    years = [m.get("year") for m in meta.get("months_selected", [])] if isinstance(meta, dict) else []
    source = {"station": f"PVGIS {meta.get('inputs', {}).get('meteo_data', {}).get('radiation_db', '')}"
                         .strip() if isinstance(meta, dict) else "PVGIS",
              "latitude": _float_or_none(location.get("latitude")),
              "longitude": _float_or_none(location.get("longitude")),
              "elevation": _float_or_none(location.get("elevation")),
              "period": f"{min(years)}-{max(years)}" if years else None,
              "time_convention": "PVGIS time(UTC) marks the start of the hour"}
    offset = inputs.get("irradiance time offset")
    if offset is not None:
        source["irradiance_time_offset_h"] = offset
    return frame, pd.Timedelta(hours=1), source, _positional_locator(positions, locate)


def _read_tmy3(text, path):
    import io
    lines = text.splitlines()
    meta = [f.strip() for f in lines[0].split(",")]
    try:
        tz, lat, lon, elevation = (float(meta[i]) for i in (3, 4, 5, 6))
    except (ValueError, IndexError):
        raise WeatherError(f"{path}: line 1: TMY3 header must be 'USAF,Name,State,TZ,latitude,longitude,"
                           "elevation'") from None
    header = [c.strip() for c in lines[1].split(",")]
    wanted = {"ghi": "GHI (W/m^2)", "dni": "DNI (W/m^2)", "dhi": "DHI (W/m^2)",
              "temp_air": "Dry-bulb (C)", "wind_speed": "Wspd (m/s)"}
    missing = [v for k, v in wanted.items() if v not in header and k in ("ghi", "dhi")]
    if missing or "Time (HH:MM)" not in header:
        raise WeatherError(f"{path}: line 2: TMY3 column(s) {missing or ['Time (HH:MM)']} missing")
    for number, line in enumerate(lines[2:], start=3):
        if line.strip() and line.count(",") != lines[1].count(","):
            raise WeatherError(f"{path}: line {number}: {line.count(',') + 1} fields, the header (line 2) "
                               f"has {lines[1].count(',') + 1}; the file is truncated or damaged")
    table = pd.read_csv(io.StringIO(text), header=1, skip_blank_lines=True)
    row_lines = list(range(3, 3 + len(table)))
    locate = _line_locator(row_lines)
    try:
        date = pd.to_datetime(table["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
        hour = table["Time (HH:MM)"].str.slice(0, 2).astype(int).to_numpy()
    except (ValueError, TypeError) as exc:
        raise WeatherError(f"{path}: column 'Date (MM/DD/YYYY)' or 'Time (HH:MM)' unreadable ({exc})"
                           ) from None
    month, day = date.dt.month.to_numpy(), date.dt.day.to_numpy()
    _check_hour_labels(path, month, day, hour, locate, NOMINAL_YEAR)
    _check_complete_year(path, len(table), row_lines, "TMY3")
    frame = pd.DataFrame({k: pd.to_numeric(table[v], errors="coerce").to_numpy() if v in table else np.nan
                          for k, v in wanted.items()})
    label_start = (pd.to_datetime(pd.DataFrame({"year": NOMINAL_YEAR, "month": month, "day": day}))
                   + pd.to_timedelta(hour - 1, unit="h"))
    frame.index = (pd.DatetimeIndex(label_start) - pd.Timedelta(hours=tz)).tz_localize("UTC")
    years = date.dt.year
    source = {"station": f"{meta[1].strip(chr(34))} (USAF {meta[0]})", "latitude": lat, "longitude": lon,
              "elevation": elevation, "period": f"{years.min()}-{years.max()}",
              "time_convention": f"TMY3 hour-ending local standard time, UTC{tz:+g} (header line 1)"}
    return frame, pd.Timedelta(hours=1), source, locate


def _read_csv(text, path, time_label="start"):
    import io
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
    times = []
    for i, value in enumerate(table["time"].astype(str)):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            raise WeatherError(f"{path}: {locate(i)}, column time: {value!r} is not an ISO 8601 "
                               "timestamp") from None
        if stamp.tzinfo is None:
            raise WeatherError(f"{path}: {locate(i)}, column time: {value!r} has no UTC offset; write "
                               "e.g. 2025-06-01T12:00+00:00 (or +01:00 for MEZ)")
        times.append(stamp.tz_convert("UTC"))
    index = pd.DatetimeIndex(times)
    interval = _check_steps(index, path, locate)
    shift = {"start": pd.Timedelta(0), "end": interval, "center": interval / 2}[time_label]
    frame = pd.DataFrame(index=index - shift)
    for column in ("ghi", "dni", "dhi", "temp_air", "wind_speed"):
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
              "period": f"{frame.index[0]} to {frame.index[-1] + interval}", "year": _main_year(frame.index),
              "time_convention": f"ISO 8601 with UTC offset, time column marks the interval {time_label}"}
    return frame, interval, source, locate


def _check_steps(index, path, locate):
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
    for i in np.flatnonzero(steps != _ns(interval)):
        kind = "gap" if steps[i] % _ns(interval) == 0 else "irregular step"
        raise WeatherError(f"{path}: {locate(i + 1)}, column time: {kind} of "
                           f"{pd.Timedelta(int(steps[i]), unit='ns')} after {index[i]} (expected "
                           f"{interval}); fill or remove the missing records")
    return interval


def _main_year(index):
    """Return the calendar year most records fall in (a dated file's own year)."""
    years, counts = np.unique(pd.DatetimeIndex(index).year, return_counts=True)
    return int(years[np.argmax(counts)])


#: UMEP/SUEWS column names (lower case, '%' stripped) of each WeatherYear column, in order of preference.
_UMEP_COLUMNS = {"ghi": ("kdown", "kdn"), "dhi": ("kdiff",), "dni": ("kdir",), "temp_air": ("tair", "td"),
                 "wind_speed": ("u", "wind")}


def _umep_offset(path, utc_offset, longitude):
    """UTC offset [h] of a UMEP file: the given one, else round(longitude / 15) with a warning."""
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


def _read_umep(text, path, time_label="end", utc_offset=0.0):
    lines = text.splitlines()
    names = [c.lstrip("%").strip().lower() for c in lines[0].split()]
    missing = [c for c in ("iy", "id", "it", "imin") if c not in names]
    if missing or not any(c in names for c in _UMEP_COLUMNS["ghi"]):
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
        rows.append(_number_row(path, number, fields, names))
        row_lines.append(number)
    table = pd.DataFrame(rows, columns=names)
    locate = _line_locator(row_lines)
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
    interval = _check_steps(stamps, path, locate)
    shift = {"start": pd.Timedelta(0), "end": interval, "center": interval / 2}[time_label]
    frame = pd.DataFrame(index=stamps - shift)
    for column, candidates in _UMEP_COLUMNS.items():
        found = next((c for c in candidates if c in table.columns), None)
        frame[column] = table[found].to_numpy(float) if found else np.nan
    source = {"station": None, "latitude": None, "longitude": None, "elevation": None,
              "period": f"{frame.index[0]} to {frame.index[-1] + interval}",
              "year": _main_year(local + pd.Timedelta(minutes=1) - shift),
              "time_convention": f"UMEP/SUEWS stamps (iy id it imin) in local standard time UTC{utc_offset:+g}, "
                                 f"marking the interval {time_label}"}
    return frame, interval, source, locate


_READERS = {"dwd-try2010": _read_try2010, "dwd-try2015": _read_try2015, "epw": _read_epw,
            "pvgis-json": _read_pvgis_json, "pvgis-csv": _read_pvgis_csv, "tmy3": _read_tmy3}


# ---------------------------------------------------------------------------------------------------
# PVGIS download and cache
# ---------------------------------------------------------------------------------------------------

def _pvgis_cache_path(latitude, longitude) -> Path:
    """Where the PVGIS TMY JSON of a site is cached (key: lat/lon to 0.01°)."""
    return pvgis_cache_dir() / f"tmy_{latitude:.2f}_{longitude:.2f}.json"


def _pvgis_cached(latitude, longitude) -> Path:
    """Path of the cached PVGIS TMY JSON for the site, downloading it once (key: lat/lon to 0.01°)."""
    path = _pvgis_cache_path(latitude, longitude)
    folder = path.parent
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
    folder.mkdir(parents=True, exist_ok=True)
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


# ---------------------------------------------------------------------------------------------------
# Validation and helpers
# ---------------------------------------------------------------------------------------------------

def _missing_to_nan(values):
    """Sentinel values (:data:`SENTINELS`) as NaN."""
    values = np.asarray(values, float)
    return np.where(np.isin(values, SENTINELS), np.nan, values)


def _check_values(frame, interval, path, locate, latitude, longitude):
    """Missing values, ranges and physical limits of every column (module docstring, "Validation")."""
    frame = frame.copy()
    for column in ("ghi", "dni", "dhi", "temp_air", "wind_speed"):
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = _missing_to_nan(frame[column].to_numpy(float))
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
        limit = np.full(len(frame), SOLAR_CONSTANT * 1.035)  # perihelion, sun at zenith
        what = "the solar constant at perihelion"
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
    return frame


def _check_ranges(frame, path, locate):
    """Raise on values outside their physical range (NaN = missing is handled by the gap filling)."""
    dni_max = ETR_FACTOR * SOLAR_CONSTANT * 1.035 + ETR_MARGIN
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
    filled = series.interpolate(method="time", limit_direction="both")
    return filled


def _check_hour_labels(path, month, day, hour, locate, year):
    """Labels must be valid dates with hours 1..24 and advance one hour per line."""
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


def _epw_expected_records(data_periods, year):
    """Hourly records the DATA PERIODS line announces (start/end 'm/d'); a whole year if unreadable."""
    fields = [f.strip() for f in data_periods.split(",")]
    leap = pd.Timestamp(year=year, month=1, day=1).is_leap_year
    try:
        per_hour = int(fields[2])
        (m0, d0), (m1, d1) = ([int(x) for x in f.split("/")] for f in fields[-2:])
        days = (pd.Timestamp(year=year, month=m1, day=d1) - pd.Timestamp(year=year, month=m0, day=d0)).days
        return (days + 1) * 24 * per_hour
    except (ValueError, IndexError):
        return 8784 if leap else 8760


def _check_complete_year(path, count, row_lines, what, locate=None, expected=8760):
    if count != expected:
        last = row_lines[-1] if row_lines and row_lines[-1] is not None else None
        where = f" (last data line {last})" if last else ""
        raise WeatherError(f"{path}: {what} file has {count} hourly records{where}, expected {expected}; the "
                           "file is truncated or has extra lines")


def _ns(interval):
    return int(pd.Timedelta(interval) / pd.Timedelta(nanoseconds=1))


def _line_locator(row_lines):
    return lambda i: f"line {row_lines[i]}"


def _positional_locator(positions, locate):
    return lambda i: locate(int(positions[i]))


def _decode(raw: bytes, path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    raise WeatherError(f"{path}: not a text file (neither UTF-8 nor Windows-1252)")


def _number_row(path, number, fields, names):
    """Return the fields of one whitespace-separated data line as floats, or name the first bad column."""
    try:
        return [float(f) for f in fields]
    except ValueError:
        bad = next(i for i, f in enumerate(fields) if not _is_number(f))
        raise WeatherError(f"{path}: line {number}, column {names[bad]}: {fields[bad]!r} is not a "
                           "number") from None


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _float_or_none(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _column_order(frame):
    first = [c for c in ("ghi", "dni", "dhi", "temp_air", "wind_speed") if c in frame.columns]
    return first + [c for c in frame.columns if c not in first]
