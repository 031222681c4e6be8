"""Atomic file writes: a crash mid-write never leaves a partial output under the final name."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write, suffix=""):
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then move it into place.

    Parameters
    ----------
    path : str or Path
        Final file name.
    write : callable
        Writes the content to the temporary path it is given (a str).
    suffix : str
        Suffix of the temporary file (drivers that infer the format from it need it).

    Returns
    -------
    Path
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm", tmp + ".aux.xml"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    return path


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    return atomic_write(path, write)
