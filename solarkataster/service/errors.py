"""The one table that maps exceptions to HTTP status codes, and the handlers that apply it."""
from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import NotFoundError, ParameterError, ResultsError, SolarkatasterError

log = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
STATUS_CODES: dict[type[Exception], int] = {
    NotFoundError: 404,  # unknown building/face/wall id
    ParameterError: 422,  # a request parameter out of range or malformed
    ResultsError: 503,  # the results folder became unreadable after startup (server-side problem)
    SolarkatasterError: 400,  # anything else the user caused
}


def status_code_for(exc: Exception) -> int:
    """HTTP status code for an exception, from :data:`STATUS_CODES` (500 when not listed)."""
    for cls, code in STATUS_CODES.items():
        if isinstance(exc, cls):
            return code
    return 500


#: An absolute file path inside a string: POSIX (``/srv/data/x.tif``, at least two components, not part of a
#: URL or a unit such as ``kWh/m²/a``) or Windows (``C:\\data\\x.tif``); it ends at white space, a quote,
#: a comma, a semicolon or a closing bracket.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:/[^\s/,;'\"()\[\]{}]+){2,}|\b[A-Za-z]:\\[^\s,;'\"()\[\]{}]+")


def public_paths(value, results_dir):
    """Replace server paths in ``value`` by what a client may see: names relative to the results folder.

    A path inside ``results_dir`` becomes relative to it (``tiles/3/roofs.geojson``; the folder itself
    becomes its name); any other absolute path, such as an input DSM or a weather file, becomes its file name.

    Parameters
    ----------
    value : str, dict, list or scalar
        A message or a JSON-ready structure (walked recursively; keys are kept).
    results_dir : str or Path
        The served results folder.

    Returns
    -------
    Same type as ``value``, with no absolute path left in any string.
    """
    if isinstance(value, dict):
        return {k: public_paths(v, results_dir) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_paths(v, results_dir) for v in value]
    if not isinstance(value, str):
        return value
    root = Path(results_dir).resolve()
    inside = re.compile(re.escape(root.as_posix()) + r"(?:/([^\s,;'\"()\[\]{}]*))?(?![\w-]|\.\w)")
    value = inside.sub(lambda m: m.group(1) or root.name, value)
    return _ABSOLUTE_PATH.sub(lambda m: (PurePosixPath if m.group(0)[0] == "/" else PureWindowsPath)(m.group(0)).name,
                              value)


def add_exception_handlers(app: FastAPI) -> None:
    """Register one handler per entry of :data:`STATUS_CODES`; messages show no server paths."""

    async def handler(request: Request, exc: Exception):
        code = status_code_for(exc)
        if code >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        store = getattr(request.app.state, "store", None)
        detail = public_paths(str(exc), store.results_dir) if store is not None else str(exc)
        return JSONResponse(status_code=code, content={"detail": detail})

    for cls in STATUS_CODES:
        app.add_exception_handler(cls, handler)
