"""Apply the Django rules' fixes (`server-side-cursors` adds a key, `persistent-under-asgi` sets
`CONN_MAX_AGE` to 0).

These fixes are text edits (`model.Edit`) carried by the findings themselves, not rewrites of a
verdict's block, so recipes.py cannot express them. The same safety rules hold: one fix at a time,
the result must parse, the fixed finding must be gone and no new finding may appear; otherwise the
fix is dropped and reported. Findings are named by (code, alias or function, what), which survives
the line shifts of earlier fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from leakcheck.analysis.django import DjangoContext, django_findings
from leakcheck.analysis.parsing import parse_module
from leakcheck.model import Applicability, Edit, Finding

MAX_ROUNDS = 32
Key = tuple[str, str, str]


@dataclass
class SettingsOutcome:
    """The source after the Django fixes, and what was applied or dropped (as fixer.Outcome)."""

    source: bytes
    applied: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def key(finding: Finding) -> Key:
    """What names a finding across edits: code, alias or function, and what it is about."""
    return (finding.code, finding.function, finding.acquisition)


def wanted_keys(
    source: bytes,
    path: str,
    context: DjangoContext | None,
    unsafe: bool,
    wanted: Callable[[str, int], bool],
) -> dict[Key, int]:
    """The fixable findings of `source` the caller wants, by key, with their original line."""
    try:
        module = parse_module(source)
    except Exception:
        return {}
    out = {}
    for finding in django_findings(module, source, path, context):
        fix = finding.fix
        if fix is None or (fix.applicability != Applicability.SAFE and not unsafe):
            continue
        if wanted(finding.code, finding.line):
            out[key(finding)] = finding.line
    return out


def apply_edit(text: str, edit: Edit) -> str:
    """`text` with `edit` applied (1-based lines and columns, end exclusive)."""
    lines = text.splitlines(keepends=True)

    def offset(line: int, column: int) -> int:
        return sum(len(row) for row in lines[: line - 1]) + column - 1

    return (
        text[: offset(edit.line, edit.column)]
        + edit.content
        + text[offset(edit.end_line, edit.end_column) :]
    )


def fix_settings(
    source: bytes, path: str, context: DjangoContext | None, allowed: dict[Key, int]
) -> SettingsOutcome:
    """`source` with the fixes of the `allowed` findings applied, each checked."""
    outcome = SettingsOutcome(source)
    if not allowed:
        return outcome
    failed: set[Key] = set()
    for _ in range(MAX_ROUNDS):
        try:
            module = parse_module(outcome.source)
        except Exception:
            break
        before = django_findings(module, outcome.source, path, context)
        chosen = next(
            (f for f in before if f.fix is not None and key(f) in allowed and key(f) not in failed),
            None,
        )
        if chosen is None or chosen.fix is None:
            break
        label = f"{chosen.code} at line {allowed[key(chosen)]}: {chosen.fix.message}"
        text = module.code
        for edit in sorted(chosen.fix.edits, key=lambda e: (e.line, e.column), reverse=True):
            text = apply_edit(text, edit)
        new_source = text.encode(module.encoding)
        why = _check(new_source, path, context, chosen, before)
        if why:
            failed.add(key(chosen))
            outcome.dropped.append(f"{label}: not applied ({why})")
            continue
        outcome.source = new_source
        outcome.applied.append(label)
    return outcome


def _check(
    source: bytes, path: str, context: DjangoContext | None, fixed: Finding, before: list[Finding]
) -> str:
    try:
        module = parse_module(source)
    except Exception:
        return "the rewrite does not parse"
    after = {key(f) for f in django_findings(module, source, path, context)}
    if key(fixed) in after:
        return "the finding remains after the rewrite"
    if after - {key(f) for f in before}:
        return "the rewrite would add a finding"
    return ""
