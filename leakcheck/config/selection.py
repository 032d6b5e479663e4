"""Which rules apply to a file: `select` / `extend-select` / `ignore`, then `per-file-ignores`.

As in ruff, the most specific prefix wins (`select = ["LC"]`, `ignore = ["LC1"]` keeps LC2xx), and
at equal specificity `ignore` wins. `--select` on the command line starts the selection afresh;
`--ignore` and `--extend-select` add to the configuration's. An opt-in rule (`opt_in=True` in
its module, as ruff's preview rules under `explicit-preview-rules`) is enabled only when its full
code is selected: `ALL` and prefixes leave it out.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePath

from leakcheck.checks import opt_in_codes
from leakcheck.config.settings import Config


@dataclass(frozen=True)
class Overrides:
    """Rule selection given on the command line."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # `--per-file-ignores GLOB:CODES`: globs relative to the working directory.
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _specificity(code: str, prefixes: tuple[str, ...]) -> int:
    """Length of the longest prefix naming `code` (`ALL` is the least specific), -1 for none."""
    best = -1
    for prefix in prefixes:
        if prefix == "ALL":
            best = max(best, 0)
        elif code.startswith(prefix):
            best = max(best, len(prefix))
    return best


def enabled(code: str, config: Config, overrides: Overrides = Overrides()) -> bool:
    if overrides.select is not None:
        select = overrides.select + overrides.extend_select
        ignore = overrides.ignore
    else:
        select = config.select if config.select is not None else ("ALL",)
        select += config.extend_select + overrides.extend_select
        ignore = config.ignore + config.extend_ignore + overrides.ignore
    if code in opt_in_codes() and code not in select:
        return False
    return _specificity(code, select) > _specificity(code, ignore)


def fix_allowed(code: str, config: Config) -> bool:
    """Whether `--fix` may apply `code`'s fixes: `fixable` (default `ALL`) names it more
    specifically than `unfixable` does, as `select` against `ignore` (ruff's `fixable` /
    `unfixable`, where an unfixable rule's fix is dropped from its diagnostic)."""
    return _specificity(code, config.fixable) > _specificity(code, config.unfixable)


def matches(path: Path, pattern: str, root: Path) -> bool:
    """A glob against the path relative to `root`, or, without a `/`, against the name alone."""
    absolute = path.resolve()
    if "/" not in pattern and fnmatch.fnmatchcase(absolute.name, pattern):
        return True
    try:
        relative = PurePath(absolute.relative_to(root)).as_posix()
    except ValueError:
        return False
    return fnmatch.fnmatchcase(relative, pattern.rstrip("/"))


def ignored_in_file(
    code: str, path: Path, config: Config, overrides: Overrides = Overrides()
) -> bool:
    """`per-file-ignores` of the configuration (globs relative to its directory) and of the
    command line (relative to the working directory) silence `code` in `path`."""
    if any(
        _specificity(code, codes) >= 0
        for pattern, codes in config.per_file_ignores
        if matches(path, pattern, config.root)
    ):
        return True
    if not overrides.per_file_ignores:
        return False
    cwd = Path.cwd().resolve()
    return any(
        _specificity(code, codes) >= 0
        for pattern, codes in overrides.per_file_ignores
        if matches(path, pattern, cwd)
    )


def excluded(path: Path, config: Config) -> bool:
    return any(
        matches(path, pattern, config.root) for pattern in config.exclude + config.extend_exclude
    )
