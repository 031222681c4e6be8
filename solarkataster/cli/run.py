"""`solarkataster run` (the cadastre) and `solarkataster demo` (the same on the sample town)."""
from __future__ import annotations

from pathlib import Path

import click

from . import options
from .irradiance import progress_bar


def _run(dsms, out_dir, footprints, id_column, dtm, weather, year, albedo, sectors, max_distance, linke, step,
         sky_model, walls):
    from ..cadastre import CadastreOptions, compute_cadastre
    from ..errors import ParameterError
    from ..io.results import write_cadastre_results
    from ..pipeline import EngineOptions

    if len(dsms) > 1:
        from ..io.tiles import mosaic_grid  # several tiles of one scene: read them as one raster

        dsm = mosaic_grid(dsms)
    elif len(dsms) == 1:
        dsm = dsms[0]
    else:
        raise ParameterError("give at least one surface model (DSM)")
    opts = CadastreOptions(engine=EngineOptions(albedo=albedo, sectors=sectors, max_distance=max_distance,
                                                step_minutes=step, sky_model=sky_model), walls=walls)
    result = compute_cadastre(dsm, footprints=footprints, id_column=id_column, dtm=dtm, weather=weather,
                              year=year, linke=linke, options=opts, progress=progress_bar("cadastre"))
    write_cadastre_results(result, out_dir)
    return result


def _summary(result, out_dir):
    r = result.report
    lines = [f"{r['buildings']} buildings, {r['faces']} roof faces, {r['walls']} walls "
             f"({r['timings_s']['total_s']:.1f} s)"]
    for name in ("roofs.geojson", "walls.geojson", "buildings.geojson", "footprints_detected.geojson",
                 "solarkataster.gpkg", "irradiation.tif", "irradiation_monthly.tif", "sky_view_factor.tif",
                 "overview.png", "run.json"):
        p = Path(out_dir) / name
        if p.exists():
            lines.append(f"  {p}")
    return "\n".join(lines)


@click.command()
@click.argument("dsms", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--footprints", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Building footprints (GeoPackage, Shapefile, GeoJSON, FlatGeobuf; any CRS). "
                   "Without them buildings are detected from the DSM.")
@click.option("--id-column", default=None, help="Footprint id column (detected when omitted).")
@click.option("--dtm", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Terrain model (default: a ground filter of the DSM).")
@click.option("--walls/--no-walls", default=True, show_default=True, help="Compute facades.")
@options.engine_options
def run(dsms, out_dir, footprints, id_column, dtm, walls, weather, year, albedo, sectors, max_distance, linke,
        step, sky_model):
    """The cadastre from surface models: roof faces, walls and buildings with PV potential.

    Writes OUT/roofs.geojson, walls.geojson, buildings.geojson, solarkataster.gpkg, the engine's
    rasters (irradiation.tif, irradiation_monthly.tif, sky_view_factor.tif), overview.png and run.json.
    """
    result = _run(dsms, out_dir, footprints, id_column, dtm, weather, year, albedo, sectors, max_distance,
                  linke, step, sky_model, walls)
    click.echo(_summary(result, out_dir))


@click.command()
@click.option("--out", "out_dir", default="demo_out", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@options.weather
@options.year
def demo(out_dir, weather, year):
    """Run the cadastre on the bundled sample town (sample_data/) and say what it wrote where."""
    from ..errors import InputError

    sample = _sample_dir()
    if sample is None:
        raise InputError("sample_data/ not found next to the package: run from a source checkout "
                         "(python sample_data/make_sample_town.py regenerates it)")
    click.echo(f"sample town: {sample}")
    result = _run([sample / "town_dsm.tif"], out_dir, sample / "town_footprints.gpkg", "building_id",
                  sample / "town_dtm.tif", weather, year, 0.2, None, None, None, 10, "perez", True)
    click.echo(_summary(result, out_dir))
    click.echo(f"view it: solarkataster serve {out_dir}")


def _sample_dir():
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        cand = parent / "sample_data"
        if (cand / "town_dsm.tif").exists():
            return cand
    return None
