"""Fix one file on disk as the CLI would (its configuration, its project), without writing it."""

from __future__ import annotations

from pathlib import Path

from leakcheck.config import kinds_for
from leakcheck.fixer import Outcome, fix_source
from leakcheck.project import module_name
from leakcheck.runner import Checker


def fix_file(path: Path, unsafe: bool = False, source: bytes | None = None) -> Outcome:
    """What `--fix` (with `unsafe`, `--unsafe-fixes`) makes of `path` (or of `source` as if it
    were that file's content)."""
    checker = Checker()
    config = checker.finder.for_file(path)
    kinds = kinds_for(config)
    _, package, _ = module_name(path)
    resolver = checker.index.resolver_for(path, kinds, config.names)
    data = path.read_bytes() if source is None else source
    return fix_source(data, kinds, package, resolver, unsafe, helpers=config.fix_helpers)
