"""``solarkataster serve``: the web map and JSON API over a results folder."""
from __future__ import annotations

import click


@click.command("serve")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 to serve the whole network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Origin allowed to call the API from another site (repeatable; '*' for any). Default: none.")
@click.option("--max-features", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Most features in one /api/roofs or /api/walls response.")
@click.option("--basemap", "basemap_url", default=None, metavar="STYLE_URL",
              help="Online base map under the results: a MapLibre style URL (e.g. "
                   "https://tiles.openfreemap.org/styles/liberty) or an XYZ tile template with {z}/{x}/{y} "
                   "(default: none; the page works offline with the run's hillshade and irradiation tiles).")
@click.option("--basemap-attribution", default=None, metavar="TEXT",
              help="Attribution text the tile provider requires.")
def serve(results_dir, host, port, cors_origins, max_features, basemap_url, basemap_attribution):
    """Serve the map page and the API over RESULTS_DIR (the output folder of 'run' or 'batch').

    Endpoints: / (map), /tiles/NAME.pmtiles (vector and raster tiles), /api/search?q=, /api/roofs?bbox=,
    /api/walls?bbox=, /api/buildings/{id}, /api/point?lon=&lat=, /api/meta, /health, /docs (OpenAPI).
    """
    import uvicorn

    from ..service import create_app

    # warm: the layers load in the background, so a city-sized folder answers at once (tiles need no layers)
    app = create_app(results_dir, max_features=max_features, cors_origins=cors_origins,
                     basemap_url=basemap_url, basemap_attribution=basemap_attribution, warm=True)
    click.echo(f"solarkataster: serving {app.state.store.results_dir} on http://{host}:{port}/ "
               "(API docs at /docs, vector tiles at /tiles/solarkataster.pmtiles, search at /api/search?q=; "
               "Ctrl+C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
