"""Atomic file writes: a crash mid-write never leaves a partial output under the final name.

The temporary file comes from :func:`tempfile.mkstemp`, which creates it readable by its owner only
(0600). Before the rename it gets the mode an ordinary ``open(path, "w")`` would have given it,
``0666 & ~umask`` (0644 under the usual umask 022), so a web server running as another user can read the
outputs.
"""
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
        os.chmod(tmp, 0o666 & ~process_umask())
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm", tmp + ".aux.xml"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    return path


def process_umask() -> int:
    """Return the process's file mode creation mask (e.g. ``0o022``).

    Read from ``/proc/self/status`` where the kernel reports it (Linux 4.7+), since setting and restoring
    the mask with :func:`os.umask` briefly changes it for every thread of the process.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    return atomic_write(path, write)
