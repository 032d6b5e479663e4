"""Check or fix one in-memory buffer (standard input, an editor's unsaved text) as if it were
the file at a path: that path's configuration, `per-file-ignores`, project-wide names.

This is the one call site of the runner's machinery for buffers (`leakcheck check -` and
`leakcheck server` both come through here), so that it can be switched to the project model's own
buffer entry point when that exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from leakcheck.fix.patch import patch_text
from leakcheck.model import FileResult
from leakcheck.project.converge import fix_until_stable
from leakcheck.project.discovery import Discovery
from leakcheck.project.runner import Checker, FileContext

STDIN = "-"


@dataclass(frozen=True)
class Fixed:
    """A buffer after `--fix`: its new text and what is still found in it."""

    source: bytes
    result: FileResult  # findings left, with `fixed` / `not_fixed` / (if asked) `diff` filled


def _context(checker: Checker, path: str) -> FileContext:
    return checker.context(Path(path))


def skipped(checker: Checker, path: str) -> bool:
    """With `--force-exclude`, whether `exclude` or an ignore file skips `path` (as ruff skips
    an excluded `--stdin-filename`)."""
    if not checker.options.force_exclude or path == STDIN:
        return False
    discovery = Discovery(checker.finder.for_dir, checker.options.respect_gitignore, True)
    return discovery.named_excluded(os.path.realpath(path))


def check_buffer(checker: Checker, source: bytes, path: str) -> FileResult:
    """Findings for `source` as if it were the file at `path` (which need not exist), with
    selection and suppressions applied. Raises CatalogueError for a bad configuration."""
    ctx = _context(checker, path)
    if skipped(checker, path):
        return FileResult(ctx.shown)
    return checker._check(source, ctx)


def fix_buffer(
    checker: Checker, source: bytes, path: str, unsafe: bool = False, diff: bool = False
) -> Fixed:
    """`source` with the fixes of the findings `check_buffer` reports applied (safe ones, or
    also unsafe ones), and what remains; with `diff`, the unified diff in `result.diff`."""
    ctx = _context(checker, path)
    if skipped(checker, path):
        return Fixed(source, FileResult(ctx.shown))
    done = fix_until_stable(
        source,
        checker._check(source, ctx),
        lambda text, wanted: ctx.fix(text, unsafe, wanted),
        lambda text: checker._check(text, ctx),
    )
    text = ""
    if diff and done.source != source:
        text = patch_text(source, done.source, ctx.shown)
    return Fixed(done.source, replace(done.result, diff=text))
