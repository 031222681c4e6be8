"""The process heap of a long run: the imported libraries put beyond the garbage collector.

A cadastre run creates many short-lived objects, so Python's collector runs often, and each full collection
scans every tracked object of the process: the libraries' some 250,000 (NumPy, pandas, shapely, numba,
matplotlib and our own modules) as much as the run's. On the Essen tile the three or four full collections
of a ``run`` took 0.35-0.47 CPU-s, each holding the GIL that the roof and wall threads wait for; with the
libraries frozen (:func:`gc.freeze`) they take 0.03-0.04 CPU-s (``benchmarks/bench_run_vs_engine.py``).

A run imports many modules on its way (its threads import the roof, wall and detection modules; the
writer imports matplotlib, the GeoPackage driver and the tile encoders). :func:`freeze_imported` imports
those of :data:`RUN_MODULES` first, so that a fresh process (the CLI, a batch worker) freezes what a warm
one would.
"""
from __future__ import annotations

import gc
import importlib

#: Modules a cadastre run (``compute_cadastre`` and ``write_cadastre_results``) imports: the ones it starts
#: from and those it imports on its way (on the Essen tile 65,000 objects of the 230,000 a ``run``'s process
#: holds; most of the rest are numba's typing tables, built as the first kernels load). matplotlib's pyplot
#: is left to the writer, which selects its backend first.
RUN_MODULES = (
    "solarkataster.cadastre", "solarkataster.pipeline", "solarkataster.io.results",
    "solarkataster.roofs", "solarkataster.walls", "solarkataster.detection", "solarkataster.economics",
    "solarkataster.io.export", "solarkataster.io.layer_index", "solarkataster.io.profiles",
    "solarkataster.io.raster_tiles", "solarkataster.io.vector_tiles", "geopandas", "pyogrio", "scipy.ndimage",
    "rasterio.features", "rasterio.warp", "rasterio.shutil", "PIL.WebPImagePlugin", "PIL.PngImagePlugin",
    "pmtiles.writer", "demandlib.bdew", "matplotlib.figure", "matplotlib.backends.backend_agg",
    "matplotlib.collections", "numba.typed", "numba.np.ufunc.parallel",
)


def freeze_imported(modules=()):
    """Import ``modules``, then put every object that exists now beyond the garbage collector (:func:`gc.freeze`).

    A command calls it once, right before a long computation, when the objects that exist are the imported
    libraries'. The run's full collections then scan only the run's own objects. It keeps no garbage alive:
    right after the imports a collection finds nothing (measured), and the libraries' objects live as long
    as the process. A process that goes on after the run (a test session) gives them back with
    :func:`gc.unfreeze`.

    Parameters
    ----------
    modules : sequence of str
        Modules to import first, e.g. :data:`RUN_MODULES`.
    """
    for name in modules:
        importlib.import_module(name)
    gc.freeze()
