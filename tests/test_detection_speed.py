"""Fast paths of building detection equal the SciPy filters they replace (solarkataster.detection)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from solarkataster import detection
from solarkataster._kernels.detection import third_lowest_3x3


def test_third_lowest_equals_rank_filter():
    rng = np.random.default_rng(11)
    for z in (rng.normal(100.0, 5.0, (37, 53)), np.round(rng.normal(0.0, 1.0, (9, 4))),
              rng.normal(0.0, 1.0, (1, 6)).astype(np.float32), np.full((3, 3), 2.5)):
        out = np.empty_like(z)
        third_lowest_3x3(z, out)
        assert np.array_equal(out, ndimage.rank_filter(z, 2, size=3, mode="nearest"))


def test_remove_pits_equals_the_median_filter_rule():
    """Pits (below the third-lowest neighbour by more than the depth) take the 3 x 3 median, as ndimage gives it."""
    rng = np.random.default_rng(5)
    z = rng.normal(250.0, 0.2, (60, 80))
    pits = rng.random(z.shape) < 0.03
    z[pits] -= 3.0
    z[0, :5] = np.nan
    got = detection._remove_pits(z)
    filled = detection._fill_nearest(z)
    third = ndimage.rank_filter(filled, 2, size=3, mode="nearest")
    want = z.copy()
    pit = np.isfinite(z) & (filled < third - 0.5)
    want[pit] = ndimage.median_filter(filled, size=3, mode="nearest")[pit]
    assert pit.sum() > 50
    assert np.array_equal(got, want, equal_nan=True)
