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


def test_buildings_found_trees_rejected(rng):
    z, ground, truth, trees = _scene(rng)
    for g in (None, ground):
        labels = detect_buildings(z, 1.0, g)
        assert labels.dtype == np.int32
        assert labels.max() == truth.max()
        for k in range(1, truth.max() + 1):
            m = np.bincount(labels[truth == k]).argmax()
            assert m > 0
            iou = ((labels == m) & (truth == k)).sum() / ((labels == m) | (truth == k)).sum()
            assert iou >= 0.8
        assert (labels[trees] > 0).mean() < 0.05
        # labels ordered by position: first pixels in raster order
        firsts = [np.flatnonzero(labels.ravel() == k)[0] for k in range(1, labels.max() + 1)]
        assert firsts == sorted(firsts)


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
    labels = detect_buildings(z, 1.0)
    n = labels.max()
    # dense residential 1 km²; hand count on the hillshade is several hundred houses, many joined in rows
    assert 150 <= n <= 800
    rough = local_roughness(np.where(labels > 0, z, np.nan), 1.0)
    npx = np.bincount(labels.ravel())[1:]
    smooth = np.bincount(labels.ravel(), weights=(rough < 0.3).ravel())[1:]
    frac = smooth / npx
    # no rough tree blobs: a crown has few pixels with a 3x3 plane residual under 30 cm
    assert frac.min() >= 0.4 and np.median(frac) >= 0.7, np.sort(frac)[:10]
