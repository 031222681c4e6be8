"""`solarkataster run` (the cadastre) and `solarkataster demo` (the same on the sample town)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..heap import LOD2_MODULES, RUN_MODULES, freeze_imported
from . import options


def stage_bar(desc):
    """Return a tqdm-backed ``progress(stage, done, total)`` over a whole run, silent off a terminal.

    The bar advances by each stage's share (:data:`solarkataster.cadastre.PROGRESS_STAGES`) and closes at the
    end of 'writing', so it does not reach 100 % after the engine.
    """
    from tqdm import tqdm

    from ..cadastre import progress_fraction

    state = {}

    def update(stage, done, total):
        if "bar" not in state:
            state["bar"] = tqdm(total=1000, desc=desc, disable=not sys.stderr.isatty(), leave=False,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        bar = state["bar"]
        bar.set_description_str(f"{desc} ({stage})", refresh=False)
        bar.update(int(round(1000 * progress_fraction(stage, done, total))) - bar.n)
        if stage == "writing" and done >= total:
            bar.close()

    return update


def _run(dsms, out_dir, footprints, id_column, dtm, weather, year, albedo, sectors, max_distance, linke, step,
         sky_model, walls, crs=None, roofs=None, roofs_crs=None, vegetation=None, max_memory=None):
    from ..cadastre import CadastreOptions, compute_cadastre
    from ..errors import ParameterError
    from ..io.results import CadastreWriter
    from ..pipeline import EngineOptions

    freeze_imported(RUN_MODULES + (LOD2_MODULES if roofs is not None else ()))
    opts = CadastreOptions(engine=EngineOptions(albedo=albedo, sectors=sectors, max_distance=max_distance,
                                                step_minutes=step, sky_model=sky_model), walls=walls)
    if dsms and roofs is None:  # a raster beyond the memory budget is computed in windows
        from ..windowed import run_windowed

        windowed = run_windowed(dsms, out_dir, footprints=footprints, id_column=id_column, dtm=dtm, weather=weather,
                                year=year, linke=linke, options=opts, max_memory=max_memory, crs=crs,
                                vegetation=vegetation)
        if windowed is not None:
            return windowed
    if len(dsms) > 1:
        from ..io.tiles import mosaic_grid  # several tiles of one scene: read them as one raster

        if crs is not None:
            _check_declared_crs(dsms, crs)
        dsm = mosaic_grid(dsms)
    elif len(dsms) == 1:
        dsm = dsms[0]
    elif roofs is not None:
        dsm = None  # rasterised from the LoD2 model
    else:
        raise ParameterError("give at least one surface model (DSM), or an LoD2 model with --roofs FILE")
    if crs is not None:  # inputs without a CRS get the assigned one; the core takes them as read
        from ..io.raster import read_surface
        from ..io.vector import read_footprint_layer

        dsm = read_surface(dsm, crs=crs) if dsm is not None and not hasattr(dsm, "z") else dsm
        dtm = read_surface(dtm, crs=crs) if dtm is not None else None
        footprints = read_footprint_layer(footprints, crs=crs) if footprints is not None else None
    progress = stage_bar("cadastre")
    writer = CadastreWriter(out_dir)  # the rasters are written from the engine's end on
    result = compute_cadastre(dsm, roofs=roofs, roofs_crs=roofs_crs, footprints=footprints, id_column=id_column,
                              dtm=dtm, weather=weather, year=year, linke=linke, options=opts, progress=progress,
                              vegetation=vegetation, on_engine=writer.start)
    progress("writing", 0, 1)
    writer.write(result)
    progress("writing", 1, 1)
    return result


def _summary(result, out_dir):
    r = result.report
    lines = [f"{r['buildings']} buildings, {r['faces']} roof faces, {r['walls']} walls "
             f"({r['timings_s']['total_s']:.1f} s)"]
    for name in ("roofs.geojson", "walls.geojson", "buildings.geojson", "footprints_detected.geojson",
                 "solarkataster.gpkg", "irradiation.tif", "irradiation_monthly.tif", "sky_view_factor.tif",
                 "canopy_height.tif", "overview.png", "run.json"):
        p = Path(out_dir) / name
        if p.exists():
            lines.append(f"  {p}")
    return "\n".join(lines)


@click.command()
@click.argument("dsms", nargs=-1, required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--footprints", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Building footprints (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, or an LoD2 model's ground "
                   "surfaces; any CRS). Without them buildings are detected from the DSM (or taken from --roofs).")
@click.option("--roofs", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="LoD2 model (CityGML 1.0/2.0, CityJSON 1.x/2.0, .city.jsonl): its roof surfaces are the faces, "
                   "with their exact planes, its walls and buildings are used. Without a DSM one is rasterised "
                   "from the model (and --dtm) for shading.")
@click.option("--roofs-crs", default=None, metavar="EPSG", callback=options.check_crs,
              help="CRS of the LoD2 model when the file declares none, e.g. EPSG:25832.")
@click.option("--id-column", default=None, help="Footprint id column (detected when omitted).")
@click.option("--dtm", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Terrain model (default: a ground filter of the DSM).")
@click.option("--walls/--no-walls", default=True, show_default=True, help="Compute facades.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget, e.g. 4GB: a larger raster is computed in windows with halos, with the same "
                   "results (default: 2.5GB, or 80 % of the available memory where that is less; a larger "
                   "budget means fewer windows, so less halo computed twice).")
@options.crs
@options.engine_options
@options.vegetation
def run(dsms, out_dir, footprints, roofs, roofs_crs, id_column, dtm, walls, max_memory, crs, weather, year, albedo,
        sectors, max_distance, linke, step, sky_model, vegetation):
    """Compute the cadastre from surface models or an LoD2 model: roof faces, walls and buildings with PV potential.

    DSMS: one or more surface models (tiles of one scene); optional with --roofs FILE.

    Writes OUT/roofs.geojson, walls.geojson, buildings.geojson, solarkataster.gpkg, the engine's
    rasters (irradiation.tif, irradiation_monthly.tif, sky_view_factor.tif), overview.png and run.json; with
    --vegetation also canopy_height.tif.
    """
    if not dsms and roofs is None:
        raise click.UsageError("give a surface model (DSM ...), an LoD2 model (--roofs FILE), or both")
    result = _run(dsms, out_dir, footprints, id_column, dtm, weather, year, albedo, sectors, max_distance,
                  linke, step, sky_model, walls, crs, roofs, roofs_crs, vegetation, max_memory)
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


def _check_declared_crs(paths, crs):
    """Several DSMs are read as one mosaic, which needs a declared CRS in each; ``crs`` must agree with it."""
    import rasterio

    from ..errors import CRSError
    from ..grid import resolve_crs

    for p in paths:
        try:
            with rasterio.open(p) as ds:
                declared = ds.crs
        except rasterio.errors.RasterioIOError:
            continue  # the mosaic reader names the unreadable file
        if declared is None:
            raise CRSError(f"{p}: has no CRS; a CRS can be assigned to a single DSM only, so assign it to each "
                           f"tile (gdal_edit.py -a_srs {crs} {p})")
        resolve_crs(declared, crs, what=str(p))


def _sample_dir():
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        cand = parent / "sample_data"
        if (cand / "town_dsm.tif").exists():
            return cand
    return None
