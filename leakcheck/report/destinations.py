"""Where a run writes (`--output-file`, `--write-baseline`, a cache folder), checked before it
writes anything at all, so that `--fix` never rewrites the project and then fails on a report path.

A missing folder is created, as ruff does for `--output-file`; a path that can never be written
(under a regular file, a folder given for a file, a read-only place) is one clear error, and so is
a write that fails on the way (a full disk: `cannot write report.json: No space left on device`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from leakcheck.shown import shown as _shown


class DestinationError(ValueError):
    """A path leakcheck was asked to write cannot be written; the message names the path (and
    the option, when it is checked before the run)."""


def prepare_file(path: str, option: str) -> Path:
    """Make `path` ready to be written by `fix.writer.replace_text`: create its folder, and check
    that a file can be created there (and that an existing one may be written).

    A symbolic link on the way that the repository controls (at or below the project root, the
    path's own name included, dangling or not) is refused: a checked-out repository could point
    it anywhere. Links outside the project (`/dev/stdout`, the user's own folders) are followed.
    See `fix.boundary`.

    Returns the path; raises DestinationError naming `option` and the path.
    """
    from leakcheck.config.roots import project_root
    from leakcheck.fix.boundary import repository_link

    link = repository_link(path, project_root())
    if link is not None:
        raise DestinationError(
            f"{option} {path}: {link} is a symbolic link inside the project; "
            "leakcheck does not write through links"
        )
    target = Path(path)
    if target.is_dir():
        raise DestinationError(f"{option} {path}: is a folder, not a file")
    if target.exists() and not target.is_file():  # /dev/stdout, a FIFO: written directly
        if not os.access(target, os.W_OK):
            raise DestinationError(f"{option} {path}: not writable")
        return target
    if target.exists() and not os.access(target, os.W_OK):
        raise DestinationError(f"{option} {path}: not writable (permission denied)")
    prepare_folder(str(target.resolve().parent), option, shown=path)
    return target


def prepare_folder(path: str, option: str, shown: str | None = None) -> Path:
    """Create the folder `path` if missing, and check that files can be created in it (by
    creating and removing one: as root, permission bits say nothing, a read-only mount does).

    Returns the folder; raises DestinationError naming `option` and `shown` (default `path`).
    """
    shown = shown if shown is not None else path
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file stands where the folder should be
        raise DestinationError(
            f"{option} {shown}: cannot create the folder {folder}: a file is in the way"
        ) from error
    except OSError as error:
        raise DestinationError(
            f"{option} {shown}: cannot create the folder {folder}: {error.strerror or error}"
        ) from error
    import tempfile  # here, not at the top: 5 ms of every start, for a run that writes a file

    try:
        descriptor, probe = tempfile.mkstemp(prefix=".leakcheck-probe-", dir=folder)
    except OSError as error:
        raise DestinationError(
            f"{option} {shown}: cannot write in {folder}: {error.strerror or error}"
        ) from error
    os.close(descriptor)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return folder


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Around the write of a report or baseline file at `path`: an OSError raised inside (a full
    disk, a quota, an I/O error; the OS's message alone often does not name the file) becomes a
    DestinationError naming the file and why, e.g. `cannot write report.json: No space left on
    device`. Raises DestinationError; anything else passes through."""
    try:
        yield
    except OSError as error:
        why = error.strerror or str(error)
        raise DestinationError(f"cannot write {_shown(os.fspath(path))}: {why}") from error
