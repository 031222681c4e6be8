"""Options shared by several commands, defined once."""
from __future__ import annotations

import click

weather = click.option(
    "--weather", "weather", default="clear-sky", show_default=True, metavar="SPEC",
    help="'clear-sky' (offline default, Ineichen + Linke climatology), a weather file path "
         "(DWD TRY, EPW, PVGIS TMY, TMY3, CSV; format detected from content) or 'pvgis' (download, cached).")
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

def _check_crs(ctx, param, value):
    """Validate ``--crs`` with PROJ now, so a typo is a usage error (exit 2) before any input is read."""
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
    "--crs", "crs", default=None, metavar="EPSG", callback=_check_crs,
    help="CRS of inputs that declare none (rasters, LAS/LAZ, footprints), e.g. EPSG:25832. A CRS an input "
         "declares is kept; a different --crs is an error.")
