"""solarkataster: a solar cadastre from airborne LiDAR.

The core (arrays in, arrays out) is in :mod:`surface`, :mod:`horizon`, :mod:`sky` and
:mod:`irradiation`; readers and writers in :mod:`solarkataster.io`; the convenience pipeline in
:mod:`solarkataster.pipeline`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("solarkataster")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

from .errors import SolarkatasterError  # noqa: E402

__all__ = ["__version__", "SolarkatasterError"]
