"""The city batch: tiled equals whole, resumable manifest, a real dask cluster with a dying worker, bad tiles."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from solarkataster.batch import build_vrt, cadastre_tile_job, irradiance_tile_job, run_batch, tile_halos
from solarkataster.errors import TileError
from solarkataster.io.tiles import TileInfo, discover_tiles, scan_tiles
from solarkataster.pipeline import EngineOptions, compute_irradiance

REPO = Path(__file__).resolve().parents[1]
TOWN = REPO / "sample_data" / "town_dsm.tif"
# 4 sectors: the horizon sweep's lines then lie on the pixel lattice whatever the window, so tiled and whole
# runs see identical horizons (see test_tiled_matches_whole_16_sectors for the general case).
OPTIONS = EngineOptions(sectors=4)


def cut_town(folder, rows=(0, 200), cols=(0, 240), size=(200, 240)):
    """The sample town (400 x 480 px) cut into 2 x 2 GeoTIFF tiles t0..t3."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with rasterio.open(TOWN) as src:
        prof = src.profile
        for i, (r, c) in enumerate([(r, c) for r in rows for c in cols]):
            w = Window(c, r, size[1], size[0])
            p = folder / f"t{i}.tif"
            with rasterio.open(p, "w", **dict(prof, width=size[1], height=size[0],
                                              transform=src.window_transform(w))) as dst:
                dst.write(src.read(1, window=w), 1)
            paths.append(p)
    return paths


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def whole():
    return compute_irradiance(TOWN, weather="clear-sky", options=OPTIONS).irradiation


def compare(mosaic, reference):
    ok = np.isfinite(reference)
    assert np.array_equal(np.isfinite(mosaic), ok)
    rel = np.abs(mosaic[ok] - reference[ok]) / np.maximum(reference[ok], 1.0)
    return float((rel <= 0.01).mean())


def test_tiled_matches_whole_and_resumes(tmp_path, client, whole):
    tiles = cut_town(tmp_path / "tiles")
    (tmp_path / "tiles" / "t9_corrupt.tif").write_bytes(b"II*\x00 this is not a tiff")
    out = tmp_path / "out"
    s = run_batch([tmp_path / "tiles"], out, weather="clear-sky", options=OPTIONS, client=client,
                  tile_job=irradiance_tile_job)
    # the corrupt tile fails alone and is named in the summary
    assert set(s.failed) == {"t9_corrupt"} and "t9_corrupt.tif" in s.failed["t9_corrupt"]
    assert sorted(s.computed) == ["t0", "t1", "t2", "t3"]
    with rasterio.open(out / "irradiation.vrt") as ds:
        assert ds.descriptions == ("global", "beam", "diffuse", "reflected")
        assert ds.shape == (400, 480)
        mosaic = ds.read(1)
    with rasterio.open(out / "irradiation_monthly.vrt") as ds:
        monthly = ds.read()
    # acceptance: >= 99.9 % of pixels within 1 % of the whole-raster run
    assert compare(mosaic, whole.global_) >= 0.999
    assert compare(monthly[5], whole.monthly[5]) >= 0.999
    ok = np.isfinite(whole.global_)
    assert np.median(np.abs(mosaic[ok] / whole.global_[ok] - 1)) < 1e-3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tiles"]["t0"]["status"] == "done" and manifest["tiles"]["t9_corrupt"]["status"] == "failed"
    # halo from physics: relief ~27 m over tan(5°) = ~310 m, capped at 250 m
    assert manifest["tiles"]["t0"]["halo_m"] == pytest.approx(250.0)
    assert all(len(i["sha256"]) == 64 for i in manifest["tiles"]["t0"]["inputs"])
    assert not list((out / "tiles").glob("*.partial"))

    # rerun: nothing changed -> nothing computed
    s2 = run_batch([tmp_path / "tiles" / f"t{i}.tif" for i in range(4)], out, weather="clear-sky",
                   options=OPTIONS, client=client,
                   tile_job=irradiance_tile_job)
    assert s2.computed == [] and sorted(s2.skipped) == ["t0", "t1", "t2", "t3"]

    # change one tile's content: every tile whose halo reads it is recomputed, with a 30 m halo only its
    # neighbours; a changed option recomputes all
    with rasterio.open(tiles[3], "r+") as ds:
        z = ds.read(1)
        z[100, 100] += 1.0
        ds.write(z, 1)
    s3 = run_batch([tmp_path / "tiles" / f"t{i}.tif" for i in range(4)], out, weather="clear-sky",
                   options=OPTIONS, client=client,
                   tile_job=irradiance_tile_job)
    assert sorted(s3.computed) == ["t0", "t1", "t2", "t3"]  # the 250 m halo of every tile reads t3
    s4 = run_batch([tmp_path / "tiles" / f"t{i}.tif" for i in range(4)], out, weather="clear-sky",
                   options=OPTIONS, client=client,
                   tile_job=irradiance_tile_job, year=2024)
    assert len(s4.computed) == 4


