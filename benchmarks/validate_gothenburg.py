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

Trees as vegetation (issue 13): the same comparison with the CDSM as a canopy
(:class:`solarkataster.vegetation.Vegetation`: transmissivity 0.03 in leaf-on days 97-300, 0.5 otherwise,
trunk zone 25 % of the canopy height; both sites' days are leaf-on) on the DSM without trees, against the
trees burnt into the DSM as opaque obstacles, hour by hour: RMSE and bias per sensor at both sites
(GVC: UTC+1, stamps mark the interval start; Kronenhuset: UTC+1, interval end, as tests/test_points.py).

Run: ``python benchmarks/validate_gothenburg.py`` (``--vegetation`` prints only the vegetation table).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import gothenburg as gvc  # noqa: E402  (the comparison, shared with tests/test_points.py)


def vegetation_site(data, names, poi_path, weather, meas):
    """Per sensor: the opaque-tree and the vegetation runs against the measurements (one table)."""
    import json

    import numpy as np
    import pandas as pd

    from solarkataster.io.raster import read_surface
    from solarkataster.io.vegetation import read_canopy
    from solarkataster.points import point_irradiance
    from solarkataster.vegetation import VegetationSpec, canopy_from_model

    opaque_grid, dem = gvc.obstacle_grid(data, names)
    dsm = read_surface(data / names[0])
    canopy = read_canopy(data / names[2], dsm)
    z, ch, removed = canopy_from_model(dsm.z, dem.z, canopy)  # the UMEP DSM holds no trees: nothing removed
    veg = VegetationSpec(str(data / names[2])).vegetation(ch, dem.z, extra={"removed_from_surface_px": removed})
    poi = json.loads(Path(poi_path).read_text())
    x, y = poi["geometry"]["coordinates"][:2]
    r, c = dem.rowcol(x, y)
    ground = float(dem.z[int(round(float(r))), int(round(float(c)))])
    tilts = [t for t, _ in gvc.SENSORS.values()]
    azis = [a for _, a in gvc.SENSORS.values()]
    args = ([x] * 5, [y] * 5, [ground + gvc.SENSOR_HEIGHT] * 5, tilts, azis, weather)
    kw = dict(albedo=gvc.ALBEDO, sectors=180, step_minutes=5)
    runs = {"opaque": point_irradiance(opaque_grid, *args, **kw),
            "vegetation": point_irradiance(dsm, *args, vegetation=veg, **kw)}
    rows = []
    for k, name in enumerate(gvc.SENSORS):
        row = {"sensor": name}
        for label, frames in runs.items():
            model = frames[k]["poa_global"].reindex(meas.index)
            obs = meas[name]
            ok = model.notna() & obs.notna()
            err = model[ok] - obs[ok]
            row.update({"n": int(ok.sum()), f"rmse_{label}": float(np.sqrt(np.mean(err ** 2))),
                        f"bias_{label}": float(err.mean())})
        row["measured_mean"] = float(meas[name][meas[name].notna()].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("sensor")


def vegetation_tables():
    """Print trees as vegetation vs trees as opaque at GVC and Kronenhuset (hourly RMSE and bias [W/m²])."""
    import pandas as pd

    from solarkataster.io.weather import read_weather

    names = ("DSM_GVC_1m.tif", "DEM_GVC_1m.tif", "CDSM_GVC_1m.tif")
    table = vegetation_site(gvc.DATA, names, gvc.DATA / "poi.geojson", gvc.met_weather("Etc/GMT-1", "start"),
                            gvc.measurements("Etc/GMT-1", "start"))
    print("\nGVC, 3 clear July days 2010 (UTC+1, stamps = interval start): hourly W/m²")
    print(table.round(1).to_string())
    if gvc.KRONENHUSET.exists():
        k = gvc.KRONENHUSET
        weather = read_weather(k / "MetFile_Prepared.txt", utc_offset=1.0, time_label="end")
        m = pd.read_csv(k / "measurements_kr.csv")
        end = pd.Timestamp("2005-10-07") + pd.to_timedelta(m["hour"], unit="h")
        m.index = pd.DatetimeIndex(end).tz_localize("Etc/GMT-1").tz_convert("UTC").as_unit("ns") - pd.Timedelta(hours=1)
        m = m[m["Kdown"] > 5]
        table = vegetation_site(gvc.ROOT, ("DSM_KRbig.tif", "DEM_KRbig.tif", "CDSM_KRbig.tif"), k / "poi.geojson",
                                weather, m)
        print("\nKronenhuset 2005-10-07 (UTC+1, stamps = interval end), daytime hours: hourly W/m²")
        print(table.round(1).to_string())


def main():
    if not gvc.DATA.exists():
        print(f"validation data not found at {gvc.DATA}", file=sys.stderr)
        return 1
    if "--vegetation" in sys.argv[1:]:
        vegetation_tables()
        return 0
    grid, _ = gvc.obstacle_grid()
    lon, _ = grid.center_lonlat()
    for tz, label in (("Etc/GMT-1", "start"), ("Etc/GMT-1", "end"), ("Etc/GMT-2", "end")):
        off = gvc.noon_offset_hours(gvc.met_weather(tz, label), lon)
        print(f"\n{tz}, stamp = interval {label}: met-file global irradiance centred {off:+.2f} h from solar noon")
        print(gvc.compare(tz, label).round(1).to_string())
    if gvc.KRONENHUSET.exists():
        for tz, label in (("Etc/GMT-2", "end"), ("Etc/GMT-2", "start"), ("Etc/GMT-1", "end")):
            print(f"\nKronenhuset 2005-10-07, {tz}, stamp = interval {label} "
                  "(Rust SOLWEIG: Kdown RMSE 47.1, bias -10.9 W/m²):")
            print(gvc.compare_kronenhuset(tz, label).round(1).to_string())
    vegetation_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())
