"""Which files to check: Python files under the given paths, minus environments and build output."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from leakcheck.config.selection import matches
from leakcheck.config.settings import DEFAULT_EXCLUDE

Excluded = Callable[[str], bool]


def _default_excluded(path: str) -> bool:
    return any(matches(Path(path), pattern, Path.cwd()) for pattern in DEFAULT_EXCLUDE)


def _skip_dir(entry: os.DirEntry[str], is_excluded: Excluded) -> bool:
    if is_excluded(entry.path):
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))  # any virtual environment


def iter_files(paths: list[str], is_excluded: Excluded = _default_excluded) -> Iterator[str]:
    """Files to check, in a stable order; a file named explicitly is always included."""
    seen: set[str] = set()
    for given in paths:
        if os.path.isfile(given):
            found: Iterator[str] = iter([os.path.normpath(given)])
        else:
            found = _walk(given, is_excluded)
        for path in found:
            real = os.path.realpath(path)  # `./a.py` and `../dir/a.py` are one file
            if real not in seen:
                seen.add(real)
                yield path


def _walk(root: str, is_excluded: Excluded) -> Iterator[str]:
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not _skip_dir(entry, is_excluded):
                    dirs.append(entry.path)
            elif entry.name.endswith(".py") and entry.is_file() and not is_excluded(entry.path):
                files.append(os.path.normpath(entry.path))
    yield from sorted(files)
    for directory in sorted(dirs):
        yield from _walk(directory, is_excluded)


def display_path(path: str) -> str:
    """Relative to the working directory when the file is under it, else as given."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return path
