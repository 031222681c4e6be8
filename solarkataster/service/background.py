"""The service on a loopback port in a background thread, for notebooks, benchmarks and browser tests."""
from __future__ import annotations

import contextlib
import socket
import threading
import time


@contextlib.contextmanager
def serving(app, host="127.0.0.1", startup_timeout=10.0):
    """Serve an ASGI ``app`` with uvicorn in a daemon thread; yields its base URL (ending in ``/``).

    Parameters
    ----------
    app : ASGI application
        E.g. :func:`solarkataster.service.create_app`'s result.
    host : str
        Interface to bind; a free port is picked.
    startup_timeout : float
        Seconds to wait for the server to accept requests [s].

    Raises
    ------
    RuntimeError
        If the server has not started within ``startup_timeout``.
    """
    import uvicorn

    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        if not server.started:
            raise RuntimeError(f"the service did not start on {host}:{port} within {startup_timeout} s")
        yield f"http://{host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
