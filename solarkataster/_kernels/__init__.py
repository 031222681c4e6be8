"""Private numba kernels: plain arrays in, arrays out, in the callers' units (see each module)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange


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
