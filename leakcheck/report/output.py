"""Render a report: text for people (rich, colour only on a terminal) and JSON for machines."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, overload

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape

from leakcheck import __version__
from leakcheck.model import Applicability, FileResult, Finding, Fix, Handoff, Report
from leakcheck.project.problems import summary_parts
from leakcheck.project.suppressions import UNUSED
from leakcheck.report.traits import github_command
from leakcheck.shown import printable


def to_json(report: Report) -> str:
    """The stable machine-readable schema (see README, "JSON output"). Paths and messages are
    valid UTF-8 (`leakcheck.shown`): no lone surrogate, escaped or not, reaches the document."""
    report = printable(report)
    findings = report.findings
    errors = report.errors
    document: dict[str, Any] = {
        "version": __version__,
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "code": f.code,
                "rule": f.rule,
                "message": f.message,
                "fix": fix_json(f.fix),  # the first of `fixes`, kept for compatibility
                "fixes": [fix_json(fix) for fix in f.fixes],
                "no_fix_reason": f.no_fix_reason or None,
                "severity": str(f.severity),
            }
            for f in findings
        ],
        "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in errors],
        "handoffs": [handoff_json(r.path, h) for r in report.files for h in r.handoffs],
        "summary": {
            "files": len(report.files),
            "findings": len(findings),
            "errors": len(errors),
            "fixable": sum(1 for f in findings if f.fix is not None),
            "fixed": report.fixed,
            "handoffs_assumed": report.handoffs_assumed,
            "unknown_resources": report.unknown_resources,
        },
    }
    return json.dumps(document, indent=2)


@overload
def fix_json(fix: Fix) -> dict[str, Any]: ...
@overload
def fix_json(fix: None) -> None: ...
def fix_json(fix: Fix | None) -> dict[str, Any] | None:
    """A fix as JSON: its title, applicability and edits (1-based, end exclusive)."""
    if fix is None:
        return None
    return {
        "title": fix.message,
        "applicability": fix.applicability,
        "edits": [
            {
                "line": e.line,
                "column": e.column,
                "end_line": e.end_line,
                "end_column": e.end_column,
                "content": e.content,
            }
            for e in fix.edits
        ],
    }


def print_text(
    report: Report, console: Console, quiet: bool = False, concise: bool = False
) -> None:
    """Each finding with a code frame (`concise`: one line each, `[*]` after the code when
    `--fix` fixes it, as ruff's concise format), then errors, then a summary line (not when
    `quiet`). Paths and messages as `leakcheck.shown` shows them (valid UTF-8)."""
    report = printable(report)
    sources = {r.path: r for r in report.files if r.findings}
    for finding in report.findings:
        safe = finding.fix is not None and finding.fix.applicability == Applicability.SAFE
        mark = escape(" [*]") if concise and safe else ""
        console.print(
            f"[bold]{escape(finding.path)}:{finding.line}:{finding.column}:[/] "
            f"[bold red]{finding.code}[/]{mark} {escape(finding.message)}"
        )
        if not concise:
            _frame(finding, sources[finding.path], console)
    for result in report.files:
        for line in result.not_fixed:
            console.print(f"[bold]{escape(result.path)}:[/] {escape(line)}")
    for error in report.errors:
        where = f"{error.path}:{error.line}" if error.line is not None else error.path
        console.print(f"[bold]{escape(where)}:[/] [bold red]error:[/] {escape(error.message)}")
    if not quiet:
        console.print(summary_line(report))


def fixes_text(report: Report) -> str:
    """What `--fix` applied (or, with `--diff`, would), per file, as ruff's `--show-fixes`."""
    report = printable(report)
    count = report.fixed
    if not count:
        return "No leaks fixed.\n"
    out = [f"Fixed {count} leak{'s' if count != 1 else ''}:"]
    for result in report.files:
        if result.fixed:
            out.append(f"- {result.path}:")
            out += [f"    {line}" for line in result.fixed]
    return "\n".join(out) + "\n"


def handoffs_text(report: Report) -> str:
    """`--show-handoffs`: where the run assumed an acquisition was handed over to code it does not
    see, so its function was not judged (one line each, `path:line:column:` first, as findings)."""
    report = printable(report)
    count = report.handoffs_assumed
    if not count:
        return "No hand-offs assumed.\n"
    out = [f"{count} hand-off{'s' if count != 1 else ''} assumed (not judged):"]
    for result in report.files:
        for h in result.handoffs:
            taken = f" by `{h.taken}` on line {h.taken_line}" if h.taken_line else ""
            out.append(f"{result.path}:{h.line}:{h.column}: `{h.acquired}` taken{taken}: {h.why}")
    return "\n".join(out) + "\n"


def handoff_json(path: str, handoff: Handoff) -> dict[str, Any]:
    """One assumed hand-off as JSON (`handoffs` in `--output-format json`)."""
    return {
        "path": path,
        "line": handoff.line,
        "column": handoff.column,
        "acquired": handoff.acquired,
        "taken_line": handoff.taken_line or None,
        "taken": handoff.taken or None,
        "why": handoff.why,
    }


def statistics(report: Report) -> list[tuple[int, str, str]]:
    """(count, code, name) per reported rule, most frequent first, as `ruff --statistics`."""
    counts = Counter((f.code, f.rule) for f in report.findings)
    return sorted(
        ((n, code, name) for (code, name), n in counts.items()), key=lambda s: (-s[0], s[1])
    )


