"""Web service and map page over a results folder (``solarkataster serve``)."""
from .app import create_app
from .store import ResultsStore

__all__ = ["create_app", "ResultsStore"]