def test_tiled_matches_whole_16_sectors(tmp_path, client):
    cut_town(tmp_path / "tiles")
    opts = EngineOptions(sectors=16)
    ref = compute_irradiance(TOWN, weather="clear-sky", options=opts).irradiation.global_
    run_batch([tmp_path / "tiles"], tmp_path / "out", weather="clear-sky", options=opts, client=client,
              tile_job=irradiance_tile_job)
    with rasterio.open(tmp_path / "out" / "irradiation.vrt") as ds:
        share = compare(ds.read(1), ref)
    print(f"tiled vs whole (16 sectors): {share:.5f} of pixels within 1 %")
    assert share >= 0.999


def test_vrt_input_and_vrt_output(tmp_path):
    paths = cut_town(tmp_path / "tiles")
    vrt = build_vrt(tmp_path / "tiles" / "town.vrt", paths)
    assert discover_tiles([vrt]) == [p.resolve() for p in paths]
    with rasterio.open(vrt) as ds, rasterio.open(TOWN) as src:
        np.testing.assert_array_equal(ds.read(1), src.read(1))
        assert ds.transform.almost_equals(src.transform)


def test_halo_from_relief():
    # two tiles 100 m apart: a 30 m tower in B shades A's lowest point (at 0 m) up to 30 / tan 5° = 342.9 m,
    # capped at 250; with a 10° minimum elevation 30 / tan 10° = 170.1 m
    a = TileInfo("A", "a", "raster", (0, 0, 100, 100))
    b = TileInfo("B", "b", "raster", (100, 0, 200, 100))
    surveys = {"A": {"zmin": 0.0, "zmax": 5.0}, "B": {"zmin": 2.0, "zmax": 30.0}}
    assert tile_halos([a, b], surveys)["A"] == pytest.approx(250.0)
    assert tile_halos([a, b], surveys, min_elevation=10.0)["A"] == pytest.approx(30 / np.tan(np.radians(10)))
    assert tile_halos([a, b], surveys, min_elevation=10.0)["B"] == pytest.approx(28 / np.tan(np.radians(10)))


# ------------------------------------------------------------------------------------------ bad input

def write_tile(path, left, top, size=20, cs=1.0, crs="EPSG:25832"):
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32", crs=crs,
                       transform=Affine(cs, 0, left, 0, -cs, top), nodata=np.nan) as ds:
        ds.write(np.full((1, size, size), 100.0, np.float32))
    return path


def test_different_crs_names_the_tile(tmp_path):
    a = write_tile(tmp_path / "a.tif", 0, 20)
    b = write_tile(tmp_path / "b.tif", 20, 20, crs="EPSG:25833")
    with pytest.raises(TileError, match=r"b\.tif.*CRS.*differs.*gdalwarp"):
        scan_tiles([a, b])


