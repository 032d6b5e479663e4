"""`--fix` until nothing changes: one file's fixes, pass after pass, on the findings of the last.

One pass fixes the findings reported on the text it starts from; a rewrite can make another
fixable (a second connection inside the `try` the first one's fix added, a finding that only shows
once an earlier leak is repaired). Like ruff, the passes go on until a pass changes nothing, at
most `MAX_PASSES` (ruff's limit, `ruff_linter::linter::MAX_ITERATIONS` = 100); a file still
changing then, or back to a text it had, is reported as not converged. `--fix` run twice then
changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from leakcheck.model import FileResult

if TYPE_CHECKING:  # the fixer (and libcst) is imported only when a file is fixed
    from leakcheck.fix.fixer import Outcome

MAX_PASSES = 100

Wanted = Callable[[str, int], bool]


@dataclass(frozen=True)
class Converged:
    """A file's text after the last pass, and what is found in it.

    `applied`: every fix applied, in the order of the passes (each names the line it was on in
    the text of its pass). `dropped` and `refused`: what the last pass could not fix, and why
    it did not touch the file (`fix.fixer.Outcome`'s), or why the passes stopped. `result`: the
    findings of `source`, with `fixed` and `not_fixed` filled from those."""

    source: bytes
    result: FileResult
    applied: tuple[str, ...]
    dropped: tuple[str, ...]
    refused: str


def _reported(result: FileResult) -> Wanted:
    reported = {(f.code, f.line) for f in result.findings}
    return lambda code, line: (code, line) in reported


def fix_until_stable(
    source: bytes,
    result: FileResult,
    fix: Callable[[bytes, Wanted], Outcome],
    check: Callable[[bytes], FileResult],
) -> Converged:
    """Apply `fix` to `source` (whose findings are `result`) and to its output, each pass
    fixing only what `check` reports (selection and suppressions applied), until a pass
    changes nothing or `MAX_PASSES` have run.

    `fix(text, wanted)` applies the fixes of the findings `wanted(code, line)` keeps;
    `check(text)` gives the findings of a text. Never raises beyond what they raise."""
    applied: list[str] = []
    seen = {source}
    current = source
    for _ in range(MAX_PASSES):
        outcome = fix(current, _reported(result))
        if outcome.source == current:
            return _converged(current, result, applied, outcome.dropped, outcome.refused)
        applied += outcome.applied
        current = outcome.source
        result = check(current)
        if current in seen:
            why = "the fixes undo each other (the text came back to an earlier one)"
            break
        if not result.findings:  # nothing left for a pass to fix: spare its parse
            return _converged(current, result, applied, [], "")
        seen.add(current)
    else:
        why = f"the fixes still change the file after {MAX_PASSES} passes"
    return _converged(current, result, applied, [], why)


def _converged(
    source: bytes, result: FileResult, applied: list[str], dropped: list[str], refused: str
) -> Converged:
    not_fixed = (*dropped, *((f"not fixed: {refused}",) if refused else ()))
    done = replace(result, fixed=tuple(applied), not_fixed=not_fixed)
    return Converged(source, done, tuple(applied), tuple(dropped), refused)
