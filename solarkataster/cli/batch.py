"""`solarkataster batch`: a whole city from LiDAR tiles on dask.distributed."""
from __future__ import annotations

from pathlib import Path

import click

from . import options
from .irradiance import progress_bar


@click.command()
@click.argument("tiles", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (tiles/, manifest.json, VRT mosaics, merged layers).")
@click.option("--footprints", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Building footprints (GPKG, SHP, GeoJSON; any CRS). Default: detected from the DSM.")
@click.option("--id-column", default=None, help="Footprint id column.")
@click.option("--dtm", "dtm", multiple=True, metavar="TILES",
              help="Terrain tiles: a file, directory, glob or VRT (repeat for several).")
@options.crs
@options.engine_options
@options.vegetation
@click.option("--workers", type=int, default=None,
              help="Worker processes of the local cluster (default: CPU count; one thread each).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Use a running dask scheduler instead of a local cluster (workers must see the same paths).")
@click.option("--halo", type=float, default=None,
              help="Shading halo [m] (default: relief / tan(5°) per tile, at most 250 m); building detection "
                   "always sees at least 150 m around each tile.")
@click.option("--resolution", type=float, default=None,
              help="Pixel size [m] for LAS/LAZ tiles (default 0.5).")
def batch(tiles, out_dir, footprints, id_column, dtm, crs, weather, year, albedo, sectors, max_distance, linke, step,
          sky_model, vegetation, workers, scheduler, halo, resolution):
    """Compute a whole city from LiDAR tiles on dask.distributed.

    TILES are GeoTIFFs, directories, glob patterns, VRTs or LAS/LAZ files. One task per tile computes
    the tile with a halo read from its neighbours and writes OUT/tiles/<id>/; a rerun skips tiles whose
    inputs (by resolved path and content hash) and options are unchanged (OUT/manifest.json). The tiles
    are merged into OUT/irradiation.vrt, OUT/irradiation_monthly.vrt, OUT/sky_view_factor.vrt,
    OUT/roofs.geojson, walls.geojson, buildings.geojson and OUT/solarkataster.gpkg. Exits with status 1
    when a tile failed (rerun to resume). With --vegetation a canopy raster is read per tile window (halo
    included); --vegetation auto takes LAS/LAZ tiles' classes 3-5 as the canopy.
    """
    import logging
    import os

    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # no -v: keep dask's INFO chatter off stderr
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from ..batch import run_batch
    from ..pipeline import EngineOptions

    opts = EngineOptions(albedo=albedo, sectors=sectors, max_distance=max_distance, step_minutes=step,
                         sky_model=sky_model)

    def show_dashboard(client):
        link = getattr(client, "dashboard_link", None)
        if link:
            click.echo(f"dask dashboard: {link}", err=True)

    summary = run_batch(list(tiles), out_dir, footprints=footprints, id_column=id_column, dtm=list(dtm) or None,
                        weather=weather, year=year, linke=linke, options=opts, halo=halo, resolution=resolution,
                        workers=workers, scheduler=scheduler, progress=progress_bar("tiles"),
                        on_client=show_dashboard, crs=crs, vegetation=vegetation)
    for w in summary.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{summary.tiles} tiles: {len(summary.computed)} computed, {len(summary.skipped)} unchanged, "
               f"{len(summary.empty)} empty, {len(summary.failed)} failed ({summary.seconds:.1f} s); "
               f"results in {out_dir}", err=True)
    for tid, err in summary.failed.items():
        click.echo(f"failed: {err}", err=True)
    if summary.failed:
        raise SystemExit(1)
