"""A rewrite of the tree as a text edit: the whole lines it changes, old and new."""

from __future__ import annotations

import libcst as cst

from leakcheck.model import Edit


def changed_lines(old: list[str], new: list[str]) -> tuple[int, int, int]:
    """1-based first changed line, last changed old line and last changed new line."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new)) - prefix
        and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    return prefix + 1, len(old) - suffix, len(new) - suffix


def replaced(module: cst.Module, old: cst.CSTNode, new: cst.CSTNode) -> cst.Module:
    result = module.deep_replace(old, new)
    assert isinstance(result, cst.Module)
    return result


def edit_for(module: cst.Module, old: cst.CSTNode, new: cst.CSTNode) -> Edit:
    """Whole lines of the original replaced by the rewritten ones (end exclusive)."""
    old_lines = module.code.splitlines(keepends=True)
    new_lines = replaced(module, old, new).code.splitlines(keepends=True)
    first, last_old, last_new = changed_lines(old_lines, new_lines)
    return Edit(first, 1, last_old + 1, 1, "".join(new_lines[first - 1 : last_new]))
