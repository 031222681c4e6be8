"""Request parameters as typed dependencies (titiler style): parsed and validated before a route runs."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from ..errors import ParameterError
from .store import ResultsStore

DEFAULT_LIMIT = 2000  # features per response unless ?limit= asks otherwise (capped by --max-features)


@dataclass(frozen=True)
class ServiceSettings:
    """Server-side options fixed at startup (``solarkataster serve`` flags)."""

    max_features: int = 10_000
    basemap_url: str | None = None
    basemap_attribution: str | None = None

    @property
    def default_limit(self) -> int:
        """Features per response when the request gives no ``limit``."""
        return min(DEFAULT_LIMIT, self.max_features)


def get_store(request: Request) -> ResultsStore:
    """Return the app's results store (a dependency)."""
    return request.app.state.store


def get_settings(request: Request) -> ServiceSettings:
    """Return the app's startup settings (a dependency)."""
    return request.app.state.settings


Store = Annotated[ResultsStore, Depends(get_store)]
Settings = Annotated[ServiceSettings, Depends(get_settings)]


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``min_lon,min_lat,max_lon,max_lat`` [°, WGS84] and check it.

    Raises
    ------
    ParameterError
        Not four numbers, not finite, outside lon [-180, 180] / lat [-90, 90], or inverted/empty.
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise ParameterError(f"bbox={text!r}: expected four comma-separated numbers "
                             f"min_lon,min_lat,max_lon,max_lat in degrees (WGS84)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ParameterError(f"bbox={text!r}: not all four values are numbers; "
                             f"expected min_lon,min_lat,max_lon,max_lat") from None
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(f"bbox={text!r}: values must be finite numbers")
    min_lon, min_lat, max_lon, max_lat = values
    for name, v, bound in (("min_lon", min_lon, 180), ("max_lon", max_lon, 180),
                           ("min_lat", min_lat, 90), ("max_lat", max_lat, 90)):
        if not -bound <= v <= bound:
            raise ParameterError(f"bbox={text!r}: {name}={v} is outside [-{bound}, {bound}]°")
    if min_lon >= max_lon or min_lat >= max_lat:
        raise ParameterError(f"bbox={text!r}: inverted or empty box; min_lon < max_lon and min_lat < max_lat "
                             f"are required (boxes across the antimeridian are not supported)")
    return min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class BBoxQuery:
    """``?bbox=...&limit=N``: a lon/lat box and the most features to return."""

    bbox: tuple[float, float, float, float]
    limit: int


def bbox_query(
    settings: Settings,
    bbox: Annotated[str, Query(max_length=200, description="min_lon,min_lat,max_lon,max_lat [°] (WGS84)",
                               examples=["7.76,49.43,7.78,49.45"])],
    limit: Annotated[int | None, Query(ge=1, description="Most features in the response "
                                       "(default 2000, at most the server's --max-features)")] = None,
) -> BBoxQuery:
    """Parse and check ``?bbox=...&limit=N`` (a dependency)."""
    if limit is None:
        limit = settings.default_limit
    elif limit > settings.max_features:
        raise ParameterError(f"limit={limit} exceeds this server's maximum of {settings.max_features} "
                             f"features per response; ask for fewer or zoom in (smaller bbox)")
    return BBoxQuery(parse_bbox(bbox), limit)


BBox = Annotated[BBoxQuery, Depends(bbox_query)]


@dataclass(frozen=True)
class PointQuery:
    """``?lon=..&lat=..&tolerance=..``: a clicked location and the search radius for facades."""

    lon: float
    lat: float
    tolerance: float


def point_query(
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude [°] (WGS84)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude [°] (WGS84)")],
    tolerance: Annotated[float, Query(ge=0, le=50, description="Search radius for facades [m]")] = 2.0,
) -> PointQuery:
    """Collect ``?lon=..&lat=..&tolerance=..`` (a dependency; FastAPI checks the ranges)."""
    return PointQuery(lon, lat, tolerance)


PointParams = Annotated[PointQuery, Depends(point_query)]

# Ids are looked up in a dict, never used as paths; the pattern only keeps junk out of logs and messages.
BuildingId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^/\\\x00-\x1f]+$",
                                 description="building_id as in buildings.geojson")]


@dataclass(frozen=True)
class EconomicsQuery:
    """``?consumption_kwh=&battery_kwh=&price_eur_kwh=&feed_in_eur_kwh=&cost_eur_per_kwp=`` (None = default)."""

    consumption_kwh: float | None
    battery_kwh: float
    price_eur_kwh: float | None
    feed_in_eur_kwh: float | None
    cost_eur_per_kwp: float | None


def economics_query(
    consumption_kwh: Annotated[float | None, Query(gt=0, le=1e8, description="Annual consumption [kWh/a] "
                                                   "(default: the building's consumption_kwh)")] = None,
    battery_kwh: Annotated[float, Query(ge=0, le=10_000, description="Usable battery capacity [kWh]")] = 0.0,
    price_eur_kwh: Annotated[float | None, Query(ge=0, le=10, description="Electricity price [€/kWh] "
                                                 "(default 0.37, BDEW 2026)")] = None,
    feed_in_eur_kwh: Annotated[float | None, Query(ge=0, le=10, description="Feed-in tariff [€/kWh] "
                                                   "(default: EEG partial feed-in by size, 2026-08)")] = None,
    cost_eur_per_kwp: Annotated[float | None, Query(ge=0, le=100_000, description="System cost [€/kWp] "
                                                    "(default by size)")] = None,
) -> EconomicsQuery:
    """Collect the economics inputs (a dependency; FastAPI checks the ranges, 422 otherwise)."""
    for name, value in (("consumption_kwh", consumption_kwh), ("battery_kwh", battery_kwh),
                        ("price_eur_kwh", price_eur_kwh), ("feed_in_eur_kwh", feed_in_eur_kwh),
                        ("cost_eur_per_kwp", cost_eur_per_kwp)):
        if value is not None and not math.isfinite(value):
            raise ParameterError(f"{name}={value}: must be a finite number")
    return EconomicsQuery(consumption_kwh, battery_kwh, price_eur_kwh, feed_in_eur_kwh, cost_eur_per_kwp)


EconomicsParams = Annotated[EconomicsQuery, Depends(economics_query)]
