"""Which files to check: Python files under the given paths, minus environments and build output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

SKIPPED_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "site-packages",
        "build",
        "dist",
        "venv",
        "__pypackages__",
        "_build",
        "buck-out",
    }
)


def _skip_dir(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))  # any virtual environment


def iter_files(paths: list[str]) -> Iterator[str]:
    """Files to check, in a stable order; a file named explicitly is always included."""
    seen: set[str] = set()
    for given in paths:
        if os.path.isfile(given):
            found: Iterator[str] = iter([os.path.normpath(given)])
        else:
            found = _walk(given)
        for path in found:
            real = os.path.realpath(path)  # `./a.py` and `../dir/a.py` are one file
            if real not in seen:
                seen.add(real)
                yield path


def _walk(root: str) -> Iterator[str]:
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not _skip_dir(entry):
                    dirs.append(entry.path)
            elif entry.name.endswith(".py") and entry.is_file():
                files.append(os.path.normpath(entry.path))
    yield from sorted(files)
    for directory in sorted(dirs):
        yield from _walk(directory)


def display_path(path: str) -> str:
    """Relative to the working directory when the file is under it, else as given."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return path
