"""solarkataster: a solar cadastre from airborne LiDAR.

It turns surface models (LiDAR DSMs), footprints and weather into per-roof-face and per-wall irradiation
and PV yield.

The core takes arrays and returns arrays, without I/O: :mod:`~solarkataster.surface` (slope and aspect),
:mod:`~solarkataster.horizon` (horizon angles and shadows), :mod:`~solarkataster.sky` (weather to a
time-integrated sky table) and :mod:`~solarkataster.irradiation` (annual and monthly irradiation
[kWh/m²]). :mod:`~solarkataster.points` gives time series at single points. Readers and writers live in
:mod:`solarkataster.io`, the convenience pipeline in :mod:`solarkataster.pipeline` and the cadastre (roof
faces, walls, PV) in :mod:`solarkataster.cadastre`. User errors are subclasses of
:class:`~solarkataster.errors.SolarkatasterError`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("solarkataster")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

from .errors import SolarkatasterError  # noqa: E402

__all__ = ["__version__", "SolarkatasterError"]
