"""Numba kernels of building detection. Private: plain arrays in, no validation."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def continuous_surfaces(z, max_step):
    """Label 4-connected regions whose neighbouring heights differ by at most ``max_step`` (union-find).

    NaN pixels get label -1; the other labels are 0..n-1 in raster order of their first pixel.
    """
    rows, cols = z.shape
    n = rows * cols
    parent = np.arange(n)
    for r in range(rows):
        for c in range(cols):
            h = z[r, c]
            if not np.isfinite(h):
                continue
            i = r * cols + c
            for j in (i + 1 if c + 1 < cols else -1, i + cols if r + 1 < rows else -1):
                if j < 0:
                    continue
                hj = z[j // cols, j % cols]
                if np.isfinite(hj) and abs(hj - h) <= max_step:
                    a = i
                    while parent[a] != a:
                        parent[a] = parent[parent[a]]
                        a = parent[a]
                    b = j
                    while parent[b] != b:
                        parent[b] = parent[parent[b]]
                        b = parent[b]
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    labels = np.full((rows, cols), -1, np.int64)
    newid = np.full(n, -1, np.int64)
    k = 0
    for i in range(n):
        r = i // cols
        c = i % cols
        if not np.isfinite(z[r, c]):
            continue
        a = i
        while parent[a] != a:
            a = parent[a]
        if newid[a] < 0:
            newid[a] = k
            k += 1
        labels[r, c] = newid[a]
    return labels


@njit(cache=True, nogil=True)
def third_lowest_3x3(z, out):
    """Third-lowest value of each pixel's 3 x 3 window, edges repeated (``ndimage.rank_filter(z, 2, 3, 'nearest')``).

    ``z`` holds no NaN; ``out`` has its shape and dtype.
    """
    rows, cols = z.shape
    for r in range(rows):
        for c in range(cols):
            a = np.inf  # the three lowest so far, a <= b <= d
            b = np.inf
            d = np.inf
            for dr in range(-1, 2):
                rr = min(max(r + dr, 0), rows - 1)
                for dc in range(-1, 2):
                    v = z[rr, min(max(c + dc, 0), cols - 1)]
                    if v < d:
                        if v < b:
                            d = b
                            if v < a:
                                b = a
                                a = v
                            else:
                                b = v
                        else:
                            d = v
            out[r, c] = d
