"""Small, realistic weather files for the reader tests, written from a known UTC truth.

Each writer takes a truth frame on UTC interval *starts* (columns ghi, dni, dhi, temp_air, wind_speed) and
writes the labels its format uses, with plain datetime arithmetic that does not share code with the
readers. The truth comes from pvlib's Ineichen clear sky averaged over each interval.
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pvlib

KAISERSLAUTERN = dict(latitude=49.44, longitude=7.77, altitude=250.0)
GREENSBORO = dict(latitude=36.1, longitude=-79.95, altitude=273.0)
MANNHEIM = dict(latitude=49 + 31 / 60, longitude=8 + 33 / 60, altitude=96.0)
COLUMNS = ["ghi", "dni", "dhi", "temp_air", "wind_speed"]


def clear_sky_truth(starts_utc, latitude, longitude, altitude, interval="1h", samples=6):
    """Interval means of Ineichen clear sky (Linke 3) for intervals starting at ``starts_utc``, rounded
    to whole W/m² as the file formats store them; a daily temperature wave and a constant wind."""
    starts_ns = tuple(pd.DatetimeIndex(starts_utc).as_unit("ns").asi8)
    return _clear_sky_truth(starts_ns, latitude, longitude, altitude, pd.Timedelta(interval), samples).copy()


@functools.lru_cache(maxsize=16)
def _clear_sky_truth(starts_ns, latitude, longitude, altitude, interval, samples):
    starts = pd.DatetimeIndex(np.array(starts_ns, dtype="datetime64[ns]")).tz_localize("UTC")
    offsets = (np.arange(samples) + 0.5) / samples * interval
    times = pd.DatetimeIndex(np.concatenate([(starts + o).as_unit("ns").asi8 for o in offsets])
                             .astype("datetime64[ns]")).tz_localize("UTC")
    sun = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude)
    airmass = pvlib.atmosphere.get_relative_airmass(sun["apparent_zenith"])
    am_abs = pvlib.atmosphere.get_absolute_airmass(airmass, pvlib.atmosphere.alt2pres(altitude))
    sky = pvlib.clearsky.ineichen(sun["apparent_zenith"], am_abs, 3.0, altitude,
                                  pvlib.irradiance.get_extra_radiation(times))
    sky = sky.fillna(0.0).to_numpy().reshape(samples, len(starts), 3).mean(axis=0)
    hours = (starts.hour + starts.minute / 60).to_numpy()
    truth = pd.DataFrame({"ghi": np.round(sky[:, 0]), "dni": np.round(sky[:, 1]),
                          "dhi": np.round(sky[:, 2]),
                          "temp_air": np.round(10 + 6 * np.sin((hours - 9) / 24 * 2 * np.pi), 1),
                          "wind_speed": 3.0}, index=starts)
    truth["dhi"] = np.minimum(truth["dhi"], truth["ghi"])
    return truth


def local_year_starts(year, utc_offset_h, periods=8760):
    """UTC starts of the hours of a local-standard-time year (UTC+offset)."""
    local = pd.date_range(f"{year}-01-01", periods=periods, freq="h")
    return (local - pd.Timedelta(hours=utc_offset_h)).tz_localize("UTC")


def spa_equation_of_time(utc):
    """Equation of time [min] of NREL's SPA (pvlib) at UTC instants."""
    return pvlib.solarposition.get_solarposition(pd.DatetimeIndex(utc), 0.0, 0.0, method="nrel_numpy")[
        "equation_of_time"].to_numpy()


def tst_year_starts(year, longitude, periods=8760):
    """UTC starts of the hours of a true-solar-time year at ``longitude``.

    utc = tst - longitude/15 - EoT(utc), EoT from pvlib's SPA at each instant (fixed point, 4 rounds).
    """
    tst = pd.date_range(f"{year}-01-01", periods=periods, freq="h")
    mean_solar = tst - pd.Timedelta(hours=longitude / 15)
    utc = mean_solar
    for _ in range(4):
        utc = mean_solar - pd.to_timedelta(spa_equation_of_time(utc.tz_localize("UTC")), unit="min")
    return utc.tz_localize("UTC").round("s")


