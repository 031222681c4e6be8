"""``solarkataster tiles``: (re)build the map tiles of a results folder, and optionally a static map site."""
from __future__ import annotations

import click


@click.command("tiles")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", "out_path", default=None, metavar="FILE.pmtiles",
              help="Vector tile archive to write (default: RESULTS_DIR/solarkataster.pmtiles).")
@click.option("--min-zoom", type=click.IntRange(0, 22), default=10, show_default=True,
              help="Lowest zoom (city overview).")
@click.option("--max-zoom", type=click.IntRange(0, 22), default=18, show_default=True,
              help="Highest zoom; every feature is in it with its key properties.")
@click.option("--if-changed", is_flag=True,
              help="Rebuild the vector tiles only when a layer changed since the archive was built "
                   "(and the raster context only when it is missing).")
@click.option("--context/--no-context", default=True, show_default=True,
              help="Also write the raster context tiles hillshade.pmtiles and irradiation.pmtiles from the "
                   "folder's rasters (offline context for the map).")
@click.option("--site", "site_dir", default=None, metavar="OUT",
              help="Write a static map site into OUT (HTML, JS, CSS, PMTiles and JSON) that any web server "
                   "with HTTP range requests serves, no Python needed.")
@click.option("--basemap", "basemap_url", default=None, metavar="STYLE_URL",
              help="With --site: an online base map under the results, a MapLibre style URL (or an XYZ tile "
                   "template with {z}/{x}/{y}). Default: none, the site works offline.")
@click.option("--basemap-attribution", default=None, metavar="TEXT", help="Attribution the base map requires.")
def tiles(results_dir, out_path, min_zoom, max_zoom, if_changed, context, site_dir, basemap_url,
          basemap_attribution):
    """Build PMTiles vector tiles (layers roofs, walls, buildings) from RESULTS_DIR's GeoJSON layers.

    Also writes the raster context tiles and the layers' columnar index (DIR/layer_index, which lets
    'solarkataster serve' start at once), and with --site OUT a static copy of the map.
    """
    from pathlib import Path

    from ..io.layer_index import write_layer_index
    from ..io.raster_tiles import CONTEXT, build_context_tiles
    from ..io.vector_tiles import build_vector_tiles, update_vector_tiles
    from ..layers import id_field

    if basemap_url and not site_dir:
        raise click.UsageError("--basemap is for the static site: give --site OUT too (serve has its own --basemap)")
    if if_changed:
        path, rebuilt = update_vector_tiles(results_dir, out_path, min_zoom=min_zoom, max_zoom=max_zoom)
    else:
        path, rebuilt = build_vector_tiles(results_dir, out_path, min_zoom=min_zoom, max_zoom=max_zoom), True
    click.echo(f"solarkataster: {'wrote' if rebuilt else 'up to date:'} {path}", err=True)
    folder = Path(results_dir)
    if context and not (if_changed and all((folder / f).is_file() for f, *_ in CONTEXT.values())):
        written = build_context_tiles(folder)
        click.echo(f"solarkataster: raster context {', '.join(written) if written else 'skipped (no rasters)'}",
                   err=True)
    write_layer_index(folder, {name: id_field(name) for name in ("roofs", "walls", "buildings")})
    if site_dir:
        from ..service.site import write_site

        out = write_site(folder, site_dir, basemap_url=basemap_url, basemap_attribution=basemap_attribution)
        click.echo(f"solarkataster: wrote the static map site {out} (serve it with any web server that "
                   "answers range requests)", err=True)
