"""Weather-file readers: DWD TRY 2010 and 2015/2017, EPW, PVGIS TMY (JSON, CSV, EPW), TMY3, UMEP, generic CSV.

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
DWD TRY 2010         hour HH ends the interval in a *solar* time scale detected from the data: start = the
                     UTC instant of (HH - 1 h) in true solar time (exact, with SPA's equation of time at that
                     instant) or of (HH - 1 h) - longitude/15 in mean solar time; the header's "MEZ" is kept
                     only when the data agree with it (:mod:`~solarkataster.io.weather.solar_time`)
EPW (incl. PVGIS)    hour HH (1..24) ends the interval in local standard time, offset in the LOCATION line
                     (EnergyPlus Auxiliary Programs, "Weather Data Format"); PVGIS writes offset 0
PVGIS TMY JSON/CSV   ``time(UTC)`` labels the hour that *starts* at the timestamp (PVGIS TMY tool docs;
                     pvlib.iotools.read_pvgis_tmy returns these UTC stamps unchanged)
TMY3                 ``Time`` HH:MM (01:00..24:00) ends the interval, local standard time, offset in the
                     first header line (Wilcox & Marion 2008, NREL/TP-581-43156)
UMEP/SUEWS           ``iy id it imin`` in local standard time end the interval; ``utc_offset`` gives the zone
generic CSV          ``time`` column, ISO 8601 with UTC offset, marks the interval start; ``time_label``
                     = 'end' or 'center' for files that label ends or centres
===================  =========================================================================================

A true-solar-time TRY 2010 therefore has records that start minutes past the UTC hour. The engine integrates
the sun within each exact interval; hourly outputs re-bin onto whole UTC hours with :func:`to_utc_hours`.

Modules
-------
:mod:`~.read` (format detection, :func:`read_weather`), one reader per format (:mod:`~.dwd_try`,
:mod:`~.epw`, :mod:`~.pvgis`, :mod:`~.tmy3`, :mod:`~.umep`, :mod:`~.generic_csv`) on the shared parsing of
:mod:`~.records`, :mod:`~.solar_time` (TRY 2010 time basis), :mod:`~.validation` (missing values, ranges,
physical limits, the same for every format), :mod:`~.transform` (:func:`complete_components`,
:func:`to_year`), :mod:`~.dwd_regions` (TRY regions from demandlib), :mod:`~.resolve` (``--weather``
keywords and the default weather); :mod:`solarkataster.hours` (whole-UTC-hour outputs) is re-exported
here. The physics (sun geometry, DNI, decomposition) lives in :mod:`solarkataster.decomposition`; this
package only reads.
"""
from ...hours import to_utc_hours, utc_hour_weights
from ...weather import DEFAULT_TEMP_AIR, DEFAULT_WIND_SPEED, DEFAULT_YEAR, WeatherYear
from .dwd_regions import dwd_try_path, dwd_try_region
from .pvgis import pvgis_cache_dir
from .read import detect_format, read_weather
from .records import NOMINAL_YEAR, TIME_LABELS
from .resolve import (
    CLEAR_SKY_LABEL,
    DISTANCE_WARNING_KM,
    KEYWORDS,
    WeatherSpec,
    great_circle_km,
    resolve_weather,
    weather_label,
)
from .transform import complete_components, to_year
from .validation import (
    ETR_FACTOR,
    ETR_MARGIN,
    MAX_GAP_HOURS,
    NEGATIVE_NOISE,
    SENTINELS,
    TEMP_AIR_RANGE,
    WIND_SPEED_RANGE,
)

__all__ = [
    "CLEAR_SKY_LABEL", "DEFAULT_TEMP_AIR", "DEFAULT_WIND_SPEED", "DEFAULT_YEAR", "DISTANCE_WARNING_KM",
    "ETR_FACTOR", "ETR_MARGIN", "KEYWORDS", "MAX_GAP_HOURS", "NEGATIVE_NOISE", "NOMINAL_YEAR", "SENTINELS",
    "TEMP_AIR_RANGE", "TIME_LABELS", "WIND_SPEED_RANGE", "WeatherSpec", "WeatherYear", "complete_components",
    "detect_format", "dwd_try_path", "dwd_try_region", "great_circle_km", "pvgis_cache_dir", "read_weather",
    "resolve_weather", "to_utc_hours", "to_year", "utc_hour_weights", "weather_label",
]