def statistics_text(report: Report) -> str:
    rows = statistics(report)
    width = max((len(str(n)) for n, _, _ in rows), default=1)
    return "\n".join(f"{n:>{width}}\t{code}\t{name}" for n, code, name in rows)


def statistics_json(report: Report) -> str:
    rows = [{"code": code, "name": name, "count": n} for n, code, name in statistics(report)]
    return json.dumps(rows, indent=2)


def _github_property(value: str) -> str:
    return (
        value.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


def _github_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def to_github(report: Report) -> str:
    """GitHub Actions workflow commands: one annotation per finding (`::error`, `::warning` or
    `::notice` by its severity, `traits.github_command`) and one `::error` per error; paths as
    `leakcheck.shown` shows them (valid UTF-8)."""
    report = printable(report)
    lines = []
    for f in report.findings:
        props = (
            f"title={_github_property(f'leakcheck ({f.code})')},file={_github_property(f.path)},"
            f"line={f.line},col={f.column},endLine={f.end_line},endColumn={f.end_column}"
        )
        text = f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}"
        lines.append(f"::{github_command(f.severity)} {props}::{_github_data(text)}")
    for e in report.errors:
        where = f",line={e.line}" if e.line is not None else ""
        props = f"title=leakcheck,file={_github_property(e.path)}{where}"
        lines.append(f"::error {props}::{_github_data(f'{e.path}: {e.message}')}")
    return "\n".join(lines)


def _frame(finding: Finding, result: FileResult, console: Console) -> None:
    """Print `finding`'s code frame from `result.source` to `console`: the reported line with a
    `^` underline under its span, the related line if any, and the fixes. Offsets are measured in
    terminal cells (`rich.cells.cell_len`: East Asian wide characters and emoji take two)."""
    lines = result.source.splitlines()
    here = "unused suppression" if finding.code == UNUSED else "acquired here"
    if finding.code.startswith("LC5"):  # settings and ORM rules: nothing is acquired there
        here = "here"
    marks = [(finding.line, here)]
    if finding.related_line is not None and finding.related_line != finding.line:
        marks.append((finding.related_line, finding.related_label))
    width = len(str(max(line for line, _ in marks)))
    gutter = " " * width
    previous = 0
    for line, label in sorted(marks):
        if not 1 <= line <= len(lines):
            continue
        if previous and line > previous + 1:
            console.print(f"[blue]{gutter} ...[/]")
        raw = lines[line - 1]
        text = raw.expandtabs(4)
        console.print(f"[blue]{line:>{width}} |[/] {escape(text)}", highlight=False)
        if line == finding.line:
            # Columns count characters of the raw line; the frame shows tabs expanded, and a
            # wide character (CJK, emoji) takes two terminal cells: measure in cells.
            start = cell_len(raw[: finding.column - 1].expandtabs(4))
            stop = finding.end_column - 1 if finding.end_line == line else len(raw)
            end = cell_len(raw[:stop].expandtabs(4))
            underline = " " * start + "^" * max(1, end - start)
        else:
            indent = text[: len(text) - len(text.lstrip())]
            start = cell_len(indent)
            underline = " " * start + "^" * max(1, cell_len(text.rstrip()) - start)
        console.print(f"[blue]{gutter} |[/] [bold red]{underline}[/] {label}")
        previous = line
    for number, fix in enumerate(finding.fixes):
        kind = " (safe fix)" if fix.applicability == Applicability.SAFE else ""
        label = "help" if number == 0 else "or"  # the first is what --fix applies
        console.print(f"[cyan]{gutter} = {label}:[/] {escape(fix.message)}{kind}")
    if not finding.fixes and finding.no_fix_reason:
        console.print(f"[cyan]{gutter} = no fix:[/] {escape(finding.no_fix_reason)}")
    console.print()


def summary_line(report: Report) -> str:
    files = len(report.files)
    findings = report.findings
    errors = report.errors
    checked = f"{files} file{'s' if files != 1 else ''} in all"
    parts = []
    if findings:
        affected = len({f.path for f in findings})
        parts.append(
            f"Found {len(findings)} leak{'s' if len(findings) != 1 else ''} "
            f"in {affected} file{'s' if affected != 1 else ''}"
        )
    if report.fixed:  # after --fix, what is found is what remains
        fixed = f"fixed {report.fixed} leak{'s' if report.fixed != 1 else ''}"
        parts = [f"{parts[0]} remaining, {fixed}" if parts else fixed.capitalize()]
    parts += summary_parts(errors)  # files not analysed, and why; files not written
    if report.baselined:
        parts.append(f"{report.baselined} in the baseline not shown")
    safe = sum(
        1 for f in findings if f.fix is not None and f.fix.applicability == Applicability.SAFE
    )
    unsafe = sum(
        1 for f in findings if f.fix is not None and f.fix.applicability != Applicability.SAFE
    )
    if safe:
        parts.append(f"{safe} fixable with `--fix`")
    if unsafe:
        parts.append(f"{unsafe} more with `--fix --unsafe-fixes`")
    if report.unknown_resources:
        count = report.unknown_resources
        parts.append(
            f"{count} call{'s' if count != 1 else ''} of resource-like types leakcheck does not "
            "know; see `leakcheck kinds --unknown`"
        )
    if report.handoffs_assumed:
        count = report.handoffs_assumed
        parts.append(
            f"{count} acquisition{'s' if count != 1 else ''} taken as handed over to code "
            "leakcheck does not see; see `--show-handoffs`"
        )
    if not findings and not errors:
        return f"All checks passed! ({checked}{'; ' + '; '.join(parts) if parts else ''})"
    return "; ".join(parts) + f" ({checked})."