def _labels(starts_utc, shift_hours):
    """(local start, month, day, hour-ending label 1..24) for a local clock UTC+shift."""
    local = pd.DatetimeIndex(starts_utc).tz_convert("UTC").tz_localize(None) + pd.to_timedelta(
        shift_hours, unit="h")
    local = local.round("h")
    return local, local.month, local.day, local.hour + 1


def write_try2010(path, truth, *, station="Mannheim", wmo=10729, latitude=49 + 31 / 60,
                  longitude=8 + 33 / 60, elevation=96, region=12, time_scale="tst"):
    """DWD TRY 2010 (.dat): hour-ending labels in true solar time ('tst') or MEZ ('mez')."""
    if time_scale == "tst":
        shift = longitude / 15 + spa_equation_of_time(pd.DatetimeIndex(truth.index).tz_convert("UTC")) / 60
    else:
        shift = 1.0
    _, month, day, hour = _labels(truth.index, shift)
    lat_d, lat_m = int(latitude), round((latitude % 1) * 60)
    lon_d, lon_m = int(longitude), round((longitude % 1) * 60)
    lines = [
        f"TRY{region:02d}   Testregion für solarkataster{' ' * 32}(Klimaregion {region:2d})",
        f"Station: {station:<32s}WMO-Nummer: {wmo}",
        f"Lage: {lat_d}°{lat_m:02d}'N <- B.   {lon_d}°{lon_m:02d}'O <- L.   {elevation:3d} Meter über NN",
        "Zeitpunkt der Erstellung: November 2010", "",
        "Art des TRY    : mittleres Jahr", "Bezugszeitraum : 1988-2007", "",
        "Format: (i2,2x,i4,2x,i2,2x,i2,2x,i2,2x,i1,2x,i3,2x,f6.1,2x,f6.1,2x,f7.1,2x,f6.1,2x,i3,2x,i2,2x,"
        "i4,2x,i4,1x,i1,2x,i4,2x,i5,2x,i1)", "",
        "Reihenfolge der Parameter:",
        "HH Stunde (MEZ)                                                         {1..24}",
        "B  Direkte Sonnenbestrahlungsstärke (horiz. Ebene)             [W/m²]",
        "D  Difuse Sonnenbetrahlungsstärke (horiz. Ebene)               [W/m²]", "", "",
        "RG    IS  MM  DD  HH  N   WR      WG       t       p        x   RF   W     B     D IK    A      E "
        "IL",
        "***"]
    beam = (truth["ghi"] - truth["dhi"]).to_numpy()
    for i in range(len(truth)):
        lines.append(
            f"{region:2d}  {1:4d}  {month[i]:2d}  {day[i]:2d}  {hour[i]:2d}  {3:1d}  {230:3d}  "
            f"{truth['wind_speed'].iloc[i]:6.1f}  {truth['temp_air'].iloc[i]:6.1f}  {993.6:7.1f}  "
            f"{4.3:6.1f}  {84:3d}  {2:2d}  {int(beam[i]):4d}  {int(truth['dhi'].iloc[i]):4d} 1  "
            f"{320:4d}  {-334:5d}  9")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_try2015(path, truth, *, latitude, longitude, elevation=250):
    """DWD TRY 2015/2017 (.dat): hour-ending MEZ labels, grid cell in EPSG:3034 (Lambert conformal)."""
    from pyproj import Transformer
    east, north = Transformer.from_crs("EPSG:4326", "EPSG:3034", always_xy=True).transform(
        longitude, latitude)
    east, north = int(round(east / 1000 - 0.5) * 1000 + 500), int(round(north / 1000 - 0.5) * 1000 + 500)
    _, month, day, hour = _labels(truth.index, 1.0)
    lines = ["Koordinatensystem : Lambert konform konisch", f"Rechtswert        : {east} Meter",
             f"Hochwert          : {north} Meter", f"Hoehenlage        : {elevation} Meter ueber NN",
             "Erstellung des Datensatzes im Mai 2016", "", "Art des TRY       : mittleres Jahr",
             "Bezugszeitraum    : 1995-2012", "Datenbasis        : Beobachtungsdaten Zeitraum 1995-2012", "",
             "Format: (i7,1x,i7,1x,i2,1x,i2,1x,i2,1x,f5.1,1x,i4,1x,i3,1x,f4.1,1x,i1,1x,f4.1,1x,i3,1x,i4,1x,"
             "i4,1x,i3,1x,i4,2x,i1)", "", "Reihenfolge der Parameter:",
             "HH Stunde (MEZ!)                                                           {1..24}", "",
             "    RW      HW MM DD HH     t    p  WR   WG N    x  RF    B    D   A    E IL", "***"]
    beam = (truth["ghi"] - truth["dhi"]).to_numpy()
    for i in range(len(truth)):
        lines.append(f"{east:7d} {north:7d} {month[i]:2d} {day[i]:2d} {hour[i]:2d} "
                     f"{truth['temp_air'].iloc[i]:5.1f} {1005:4d} {220:3d} "
                     f"{truth['wind_speed'].iloc[i]:4.1f} "
                     f"8 {4.6:4.1f} {96:3d} {int(beam[i]):4d} {int(truth['dhi'].iloc[i]):4d} 330 -346  0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, (east, north)


def write_epw(path, truth, *, latitude, longitude, elevation, utc_offset_h, city="Kaiserslautern",
              source="solarkataster-test", years=None):
    """EnergyPlus EPW: 8 header lines, 35 fields per hour, hour-ending local standard time."""
    _, month, day, hour = _labels(truth.index, utc_offset_h)
    lines = [f"LOCATION,{city},RP,DEU,{source},107890,{latitude:.2f},{longitude:.2f},{utc_offset_h:.1f},"
             f"{elevation:.1f}",
             "DESIGN CONDITIONS,0", "TYPICAL/EXTREME PERIODS,0", "GROUND TEMPERATURES,0",
             "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0", "COMMENTS 1,synthetic clear sky (Ineichen, Linke 3)",
             "COMMENTS 2,written by tests/weather_files.py", "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31"]
    for i in range(len(truth)):
        year = years[month[i] - 1] if years is not None else 1990
        row = truth.iloc[i]
        lines.append(
            f"{year},{month[i]},{day[i]},{hour[i]},60,?9?9?9?9E0?9?9?9?9?9?9?9?9?9?9?9?9?9?9*9*9?9?9?9,"
            f"{row.temp_air:.1f},2.0,70,99000,0,0,300,{int(row.ghi)},{int(row.dni)},{int(row.dhi)},"
            f"999999,999999,999999,9999,220,{row.wind_speed:.1f},5,5,9999,77777,9,999999999,10,0.1,0,88,"
            "0.2,0,1.0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_tmy3(path, truth, *, latitude, longitude, elevation, utc_offset_h):
    """NREL TMY3 CSV: station line, column line, hour-ending local standard time (01:00..24:00)."""
    local_start, month, day, hour = _labels(truth.index, utc_offset_h)
    cols = ["Date (MM/DD/YYYY)", "Time (HH:MM)", "ETR (W/m^2)", "ETRN (W/m^2)", "GHI (W/m^2)",
            "GHI source", "GHI uncert (%)", "DNI (W/m^2)", "DNI source", "DNI uncert (%)", "DHI (W/m^2)",
            "DHI source", "DHI uncert (%)", "Dry-bulb (C)", "Dry-bulb source", "Dry-bulb uncert (code)",
            "Dew-point (C)", "RHum (%)", "Pressure (mbar)", "Wdir (degrees)", "Wspd (m/s)",
            "Wspd source", "Alb (unitless)"]
    lines = [f'723170,"GREENSBORO PIEDMONT TRIAD INT",NC,{utc_offset_h:.1f},{latitude:.3f},'
             f'{longitude:.3f},{elevation:.0f}', ",".join(cols)]
    for i in range(len(truth)):
        row = truth.iloc[i]
        year = 1996 + (month[i] % 5)
        lines.append(f"{month[i]:02d}/{day[i]:02d}/{year},{hour[i]:02d}:00,0,0,{int(row.ghi)},1,8,"
                     f"{int(row.dni)},1,13,{int(row.dhi)},1,8,{row.temp_air:.1f},A,7,2.0,70,1000,220,"
                     f"{row.wind_speed:.1f},A,0.16")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_PVGIS_YEARS = [2007, 2012, 2015, 2009, 2018, 2011, 2016, 2006, 2013, 2010, 2019, 2008]


def pvgis_records(truth):
    """PVGIS TMY hourly records: time(UTC) = interval start, each month from a different year."""
    idx = pd.DatetimeIndex(truth.index)
    records = []
    for t, row in zip(idx, truth.itertuples()):
        year = _PVGIS_YEARS[t.month - 1]
        records.append({"time(UTC)": f"{year}{t.month:02d}{t.day:02d}:{t.hour:02d}00",
                        "T2m": float(row.temp_air), "RH": 80.0, "G(h)": float(row.ghi),
                        "Gb(n)": float(row.dni), "Gd(h)": float(row.dhi), "IR(h)": 300.0,
                        "WS10m": float(row.wind_speed), "WD10m": 220.0, "SP": 98000.0})
    return records


def write_pvgis_json(path, truth, *, latitude, longitude, elevation):
    doc = {"inputs": {"location": {"latitude": latitude, "longitude": longitude, "elevation": elevation},
                      "meteo_data": {"radiation_db": "PVGIS-SARAH3", "meteo_db": "ERA5",
                                     "year_min": 2005, "year_max": 2023, "use_horizon": True}},
           "outputs": {"months_selected": [{"month": m + 1, "year": y, "T2m": 0}
                                           for m, y in enumerate(_PVGIS_YEARS)],
                       "tmy_hourly": pvgis_records(truth)},
           "meta": {"inputs": {}, "outputs": {}}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_pvgis_csv(path, truth, *, latitude, longitude, elevation, records=None):
    records = pvgis_records(truth) if records is None else records
    keys = list(records[0])
    lines = [f"Latitude (decimal degrees):\t{latitude:.3f}", f"Longitude (decimal degrees):\t{longitude:.3f}",
             f"Elevation (m):\t{elevation:.1f}", "month,year"]
    lines += [f"{m + 1},{y}" for m, y in enumerate(_PVGIS_YEARS)]
    lines.append(",".join(keys))
    lines += [",".join(str(r[k]) for k in keys) for r in records]
    lines += ["", "T2m: 2-m air temperature (degree Celsius)", "G(h): Global irradiance on the horizontal "
              "plane (W/m2)", "PVGIS (c) European Union, 2001-2024"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def write_csv(path, truth, *, label="start", utc_offset="+01:00", columns=COLUMNS, interval=None):
    """Generic CSV: ISO 8601 timestamps with a UTC offset marking the interval start/end/centre."""
    interval = pd.Timedelta(interval) if interval is not None else (truth.index[1] - truth.index[0])
    shift = {"start": pd.Timedelta(0), "end": interval, "center": interval / 2}[label]
    hours, minutes = int(utc_offset[1:3]), int(utc_offset[4:6])
    offset = (1 if utc_offset[0] == "+" else -1) * pd.Timedelta(hours=hours, minutes=minutes)
    local = pd.DatetimeIndex(truth.index).tz_convert("UTC").tz_localize(None) + shift + offset
    lines = [",".join(["time", *columns])]
    for t, (_, row) in zip(local, truth.iterrows()):
        lines.append(",".join([t.strftime("%Y-%m-%dT%H:%M:%S") + utc_offset,
                               *(f"{row[c]:g}" for c in columns)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
