"""The weather-year model the engine consumes: UTC interval records of irradiance and temperature.

Readers for the file formats, and the choice of weather when none is given (:data:`DEFAULT_WEATHER`: the
DWD test reference year of the site's region in Germany), live in :mod:`solarkataster.io.weather`; the
clear sky is built by :func:`solarkataster.sky.clear_sky_weather`. Whatever the source, the engine sees a
`WeatherYear`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import WeatherError

COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed")
#: The weather used when none is given: 'auto' = the DWD TRY 2010 of the site's climate region in Germany,
#: elsewhere the cached PVGIS TMY, else the clear sky (an upper bound) with a warning
#: (:func:`solarkataster.io.weather.resolve_weather`).
DEFAULT_WEATHER = "auto"
#: Calendar year typical years (TRY, TMY, clear sky) are mapped onto when none is given.
DEFAULT_YEAR = 2025
#: Air temperature [°C] and wind speed [m/s] assumed for files without them (a warning says so): a mild
#: daytime temperature for central Europe (the German annual mean is ~9 °C, daylight hours are warmer) and
#: a light wind; the values the PV yield model (pv.py) already used for missing records.
DEFAULT_TEMP_AIR = 12.0
DEFAULT_WIND_SPEED = 1.0


@dataclass(frozen=True)
class WeatherYear:
    """Weather records on a UTC index.

    Parameters
    ----------
    data : pandas.DataFrame
        Index: tz-aware UTC timestamps marking the *start* of each record's interval. Columns ``ghi``,
        ``dni``, ``dhi`` [W/m²] (interval means), ``temp_air`` [°C], ``wind_speed`` [m/s]. ``dni`` may be
        NaN where the source gives only the direct horizontal part; ``ghi - dhi`` is authoritative for
        the beam energy on a horizontal plane.
    interval : pandas.Timedelta
        Length of each record's interval.
    source : dict
        Provenance: ``name`` (format or 'clear-sky'), ``path``, ``sha256``, ``station``, ``latitude``,
        ``longitude``, ``elevation``, ``period`` and any reader notes (time convention applied). Resolved
        weather (:func:`solarkataster.io.weather.resolve_weather`) adds ``label`` (one line for maps and
        titles, e.g. "DWD TRY 2010, region 12 (Mannheim, station 3 km away), mean year 1988–2007"),
        ``basis`` ('dwd-try', 'pvgis', 'clear-sky' or 'file'), ``region`` (DWD TRY region or None),
        ``distance_km`` (station to site) and ``upper_bound`` (True for the clear sky).
    """

    data: pd.DataFrame
    interval: pd.Timedelta
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        idx = self.data.index
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
            raise WeatherError("weather index must be timezone-aware timestamps")
        if str(idx.tz) != "UTC":
            object.__setattr__(self, "data", self.data.tz_convert("UTC"))
        missing = [c for c in ("ghi", "dhi") if c not in self.data.columns]
        if missing:
            raise WeatherError(f"weather data lacks column(s) {missing}")

    @property
    def start(self) -> pd.Timestamp:
        """Start of the first interval."""
        return self.data.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """End of the last interval."""
        return self.data.index[-1] + self.interval

    def covers_year(self) -> bool:
        """Tell whether the records span at least 365 days without gaps."""
        span = self.end - self.start
        expected = int(round(span / self.interval))
        return span >= pd.Timedelta(days=365) - self.interval and len(self.data) >= expected

    def require_full_year(self):
        """Raise :class:`WeatherError` unless the records cover a whole year (annual outputs need it)."""
        if not self.covers_year():
            name = self.source.get("path") or self.source.get("name", "weather")
            raise WeatherError(
                f"{name}: covers {self.start} to {self.end}, not a whole year; annual and monthly outputs "
                "need a full year (a shorter period works for point time series)")

    def annual_ghi(self) -> float:
        """Global horizontal irradiation [kWh/m²] summed over the records."""
        hours = self.interval / pd.Timedelta(hours=1)
        return float(np.nansum(self.data["ghi"].to_numpy()) * hours / 1000.0)
