"""Options shared by several commands, defined once."""
from __future__ import annotations

import functools

import click

_weather = click.option(
    "--weather", "weather", default="auto", show_default=True, metavar="SPEC",
    help="'auto' (default): in Germany the DWD test reference year TRY 2010 of the site's climate region, "
         "elsewhere the cached PVGIS TMY, else the clear sky with a warning. 'dwd-try' (the region's TRY), "
         "'dwd-try:NN' (region 1-15), 'clear-sky' (an upper bound: Ineichen + Linke climatology), 'pvgis' "
         "(download once, cached) or a weather file (DWD TRY, EPW, PVGIS TMY, TMY3, UMEP/SUEWS met, CSV; "
         "format detected from content).")
_time_label = click.option(
    "--time-label", type=click.Choice(["start", "end", "center"]), default=None,
    help="CSV and UMEP weather files: what the time stamps mark within each interval (default: CSV start, "
         "UMEP end).")
_utc_offset = click.option(
    "--utc-offset", type=click.FloatRange(-14, 14), default=None, metavar="HOURS",
    help="UMEP weather files: UTC offset of their local standard time (default: round(longitude / 15)).")


def weather(f):
    """Decorate a command with ``--weather``, ``--time-label`` and ``--utc-offset``.

    The command receives one ``weather`` argument, a :class:`~solarkataster.io.weather.WeatherSpec` (a str
    carrying the reading options), so its signature does not change when a weather option is added.
    """

    @functools.wraps(f)
    def command(*args, **kwargs):
        from ..io.weather import WeatherSpec

        time_label, utc_offset = kwargs.pop("time_label", None), kwargs.pop("utc_offset", None)
        kwargs["weather"] = WeatherSpec(kwargs["weather"], time_label=time_label, utc_offset=utc_offset)
        return f(*args, **kwargs)

    for opt in reversed([_weather, _time_label, _utc_offset]):
        command = opt(command)
    return command


year = click.option("--year", type=click.IntRange(1900, 2200), default=2025, show_default=True,
                    help="Calendar year the weather is mapped onto.")
albedo = click.option("--albedo", type=float, default=0.2, show_default=True,
                      help="Ground albedo [0-1].")
sectors = click.option("--sectors", type=int, default=None,
                       help="Number of horizon azimuth sectors (default: the engine's, see README).")
max_distance = click.option("--max-distance", type=float, default=None,
                            help="Horizon search distance [m] (default: whole scene, complete).")
linke = click.option("--linke", type=float, default=None,
                     help="Constant Linke turbidity for clear sky (default: pvlib's climatology).")
step = click.option("--step", type=int, default=10, show_default=True,
                    help="Sun position step [min] within each weather interval.")
sky_model = click.option("--sky-model", type=click.Choice(["perez", "isotropic"]), default="perez",
                         show_default=True, help="Diffuse transposition model.")


def engine_options(f):
    """Decorate a command with the engine's options (weather, year, albedo, sectors, ...)."""
    for opt in reversed([weather, year, albedo, sectors, max_distance, linke, step, sky_model]):
        f = opt(f)
    return f


# ----------------------------------------------------------------------------- inputs (CRS assignment)

def check_crs(ctx, param, value):
    """Validate a CRS option (``--crs``, ``--roofs-crs``) with PROJ, so a typo is a usage error (exit 2)."""
    if value is None:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjCRSError

    try:
        c = CRS.from_user_input(value)
    except ProjCRSError:
        raise click.BadParameter(f"{value!r} is not a CRS PROJ knows; give e.g. EPSG:25832") from None
    if not c.is_projected:
        raise click.BadParameter(f"{value!r} ({c.name}) is not a projected CRS; give one in metres, "
                                 "e.g. EPSG:25832")
    return value


crs = click.option(
    "--crs", "crs", default=None, metavar="EPSG", callback=check_crs,
    help="CRS of inputs that declare none (rasters, LAS/LAZ, footprints), e.g. EPSG:25832. A CRS an input "
         "declares is kept; a different --crs is an error.")
