"""Convergence and accuracy of the wall horizons on the 1 km² Essen tile (1 m DSM), to justify the wall defaults.

1. Sectors: per-wall annual irradiation at 72, 90, 120 and 180 sectors against 360 sectors (median and 99th
   percentile of the relative difference over the walls with irradiation), with the CPU time of each run.
2. Near field and lines: the horizons of ``--samples`` random uncovered wall samples, at every ``--every``-th
   of the 180 sectors that faces the wall (more than 0.05 in cosine, as the tests), against a brute-force
   march every 0.1 cell over the bilinear DSM that starts where the sample's ray leaves the wall's
   clearance (one cell off the wall plane): median, p90 and p99 of the absolute error [°] with the wall
   defaults (:data:`solarkataster.walls.WALL_NEAR_CELLS`, :data:`solarkataster.walls.WALL_LINE_SPACING`,
   :data:`solarkataster.walls.WALL_FAR_STRIDE`), with every sector swept (far stride 1) and with the pixel
   sweep's (:data:`solarkataster.horizon.NEAR_CELLS`, :data:`solarkataster.horizon.LINE_SPACING`).

Buildings are detected from the DSM as in ``bench_walls.py``. Run:
``SOLARKATASTER_SHARED=/work/shared python benchmarks/convergence_walls.py [--samples 600] [--every 1]``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SECTORS = (72, 90, 120, 180)
REFERENCE_SECTORS = 360


def brute_wall_horizon(z, r, c, z0, azimuths, facing, clearance=1.0, step0=0.5, step=0.1):
    """Horizon [°] of a wall sample along each azimuth by marching the bilinear surface every ``step`` cells.

    The march starts at ``max(step0, clearance / cos θ)`` cells (θ: angle to the wall normal ``facing``
    [°]), the wall rule of :func:`solarkataster.walls.wall_horizons`; -90 where nothing lies along the ray.
    Cell size 1 (heights in cells).
    """
    rows, cols = z.shape
    out = np.full(len(azimuths), -90.0)
    for k, az in enumerate(azimuths):
        a = math.radians(az)
        dc, dr = math.sin(a), -math.cos(a)
        cos_t = math.cos(math.radians(az - facing))
        start = max(step0, clearance / max(cos_t, 0.05))
        d = start + step * np.arange(int(math.hypot(rows, cols) / step) + 1)
        rr, cc = r + d * dr, c + d * dc
        on = (rr >= 0) & (cc >= 0) & (rr <= rows - 1) & (cc <= cols - 1)
        d, rr, cc = d[on], rr[on], cc[on]
        r0 = np.minimum(rr.astype(int), rows - 2)
        c0 = np.minimum(cc.astype(int), cols - 2)
        fr, fc = rr - r0, cc - c0
        zz = ((1 - fr) * ((1 - fc) * z[r0, c0] + fc * z[r0, c0 + 1])
              + fr * ((1 - fc) * z[r0 + 1, c0] + fc * z[r0 + 1, c0 + 1]))
        slope = (zz - z0) / d
        if np.isfinite(slope).any():
            out[k] = math.degrees(math.atan(np.nanmax(slope)))
    return out


def _sector_study(footprints, grid, ground, sky):
    from solarkataster import walls

    runs = {}
    for sectors in SECTORS + (REFERENCE_SECTORS,):
        t0 = time.process_time()
        table, _ = walls.wall_surfaces(footprints, grid, sky, ground=ground, sectors=sectors)
        runs[sectors] = table["irradiation"].to_numpy(float)
        print(f"  {sectors:3d} sectors: wall_surfaces CPU {time.process_time() - t0:.1f} s", flush=True)
    ref = runs[REFERENCE_SECTORS]
    ok = np.isfinite(ref) & (ref > 0)
    print(f"per-wall irradiation against {REFERENCE_SECTORS} sectors ({int(ok.sum())} walls), |difference| [%]:")
    for sectors in SECTORS:
        rel = np.abs(runs[sectors][ok] / ref[ok] - 1.0) * 100.0
        print(f"  {sectors:3d} sectors: p50 {np.median(rel):.3f}  p99 {np.percentile(rel, 99):.2f}  "
              f"max {rel.max():.2f}")


def _accuracy_study(segments, grid, n_samples, every):
    from solarkataster import horizon, walls

    samples = walls.wall_samples(segments, grid)
    samples = samples[~samples["covered"].to_numpy(bool)]
    pick = samples.iloc[np.sort(np.random.default_rng(1).choice(len(samples), n_samples, replace=False))]
    azimuths = np.arange(0, 180, every) * 2.0
    cs = grid.cellsize
    label = "near %g, lines %g, far stride %d" % (walls.WALL_NEAR_CELLS, walls.WALL_LINE_SPACING,
                                                  walls.WALL_FAR_STRIDE)
    settings = {f"wall defaults ({label})": walls.wall_horizons(pick, grid)[np.arange(0, 180, every)],
                "wall defaults, every sector swept":
                horizon.point_horizons(grid.z, cs, pick["row"], pick["col"], pick["z"], np.arange(180) * 2.0,
                                       facing=pick["surface_azimuth"], clearance=cs, near=walls.WALL_NEAR_CELLS,
                                       line_spacing=walls.WALL_LINE_SPACING,
                                       anchor=horizon.grid_anchor(grid.transform))[np.arange(0, 180, every)],
                "pixel defaults (near %g, lines %g)" % (horizon.NEAR_CELLS, horizon.LINE_SPACING):
                horizon.point_horizons(grid.z, cs, pick["row"], pick["col"], pick["z"], azimuths,
                                       facing=pick["surface_azimuth"], clearance=cs,
                                       anchor=horizon.grid_anchor(grid.transform))}
    t0 = time.process_time()
    errors = {name: [] for name in settings}
    for i, s in enumerate(pick.itertuples()):
        facing = np.cos(np.radians(azimuths - s.surface_azimuth)) > 0.05
        ref = brute_wall_horizon(grid.z / cs, s.row, s.col, s.z / cs, azimuths[facing], s.surface_azimuth)
        for name, hor in settings.items():
            errors[name].append(np.abs(hor[facing, i] - ref))
    print(f"wall horizons against a 0.1-cell march ({n_samples} samples, every {every}th sector facing the wall; "
          f"march CPU {time.process_time() - t0:.0f} s), |error| [°]:")
    for name, err in errors.items():
        err = np.concatenate(err)
        print(f"  {name}: n {err.size}, median {np.median(err):.3f}, p90 {np.percentile(err, 90):.3f}, "
              f"p99 {np.percentile(err, 99):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=600)
    ap.add_argument("--every", type=int, default=1, help="march every n-th of the 180 sectors")
    ap.add_argument("--skip-sectors", action="store_true", help="only the accuracy study")
    args = ap.parse_args()

    from scenes import essen_grid

    from solarkataster import detection, walls
    from solarkataster.sky import FINE_AZIMUTH_BINS, clear_sky_weather, sky_table, sun_steps

    grid = essen_grid()
    lon, lat = grid.center_lonlat()
    ground = detection.ground_from_dsm(grid.z, grid.cellsize)
    labels = detection.detect_buildings(grid.z, grid.cellsize, ground)
    footprints = {str(k): v for k, v in detection.building_polygons(labels, grid.transform).items()}
    segments, _ = walls.wall_segments(footprints, grid, ground)
    print(f"Essen: {len(footprints)} buildings, {len(segments)} walls")
    if not args.skip_sectors:
        weather = clear_sky_weather(lat, lon, 100.0, 2025, freq="1h")
        sky = sky_table(sun_steps(weather, lat, lon, 100.0, step_minutes=10), FINE_AZIMUTH_BINS)
        _sector_study(footprints, grid, ground, sky)
    _accuracy_study(segments, grid, args.samples, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
