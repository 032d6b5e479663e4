"""The project root: the folder that holds a project's configuration and bounds what it controls.

One definition for every stage that needs it: the cache's place (`project.cache`), where the
repository's links end and the user's begin (`fix.boundary`), and where a search for a
dependency's manifest stops (`config.dependencies`).
"""

from __future__ import annotations

from pathlib import Path

# What marks a project's root folder, as ruff and pytest look for it.
ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


def project_root(start: Path | None = None) -> Path:
    """The project root for `start` (default: the working directory): the nearest directory at
    or above it holding pyproject.toml, setup.cfg, setup.py or .git, else `start` itself.

    Returns a resolved path. Raises OSError when the working directory is gone.
    """
    start = (start if start is not None else Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in ROOT_MARKERS):
            return directory
    return start
