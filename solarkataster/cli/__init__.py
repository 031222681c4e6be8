"""Command-line interface: a click group whose commands load lazily, so ``--help`` is instant.

Each command lives in its own module of this package; shared options are in :mod:`.options`.
"""
from __future__ import annotations

import importlib
import logging
import sys

import click

# name -> "module:attribute" (module relative to this package)
COMMANDS = {
    "irradiance": "irradiance:irradiance",
    "horizon": "irradiance:horizon",
    "run": "run:run",
    "demo": "run:demo",
    "point": "point:point",
    "profile": "profile:profile",
    "batch": "batch:batch",
    "serve": "serve:serve",
    "tiles": "tiles:tiles",
}

HELP = {
    "irradiance": "Annual and monthly irradiation rasters from a surface model.",
    "horizon": "Horizon elevation angles per azimuth sector from a surface model.",
    "run": "The cadastre: rasters, roof faces, walls and buildings from surface models.",
    "demo": "Run the cadastre on the bundled sample town.",
    "point": "Irradiance time series at points (balcony PV, sensors).",
    "profile": "Hourly AC yield of one building, face or its walls as CSV.",
    "batch": "A whole city from LiDAR tiles on dask.distributed.",
    "serve": "Web map and API over a results folder.",
    "tiles": "Vector tiles (PMTiles) of a results folder's roofs, walls and buildings.",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs or shows its help."""

    def list_commands(self, ctx):
        """Return the command names, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        """Import and return the command ``name`` (None for an unknown name)."""
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx, formatter):
        """List the commands with their one-line help from :data:`HELP`, without importing them."""
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        """Run the command; a :class:`~solarkataster.errors.SolarkatasterError` becomes one line and exit 2."""
        from ..errors import SolarkatasterError

        try:
            return super().invoke(ctx)
        except SolarkatasterError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup)
@click.version_option(package_name="solarkataster")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose):
    """solarkataster: per-roof-face and per-wall irradiation and PV yield from LiDAR."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main():
    """Entry point of the ``solarkataster`` script."""
    cli(prog_name="solarkataster")