def test_different_resolution_names_the_tile(tmp_path):
    a = write_tile(tmp_path / "a.tif", 0, 20)
    b = write_tile(tmp_path / "b.tif", 20, 20, size=40, cs=0.5)
    with pytest.raises(TileError, match=r"b\.tif.*pixel size 0.5 m differs from 1 m"):
        scan_tiles([a, b])


def test_overlap_names_both_tiles(tmp_path):
    a = write_tile(tmp_path / "a.tif", 0, 20)
    b = write_tile(tmp_path / "b.tif", 15, 20)
    with pytest.raises(TileError, match=r"b\.tif overlaps .*a\.tif by 5 m x 20 m"):
        scan_tiles([a, b])


def test_gap_is_reported_with_bordering_tiles(tmp_path):
    a = write_tile(tmp_path / "a.tif", 0, 40)
    b = write_tile(tmp_path / "b.tif", 20, 40)
    c = write_tile(tmp_path / "c.tif", 0, 20)  # the south-east quarter is missing
    ts = scan_tiles([a, b, c])
    assert len(ts.warnings) == 1
    assert "gap of 400 m²" in ts.warnings[0] and "b" in ts.warnings[0] and "c" in ts.warnings[0]
    with pytest.raises(TileError, match="gap"):
        scan_tiles([a, b, c], allow_gaps=False)


def test_corrupt_tile_is_marked_not_raised(tmp_path):
    a = write_tile(tmp_path / "a.tif", 0, 20)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"\x00" * 100)
    ts = scan_tiles([a, bad])
    assert [t.tile_id for t in ts.good] == ["a"]
    assert ts.corrupt[0].tile_id == "broken" and "broken.tif" in ts.corrupt[0].error


def test_cli_reports_bad_tiles(tmp_path):
    from solarkataster.cli import cli

    write_tile(tmp_path / "a.tif", 0, 20)
    write_tile(tmp_path / "b.tif", 20, 20, crs="EPSG:25833")
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "*.tif"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "b.tif" in res.output and "CRS" in res.output


# ------------------------------------------------------------------------------------------ real cluster

def crashing_job(dsm, out_dir, **kwargs):
    """Tile job that kills its worker process for tile t1 while the crash marker file exists."""
    marker = os.environ.get("SOLARKATASTER_TEST_CRASH_FILE")
    if marker and Path(marker).exists() and Path(out_dir).name.startswith("t1."):
        os._exit(13)
    return irradiance_tile_job(dsm, out_dir, **kwargs)


crashing_job.raster_only = True


def test_own_cluster_freezes_its_workers_heap_not_a_callers(client):
    import gc

    from solarkataster.batch.execute import connect

    own, cluster = connect(workers=1)
    try:
        # the tile modules imported and frozen once per worker: full collections skip them (solarkataster.heap)
        counts = own.run(gc.get_freeze_count)
        assert len(counts) == 1 and all(n > 100_000 for n in counts.values())
        assert all(own.run(lambda: "solarkataster.roofs" in __import__("sys").modules).values())
    finally:
        own.close()
        cluster.close()
    assert connect(client=client) == (client, None)
    assert set(client.run(gc.get_freeze_count).values()) == {0}  # a caller's workers are left alone


def test_real_cluster_worker_death_then_resume(tmp_path, whole):
    cut_town(tmp_path / "tiles")
    marker = tmp_path / "crash-t1"
    marker.write_text("crash")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
               SOLARKATASTER_TEST_CRASH_FILE=str(marker),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                           "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address) as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "out"
        s1 = run_batch([tmp_path / "tiles"], out, weather="clear-sky", options=OPTIONS, scheduler=address,
                       tile_job=crashing_job)
        # t1 kills its worker; with no retries allowed, a task queued on that worker may fail with it
        assert "t1" in s1.failed and all("rerun to resume" in e for e in s1.failed.values())
        assert sorted(s1.computed + list(s1.failed)) == ["t0", "t1", "t2", "t3"]
        finished = {t: (out / "tiles" / t / "irradiation.tif").stat().st_mtime_ns for t in s1.computed}
        assert not (out / "tiles" / "t1").exists()
        marker.unlink()
        s2 = run_batch([tmp_path / "tiles"], out, weather="clear-sky", options=OPTIONS, scheduler=address,
                       tile_job=crashing_job)
        assert sorted(s2.computed) == sorted(s1.failed) and sorted(s2.skipped) == sorted(s1.computed)
        assert not s2.failed
        assert finished == {t: (out / "tiles" / t / "irradiation.tif").stat().st_mtime_ns for t in finished}
        with rasterio.open(out / "irradiation.vrt") as ds:
            assert compare(ds.read(1), whole.global_) >= 0.999
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


