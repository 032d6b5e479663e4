"""A finding's escaping path in SARIF terms: the lines its message names as embedded links to
`relatedLocations`, and the path itself as one `codeFlow`.

What a `Finding` carries: the acquisition (its primary location), the statement through which the
resource escapes (`related_line`/`related_column`, labelled `related_label`: the statement that
raises, returns, is reassigned, waits...), and a message that names that statement's line first
("... if `conn.cursor()` on line 6 raises"; tests/test_explanations.py holds this for every
fixture) and sometimes further lines in trailing clauses:

- on the path, before the escape: ", when `owned` on line 12 is false" (a branch taken),
  ", after an error from `x()` on line 9 is handled", ", after the `break` on line 7";
- off the path: ", before line 67 hands it over" (the hand-off the error pre-empts).

Every "line N" of the message becomes `[line N](id)`, the link form of a plain-text message
(SARIF 2.1.0, §3.11.6 "Messages with embedded links"; GitHub shows a related location only when
the message links it), id 1 being the escape. The code flow is the acquisition, then the on-path
clauses in the message's order, then the escape: the order in which the statements run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leakcheck.model import Finding

__all__ = ["Step", "code_flow", "linked", "steps"]

LINE = re.compile(r"\bline (\d+)\b")
# Clauses naming a statement on the escaping path, before the escape: each gives the step's
# label and its SARIF threadFlowLocation `kinds` (SARIF 2.1.0 §3.38.8: "branch" with "true" or
# "false" for a condition, "handler" for code run in response to an exception).
_Describe = Callable[[re.Match[str]], tuple[str, tuple[str, ...]]]
_ON_PATH: tuple[tuple[re.Pattern[str], _Describe], ...] = (
    (
        re.compile(r"when (`[^`]*`) on line (\d+) is (true|false)"),
        lambda m: (f"{m.group(1)} is {m.group(3)}", ("branch", m.group(3))),
    ),
    (
        re.compile(r"after an error from (`[^`]*`) on line (\d+) is handled"),
        lambda m: (f"an error from {m.group(1)} is handled", ("handler",)),
    ),
    (re.compile(r"after the (`[^`]*`) on line (\d+)"), lambda m: (f"after the {m.group(1)}", ())),
)
_HAND_OFF = re.compile(r"before line (\d+) hands it over")
# A link-like run in the literal text (`handlers[kind](conn)` quoted from the code).
_LINK_LIKE = re.compile(r"\[[^\]]*\]\(")


@dataclass(frozen=True)
class Step:
    """A line the message names: its related-location `id`, `line`, `column` (None when the
    finding does not carry it), `label` (the related location's message, "" for none), whether
    it lies on the escaping path before the escape (`on_path`) and its SARIF `kinds`."""

    id: int
    line: int
    column: int | None
    label: str
    on_path: bool = False
    kinds: tuple[str, ...] = ()


def steps(finding: Finding) -> list[Step]:
    """The related locations of `finding`: the escape first (id 1, whether the message names it
    or not), then each other line the message names, in the message's order (ids 2, 3, ...)."""
    out: list[Step] = []
    if finding.related_line is not None:
        out.append(Step(1, finding.related_line, finding.related_column, finding.related_label))
    clauses: dict[int, tuple[str, bool, tuple[str, ...]]] = {}
    for pattern, describe in _ON_PATH:
        for match in pattern.finditer(finding.message):
            label, kinds = describe(match)
            clauses.setdefault(int(match.group(2)), (label, True, kinds))
    for match in _HAND_OFF.finditer(finding.message):
        clauses.setdefault(int(match.group(1)), ("hands it over", False, ()))
    known = {step.line for step in out}
    for match in LINE.finditer(finding.message):
        line = int(match.group(1))
        if line in known:
            continue
        known.add(line)
        label, on_path, kinds = clauses.get(line, ("", False, ()))
        out.append(Step(len(out) + 1, line, None, label, on_path, kinds))
    return out


def _literal(text: str) -> str:
    """Text outside a link as it may stand in a plain-text message: unchanged (§3.11.6: "literal
    square brackets and backslashes MAY appear anywhere else"), unless it holds a run a viewer
    would read as a link (`f[x](y)` quoted from the code): then backslashes and brackets are
    escaped, the link grammar's escape."""
    if not _LINK_LIKE.search(text):
        return text
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def linked(message: str, related: list[Step]) -> str:
    """`message` with each "line N" that a step of `related` points at written `[line N](id)`."""
    ids = {step.line: step.id for step in related}
    out: list[str] = []
    last = 0
    for match in LINE.finditer(message):
        line = int(match.group(1))
        if line not in ids:
            continue
        out.append(_literal(message[last : match.start()]))
        out.append(f"[line {line}]({ids[line]})")
        last = match.end()
    out.append(_literal(message[last:]))
    return "".join(out)


def code_flow(
    finding: Finding, related: list[Step], where: Callable[[int, int | None], dict[str, Any]]
) -> dict[str, Any] | None:
    """The escaping path as one SARIF `codeFlow` with one `threadFlow`: the acquisition, the
    on-path steps in the message's order, the escape. `where(line, column)` gives a step's
    `physicalLocation`. None when the finding names no escape."""
    escape = next((step for step in related if step.id == 1), None)
    if escape is None:
        return None
    start = {
        "location": {
            "physicalLocation": where(finding.line, finding.column),
            "message": {"text": "acquired here"},
        },
        "kinds": ["acquire", "resource"],
    }
    middle = [
        {
            "location": {
                "physicalLocation": where(step.line, step.column),
                "message": {"text": step.label},
            },
            **({"kinds": list(step.kinds)} if step.kinds else {}),
        }
        for step in related
        if step.on_path and step.label
    ]
    end: dict[str, Any] = {"location": {"physicalLocation": where(escape.line, escape.column)}}
    if escape.label:
        end["location"]["message"] = {"text": escape.label}
    return {"threadFlows": [{"locations": [start, *middle, end]}]}
