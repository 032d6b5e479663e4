"""Configuration tables that build on others: the `extend` key, and globs moved from the
directory they were written for to another.

`extend = "../shared/leakcheck.toml"` reads that file first and lays this one over it, as ruff's
`extend` does (https://docs.astral.sh/ruff/settings/#extend): the path is relative to the file
that names it (`~` and environment variables expanded), the extended file may itself extend
another, and any key this file sets replaces the inherited one, except the `extend-*` lists, which
add to the inherited ones (as in ruff, where `extend-exclude` and `extend-select` accumulate along
the chain). A `select` here starts the selection afresh: the inherited `extend-select` is
dropped with the inherited `select`. Kinds merge by name (this file's kind of a name replaces the
inherited one), and the `[django]` table key by key.

Globs (`exclude`, `extend-exclude`, `per-file-ignores`) are relative to the directory of the file
that wrote them, as ruff resolves each file's patterns against its own directory; an inherited
glob is rewritten relative to the extending file's directory (`rebase`).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from pathlib import Path
from typing import Any

# Keys whose lists add up along an `extend` chain instead of replacing each other.
ACCUMULATED = ("extend-select", "extend-ignore", "extend-exclude")
GLOB_LISTS = ("exclude", "extend-exclude")
# A chain of `extend` longer than this is taken for a mistake (ruff sets no limit; a shared
# configuration extending a company one extending a language one is three).
MAX_DEPTH = 16


def extended_path(value: str, naming: Path) -> Path:
    """Where `extend = value`, written in the file `naming`, points: `~` and `$VARS` expanded,
    relative to `naming`'s directory, resolved."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    return (naming.resolve().parent / expanded).resolve()


def rebase(pattern: str, anchor: Path, root: Path) -> str | None:
    """`pattern`, a glob relative to the directory `anchor`, as a glob relative to `root`; None
    when it can match nothing below `root`. A bare name (no `/`) matches at any depth and is
    kept as it is. Both directories are absolute and resolved.

    Below `anchor`, the relative directory is prefixed (glob characters in it escaped); above it,
    as many leading segments as `root` is deeper are matched against `root`'s names and dropped.
    A single remaining segment keeps a trailing `/`, which anchors it to `root` (a glob without
    `/` would match the name anywhere). A pattern that matches `root` itself or a directory above
    it becomes `*`: everything below.
    """
    if "/" not in pattern:
        return pattern
    body = pattern[2:] if pattern.startswith("./") else pattern
    if body.startswith("/"):  # absolute: against `root`'s own names
        return _strip(body.lstrip("/"), root.parts[1:])
    if anchor == root:
        return body
    if anchor.is_relative_to(root):
        prefix = glob.escape(anchor.relative_to(root).as_posix())
        return f"{prefix}/{body}"
    if not root.is_relative_to(anchor):
        return None
    return _strip(body, root.relative_to(anchor).parts)


def _strip(body: str, parts: tuple[str, ...]) -> str | None:
    """`body` with its first `len(parts)` segments matched against `parts` and dropped."""
    segments = body.rstrip("/").split("/")
    for depth, part in enumerate(parts):
        if depth == len(segments):
            return "*"  # the pattern names a directory above `root`
        if not fnmatch.fnmatchcase(part, segments[depth]):
            return None
    rest = segments[len(parts) :]
    if not rest:
        return "*"
    return "/".join(rest) + ("/" if len(rest) == 1 else "")


def _rebased_globs(table: dict[str, Any], anchor: Path, root: Path) -> dict[str, Any]:
    """`table` with its glob lists and `per-file-ignores` moved from `anchor` to `root`
    (entries that can match nothing below `root` dropped). Values of the wrong type are left
    for `settings.load` to reject."""
    out = dict(table)
    for key in GLOB_LISTS:
        value = table.get(key)
        if isinstance(value, list):
            moved = [rebase(p, anchor, root) if isinstance(p, str) else p for p in value]
            out[key] = [p for p in moved if p is not None]
    ignores = table.get("per-file-ignores")
    if isinstance(ignores, dict):
        moved_ignores = {}
        for pattern, codes in ignores.items():
            new = rebase(pattern, anchor, root)
            if new is not None:
                moved_ignores[new] = codes
        out["per-file-ignores"] = moved_ignores
    return out


def _kinds(base: Any, child: Any) -> Any:
    if not isinstance(base, list) or not isinstance(child, list):
        return child
    names = {k.get("name") for k in child if isinstance(k, dict)}
    return [k for k in base if not (isinstance(k, dict) and k.get("name") in names)] + child


def merge(
    base: dict[str, Any], base_dir: Path, child: dict[str, Any], child_dir: Path
) -> dict[str, Any]:
    """The table `child` (from a file in `child_dir`) laid over `base` (from `base_dir`), as the
    module docstring says; neither is modified. The `extend` key itself is not kept."""
    merged = _rebased_globs(base, base_dir, child_dir)
    merged.pop("extend", None)
    if "select" in child:
        merged.pop("extend-select", None)
    for key, value in child.items():
        if key == "extend":
            continue
        inherited = merged.get(key)
        if key in ACCUMULATED and isinstance(inherited, list) and isinstance(value, list):
            merged[key] = inherited + value
        elif key == "kinds":
            merged[key] = _kinds(inherited, value)
        elif key == "django" and isinstance(inherited, dict) and isinstance(value, dict):
            merged[key] = {**inherited, **value}
        else:
            merged[key] = value
    return merged
