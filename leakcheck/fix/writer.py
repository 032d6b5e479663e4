"""Write fixed files atomically: a temporary file beside the original, fsync, then replace.

Ctrl-C or a kill leaves every file either old or new. A file changed since it was read is not
overwritten. Temporary files of an interrupted run are removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TEMP_MARK = ".leakcheck-tmp-"


class Changed(Exception):
    """The file changed on disk after it was read."""


def write_atomically(path: Path, original: bytes, new: bytes) -> None:
    """Replace `path`'s content `original` by `new`, keeping its permissions."""
    if path.read_bytes() != original:
        raise Changed(str(path))
    mode = path.stat().st_mode
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(temp, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode & 0o7777)
        if path.read_bytes() != original:  # changed while we were writing
            raise Changed(str(path))
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def remove_stray_temporaries(directory: Path) -> None:
    """Temporary files left by a run that was killed (not ours: other processes' pids)."""
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            name = entry.name
            if name.startswith(".") and TEMP_MARK in name:
                pid = name.rsplit("-", 1)[-1]
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