# ------------------------------------------------------------------------------------------ LAS tiles

def test_las_tiles_with_halo_from_neighbours(tmp_path, client):
    """Two LAS tiles: each tile's rasterised tile + halo comes from both files, so the mosaic equals a run on
    the union rasterised at once."""
    from test_pointcloud import X0, Y0, make_points, write_las

    from solarkataster.io.pointcloud import rasterize_las

    x, y, z, cls, w = make_points()
    west = x < X0 + 5
    write_las(tmp_path / "w.las", x[west], y[west], z[west], cls[west], w[west])
    write_las(tmp_path / "e.laz", x[~west], y[~west], z[~west], cls[~west], w[~west])
    s = run_batch([tmp_path / "w.las", tmp_path / "e.laz"], tmp_path / "out", weather="clear-sky",
                  options=OPTIONS, client=client,
                  tile_job=irradiance_tile_job, resolution=0.5, halo=20.0)
    assert sorted(s.computed) == ["e", "w"], s.failed
    dsm, _ = rasterize_las([tmp_path / "w.las", tmp_path / "e.laz"], 0.5, (X0 - 20, Y0 - 20, X0 + 30, Y0 + 30))
    ref = compute_irradiance(dsm, weather="clear-sky", options=OPTIONS).irradiation.global_[40:60, 40:60]
    with rasterio.open(tmp_path / "out" / "irradiation.vrt") as ds:
        assert ds.bounds == (X0, Y0, X0 + 10, Y0 + 10)
        got = ds.read(1)
    ok = np.isfinite(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=0.01)


def test_mosaic_grid_reads_tiles_as_one_raster(tmp_path):
    """`solarkataster run DSM DSM ...` reads the tiles of one scene as one raster (mosaic_grid)."""
    from solarkataster.io.raster import read_surface
    from solarkataster.io.tiles import mosaic_grid

    paths = cut_town(tmp_path / "tiles")
    grid = mosaic_grid(paths)
    whole = read_surface(TOWN)
    assert grid.shape == whole.shape and grid.transform.almost_equals(whole.transform)
    np.testing.assert_array_equal(np.isnan(grid.z), np.isnan(whole.z))
    np.testing.assert_allclose(grid.z[np.isfinite(grid.z)], whole.z[np.isfinite(whole.z)])


def test_tiled_cadastre_matches_whole_per_building(tmp_path, client):
    """Merged roofs/walls/buildings of a tiled run equal one run on the whole raster: every building once,
    its total roof area and yield within 1 %."""
    import geopandas as gpd

    from solarkataster.cadastre import CadastreOptions, compute_cadastre

    sample = REPO / "sample_data"
    opts = CadastreOptions(engine=EngineOptions(sectors=16, step_minutes=30))
    whole = compute_cadastre(TOWN, footprints=sample / "town_footprints.gpkg", dtm=sample / "town_dtm.tif",
                             weather="clear-sky", options=opts)
    cut_town(tmp_path / "tiles")
    out = tmp_path / "out"
    summary = run_batch([tmp_path / "tiles"], out, footprints=sample / "town_footprints.gpkg",
                        dtm=[sample / "town_dtm.tif"], weather="clear-sky", options=opts, client=client,
                        tile_job=cadastre_tile_job)
    assert not summary.failed, summary.failed
    merged = gpd.read_file(out / "buildings.geojson")
    assert merged["building_id"].is_unique
    assert sorted(merged["building_id"]) == sorted(whole.buildings["building_id"])  # none lost or doubled
    ref = whole.buildings.set_index("building_id")
    got = merged.set_index("building_id").loc[ref.index]
    np.testing.assert_allclose(got["roof_area"], ref["roof_area"], rtol=0.01)
    np.testing.assert_allclose(got["yield_kwh"], ref["yield_kwh"], rtol=0.01)
    roofs = gpd.read_file(out / "roofs.geojson")
    assert roofs["face_id"].is_unique and len(roofs) == len(whole.roofs)
    walls = gpd.read_file(out / "walls.geojson")
    assert walls["wall_id"].is_unique and len(walls) == len(whole.walls)
    assert (out / "solarkataster.gpkg").exists()


