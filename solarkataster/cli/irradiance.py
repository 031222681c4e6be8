"""`solarkataster irradiance` and `solarkataster horizon`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..heap import freeze_imported
from . import options


def progress_bar(desc):
    """Return a tqdm-backed ``progress(done, total)`` callback, silent when stderr is not a terminal."""
    from tqdm import tqdm

    state = {}

    def update(done, total):
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=desc, disable=not sys.stderr.isatty(), leave=False,
                                unit="step")
        bar = state["bar"]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


@click.command()
@click.argument("dsm", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget, e.g. 4GB: a larger raster is computed in windows with halos, with the same "
                   "results (default: 2.5GB, or 80 % of the available memory where that is less; a larger "
                   "budget means fewer windows, so less halo computed twice).")
@options.crs
@options.engine_options
@options.vegetation
def irradiance(dsm, out_dir, max_memory, crs, weather, year, albedo, sectors, max_distance, linke, step,
               sky_model, vegetation):
    """Annual and monthly irradiation rasters from a surface model.

    Writes OUT/irradiation.tif (bands global, beam, diffuse, reflected [kWh/m²/a]),
    OUT/irradiation_monthly.tif (12 bands of monthly global [kWh/m²]), OUT/sky_view_factor.tif and
    OUT/run.json (provenance); with --vegetation also OUT/canopy_height.tif.
    """
    from ..io.raster import read_surface
    from ..io.results import write_irradiance_results
    from ..io.vegetation import surface_vegetation
    from ..pipeline import EngineOptions, compute_irradiance
    from ..windowed import run_windowed

    opts = EngineOptions(albedo=albedo, sectors=sectors, max_distance=max_distance, step_minutes=step,
                         sky_model=sky_model)
    freeze_imported()
    windowed = run_windowed([dsm], out_dir, job="irradiance", weather=weather, year=year, linke=linke, options=opts,
                            max_memory=max_memory, crs=crs, vegetation=vegetation)
    if windowed is not None:
        click.echo(f"wrote {out_dir}/irradiation.tif, irradiation_monthly.tif, sky_view_factor.tif, run.json "
                   f"({len(windowed.windows)} windows, {windowed.report['timings_s']['total_s']:.1f} s)", err=True)
        return
    grid, veg = surface_vegetation(vegetation, read_surface(dsm, crs=crs), crs=crs)
    result = compute_irradiance(grid, weather=weather, year=year, linke=linke, options=opts,
                                progress=progress_bar("irradiance"), vegetation=veg)
    write_irradiance_results(result, out_dir, vegetation=veg)
    click.echo(f"wrote {out_dir}/irradiation.tif, irradiation_monthly.tif, sky_view_factor.tif, run.json "
               f"({result.provenance['timings_s']['total_s']:.1f} s)", err=True)


@click.command()
@click.argument("dsm", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output GeoTIFF, one band per sector.")
@options.crs
@options.sectors
@options.max_distance
def horizon(dsm, out_file, crs, sectors, max_distance):
    """Horizon elevation angles [°] per azimuth sector.

    Band k holds the horizon along azimuth k*360/N clockwise from north.
    """
    from ..horizon import DEFAULT_SECTORS, grid_anchor, horizon_angles, sector_azimuths
    from ..io.raster import read_surface, write_raster
    from ..pipeline import EngineOptions

    opts = EngineOptions(sectors=DEFAULT_SECTORS if sectors is None else sectors, max_distance=max_distance)
    grid = read_surface(dsm, crs=crs)
    hor = horizon_angles(grid.z, grid.cellsize, opts.sectors, opts.max_distance, progress=progress_bar("horizon"),
                         anchor=grid_anchor(grid.transform))
    names = [f"azimuth_{a:g}" for a in sector_azimuths(opts.sectors)]
    write_raster(out_file, hor, grid, descriptions=names, units="degree")
    click.echo(f"wrote {out_file} ({opts.sectors} bands)", err=True)
