"""One file's unexpected failure is one error entry for that file, never the end of the run."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from leakcheck.config.catalogue import CatalogueError
from leakcheck.model import FileError, FileResult
from leakcheck.project.discovery import display_path


def guarded(path: str, check: Callable[[str], FileResult]) -> FileResult:
    """`check(path)`, or a result holding one error entry if it raised.

    A configuration error (CatalogueError) is not the file's: it is raised again, and ends the
    run with exit 2. An OSError is the file's (it vanished, cannot be read); anything else is a bug
    in leakcheck and is marked `internal` (exit 2 once the report is out). KeyboardInterrupt and
    other BaseExceptions pass through.
    """
    try:
        return check(path)
    except CatalogueError:
        raise
    except OSError as error:
        return _error(path, f"cannot read: {_one_line(str(error))}", internal=False)
    except RecursionError:
        return _error(path, "too deeply nested to analyse", internal=False)
    except MemoryError:
        return _error(path, "out of memory while analysing this file", internal=False)
    except Exception as error:
        detail = _one_line("".join(traceback.format_exception_only(type(error), error)))
        return _error(path, f"internal error in leakcheck: {detail}", internal=True)


def _error(path: str, message: str, internal: bool) -> FileResult:
    try:
        shown = display_path(path)
    except (OSError, RuntimeError):  # the working directory vanished, a symlink loop
        shown = path
    return FileResult(shown, errors=(FileError(shown, None, message, internal=internal),))


def _one_line(text: str) -> str:
    return " ".join(text.split())
