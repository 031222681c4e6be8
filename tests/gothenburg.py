"""Point irradiance against measurements at two Gothenburg sites (GVC, Kronenhuset): the comparison used by
tests/test_points.py and benchmarks/validate_gothenburg.py (which documents the data, model and times).

Tests never import from benchmarks/, so the comparison lives here and the benchmark imports it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(os.environ.get("SOLARKATASTER_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "validation" \
    / "goteborg-umep"
DATA = ROOT / "validation_gvc"
KRONENHUSET = ROOT / "validation_kronenhuset"
DAYS = ("20100707", "20100710", "20100712")
#: Height of the radiation sensors above ground [m] (SOLWEIG's standard person height, Lindberg et al. 2008).
SENSOR_HEIGHT = 1.1
#: measured column -> (tilt, azimuth) [°]
SENSORS = {"Kdown": (0.0, 0.0), "Kn": (90.0, 0.0), "Ke": (90.0, 90.0), "Ks": (90.0, 180.0), "Kw": (90.0, 270.0)}
ALBEDO = 0.15


def obstacle_grid(data=DATA, names=("DSM_GVC_1m.tif", "DEM_GVC_1m.tif", "CDSM_GVC_1m.tif")):
    """DSM with vegetation as obstacles, and the DEM."""
    from solarkataster.grid import Grid
    from solarkataster.io.raster import read_surface

    dsm, dem, cdsm = (read_surface(data / n) for n in names)
    canopy = np.nan_to_num(cdsm.z) > 0
    z = np.where(canopy, np.fmax(dsm.z, dem.z + np.nan_to_num(cdsm.z)), dsm.z)
    return Grid(z, dsm.transform, dsm.crs, source=dsm.source), dem


def utc_offset(timezone):
    """The fixed UTC offset [h] of an ``Etc/GMT±n`` zone (UMEP files are in local standard time)."""
    return pd.Timestamp("2000-01-01", tz=timezone).utcoffset().total_seconds() / 3600.0


def met_weather(timezone, label="end", data=DATA):
    from solarkataster.io.weather import read_weather
    from solarkataster.weather import WeatherYear

    parts = [read_weather(data / f"MetFile{d}_Prepared.txt", utc_offset=utc_offset(timezone), time_label=label)
             for d in DAYS]
    frame = pd.concat([p.data for p in parts])
    return WeatherYear(frame, parts[0].interval, dict(parts[0].source, files=[f"MetFile{d}_Prepared.txt"
                                                                               for d in DAYS]))


def measurements(timezone, label="end", data=DATA):
    """Measured hourly means, indexed by interval start in UTC (hour stamp = interval end, local time)."""
    m = pd.read_csv(data / "measurements_gvc.csv")
    end = pd.to_datetime(m["date"].astype(str), format="%Y%m%d") + pd.to_timedelta(m["hour"], unit="h")
    m.index = pd.DatetimeIndex(end).tz_localize(timezone).tz_convert("UTC").as_unit("ns")
    if label == "end":
        m.index = m.index - pd.Timedelta(hours=1)
    return m


def noon_offset_hours(weather, longitude):
    """Global-weighted mean time minus solar noon [h] over the clear days (0 when the clock is right)."""
    import pvlib

    idx = weather.data.index + weather.interval / 2
    eot = pvlib.solarposition.equation_of_time_spencer71(idx.dayofyear.to_numpy()) / 60.0
    hour = idx.hour.to_numpy() + idx.minute.to_numpy() / 60 + longitude / 15.0 + eot  # true solar time
    g = weather.data["ghi"].to_numpy()
    return float(np.sum(g * hour) / np.sum(g) - 12.0)


def compare(timezone="Etc/GMT-1", label="end", data=DATA):
    """GVC: modelled vs measured hourly shortwave per sensor (n, rmse, bias, mean measured and modelled)."""
    grid, dem = obstacle_grid(data)
    return compare_site(grid, dem, data / "poi.geojson", met_weather(timezone, label, data),
                        measurements(timezone, label, data))


def compare_kronenhuset(timezone="Etc/GMT-2", label="end"):
    """Kronenhuset courtyard on 2005-10-07: the same comparison (DSM/DEM/CDSM of the KRbig scene, 1 m)."""
    from solarkataster.io.weather import read_weather

    grid, dem = obstacle_grid(ROOT, ("DSM_KRbig.tif", "DEM_KRbig.tif", "CDSM_KRbig.tif"))
    weather = read_weather(KRONENHUSET / "MetFile_Prepared.txt", utc_offset=utc_offset(timezone), time_label=label)
    m = pd.read_csv(KRONENHUSET / "measurements_kr.csv")
    end = pd.Timestamp("2005-10-07") + pd.to_timedelta(m["hour"], unit="h")
    m.index = pd.DatetimeIndex(end).tz_localize(timezone).tz_convert("UTC").as_unit("ns")
    if label == "end":
        m.index = m.index - pd.Timedelta(hours=1)
    m = m[m["Kdown"] > 5]  # daytime hours, as the Rust report's 12 matched hours
    return compare_site(grid, dem, KRONENHUSET / "poi.geojson", weather, m)


def compare_site(grid, dem, poi_path, weather, meas):
    """Point API at the station (``SENSOR_HEIGHT`` above the DEM) vs measured hourly means per sensor."""
    import json

    from solarkataster.points import point_irradiance

    poi = json.loads(Path(poi_path).read_text())
    x, y = poi["geometry"]["coordinates"][:2]
    r, c = dem.rowcol(x, y)
    ground = float(dem.z[int(round(float(r))), int(round(float(c)))])
    tilts = [t for t, _ in SENSORS.values()]
    azis = [a for _, a in SENSORS.values()]
    frames = point_irradiance(grid, [x] * 5, [y] * 5, [ground + SENSOR_HEIGHT] * 5, tilts, azis, weather,
                              albedo=ALBEDO, sectors=180, step_minutes=5)
    rows = []
    for (name, _), frame in zip(SENSORS.items(), frames):
        model = frame["poa_global"].reindex(meas.index)
        obs = meas[name]
        ok = model.notna() & obs.notna()
        err = model[ok] - obs[ok]
        rows.append(dict(sensor=name, n=int(ok.sum()), rmse=float(np.sqrt(np.mean(err ** 2))),
                         bias=float(err.mean()), measured_mean=float(obs[ok].mean()),
                         modelled_mean=float(model[ok].mean())))
    return pd.DataFrame(rows).set_index("sensor")
