"""Hourly yield profiles in a results folder: one float32 matrix, memory-mapped, and its index.

``profiles.npy`` (NumPy format, float32, shape (rows, records)) holds one row per stored profile [kWh per
record]: the roof of every building with PV, the walls of every building with facade PV, every counted
roof face. ``profiles.json`` says which row is whose (``rows.roof``, ``rows.walls``, ``rows.faces``), lists
all buildings (``buildings``; a building without a row has a zero profile) and the time axis (``start``,
UTC interval start of the first record, ``step_s``, ``records``). One building is read by mapping the
file and copying one row (35 KB for 8,760 hours), without reading the rest.

Records start on the whole UTC hour: the yield tables re-bin weather whose records start off the hour (the
DWD TRY 2010 in true solar time starts 9-41 min past the UTC hour; PVGIS at 00:10) onto UTC hours, keeping
every sum (:func:`solarkataster.hours.to_utc_hours`).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NotFoundError

#: File names inside a results folder.
PROFILES_FILE = "profiles.npy"
INDEX_FILE = "profiles.json"
KINDS = ("roof", "walls", "faces")


class ProfileNotFound(NotFoundError):
    """A building or face has no profile in a results folder."""


def _rows(ids, matrix):
    keep = [i for i in range(len(ids)) if matrix is not None and np.any(matrix[i] != 0)]
    return [str(ids[i]) for i in keep], (matrix[keep] if keep else np.zeros((0, 0), np.float32))


def write_profiles(out_dir, profiles):
    """Write :class:`~solarkataster.assessment.HourlyProfiles` into a results folder (atomically).

    Parameters
    ----------
    out_dir : str or Path
        Results folder.
    profiles : HourlyProfiles

    Returns
    -------
    list of str
        The file names written.
    """
    from .atomic import atomic_write
    from .results import write_json_atomic

    out = Path(out_dir)
    times = pd.DatetimeIndex(profiles.times)
    n_t = len(times)
    parts, rows, start = [], {}, 0
    for kind, ids, matrix in (("roof", profiles.building_ids, profiles.roof),
                              ("walls", profiles.building_ids, profiles.walls),
                              ("faces", profiles.face_ids, profiles.faces)):
        keys, block = _rows(ids, matrix)
        rows[kind] = {k: start + i for i, k in enumerate(keys)}
        start += len(keys)
        if keys:
            parts.append(np.asarray(block, dtype=np.float32))
    data = np.concatenate(parts) if parts else np.zeros((0, n_t), np.float32)
    atomic_write(out / PROFILES_FILE, lambda tmp: np.save(tmp, data), ".npy")
    step = (times[1] - times[0]).total_seconds() if n_t > 1 else 3600.0
    write_json_atomic(out / INDEX_FILE, {
        "unit": "kWh", "dtype": "float32", "start": times[0].isoformat(), "step_s": step, "records": n_t,
        "buildings": [str(b) for b in profiles.building_ids], "rows": rows})
    return [PROFILES_FILE, INDEX_FILE]


class ProfileStore:
    """Read single profiles of a results folder (index parsed once, matrix memory-mapped).

    Parameters
    ----------
    folder : str or Path
        Results folder with ``profiles.npy`` and ``profiles.json``.
    """

    def __init__(self, folder):
        import orjson

        self.folder = Path(folder)
        path = self.folder / INDEX_FILE
        if not path.is_file():
            raise ProfileNotFound(f"{path}: no hourly profiles in this results folder; rerun `solarkataster run`")
        self.index = orjson.loads(path.read_bytes())
        self._buildings = set(self.index["buildings"])
        self.data = np.load(self.folder / PROFILES_FILE, mmap_mode="r")

    @functools.cached_property
    def times(self) -> pd.DatetimeIndex:
        """Interval starts of the records (UTC)."""
        ix = self.index
        return pd.date_range(pd.Timestamp(ix["start"]), periods=ix["records"], freq=pd.Timedelta(seconds=ix["step_s"]))

    @functools.cached_property
    def time_strings(self) -> list:
        """Interval starts as UTC ISO 8601 strings (``2025-01-01T00:00:00Z``)."""
        return list(self.times.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def profile(self, building_id, *, face_id=None, walls=False):
        """Hourly AC yield [kWh per record] of a building's roof (or walls), or of one roof face.

        Parameters
        ----------
        building_id : str
        face_id : str, optional
            A roof face of the building.
        walls : bool
            The building's walls instead of its roof.

        Returns
        -------
        ndarray of float32, shape (records,)
        """
        building_id = str(building_id)
        if building_id not in self._buildings:
            raise ProfileNotFound(f"building {building_id!r} is not in {self.folder}")
        if face_id is not None:
            kind, key = "faces", str(face_id)
            if not key.startswith(building_id + "-") and key not in self.index["rows"]["faces"]:
                raise ProfileNotFound(f"face {key!r} does not belong to building {building_id!r}")
        else:
            kind, key = ("walls" if walls else "roof"), building_id
        row = self.index["rows"][kind].get(key)
        if row is None:
            return np.zeros(self.index["records"], np.float32)
        return np.array(self.data[row])

    def frame(self, building_id, *, face_id=None, walls=False):
        """Return the profile as a DataFrame: ``time`` (UTC ISO 8601, interval start), ``yield_kwh``."""
        values = self.profile(building_id, face_id=face_id, walls=walls)
        return pd.DataFrame({"time": self.time_strings,
                             "yield_kwh": np.round(values.astype(float), 4)})


@functools.lru_cache(maxsize=8)
def open_store(folder, mtime_ns):
    """Return a cached :class:`ProfileStore` of ``folder`` (``mtime_ns`` of its index invalidates the cache)."""
    return ProfileStore(folder)


def store_for(folder):
    """Return the cached :class:`ProfileStore` of a results folder (reopened when its index changes)."""
    path = Path(folder) / INDEX_FILE
    if not path.is_file():
        raise ProfileNotFound(f"{path}: no hourly profiles in this results folder; rerun `solarkataster run`")
    return open_store(str(Path(folder).resolve()), path.stat().st_mtime_ns)


def merge_profiles(folders, out_dir):
    """Merge the profile stores of several results folders (batch tiles) into one, row blocks copied.

    Parameters
    ----------
    folders : sequence of str or Path
        Results folders; those without profiles are skipped. Ids must be unique across them (a batch
        reports each building in one tile only); on a repeated id the first folder wins.
    out_dir : str or Path
        Output results folder.

    Returns
    -------
    list of str
        The file names written (empty when no folder had profiles).
    """
    from .atomic import atomic_write
    from .results import write_json_atomic

    stores = [ProfileStore(f) for f in folders if (Path(f) / INDEX_FILE).is_file()]
    if not stores:
        return []
    first = stores[0].index
    for s in stores[1:]:
        if (s.index["start"], s.index["step_s"], s.index["records"]) != (first["start"], first["step_s"],
                                                                          first["records"]):
            raise ProfileNotFound(f"{s.folder}: profiles cover another time axis than {stores[0].folder}")
    rows, buildings, offset = {k: {} for k in KINDS}, {}, 0
    for s in stores:
        for kind in KINDS:
            for key, row in s.index["rows"][kind].items():
                rows[kind].setdefault(key, offset + row)
        buildings.update(dict.fromkeys(s.index["buildings"]))
        offset += s.data.shape[0]

    def write(tmp):
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(offset, first["records"]))
        start = 0
        for s in stores:
            out[start:start + s.data.shape[0]] = s.data
            start += s.data.shape[0]
        out.flush()

    out_dir = Path(out_dir)
    atomic_write(out_dir / PROFILES_FILE, write, ".npy")
    write_json_atomic(out_dir / INDEX_FILE, dict(first, buildings=list(buildings), rows=rows))
    return [PROFILES_FILE, INDEX_FILE]
