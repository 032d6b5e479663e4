"""`# noqa: CODE` and `# leakcheck: ignore[CODE]` on the reported line, as ruff and flake8 read
them: codes are case-sensitive, a bare `# noqa` suppresses everything on its line, and a `# noqa:`
followed by no valid code suppresses nothing. Unused directives become `unused-suppression`
findings on request.

File-level `# leakcheck: noqa` and `# leakcheck: noqa: <codes or prefixes>`, read as ruff reads
`# ruff: noqa` (https://docs.astral.sh/ruff/linter/#file-level, docs/linter.md in astral-sh/ruff):
a comment on its own line anywhere in the file, `#leakcheck:` matched case-sensitively with
optional whitespace after `#` and before `:`, then optional whitespace and a case-insensitive
`noqa`; what follows is read as for an inline `# noqa`. A bare one suppresses every finding in the
file, one with codes only those codes. Unlike ruff, a listed code also matches as a prefix (`LC2`:
every LC2xx rule), as `select` and `ignore` do. A trailing `x = 1  # leakcheck: noqa` is no
directive at all (ruff requires the own line to tell the two kinds apart).
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
_FILE_NOQA = re.compile(r"^#\s*leakcheck\s*:\s*(?P<noqa>(?i:noqa).*)$")
FILE_STYLE = "leakcheck: noqa"


@dataclass
class Directive:
    line: int
    column: int  # 1-based, where the directive's `#` is
    end_column: int
    style: str  # "noqa", "leakcheck: ignore" or, for the whole file, FILE_STYLE
    codes: tuple[str, ...] | None  # None: a blanket directive
    used: set[str] = field(default_factory=set)  # the listed codes that matched a finding
    used_blanket: bool = False

    @property
    def whole_file(self) -> bool:
        return self.style == FILE_STYLE

    def matches(self, code: str) -> list[str]:
        """The listed codes that suppress `code` (a whole-file directive's also as prefixes)."""
        if self.codes is None:
            return []
        if self.whole_file:
            return [c for c in self.codes if code.startswith(c)]
        return [c for c in self.codes if c == code]

    def suppresses(self, code: str) -> bool:
        return self.codes is None or bool(self.matches(code))


def _parse_file_comment(text: str, line: int, column: int) -> Directive | None:
    """A whole-file `# leakcheck: noqa[: CODES]` in the comment `text` (which starts at the
    1-based `column` of `line` and is alone on its line), or None."""
    found = _FILE_NOQA.match(text)
    if not found:
        return None
    # The rest reads as an inline directive, with a bare `#` put back before the word.
    inline = _parse_comment("#" + found["noqa"], line, column + found.start("noqa") - 1)
    if inline is None or inline.style != "noqa":
        return None
    return Directive(line, column, inline.end_column, FILE_STYLE, inline.codes)


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
    """Suppression comments by line, whole-file ones (`Directive.whole_file`) on the line they
    stand on. Strings that look like comments are not comments: only COMMENT tokens are read."""
    lowered = source.lower()
    if b"noqa" not in lowered and b"leakcheck" not in lowered:
        return {}
    found: dict[int, list[Directive]] = {}
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type == tokenize.COMMENT:
                line, column = token.start[0], token.start[1] + 1
                alone = not token.line[: token.start[1]].strip()
                directive = (
                    _parse_file_comment(token.string, line, column)
                    if alone and _FILE_NOQA.match(token.string)
                    else _parse_comment(token.string, line, column)
                )
                if directive is not None:
                    found.setdefault(directive.line, []).append(directive)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass  # the engine reports files that do not parse
    return found


def suppress(
    findings: tuple[Finding, ...], by_line: dict[int, list[Directive]]
) -> tuple[Finding, ...]:
    """The findings that no directive on their line, and no whole-file directive, suppresses;
    marks the directives that were used."""
    whole_file = [d for found in by_line.values() for d in found if d.whole_file]
    kept = []
    for finding in findings:
        here = [d for d in by_line.get(finding.line, []) if not d.whole_file]
        matching = [d for d in here + whole_file if d.suppresses(finding.code)]
        for directive in matching:
            if directive.codes is None:
                directive.used_blanket = True
            else:
                directive.used.update(directive.matches(finding.code))
        if not matching:
            kept.append(finding)
    return tuple(kept)


def unused(by_line: dict[int, list[Directive]], path: str) -> tuple[Finding, ...]:
    """An `unused-suppression` finding for each directive that suppressed nothing, or listed
    leakcheck codes it did not need.

    Other tools' codes (`E501`) are theirs to judge, and so is a bare `# noqa` (in a project
    linted by flake8 or ruff it silences their findings too; only a bare
    `# leakcheck: ignore` is leakcheck's alone). A whole-file `# leakcheck: noqa` that
    suppressed nothing is reported too, on its own line (`path`: the name to report).
    """
    rule = next(r for r in rules() if r.code == UNUSED)
    out = []
    for line in sorted(by_line):
        for d in by_line[line]:
            if d.codes is None:
                if d.used_blanket or d.style == "noqa":
                    continue  # a bare `# noqa` may be flake8's or ruff's: theirs to judge
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
                    severity=rule.severity,
                )
            )
    return tuple(out)
