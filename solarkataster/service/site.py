"""A static copy of the map: HTML, JS, CSS, the PMTiles and the JSON the page needs, for any web server.

``solarkataster tiles DIR --site OUT`` writes::

    OUT/index.html, OUT/static/...            the map page and its vendored libraries (as the service serves them)
    OUT/tiles/*.pmtiles                       vector tiles and raster context (read with HTTP range requests)
    OUT/data/meta.json                        what /api/meta answers (legend, units, provenance, extent, tiles)
    OUT/data/search.json                      the building search index (id, box, searchable attributes)
    OUT/data/buildings/KEY.json               what /api/buildings/{id} answers, one file per building

The page tries ``api/meta`` first and, when no service answers, reads ``data/meta.json``: the same page works
against the service and as static files. The web server must answer HTTP range requests (nginx, Apache,
Caddy, object stores do; Python's ``http.server`` does not). KEY is the building id with every byte outside
``[A-Za-z0-9_-]`` written as ``~XX`` (hex of its UTF-8 bytes), so any id is a safe file name.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import orjson

from ..errors import ParameterError
from ..io.raster_tiles import CONTEXT
from ..io.vector_tiles import PMTILES_NAME
from .params import ServiceSettings
from .routes import STATIC_DIR, building, meta
from .store import ID_FIELDS, SEARCH_SKIP, ResultsStore

log = logging.getLogger(__name__)

_SAFE = re.compile(rb"[A-Za-z0-9_-]")


def building_key(building_id) -> str:
    """Return the file name stem of a building's JSON: ``[A-Za-z0-9_-]`` kept, other UTF-8 bytes as ``~XX``."""
    return "".join(chr(b) if _SAFE.fullmatch(bytes([b])) else f"~{b:02X}" for b in str(building_id).encode())


def _link_or_copy(src: Path, dst: Path):
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)  # big archives: no second copy on the same disk
    except OSError:
        shutil.copy2(src, dst)


def _write_json(path: Path, obj):
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _search_index(store: ResultsStore) -> dict:
    layer = store.layer("buildings")
    rows = []
    for i in range(len(layer)):
        props = orjson.loads(layer.features_json[i])["properties"]
        fields = {k: v for k, v in props.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                  and k not in SEARCH_SKIP and k != "building_id"}
        rows.append([str(props.get(ID_FIELDS["buildings"])), [round(float(v), 7) for v in layer.index.boxes[i]],
                     fields])
    return {"buildings": rows}


def _building_ids(store: ResultsStore) -> list:
    ids = {b.decode() for b in store.layer("buildings").index.ids_sorted}
    ids |= {b.decode() for b in store.layer("roofs").index.building_sorted}
    ids.discard("None")
    return sorted(ids)


def write_site(results_dir, out_dir, *, basemap_url=None, basemap_attribution=None) -> Path:
    """Write the static map site of a results folder.

    Parameters
    ----------
    results_dir : str or Path
        Results folder with the layers and ``solarkataster.pmtiles`` (build it with ``solarkataster tiles``).
    out_dir : str or Path
        The site folder (created; files of an earlier site are replaced).
    basemap_url : str, optional
        An online base map: a MapLibre style URL, or an XYZ raster template with ``{z}/{x}/{y}``.
    basemap_attribution : str, optional
        Attribution the base map requires.

    Returns
    -------
    pathlib.Path
        The site folder.

    Raises
    ------
    ResultsError
        The results folder is missing, incomplete, or has no ``solarkataster.pmtiles``.
    ParameterError
        ``out_dir`` is the results folder, or ``basemap_url`` is not http(s).
    """
    from ..errors import ResultsError

    src, out = Path(results_dir).resolve(), Path(out_dir).resolve()
    if out == src:
        raise ParameterError(f"--site {out_dir}: the site must go into another folder than the results")
    if basemap_url and not basemap_url.startswith(("http://", "https://")):
        raise ParameterError(f"basemap {basemap_url!r} must be an http(s) style URL or tile URL template")
    store = ResultsStore(src)
    if not (src / PMTILES_NAME).is_file():
        raise ResultsError(f"{src} has no {PMTILES_NAME}; build it first with 'solarkataster tiles {src}'")
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    shutil.copytree(STATIC_DIR, out / "static", dirs_exist_ok=True)
    shutil.copy2(STATIC_DIR / "index.html", out / "index.html")
    for name in [PMTILES_NAME] + [file for file, *_ in CONTEXT.values()]:
        if (src / name).is_file():
            _link_or_copy(src / name, out / "tiles" / name)
    data = out / "data"
    (data / "buildings").mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings(1, basemap_url, basemap_attribution)
    info = orjson.loads(meta(store, settings).body)  # what /api/meta answers, less the request limits
    info.pop("limits", None)
    _write_json(data / "meta.json", info)
    _write_json(data / "search.json", _search_index(store))
    ids = _building_ids(store)
    for building_id in ids:
        (data / "buildings" / f"{building_key(building_id)}.json").write_bytes(building(store, building_id).body)
    log.info("wrote the static site of %s (%d buildings) to %s", src, len(ids), out)
    return out
