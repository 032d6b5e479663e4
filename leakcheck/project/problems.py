"""Why files were not analysed, counted for the summary line: a file found by walking that does
not parse or decode is never skipped in silence ("2 files not analysed: 1 syntax error, 1 not
UTF-8"), and a file analysed but not rewritten by `--fix` or `--add-noqa` is counted apart.

The reasons are read from the start of the error entries' messages, which the stages that make
them fix: `analysis.gate` ("syntax error", "cannot decode"), `engine` (libcst's parser, nesting,
internal errors), `project.discovery` and `project.pipeline` ("cannot read", notebooks),
`project.workers` ("not analysed: " and the time or memory limit), `project.runner` and
`project.addnoqa` ("not fixed", "not written", "no noqa added").
"""

from __future__ import annotations

from collections.abc import Iterable

from leakcheck.model import FileError

NOT_WRITTEN = ("not fixed", "not written", "no noqa added")
# (how a message starts, or what it holds, the reason for one file, the reason for several)
STARTS = (
    ("syntax error", "syntax error", "syntax errors"),
    ("cannot read", "unreadable", "unreadable"),
    ("valid python that leakcheck's parser", "beyond libcst's parser", "beyond libcst's parser"),
)
HOLDS = (
    ("too deeply nested", "too deeply nested", "too deeply nested"),
    ("notebook", "notebook", "notebooks"),
    ("time limit", "over the time limit", "over the time limit"),
    ("memory", "out of memory", "out of memory"),
    ("internal error", "internal error", "internal errors"),
)


def reason(message: str) -> tuple[str, str]:
    """Why the file of an error entry with `message` was not analysed, for one file and for
    several: ("syntax error", "syntax errors"), ("not UTF-8", "not UTF-8"), ..."""
    lowered = message.lower()
    if lowered.startswith("cannot decode"):
        why = "not UTF-8" if "'utf-8' codec" in lowered else "not decodable"
        return why, why
    for mark, one, several in STARTS:
        if lowered.startswith(mark):
            return one, several
    for mark, one, several in HOLDS:
        if mark in lowered:
            return one, several
    return "other problem", "other problems"


def summary_parts(errors: Iterable[FileError]) -> list[str]:
    """Phrases for the summary line: how many files were not analysed and why, and how many
    were analysed but not written; each file counted once, for its first error. Input: the
    run's error entries. Output: zero, one or two phrases."""
    first: dict[str, FileError] = {}
    for error in errors:
        first.setdefault(error.path, error)
    written = [e for e in first.values() if e.message.startswith(NOT_WRITTEN)]
    counts: dict[tuple[str, str], int] = {}
    for error in first.values():
        if not error.message.startswith(NOT_WRITTEN):
            key = reason(error.message)
            counts[key] = counts.get(key, 0) + 1
    parts = []
    total = sum(counts.values())
    if total:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        why = ", ".join(f"{n} {one if n == 1 else several}" for (one, several), n in ordered)
        parts.append(f"{total} file{'s' if total != 1 else ''} not analysed: {why}")
    if written:
        parts.append(f"{len(written)} file{'s' if len(written) != 1 else ''} not written")
    return parts
