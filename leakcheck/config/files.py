"""Reading the project's own files (ruff's or black's settings, lock and requirements files):
files of a repository under check, which may be a FIFO, a device or unreadable.

A file is opened without blocking and read only when it is a regular file, so a FIFO named
`pyproject.toml` never stalls a run; anything else reads as absent.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from leakcheck.config.catalogue import tomllib


def read_regular(path: Path) -> bytes | None:
    """The bytes of `path` when it is a regular file (links followed), else None: missing,
    unreadable, a directory, a FIFO or a device (opened with `O_NONBLOCK`, never read). Never
    raises."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read()
    except OSError:
        return None


def read_toml(path: Path) -> dict[str, Any] | None:
    """`path`'s TOML table when it is a regular file holding valid UTF-8 TOML, else None (as
    `read_regular`; invalid or too deeply nested TOML reads as absent too). Never raises."""
    raw = read_regular(path)
    if raw is None:
        return None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data
