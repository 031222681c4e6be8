"""One exception hierarchy for everything a user can cause.

Every message names the input (file, field, parameter) and says how to fix it. The CLI turns these into
a one-line error and a nonzero exit code; the service maps them to HTTP status codes in one table.
"""


class SolarkatasterError(Exception):
    """Base class of all errors caused by user input."""


class InputError(SolarkatasterError):
    """An input file cannot be read or has the wrong content."""


class CRSError(InputError):
    """A raster or vector layer has no CRS, or a geographic (non-metric) one."""


class RasterError(InputError):
    """A raster is unusable: all nodata, too small, rotated or non-square pixels, not a raster."""


class WeatherError(InputError):
    """A weather file or weather specification is unusable."""


class VectorError(InputError):
    """A footprint layer is unusable: empty, unreadable, or outside the raster."""


class LoD2Error(InputError):
    """An LoD2 file (CityGML, CityJSON) cannot be read or holds no usable LoD2 building surfaces."""


class ParameterError(SolarkatasterError, ValueError):
    """An option value is out of its physically meaningful range."""


class TileError(InputError):
    """A set of tiles does not form a consistent mosaic."""


def check_range(name, value, low, high, unit="", inclusive=True):
    """Raise :class:`ParameterError` unless ``low <= value <= high``.

    Parameters
    ----------
    name : str
        Parameter name as the function takes it (``albedo``); the CLI's flags carry the same names.
    value : float
    low, high : float
        Allowed range.
    unit : str
        Unit shown in the message.
    inclusive : bool
        Whether the bounds themselves are allowed.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a number") from None
    ok = (low <= v <= high) if inclusive else (low < v < high)
    if not ok or v != v:
        bounds = f"[{low}, {high}]" if inclusive else f"({low}, {high})"
        raise ParameterError(f"{name}={value!r}{unit} is outside the allowed range {bounds}{unit}")
    return v


class ResultsError(InputError):
    """A results folder (from ``solarkataster run``/``batch``) is missing, incomplete or corrupt."""


class NotFoundError(SolarkatasterError, LookupError):
    """A requested building, face or wall id does not exist in the results."""
