"""``solarkataster tiles``: (re)build the vector tiles ``solarkataster.pmtiles`` of a results folder."""
from __future__ import annotations

import click


@click.command("tiles")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", "out_path", default=None, metavar="FILE.pmtiles",
              help="Archive to write (default: RESULTS_DIR/solarkataster.pmtiles).")
@click.option("--min-zoom", type=click.IntRange(0, 22), default=10, show_default=True,
              help="Lowest zoom (city overview).")
@click.option("--max-zoom", type=click.IntRange(0, 22), default=18, show_default=True,
              help="Highest zoom; every feature is in it with its key properties.")
@click.option("--if-changed", is_flag=True,
              help="Rebuild only when a layer changed since the archive was built.")
def tiles(results_dir, out_path, min_zoom, max_zoom, if_changed):
    """Build PMTiles vector tiles (layers roofs, walls, buildings) from RESULTS_DIR's GeoJSON layers."""
    from ..io.vector_tiles import build_vector_tiles, update_vector_tiles

    if if_changed:
        path, rebuilt = update_vector_tiles(results_dir, out_path, min_zoom=min_zoom, max_zoom=max_zoom)
    else:
        path, rebuilt = build_vector_tiles(results_dir, out_path, min_zoom=min_zoom, max_zoom=max_zoom), True
    click.echo(f"solarkataster: {'wrote' if rebuilt else 'up to date:'} {path}", err=True)
