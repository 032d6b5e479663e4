"""What the language server offers besides diagnostics, with no pygls in it: the client's
settings, the `# noqa` a "Disable ... for this line" action writes, and a rule's documentation
for hover.

Settings come from `initializationOptions` and `workspace/didChangeConfiguration` (LSP 3.17),
flat or under a `leakcheck` key, as ruff's server reads them: `select` and `ignore` (lists of
codes or prefixes, as on the command line), `run` ("onType", the default, or "onSave"),
`unsafeFixes` (offer quick fixes that may change behaviour, default true).
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from typing import Any

from leakcheck.config.selection import Overrides
from leakcheck.project.suppressions import directives
from leakcheck.report.ruledocs import find, render

ON_TYPE = "onType"
ON_SAVE = "onSave"


@dataclass(frozen=True)
class Settings:
    """The client's settings (see the module docstring)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    run: str = ON_TYPE
    unsafe_fixes: bool = True

    @property
    def overrides(self) -> Overrides:
        """`select` / `ignore` as the command line's `--select` / `--ignore` give them."""
        return Overrides(select=self.select, ignore=self.ignore)


def _codes(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(v.strip().upper() for v in value if v.strip())


def settings(value: object, base: Settings | None = None) -> Settings:
    """The settings in a client's `value` (a dict, flat or under `leakcheck`; anything else
    changes nothing), over `base`. A value of the wrong type is ignored, as ruff's server
    ignores one."""
    base = base or Settings()
    if not isinstance(value, dict):
        return base
    inner: Any = value.get("leakcheck", value)
    if not isinstance(inner, dict):
        return base
    select = _codes(inner["select"]) if "select" in inner else base.select
    ignore = _codes(inner.get("ignore")) if "ignore" in inner else base.ignore
    run = inner.get("run", base.run)
    unsafe = inner.get("unsafeFixes", base.unsafe_fixes)
    return Settings(
        select=select,
        ignore=ignore if ignore is not None else base.ignore,
        run=run if run in (ON_TYPE, ON_SAVE) else base.run,
        unsafe_fixes=unsafe if isinstance(unsafe, bool) else base.unsafe_fixes,
    )


@dataclass(frozen=True)
class LineEdit:
    """Replace characters `start`..`end` (0-based, end exclusive) of line `line` (1-based)."""

    line: int
    start: int
    end: int
    text: str


def _in_string(source: str, line: int) -> bool:
    """Whether `line` ends inside a string that goes on to the next line (a comment there would
    be part of the string), or the text cannot be tokenized."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.start[0] > line:
                return False
            if token.type == tokenize.STRING and token.start[0] <= line < token.end[0]:
                return True
    except (tokenize.TokenError, SyntaxError):
        return True
    return False


def noqa_edit(source: str, line: int, code: str) -> LineEdit | None:
    """The edit that silences `code` on `line` of `source`: `code` added to the line's
    `# noqa: ...` list, or `  # noqa: CODE` appended. None when the line already silences it
    (a listed code, a bare `# noqa`) or a comment cannot go there (the line ends in a string)."""
    lines = source.splitlines()
    if not 0 < line <= len(lines) or _in_string(source, line):
        return None
    text = lines[line - 1]
    for found in directives(source.encode("utf-8", "surrogatepass")).get(line, []):
        if found.style != "noqa" or found.whole_file:
            continue
        if found.codes is None or code in found.codes:
            return None
        listed = ", ".join((*found.codes, code))
        return LineEdit(line, found.column - 1, found.end_column - 1, f"# noqa: {listed}")
    return LineEdit(line, len(text), len(text), f"  # noqa: {code}")


def documentation(code: str) -> str | None:
    """A rule's page in Markdown, as `leakcheck rule CODE` prints it; None for an unknown code."""
    rule = find(code)
    return render(rule) if rule is not None else None
