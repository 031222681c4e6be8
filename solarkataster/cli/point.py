"""``solarkataster point``: an irradiance time series at one point (balcony module, sensor)."""
from __future__ import annotations

import click

from . import options


@click.command("point")
@click.argument("dsm", type=click.Path(dir_okay=False))
@click.option("--x", "x", type=float, required=True, help="Easting in the DSM's CRS [m].")
@click.option("--y", "y", type=float, required=True, help="Northing in the DSM's CRS [m].")
@click.option("--z", "z", type=float, required=True,
              help="Absolute height in the DSM's vertical datum [m] (DSM height + mounting height).")
@click.option("--tilt", type=float, required=True, help="Plane tilt [°], 0 horizontal, 90 vertical.")
@click.option("--azimuth", type=float, required=True, help="Plane azimuth [°] clockwise from north.")
@options.crs
@options.weather
@click.option("--year", type=click.IntRange(1900, 2200), default=None,
              help="Calendar year the weather is mapped onto (default: a dated file's own year, else 2025).")
@options.albedo
@options.linke
@options.step
@options.sky_model
@click.option("--sectors", type=int, default=72, show_default=True, help="Horizon azimuth sectors.")
@click.option("--start", default=None, metavar="ISO", help="First record (interval start, UTC unless an offset "
              "is given), e.g. 2025-06-21T00:00Z.")
@click.option("--end", default=None, metavar="ISO", help="End (exclusive), e.g. 2025-06-22T00:00Z.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="CSV file (default: stdout).")
@options.vegetation
def point(dsm, x, y, z, tilt, azimuth, crs, weather, year, albedo, linke, step, sky_model, sectors, start, end, out,
          vegetation):
    """Plane-of-array irradiance at a point of DSM as CSV.

    One row per weather record: `time` is the record's interval start in UTC (ISO 8601), the values are
    interval means [W/m²]; `sun_visible` is the share of the interval with the sun visible [0-1].
    """
    import sys
    from pathlib import Path

    from ..io.raster import read_surface
    from ..io.vegetation import surface_vegetation
    from ..io.weather import resolve_weather
    from ..points import COLUMN_DOCS, point_irradiance

    grid, veg = surface_vegetation(vegetation, read_surface(dsm, crs=crs), crs=crs)
    lon, lat = grid.center_lonlat()
    import numpy as np
    wy = resolve_weather(weather, latitude=lat, longitude=lon, altitude=float(np.nanmedian(grid.z)), year=year,
                         linke=linke)
    (frame,) = point_irradiance(grid, x, y, z, tilt, azimuth, wy, start=start, end=end, albedo=albedo,
                                sectors=sectors, step_minutes=step, model=sky_model, vegetation=veg)
    table = frame.reset_index()
    table["time"] = table["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    table["sun_visible"] = table["sun_visible"].round(4)
    header = [f"# solarkataster point: x={x} y={y} z={z} tilt={tilt} azimuth={azimuth} dsm={dsm}",
              f"# weather: {wy.source.get('label') or wy.source.get('name', weather)}; period "
              f"{frame.attrs['period'][0]} to "
              f"{frame.attrs['period'][1]}; sky view factor {frame.attrs['sky_view_factor']:.3f}"]
    if veg is not None:
        p = veg.parameters()
        header.append("# vegetation: " + ", ".join(f"{k}={v}" for k, v in p.items()))
    header += [f"# {k}: {v}" for k, v in COLUMN_DOCS.items()]
    text = "\n".join(header) + "\n" + table.to_csv(index=False, float_format="%.2f", lineterminator="\n")
    if out is None:
        sys.stdout.write(text)
        return
    from ..io.atomic import write_text_atomic

    write_text_atomic(Path(out), text)
    click.echo(f"wrote {len(table)} records to {out}", err=True)
