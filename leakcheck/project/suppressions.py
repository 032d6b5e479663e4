"""`# noqa: CODE` and `# leakcheck: ignore[CODE]` on the reported line, as ruff and flake8 read
them: codes are case-sensitive, a bare `# noqa` suppresses everything on its line, and a `# noqa:`
followed by no valid code suppresses nothing. Unused directives become `unused-suppression`
findings on request.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from leakcheck.checks import rules, unused_suppression
from leakcheck.model import Finding

UNUSED = unused_suppression.RULE.code
_NOQA = re.compile(r"#\s*(?i:noqa)(?P<rest>.*)$")
_NOQA_CODES = re.compile(r"^\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)")
_IGNORE = re.compile(r"#\s*leakcheck:\s*ignore(?:\[(?P<codes>[^\]]*)\])?(?P<rest>.*)$")
_CODE = re.compile(r"^[A-Z]+[0-9]+$")


@dataclass
class Directive:
    line: int
    column: int  # 1-based, where the directive's `#` is
    end_column: int
    style: str  # "noqa" or "leakcheck: ignore"
    codes: tuple[str, ...] | None  # None: a blanket directive
    used: set[str] = field(default_factory=set)
    used_blanket: bool = False

    def suppresses(self, code: str) -> bool:
        return self.codes is None or code in self.codes


def _parse_comment(text: str, line: int, column: int) -> Directive | None:
    ignore = _IGNORE.search(text)
    if ignore:
        start = column + ignore.start()
        end = column + len(text) - len(ignore["rest"])
        if ignore["codes"] is None:
            return Directive(line, start, end, "leakcheck: ignore", None)
        codes = tuple(c.strip() for c in ignore["codes"].split(","))
        if not codes or not all(_CODE.match(c) for c in codes):
            return None
        return Directive(line, start, end, "leakcheck: ignore", codes)
    noqa = _NOQA.search(text)
    if not noqa:
        return None
    start = column + noqa.start()
    rest = noqa["rest"]
    if rest.lstrip().startswith(":"):
        listed = _NOQA_CODES.match(rest)
        if not listed:
            return None  # lower-case or missing codes after the colon: ruff ignores it too
        codes = tuple(re.split(r"[\s,]+", listed["codes"]))
        return Directive(line, start, column + noqa.start("rest") + listed.end(), "noqa", codes)
    if rest and not rest[0].isspace() and rest[0] != "#":
        return None  # the word runs on (noqa-like): prose, not a directive
    return Directive(line, start, column + noqa.start("rest"), "noqa", None)


def directives(source: bytes) -> dict[int, list[Directive]]:
    """Suppression comments by line. Strings that look like comments are not comments."""
    lowered = source.lower()
    if b"noqa" not in lowered and b"leakcheck" not in lowered:
        return {}
    found: dict[int, list[Directive]] = {}
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type == tokenize.COMMENT:
                directive = _parse_comment(token.string, token.start[0], token.start[1] + 1)
                if directive is not None:
                    found.setdefault(directive.line, []).append(directive)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass  # the engine reports files that do not parse
    return found


def suppress(
    findings: tuple[Finding, ...], by_line: dict[int, list[Directive]]
) -> tuple[Finding, ...]:
    """The findings no directive on their line suppresses; marks the directives that were used."""
    kept = []
    for finding in findings:
        matching = [d for d in by_line.get(finding.line, []) if d.suppresses(finding.code)]
        for directive in matching:
            if directive.codes is None:
                directive.used_blanket = True
            else:
                directive.used.add(finding.code)
        if not matching:
            kept.append(finding)
    return tuple(kept)


def unused(by_line: dict[int, list[Directive]], path: str) -> tuple[Finding, ...]:
    """An `unused-suppression` finding for each directive that suppressed nothing, or listed
    leakcheck codes it did not need.

    Other tools' codes (`E501`) are theirs to judge.
    """
    rule = next(r for r in rules() if r.code == UNUSED)
    out = []
    for line in sorted(by_line):
        for d in by_line[line]:
            if d.codes is None:
                if d.used_blanket:
                    continue
                what = f"Unused blanket `{d.style}` directive"
            else:
                idle = [c for c in d.codes if c.startswith("LC") and c not in d.used]
                if not idle:
                    continue
                listed = ", ".join(f"`{c}`" for c in idle)
                what = f"Unused `{d.style}` directive (unused: {listed})"
            out.append(
                Finding(
                    path=path,
                    line=d.line,
                    column=d.column,
                    end_line=d.line,
                    end_column=d.end_column,
                    code=rule.code,
                    rule=rule.name,
                    message=rule.message.format(what=what),
                    acquisition=what,
                )
            )
    return tuple(out)
