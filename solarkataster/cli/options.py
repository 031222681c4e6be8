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


# ----------------------------------------------------------------------------- vegetation

_vegetation = click.option(
    "--vegetation", "vegetation", default=None, metavar="FILE|auto",
    help="Trees as vegetation that attenuates sun and sky light by season, instead of opaque obstacles: a "
         "canopy height raster [m above ground] (UMEP CDSM, any grid; resampled to the DSM's; 0/nodata = none), "
         "or 'auto' (the surface model's above-ground pixels that are not buildings). Trees the DSM contains "
         "leave its opaque surface and never become roofs. Default: none (trees in the DSM are opaque).")
_transmissivity = click.option(
    "--transmissivity", type=float, default=None, metavar="T",
    help="Share of light passing the canopy in leaf-on days [0-1] (default 0.03, SOLWEIG).")
_leaf_off = click.option(
    "--leaf-off-transmissivity", "leaf_off_transmissivity", type=float, default=None, metavar="T",
    help="The same with bare branches [0-1] (default 0.5, UMEP maintainers' advice).")
_leaf_on = click.option(
    "--leaf-on", "leaf_on", default=None, metavar="DOY1-DOY2",
    help="First and last day of year with leaves (default 97-300, SOLWEIG; DOY1 > DOY2 wraps over the new year).")
_trunk_ratio = click.option(
    "--trunk-ratio", "trunk_ratio", type=float, default=None, metavar="R",
    help="Trunk zone below the crown as a share of the canopy height [0-1]; rays there pass freely (default "
         "0.25, UMEP).")

VEGETATION_PARAMETERS = ("transmissivity", "leaf_off_transmissivity", "leaf_on", "trunk_ratio")


def vegetation_spec(source, transmissivity=None, leaf_off_transmissivity=None, leaf_on=None, trunk_ratio=None):
    """Build the :class:`~solarkataster.vegetation.VegetationSpec` of the vegetation options (None without).

    Raises
    ------
    ParameterError
        A value is out of range, or a vegetation parameter is given without ``--vegetation``.
    """
    from ..errors import ParameterError
    from ..vegetation import VegetationSpec

    given = {k: v for k, v in zip(VEGETATION_PARAMETERS, (transmissivity, leaf_off_transmissivity, leaf_on,
                                                          trunk_ratio)) if v is not None}
    if source is None:
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ParameterError(f"{flags} need(s) --vegetation FILE|auto")
        return None
    return VegetationSpec(source="auto" if source.strip().lower() == "auto" else source, **given)


def vegetation(f):
    """Decorate a command with the vegetation options.

    ``--vegetation``, ``--transmissivity``, ``--leaf-off-transmissivity``, ``--leaf-on`` and ``--trunk-ratio``:
    the command receives one ``vegetation`` argument: a :class:`~solarkataster.vegetation.VegetationSpec`, or
    None without ``--vegetation``. Bad values end the command with a one-line error (exit 2).
    """

    @functools.wraps(f)
    def command(*args, **kwargs):
        values = [kwargs.pop(k, None) for k in VEGETATION_PARAMETERS]
        kwargs["vegetation"] = vegetation_spec(kwargs.get("vegetation"), *values)
        return f(*args, **kwargs)

    for opt in reversed([_vegetation, _transmissivity, _leaf_off, _leaf_on, _trunk_ratio]):
        command = opt(command)
    return command
