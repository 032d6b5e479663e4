"""Fix one file on disk as the CLI would (its configuration, its project), without writing it."""

from __future__ import annotations

from pathlib import Path

from leakcheck.fix.fixer import Outcome
from leakcheck.project.runner import Checker


def fix_file(path: Path, unsafe: bool = False, source: bytes | None = None) -> Outcome:
    """What `--fix` (with `unsafe`, `--unsafe-fixes`) makes of `path` (or of `source` as if it
    were that file's content)."""
    data = path.read_bytes() if source is None else source
    return Checker().context(path).fix(data, unsafe)
