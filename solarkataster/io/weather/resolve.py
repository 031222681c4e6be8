"""Which weather a run uses: the ``--weather`` specification, the defaults, and the one-line label.

With no weather given ('auto'): in Germany, the DWD test reference year TRY 2010 (mean year) of the climate
region that contains the site, read from the installed ``demandlib`` package
(:mod:`solarkataster.io.weather.dwd_regions`). Elsewhere the cached PVGIS TMY of the site when it is already
on disk (no network is used to decide), otherwise the clear sky, with a warning that the results are an upper
bound. ``source['label']`` says in one line what the numbers rest on.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

from ...errors import WeatherError
from ...weather import DEFAULT_YEAR, WeatherYear
from .dwd_regions import dwd_try_path, dwd_try_region, region_by_number
from .pvgis import cached_pvgis_tmy, pvgis_cache_path
from .read import read_weather
from .transform import to_year

log = logging.getLogger(__name__)

#: A warning is logged when the weather station is farther than this from the site [km] (not for the DWD
#: TRY default, whose station stands for its climate region by design).
DISTANCE_WARNING_KM = 50.0
#: Weather keywords of :func:`resolve_weather` besides a file path.
KEYWORDS = ("auto", "dwd-try", "dwd-try:NN", "clear-sky", "pvgis")
CLEAR_SKY_LABEL = "clear sky (upper bound)"
#: Mean Earth radius [km] (IUGG) of :func:`great_circle_km`.
_EARTH_RADIUS_KM = 6371.0088


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
    from ...errors import check_range

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
        return _file_weather(cached_pvgis_tmy(latitude, longitude), site, "pvgis")
    path = Path(key)
    if not path.is_file():
        raise WeatherError(
            f"weather {key!r} is neither an existing file nor one of {', '.join(KEYWORDS)}; give a "
            "weather-file path (DWD TRY, EPW, PVGIS TMY, TMY3, UMEP, CSV) or a keyword")
    return _file_weather(path, site, "file", time_label=time_label, utc_offset=utc_offset)


def _dwd_try_weather(key, site):
    if ":" in key:
        number = key.split(":", 1)[1].strip()
        if not number.isdigit():
            raise WeatherError(f"weather {key!r}: write dwd-try:NN with a region number 1-15")
        region = region_by_number(int(number))
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
    cached = pvgis_cache_path(lat, lon)
    if cached.is_file():
        return _file_weather(cached, site, "pvgis")
    log.warning("no weather given and the site (%.4f, %.4f) is outside the German DWD TRY regions with no "
                "cached PVGIS TMY: using the CLEAR SKY, so irradiation and yields are an UPPER BOUND "
                "(about 1.5x a real year in central Europe). Use --weather pvgis (download once) or a "
                "weather file", lat, lon)
    return _clear_sky(site, linke, freq)


def _clear_sky(site, linke, freq):
    from ...sky import clear_sky_weather

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
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
