"""Write fixed files atomically: a temporary file beside the original, fsync, then replace.

Ctrl-C or a kill leaves every file either old or new. A file changed since it was read is not
overwritten. Temporary files of an interrupted run are removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from leakcheck.interrupts import deferred_signals

TEMP_MARK = ".leakcheck-tmp-"


class Changed(Exception):
    """The file changed on disk after it was read."""


def write_atomically(path: Path, original: bytes, new: bytes) -> None:
    """Replace `path`'s content `original` by `new`, keeping its permissions.

    SIGINT and SIGTERM are held until the file is replaced and the temporary removed.
    """
    with deferred_signals():
        _write_atomically(path, original, new)


def _write_atomically(path: Path, original: bytes, new: bytes) -> None:
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


def replace_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` whole or not at all: a temporary file beside it, fsync,
    replace. A file that is not a regular file (`/dev/stdout`, a FIFO) is written directly: it
    cannot be replaced. A symlink's target is written, the link stays. Raises OSError.
    """
    target = path.resolve()
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    data = text.encode("utf-8")
    with deferred_signals():
        temp = target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}")
        try:
            # Created as open() would create the file itself: 0o666 less the umask.
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if target.exists():
                os.chmod(temp, target.stat().st_mode & 0o7777)
            os.replace(temp, target)
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
