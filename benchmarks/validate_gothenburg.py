"""Point irradiance against measurements at two Gothenburg sites: GVC (three clear days in July 2010) and
the Kronenhuset courtyard (7 October 2005), where the Rust SOLWEIG port reports its own statistics
(REPORT.md in that folder: Kdown RMSE 47.1 W/m², bias -10.9 W/m², isotropic sky, 12 daytime hours).

Data: ../shared/validation/goteborg-umep/validation_gvc (UMEP/SOLWEIG validation set, Lindberg & Grimmond
2011, https://doi.org/10.1007/s00704-010-0382-8; Lindberg et al. 2008, https://doi.org/10.1007/s00484-008-0162-7):
DSM/DEM/CDSM at 2 m (EPSG:3006), hourly forcing (UMEP met files: Kdn, Kdiff, Kdir) and measured hourly
shortwave at the station: Kdown (horizontal, facing up) and Kn, Ke, Ks, Kw (vertical sensors facing north,
east, south, west).

Model: the station point at ``SENSOR_HEIGHT`` above the DEM; the obstacles are the DSM raised by the
vegetation canopy (``max(DSM, DEM + CDSM)`` where CDSM > 0: trees are opaque, which overestimates shade
under thin crowns); Perez sky, albedo 0.15 (the site's asphalt/grass mix; the measurements' Kup/Kdown
ratio), 5-minute sun steps. Times: UMEP stamps mark the end of the hourly interval; the GVC files are in
Swedish local time. Which offset (UTC+1 or UTC+2) applies is not stated in the data folder, so the script
fits it: it reports both and uses the one under which the met files' global irradiance peaks at solar
noon.

Run: ``python benchmarks/validate_gothenburg.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2] / "shared" / "validation" / "goteborg-umep"
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


def met_weather(timezone, label="end", data=DATA):
    from solarkataster.points import umep_met_weather
    from solarkataster.weather import WeatherYear

    parts = [umep_met_weather(pd.read_csv(data / f"MetFile{d}_Prepared.txt", sep=r"\s+"), timezone, label=label)
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
    from solarkataster.points import umep_met_weather

    grid, dem = obstacle_grid(ROOT, ("DSM_KRbig.tif", "DEM_KRbig.tif", "CDSM_KRbig.tif"))
    weather = umep_met_weather(pd.read_csv(KRONENHUSET / "MetFile_Prepared.txt", sep=r"\s+"), timezone, label=label)
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


def main():
    if not DATA.exists():
        print(f"validation data not found at {DATA}", file=sys.stderr)
        return 1
    grid, _ = obstacle_grid()
    lon, _ = grid.center_lonlat()
    for tz, label in (("Etc/GMT-1", "start"), ("Etc/GMT-1", "end"), ("Etc/GMT-2", "end")):
        off = noon_offset_hours(met_weather(tz, label), lon)
        print(f"\n{tz}, stamp = interval {label}: met-file global irradiance centred {off:+.2f} h from solar noon")
        print(compare(tz, label).round(1).to_string())
    if KRONENHUSET.exists():
        for tz, label in (("Etc/GMT-2", "end"), ("Etc/GMT-2", "start"), ("Etc/GMT-1", "end")):
            print(f"\nKronenhuset 2005-10-07, {tz}, stamp = interval {label} "
                  "(Rust SOLWEIG: Kdown RMSE 47.1, bias -10.9 W/m²):")
            print(compare_kronenhuset(tz, label).round(1).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
