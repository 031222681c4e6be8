"""The FastAPI application: assembles the routers, static files, CORS and the error table."""
from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from .. import __version__
from .errors import add_exception_handlers
from .params import ServiceSettings
from .routes import DOCS_ASSETS, DOCS_PACKAGE, PMTILES_MEDIA_TYPE, STATIC_DIR, api, docs, health, pages, tiles
from .store import ResultsStore

log = logging.getLogger(__name__)


def _warm_up(store: ResultsStore):
    """Open every layer and build the search index (in a background thread); errors are only logged."""
    from ..errors import SolarkatasterError

    start = time.perf_counter()
    try:
        store.load_all()
        store.prepare_search()
    except SolarkatasterError as exc:
        log.error("cannot load the results: %s", exc)
        return
    log.info("all layers open and the search index built in %.1f s", time.perf_counter() - start)


def create_app(results_dir, *, max_features: int = 10_000, cors_origins=(), basemap_url: str | None = None,
               basemap_attribution: str | None = None, preload: bool = False, warm: bool = False) -> FastAPI:
    """Build the web service over one results folder.

    Parameters
    ----------
    results_dir : str or Path
        Output folder of ``solarkataster run``/``batch``. Fixed here; requests never name files.
    max_features : int
        Most features one /api/roofs or /api/walls response may hold.
    cors_origins : sequence of str
        Origins allowed to call the API from other sites (``*`` for any); none by default.
    basemap_url : str, optional
        Online base map under the results: a MapLibre style URL or an XYZ tile URL template (default: none,
        works offline).
    basemap_attribution : str, optional
        Attribution text the tile provider requires.
    preload : bool
        Load every layer now, so a corrupt folder fails here instead of on the first request.
    warm : bool
        Load every layer in a background thread, so the service starts at once (the map draws from the
        vector tiles meanwhile) and the first API request of a large folder waits less. A corrupt layer is
        logged and answered with 503 on its requests.

    Raises
    ------
    ResultsError
        The folder is missing or incomplete (or, with ``preload``, a layer is corrupt).
    ParameterError
        ``max_features`` < 1 or ``basemap_url`` is not an http(s) URL.
    """
    from ..errors import ParameterError

    if int(max_features) < 1:
        raise ParameterError(f"max_features={max_features} must be at least 1")
    if basemap_url and not basemap_url.startswith(("http://", "https://")):
        raise ParameterError(f"basemap_url={basemap_url!r} must be an http(s) MapLibre style URL or tile URL "
                             f"template like https://tile.example.org/{{z}}/{{x}}/{{y}}.png")
    store = ResultsStore(results_dir)
    if preload:
        store.load_all()
    elif warm:
        threading.Thread(target=_warm_up, args=(store,), name="solarkataster-warm-up", daemon=True).start()

    app = FastAPI(title="solarkataster", version=__version__,
                  description="Roof faces, facades and buildings with irradiation and PV yield, "
                              "read-only, from one results folder.",
                  docs_url=None, redoc_url=None)  # FastAPI's own pages load Swagger UI from a CDN
    app.state.store = store
    app.state.settings = ServiceSettings(int(max_features), basemap_url, basemap_attribution)
    add_exception_handlers(app)
    # JSON and text gzip-compressed when the client asks; tiles are compressed already (and 206s never are)
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5,
                       exclude_content_types=("text/event-stream", PMTILES_MEDIA_TYPE))
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"],
                           allow_headers=["*"], expose_headers=["Accept-Ranges", "Content-Range", "Content-Length",
                                                                 "ETag"])

    @app.middleware("http")
    async def security_headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    app.include_router(api)
    app.include_router(health)
    app.include_router(pages)
    app.include_router(tiles)
    app.include_router(docs)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(packages=[DOCS_PACKAGE]), name="docs-assets")
    return app
