"""Private numba kernels: plain arrays in, arrays out, in the callers' units (see each module).

Numba's OpenMP threads sleep when a parallel kernel ends (``OMP_WAIT_POLICY=passive``, unless the user set a
policy). GNU OpenMP's default keeps them spinning about 10 ms after every parallel region, on a core that a
cadastre's other stages (roof faces, walls, writing) would use: between two of the engine's kernels, while
its Python converts a sector's slopes, and after the engine. On the Essen tile (2 cores) ``run`` took about
1 CPU-s less with passive threads and ``irradiance`` about 0.4 (benchmarks/bench_run_vs_engine.py).
libgomp reads the variable when it loads, at the first parallel kernel, so it is set on import, before any.
"""
from __future__ import annotations

import os

import numpy as np
from numba import njit, prange

os.environ.setdefault("OMP_WAIT_POLICY", "passive")


@njit(cache=True, parallel=True)
def _start_threads(out):
    for i in prange(out.shape[0]):
        out[i] = i


def threading_layer() -> str:
    """Numba's threading layer ('omp', 'tbb' or 'workqueue'), starting it where no parallel kernel has run yet."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # not started
        _start_threads(np.empty(2))
        return numba.threading_layer()
