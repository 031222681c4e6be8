"""The one table that maps exceptions to HTTP status codes, and the handlers that apply it."""
from __future__ import annotations

import logging

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


def add_exception_handlers(app: FastAPI) -> None:
    """Register one handler per entry of :data:`STATUS_CODES`."""

    async def handler(request: Request, exc: Exception):
        code = status_code_for(exc)
        if code >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    for cls in STATUS_CODES:
        app.add_exception_handler(cls, handler)
