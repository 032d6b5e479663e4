"""Write fixed files atomically: a temporary file beside the original, fsync, then replace.

Ctrl-C or a kill leaves every file either old or new. A file changed since it was read is not
overwritten. Temporary files of an interrupted run are removed by the next one.

Against a hostile repository (see `fix.boundary` for which links are the repository's):
- A temporary has a random name and is created with O_EXCL (`tempfile.mkstemp`), so a link
  planted under a predictable name is never opened; it is then renamed over the file, and a
  rename replaces a name, it never writes through a link.
- The file itself is opened with O_NOFOLLOW: a link is refused, not written through.
- The rewritten file keeps its mode, owner and group, and its hard links (see `write_atomically`).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path

from leakcheck.interrupts import deferred_signals

TEMP_MARK = ".leakcheck-tmp-"
# `.<name>.leakcheck-tmp-<pid>-<mkstemp's random part>`; without the random part: older versions'.
_TEMPORARY = re.compile(r"\..+" + re.escape(TEMP_MARK) + r"(\d+)(?:-[a-z0-9_]+)?")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class Changed(Exception):
    """The file changed on disk after it was read."""


class NotWritable(OSError):
    """The file is not one `--fix` writes: not a regular file, or read-only (its mode says so)."""


def write_atomically(path: Path, original: bytes, new: bytes) -> None:
    """Replace `path`'s content `original` by `new`, keeping its mode, owner, group and links.

    `path` is the file's real path (no link at its end: opened with O_NOFOLLOW). A temporary
    file with a random name is written beside it, fsynced, given the original's mode, owner and
    group, then renamed over it. Two cases are written in place instead (the file opened for
    writing, its content replaced, fsync): a file with several hard links, which a rename would
    split from its other names, and a file whose owner or group this process cannot give to a
    new file (someone else's file we may write). There atomicity is traded for keeping what is
    the user's, as ruff and black write every file: a kill -9 mid-write can leave it partly
    written; SIGINT and SIGTERM cannot (held, as for the rename, until the write ends).

    Raises Changed when the file's bytes are no longer `original`; NotWritable when it is not a
    regular file or has no owner write bit; OSError when it cannot be opened or written (a link:
    ELOOP).
    """
    with deferred_signals():
        _write_atomically(path, original, new)


def _write_atomically(path: Path, original: bytes, new: bytes) -> None:
    descriptor = os.open(path, os.O_RDWR | _NOFOLLOW | _CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotWritable(f"{path}: not a regular file")
        if not info.st_mode & stat.S_IWUSR:
            raise NotWritable(f"{path}: read-only (mode {stat.S_IMODE(info.st_mode):04o})")
        if _read_all(descriptor) != original:
            raise Changed(str(path))
        if info.st_nlink > 1 or not _replaced(path, info, original, new):
            _write_in_place(descriptor, new)
    finally:
        os.close(descriptor)


def _read_all(descriptor: int) -> bytes:
    os.lseek(descriptor, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(descriptor, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_in_place(descriptor: int, new: bytes) -> None:
    os.lseek(descriptor, 0, os.SEEK_SET)
    view = memoryview(new)
    while view:
        view = view[os.write(descriptor, view) :]
    os.ftruncate(descriptor, len(new))
    os.fsync(descriptor)


def _temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new file in `folder` for `name`'s content: random name, O_EXCL, mode 0600."""
    import tempfile  # here, not at the top: 5 ms of every start, for a run that writes a file

    descriptor, temp = tempfile.mkstemp(prefix=f".{name}{TEMP_MARK}{os.getpid()}-", dir=folder)
    return descriptor, Path(temp)


def _keep_owner(descriptor: int, info: os.stat_result) -> bool:
    """Give the new file `descriptor` the owner and group of `info`; False if not allowed."""
    mine = os.fstat(descriptor)
    if (mine.st_uid, mine.st_gid) == (info.st_uid, info.st_gid):
        return True
    try:
        os.fchown(descriptor, info.st_uid, info.st_gid)
    except PermissionError:  # not root, someone else's file (or a group we are not in)
        return False
    return True


def _replaced(path: Path, info: os.stat_result, original: bytes, new: bytes) -> bool:
    """Write `new` to a temporary beside `path` and rename it over `path`. False, and nothing
    renamed, when the temporary cannot take `path`'s owner and group."""
    descriptor, temp = _temporary(path.parent, path.name)
    pending: Path | None = temp
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(new)
            handle.flush()
            if not _keep_owner(handle.fileno(), info):
                return False
            os.fchmod(handle.fileno(), info.st_mode & 0o7777)  # after chown, which clears setuid
            os.fsync(handle.fileno())
        if _current(path) != original:  # changed while we were writing
            raise Changed(str(path))
        os.replace(temp, path)
        pending = None
    finally:
        if pending is not None:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
    return True


def _current(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    try:
        return _read_all(descriptor)
    finally:
        os.close(descriptor)


def replace_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` whole or not at all: a temporary file with a random name
    beside it (O_EXCL), fsync, replace. A link is followed (its target written, the link stays):
    the caller refuses the repository's links first (`report.destinations.prepare_file`,
    `fix.boundary.repository_link`). An existing file keeps its mode (and owner and group where
    allowed); a new one is created as open() would create it: 0o666 less the umask.

    Written directly instead, as a shell's `>` would: a file that is not a regular file (a FIFO,
    a device), which cannot be replaced; and a path under /dev or /proc (`/dev/stdout`,
    `/dev/fd/3`), opened as given and appended to: through a pipe it has no real path to replace,
    and when it is a redirected file, replacing would drop what the shell wrote before and leave
    the shell writing to a removed file.

    Raises OSError.
    """
    from leakcheck.fix.boundary import SYSTEM_FOLDERS

    if os.path.abspath(path).startswith(SYSTEM_FOLDERS):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
        return
    target = path.resolve()
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    data = text.encode("utf-8")
    with deferred_signals():
        descriptor, temp = _temporary(target.parent, target.name)
        pending: Path | None = temp
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                try:
                    info: os.stat_result | None = os.stat(target)
                except FileNotFoundError:
                    info = None
                if info is not None:
                    _keep_owner(handle.fileno(), info)
                    os.fchmod(handle.fileno(), info.st_mode & 0o7777)
                else:
                    os.fchmod(handle.fileno(), 0o666 & ~_umask())
                os.fsync(handle.fileno())
            os.replace(temp, target)
            pending = None
        finally:
            if pending is not None:
                with contextlib.suppress(FileNotFoundError):
                    pending.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stray_temporaries(directory: Path) -> None:
    """Remove from `directory` the temporary files left by a run that was killed.

    Only regular files (never a link or a folder) whose name is one of ours
    (`.<name>.leakcheck-tmp-<pid>-<random>`) and whose pid is not a live process: a running
    leakcheck's temporaries stay. Raises nothing.
    """
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            match = _TEMPORARY.fullmatch(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a pid at all
        return False
    return True
