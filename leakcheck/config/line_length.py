"""The line length a project's formatter keeps, read once per project: what a fix should keep to.

Read at the project root (`config.roots.project_root`), as ruff and black resolve it there:

- ruff's own files first, in ruff's order of precedence (ruff docs, "Configuring Ruff": `.ruff.toml`
  over `ruff.toml` over `pyproject.toml`): the top-level `line-length` of `.ruff.toml` or
  `ruff.toml`, else `[tool.ruff] line-length` in `pyproject.toml`;
- else black's `[tool.black] line-length` in `pyproject.toml` (black docs, "The basics":
  configuration in `pyproject.toml` under `[tool.black]`);
- else 88, the default of both (ruff's `line-length` option, black's `--line-length`).

A value that is not a positive integer is ignored, as is a file that does not parse: the default
stands, the check goes on.
"""

from __future__ import annotations

import functools
from pathlib import Path

from leakcheck.config.files import read_toml
from leakcheck.config.roots import project_root

DEFAULT = 88
RUFF_FILES = (".ruff.toml", "ruff.toml")


def _length(table: object) -> int | None:
    value = table.get("line-length") if isinstance(table, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


@functools.lru_cache(maxsize=64)
def _at_root(root: Path) -> int:
    for name in RUFF_FILES:
        if (root / name).is_file():
            found = _length(read_toml(root / name))
            if found is not None:
                return found
    tools = (read_toml(root / "pyproject.toml") or {}).get("tool", {})
    if isinstance(tools, dict):
        for tool in ("ruff", "black"):
            found = _length(tools.get(tool))
            if found is not None:
                return found
    return DEFAULT


def line_length(file: Path | None) -> int:
    """The line length of the project holding `file` (a checked file on disk; None or a file
    whose folder is gone: the working directory's project). Never raises: 88 when nothing is
    configured or the folder cannot be read."""
    try:
        start = file.resolve().parent if file is not None and file.name else None
        return _at_root(project_root(start))
    except OSError:
        return DEFAULT


def forget() -> None:
    """Drop the lengths read so far: a long-lived process (a language server) calls it when a
    configuration file may have changed."""
    _at_root.cache_clear()
