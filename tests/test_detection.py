"""Building detection: synthetic buildings among trees of the same height, and the real Essen DSM."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from conftest import shared_file

from solarkataster.detection import building_polygons, detect_buildings, ground_from_dsm, local_roughness


def _scene(rng, cs=1.0, n=200):
    rows, cols = np.mgrid[0:n, 0:n]
    x, y = cols * cs, -rows * cs
    ground = 50 + 0.02 * x + 0.01 * y  # gentle slope
    z = ground.copy()
    truth = np.zeros((n, n), int)
    boxes = [(20, 20, 30, 15, "gable"), (80, 30, 20, 20, "flat"), (30, 120, 40, 12, "gable"),
             (120, 120, 25, 25, "flat")]
    for k, (r0, c0, h, w, kind) in enumerate(boxes, 1):
        sl = np.s_[r0:r0 + h, c0:c0 + w]
        if kind == "gable":
            d = np.abs(cols[sl] - (c0 + w / 2 - 0.5)) * cs
            z[sl] = ground[sl] + 9 - d * np.tan(np.radians(35))
        else:
            z[sl] = ground[sl] + 8
        truth[sl] = k
    trees = np.zeros((n, n), bool)
    for r, c, rad in [(60, 150, 6), (170, 40, 7), (100, 80, 5), (160, 170, 8), (30, 80, 6)]:
        d2 = ((rows - r) ** 2 + (cols - c) ** 2) * cs ** 2
        crown = d2 < rad ** 2
        z[crown] = np.maximum(z[crown], ground[crown] + 9 * np.sqrt(1 - d2[crown] / rad ** 2)
                              + rng.normal(0, 0.6, crown.sum()))
        trees |= crown
    z += rng.uniform(-0.03, 0.03, z.shape)
    return z, ground, truth, trees


def _roof(kind, rows, cols, r0, c0, h, w, eave, pitch):
    """Roof height above the eaves [m] on a 1 m grid: flat, gable (ridge along the rows) or hip."""
    if kind == "flat":
        return np.full((h, w), float(eave))
    rr, cc = rows[r0:r0 + h, c0:c0 + w] - r0 + 0.5, cols[r0:r0 + h, c0:c0 + w] - c0 + 0.5
    d = np.minimum(cc, w - cc)  # distance to the eaves of a gable roof
    if kind == "hip":
        d = np.minimum(d, np.minimum(rr, h - rr))
    return eave + d * np.tan(np.radians(pitch))


def _city(rng, n=300):
    """Buildings of 8-100 m among rough crowns of similar heights on gently rolling terrain.

    Includes a 100 m x 60 m flat roof (wider than the old 60 m ground-filter window), a 12 m gabled house
    touching a 16 m tree, trees touching and overhanging roofs, a 70 m row of houses, small houses, and
    missing returns (pits) on the roofs. Truth is the footprint; tree pixels are crown pixels outside
    every footprint.
    """
    rows, cols = np.mgrid[0:n, 0:n]
    ground = 60 + 0.015 * cols - 0.01 * rows + 2.0 * np.sin(cols / 50.0) * np.cos(rows / 70.0)
    z = ground.copy()
    truth = np.zeros((n, n), int)
    # (row, col, rows, cols, kind, eave height [m], pitch [°])
    houses = [(15, 15, 30, 14, "gable", 6, 40), (70, 20, 20, 20, "flat", 8, 0), (15, 110, 40, 12, "gable", 5, 45),
              (110, 110, 24, 24, "hip", 6, 30), (200, 15, 60, 100, "flat", 12, 0), (70, 230, 10, 14, "gable", 7, 42),
              (150, 60, 8, 9, "gable", 3.5, 35), (110, 200, 70, 11, "gable", 7, 40), (20, 180, 18, 16, "hip", 9, 25),
              (170, 150, 14, 10, "flat", 4, 0), (230, 180, 40, 30, "gable", 10, 20)]
    for k, (r0, c0, h, w, kind, eave, pitch) in enumerate(houses, 1):
        sl = np.s_[r0:r0 + h, c0:c0 + w]
        z[sl] = ground[sl] + _roof(kind, rows, cols, r0, c0, h, w, eave, pitch)
        truth[sl] = k
    # the 12 m house is number 6: eaves 7 m + 5 px * tan(42°) ~ 12 m at the ridge
    crowns = [(75, 250, 8, 16),  # taller tree touching the 12 m house
              (30, 35, 6, 12), (40, 128, 7, 11), (122, 141, 7, 10), (160, 217, 6, 14), (190, 60, 9, 13),
              (60, 80, 6, 9), (150, 20, 8, 11), (160, 250, 7, 14), (190, 125, 5, 8), (60, 160, 8, 13),
              (140, 90, 6, 10), (285, 250, 9, 15), (120, 275, 6, 9), (95, 60, 5, 12)]
    trees = np.zeros((n, n), bool)
    for r, c, rad, top in crowns:
        d2 = (rows - r) ** 2 + (cols - c) ** 2
        crown = d2 < rad ** 2
        hc = ground[crown] + top * np.sqrt(1 - d2[crown] / rad ** 2) ** 0.5 + rng.normal(0, 0.5, crown.sum())
        z[crown] = np.maximum(z[crown], hc)
        trees |= crown
    trees &= truth == 0
    pits = (truth > 0) & (rng.random((n, n)) < 0.005)
    z[pits] = ground[pits] + 0.2
    z += rng.uniform(-0.03, 0.03, z.shape)
    return z, ground, truth, trees


def _check_detection(labels, truth, trees, min_iou=0.8, max_tree_share=0.05):
    assert labels.dtype == np.int32
    for k in range(1, truth.max() + 1):
        m = np.bincount(labels[truth == k]).argmax()
        assert m > 0, f"building {k} not found"
        iou = ((labels == m) & (truth == k)).sum() / ((labels == m) | (truth == k)).sum()
        assert iou >= min_iou, (k, iou)
    # one label per building: no label covers two footprints
    assert labels.max() == truth.max()
    assert (labels[trees] > 0).mean() < max_tree_share
    # labels ordered by position: first pixels in raster order
    firsts = [np.flatnonzero(labels.ravel() == k)[0] for k in range(1, labels.max() + 1)]
    assert firsts == sorted(firsts)


def test_buildings_found_trees_rejected(rng):
    z, ground, truth, trees = _scene(rng)
    for g in (None, ground):
        _check_detection(detect_buildings(z, 1.0, g), truth, trees)


def test_city_gable_hip_flat_among_trees(rng):
    z, ground, truth, trees = _city(rng)
    for g in (None, ground):
        _check_detection(detect_buildings(z, 1.0, g), truth, trees)


def test_ground_stays_under_large_flat_roof(rng):
    z, ground, truth, trees = _city(rng)
    est = ground_from_dsm(z, 1.0)
    # the 100 m x 60 m roof (building 5, 12 m above ground) must not become ground: its walls stay 12 m
    assert np.abs(est - ground)[truth == 5].max() < 1.0
    assert np.percentile(np.abs(est - ground)[truth > 0], 95) < 1.0
    assert np.median(np.abs(est - ground)[truth == 0]) < 0.1
    # a window narrower than the roof lifts the ground onto it (what a 60 m window did to wider blocks)
    narrow = ground_from_dsm(z, 1.0, max_building_size=40.0)
    assert (narrow - ground)[truth == 5].max() > 5.0


def test_embankment_is_terrain_not_building(rng):
    """A 6 m road embankment that ramps down to the street is terrain; a flat roof of the same height is not."""
    n = 160
    rows, cols = np.mgrid[0:n, 0:n]
    ground = 40 + 0.01 * cols
    z = ground.copy()
    # embankment: 20 m wide, full height from column 60 on, a 1:15 ramp from column 0 to 60
    emb = (rows >= 30) & (rows < 50)
    z[emb] += np.minimum(cols[emb] / 10.0, 6.0)
    house = np.s_[100:130, 40:80]
    z[house] += 6.0
    z += rng.uniform(-0.03, 0.03, z.shape)
    labels = detect_buildings(z, 1.0, ground)
    assert labels.max() == 1 and (labels[house] == 1).all()
    assert (labels[emb] == 0).all()
    # without the continuity test the embankment would be a 2000 m² "building"
    assert detect_buildings(z, 1.0, ground, max_terrain_step=0)[emb].mean() > 0.5


def test_ground_filter_recovers_terrain(rng):
    z, ground, truth, trees = _scene(rng)
    est = ground_from_dsm(z, 1.0)
    err = np.abs(est - ground)
    assert np.median(err) < 0.1 and np.percentile(err[truth > 0], 95) < 1.0


def test_nan_and_empty():
    assert (detect_buildings(np.full((10, 10), np.nan), 1.0) == 0).all()
    assert np.isnan(ground_from_dsm(np.full((10, 10), np.nan), 1.0)).all()
    z = np.zeros((40, 40))
    z[10:25, 10:25] = 6.0
    z[0:5, :] = np.nan
    labels = detect_buildings(z, 1.0)
    assert labels.max() == 1 and (labels == 1).sum() == 225
    assert building_polygons(np.zeros((5, 5), int), Affine(1, 0, 0, 0, -1, 0)) == {}


def test_building_polygons_keep_holes():
    labels = np.zeros((40, 40), np.int32)
    labels[5:30, 5:30] = 1
    labels[12:20, 12:20] = 0
    tr = Affine(0.5, 0, 1000, 0, -0.5, 2000)
    polys = building_polygons(labels, tr)
    p = polys[1]
    assert p.is_valid and len(p.interiors) == 1
    assert p.area == pytest.approx((25 * 25 - 64) * 0.25)
    assert p.bounds == pytest.approx((1002.5, 1985.0, 1015.0, 1997.5))


def test_essen_dsm():
    import rasterio

    with rasterio.open(shared_file("nrw-essen-dom1", "dom1_32_356_5699_1_nw_2020.tif")) as ds:
        z = ds.read(1).astype(float)
    ground = ground_from_dsm(z, 1.0)
    labels = detect_buildings(z, 1.0, ground)
    n = labels.max()
    # dense residential 1 km²: several hundred houses, many joined in rows (348 found, 247 before the
    # planarity rework)
    assert 250 <= n <= 700
    # recall: large planar raised surfaces are roofs. The road embankment in the north-west (rows 108-204,
    # cols 5-214) is raised above the filtered terrain but runs into the street: terrain by design.
    from detection_metrics import planar_elevated

    planar = planar_elevated(z, ground)
    planar[100:210, 0:220] = False
    assert (labels[planar] > 0).mean() >= 0.95  # 1.000 achieved, 0.945 before
    # not tree-like: 3x3 vertical plane residuals of detections are low, those of the rest are crowns
    rough = local_roughness(z, 1.0)
    rest = ((z - ground) > 2.5) & (labels == 0)
    assert rough[labels > 0].mean() < 0.7 and rough[rest].mean() > 2 * rough[labels > 0].mean()
    from scipy import ndimage
    per_building = np.asarray(ndimage.median(rough, labels, np.arange(1, n + 1)))
    assert np.percentile(per_building, 95) < 0.8, np.sort(per_building)[-10:]


def test_garage_kept_hedge_dropped(rng):
    """Defaults: a 2.3 m garage is a building; a cut hedge as tall, planar on top but 1.5 m wide, is not."""
    n = 80
    z = np.full((n, n), 100.0)
    z[10:16, 10:20] += 2.3                    # garage 6 m x 10 m on a 1 m grid
    hedge = np.s_[40:42, 5:70]                # 2 m wide, 65 m long, flat top
    z[hedge] += 2.4
    z += rng.uniform(-0.02, 0.02, z.shape)
    labels = detect_buildings(z, 1.0, np.full((n, n), 100.0))
    assert labels.max() == 1 and (labels[10:16, 10:20] == 1).all()
    assert (labels[hedge] == 0).all()
    # the old 2.5 m minimum missed the garage
    assert detect_buildings(z, 1.0, np.full((n, n), 100.0), min_height=2.5).max() == 0
    # the width test is what removes the hedge
    assert (detect_buildings(z, 1.0, np.full((n, n), 100.0), min_width=0)[hedge] > 0).any()


@pytest.mark.parametrize("angle", [0.0, 20.0, 33.0])
def test_building_polygons_are_regular(angle):
    """A rectangle turned by ``angle`` on the pixel grid gives 4 walls at angle and angle + 90°, not a staircase."""
    cs = 0.5
    n = 120
    rows, cols = np.mgrid[0:n, 0:n]
    x, y = (cols + 0.5) * cs - 30, 30 - (rows + 0.5) * cs
    t = np.radians(angle)
    u, v = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    labels = ((np.abs(u) < 12) & (np.abs(v) < 7)).astype(np.int32)
    poly = building_polygons(labels, Affine(cs, 0, 0, 0, -cs, 60))[1]
    ring = np.asarray(poly.simplify(0.05).exterior.coords)
    e = np.diff(ring, axis=0)
    ang = np.degrees(np.arctan2(e[:, 1], e[:, 0]))
    assert len(e) == 4
    dev = (ang - angle + 45) % 90 - 45
    assert np.abs(dev).max() < 1.0, ang
    assert poly.area == pytest.approx(24 * 14, rel=0.03)
    # right angles
    np.testing.assert_allclose(np.abs(np.cos(np.radians(np.diff(ang)))), 0, atol=1e-9)
    # the pixel outline without regularisation is a staircase
    if angle:
        raw = building_polygons(labels, Affine(cs, 0, 0, 0, -cs, 60), regularise=False)[1]
        assert len(raw.exterior.coords) > 8
