"""The DWD TRY 2010 climate regions of Germany and their mean-year files, as shipped with ``demandlib``.

demandlib (a dependency) carries the 15 region polygons (``TRY_polygons.geojson``, properties ``TRY_code``,
``Region``, ``Station``) and the mean-year files ``TRY2010_NN_Jahr.dat`` in ``vdi/resources_weather``; they are
read from the installed package, never copied.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ...errors import WeatherError

_DEMANDLIB_WEATHER = "vdi/resources_weather"


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


def region_by_number(region):
    """Return ``region``, ``region_name`` and ``station`` of TRY region number ``region``."""
    for number, name, station, _ in _try_regions():
        if number == region:
            return {"region": number, "region_name": name, "station": station}
    raise WeatherError(f"weather dwd-try:{region}: no such DWD TRY region (1-15)")


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
