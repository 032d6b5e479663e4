"""Apply a rewrite plan to the tree, and express it as a text edit of whole lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from leakcheck.analysis.positions import locate
from leakcheck.analysis.syntax import dotted
from leakcheck.model import Edit

if TYPE_CHECKING:
    from leakcheck.fix.recipes import Plan


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


def apply_plan(module: cst.Module, plan: Plan) -> tuple[cst.Module, int | None]:
    """The module with the plan's block replaced and its import added once; and the 1-based line
    of that import in the new code, if one was inserted (the only line outside the block a fix
    may add)."""
    result = module.deep_replace(plan.old, plan.new)
    assert isinstance(result, cst.Module)
    inserted: cst.SimpleStatementLine | None = None
    for source, name in plan.imports:
        if _imports(result, source, name):
            continue
        inserted = cst.SimpleStatementLine(
            body=[cst.ImportFrom(module=cst.Name(source), names=[cst.ImportAlias(cst.Name(name))])]
        )
        body: list[cst.BaseStatement] = list(result.body)
        body.insert(_after_header(body), inserted)
        result = result.with_changes(body=body)
    if inserted is None:
        return result, None
    return result, locate(result, [inserted])[id(inserted)].line


def _imports(module: cst.Module, source: str, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.ImportFrom)
                    and small.module is not None
                    and dotted(small.module) == source
                    and not isinstance(small.names, cst.ImportStar)
                    and any(dotted(a.name) == name and a.asname is None for a in small.names)
                ):
                    return True
    return False


def _after_header(body: list[cst.BaseStatement]) -> int:
    """After the docstring and the imports that open the module."""
    index = 0
    for index, stmt in enumerate(body):
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and stmt.body else None
        docstring = (
            index == 0
            and isinstance(small, cst.Expr)
            and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))
        )
        if not (docstring or isinstance(small, (cst.Import, cst.ImportFrom))):
            return index
    return len(body)


def edit_for(module: cst.Module, plan: Plan) -> Edit:
    """Whole lines of the original replaced by the rewritten ones (end exclusive)."""
    old_lines = module.code.splitlines(keepends=True)
    new_lines = apply_plan(module, plan)[0].code.splitlines(keepends=True)
    first, last_old, last_new = changed_lines(old_lines, new_lines)
    return Edit(first, 1, last_old + 1, 1, "".join(new_lines[first - 1 : last_new]))