# ------------------------------------------------------------------------------------------ resume by content

def marker_job(dsm, out_dir, **kwargs):
    """A tile job that only records the window's shape (for resume tests)."""
    (Path(out_dir) / "window.txt").write_text(f"{dsm.z.shape}")


marker_job.raster_only = True


def test_resume_ignores_path_spelling_and_sees_content(tmp_path, client, monkeypatch):
    """A rerun with relative, absolute, ``..`` or symlinked paths is the same tile; changed content with the
    old size and modification time is recomputed."""
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    write_tile(tiles / "a.tif", 0, 20)
    write_tile(tiles / "b.tif", 20, 20)
    c = write_tile(tiles / "c.tif", 100, 20)  # far from a and b: its 2 px halo reads only itself
    out = tmp_path / "out"
    kw = dict(options=OPTIONS, client=client, tile_job=marker_job, halo=0.0)
    s1 = run_batch([tiles], out, **kw)
    assert sorted(s1.computed) == ["a", "b", "c"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tiles"]["a"]["path"] == str(tiles.resolve() / "a.tif")
    assert {i["path"] for i in manifest["tiles"]["a"]["inputs"]} == {str(tiles.resolve() / f) for f in ("a.tif",
                                                                                                        "b.tif")}

    monkeypatch.chdir(tmp_path)
    s2 = run_batch(["./tiles/a.tif", "tiles/../tiles/b.tif", str(c.resolve())], "out", **kw)
    assert s2.computed == [] and sorted(s2.skipped) == ["a", "b", "c"]
    (tmp_path / "link").symlink_to(tiles, target_is_directory=True)
    (tmp_path / "c_link.tif").symlink_to(c)
    s3 = run_batch([tmp_path / "link" / "a.tif", tmp_path / "link" / "b.tif", tmp_path / "c_link.tif"], out, **kw)
    assert s3.computed == [] and sorted(s3.skipped) == ["a", "b", "c"]

    st = c.stat()
    with rasterio.open(c, "r+") as ds:
        z = ds.read(1)
        z[5, 5] += 3.0
        ds.write(z, 1)
    os.utime(c, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only the content changed
    assert c.stat().st_size == st.st_size
    s4 = run_batch([tmp_path / "link"], out, **kw)
    assert s4.computed == ["c"] and sorted(s4.skipped) == ["a", "b"]


def test_window_snaps_to_ground_filter_blocks():
    """Context halo and alignment: the window's north-west corner is snapped outward to the ground filter's
    pull-push blocks (256 px at 1 m) from the mosaic's corner; the south-east side keeps the halo."""
    from solarkataster.batch import ground_filter_alignment
    from solarkataster.batch.plan import tile_window

    assert ground_filter_alignment(1.0) == 256 and ground_filter_alignment(0.5) == 512
    core = (500.0, 0.0, 1000.0, 500.0)  # the south-east quarter of a 1 km mosaic with corner (0, 1000)
    assert tile_window(core, 250.0, 1.0, (0.0, 1000.0)) == (250, (250.0, -250.0, 1250.0, 750.0))
    assert tile_window(core, 250.0, 1.0, (0.0, 1000.0), align_px=256) == (250, (0.0, -250.0, 1250.0, 1000.0))
    # the window ends at the mosaic's edge like a whole-raster run
    assert tile_window(core, 250.0, 1.0, (0.0, 1000.0), align_px=256, clip=(0.0, 0.0, 1000.0, 1000.0)) == (
        250, (0.0, 0.0, 1000.0, 1000.0))
    # the context halo (150 m) is the least halo of a cadastre tile; raster-only jobs may use less
    assert tile_window(core, 20.0, 1.0, (0.0, 1000.0))[0] == 150
    assert tile_window(core, 20.0, 1.0, (0.0, 1000.0), context=0.0)[0] == 20
    assert tile_window(core, 0.0, 1.0, (0.0, 1000.0), context=0.0)[0] == 2  # the normals' stencil


# ------------------------------------------------------------------------------------------ tiled detection

def cut_quarters(src_path, folder):
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(src_path) as src:
        h, w = src.height // 2, src.width // 2
        for i in range(2):
            for j in range(2):
                win = Window(j * w, i * h, w, h)
                prof = dict(src.profile, width=w, height=h, transform=src.window_transform(win))
                with rasterio.open(folder / f"q{i}{j}.tif", "w", **prof) as dst:
                    dst.write(src.read(1, window=win), 1)


def match_buildings(whole, tiled):
    """Best IoU and the tiled building for every whole-run building (both in one projected CRS)."""
    import geopandas as gpd

    pairs = gpd.sjoin(whole[["geometry"]].reset_index(names="w"), tiled[["geometry"]].reset_index(names="t"),
                      predicate="intersects")
    best_iou = np.zeros(len(whole))
    best = np.full(len(whole), -1)
    for w, t in zip(pairs["w"], pairs["t"]):
        a, b = whole.geometry.iloc[w], tiled.geometry.iloc[t]
        iou = a.intersection(b).area / a.union(b).area
        if iou > best_iou[w]:
            best_iou[w], best[w] = iou, t
    return best_iou, best


@pytest.mark.slow
def test_tiled_detection_matches_whole_on_essen(tmp_path, client, shared):
    """Issue 11: the Essen tile (1 m, no footprints) in 4 tiles and whole give the same buildings (IoU >= 0.95
    for >= 98 % of them) with per-building yield within 1 %. Real detection; a cheap engine and no walls."""
    import geopandas as gpd

    from solarkataster.cadastre import CadastreOptions, compute_cadastre

    essen = shared("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")
    opts = CadastreOptions(engine=EngineOptions(sectors=8, step_minutes=60), walls=False)
    whole = compute_cadastre(essen, options=opts).buildings
    cut_quarters(essen, tmp_path / "tiles")
    s = run_batch([tmp_path / "tiles"], tmp_path / "out", options=opts, client=client, tile_job=cadastre_tile_job)
    assert not s.failed, s.failed
    tiled = gpd.read_file(tmp_path / "out" / "buildings.geojson").to_crs(whole.crs)
    iou, idx = match_buildings(whole, tiled)
    same = iou >= 0.95
    ref = whole["yield_kwh"].to_numpy()
    got = tiled["yield_kwh"].to_numpy()[idx[same]]
    yield_ok = np.isclose(got, ref[same], rtol=0.01, atol=1.0)
    rel = np.abs(got / np.maximum(ref[same], 1e-9) - 1)
    print(f"Essen 4 tiles vs whole: {len(tiled)} vs {len(whole)} buildings, IoU >= 0.95: {same.mean():.4f} "
          f"(min IoU {iou.min():.4f}), yield within 1 %: {yield_ok.mean():.4f} of those (max {rel.max():.2e})")
    assert tiled["building_id"].is_unique
    assert same.mean() >= 0.98
    assert yield_ok.all()
    assert abs(len(tiled) - len(whole)) <= 0.02 * len(whole)
