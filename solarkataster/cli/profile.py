"""``solarkataster profile``: the hourly AC yield of one building (or face, or its walls) as CSV."""
from __future__ import annotations

import click


@click.command("profile")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--building", "building", required=True, metavar="ID", help="Building id (buildings layer).")
@click.option("--face", "face", default=None, metavar="ID", help="One roof face of the building instead.")
@click.option("--walls", is_flag=True, help="The building's walls instead of its roof.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="CSV file (default: stdout).")
def profile(folder, building, face, walls, out):
    """Hourly AC yield of a building of results FOLDER as CSV.

    One row per weather record: `time` is the record's interval start in UTC (ISO 8601), `yield_kwh` the
    AC energy of the record [kWh] (roof: counted faces; they sum to the building's yield_kwh).
    """
    import sys
    from pathlib import Path

    from ..errors import ParameterError
    from ..io.profiles import ProfileStore

    if face is not None and walls:
        raise ParameterError("give --face or --walls, not both")
    table = ProfileStore(folder).frame(building, face_id=face, walls=walls)
    text = table.to_csv(index=False, lineterminator="\n")
    if out is None:
        sys.stdout.write(text)
        return
    from ..io.atomic import write_text_atomic

    write_text_atomic(Path(out), text)
    click.echo(f"wrote {len(table)} records to {out}", err=True)
