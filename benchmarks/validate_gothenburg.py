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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import gothenburg as gvc  # noqa: E402  (the comparison, shared with tests/test_points.py)


def main():
    if not gvc.DATA.exists():
        print(f"validation data not found at {gvc.DATA}", file=sys.stderr)
        return 1
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
