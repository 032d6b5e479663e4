"""File names as leakcheck shows them: always valid UTF-8, whatever bytes the name is made of.

On POSIX a file name is bytes. Python decodes a name that is not UTF-8 with `surrogateescape`:
byte 0xff becomes the lone surrogate U+DCFF, which the file system functions turn back into the
same byte (so such a file is found, read and fixed like any other), but which no UTF-8 output can
carry. Wherever a name is shown (text, JSON, SARIF messages, GitHub annotations, baseline paths and
fingerprints, error messages) each such byte is written `\\xff`, as Python's `backslashreplace`
writes it: `bad\\xff.py`. The form is readable, says which byte it was (U+FFFD would merge
`a\\xfe.py` and `a\\xff.py`), and is the same on every run, so a baseline keeps matching the file.
A lone surrogate that is not an escaped byte is written `\\udXXX`. A name that is valid UTF-8 is
shown unchanged. (A name holding a literal backslash followed by `x` and two hex digits looks the
same as the escaped byte: such a pair of names in one tree is the one ambiguity.)

SARIF's artifact URIs do not need this: they percent-encode the name's bytes (`bad%FF.py`), which
maps back to the file exactly.
"""

from __future__ import annotations

import re
from dataclasses import replace

from leakcheck.model import FileError, FileResult, Finding, Report

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if 0xDC80 <= point <= 0xDCFF:  # a byte that `surrogateescape` could not decode
        return f"\\x{point - 0xDC00:02x}"
    return f"\\u{point:04x}"


def shown(text: str) -> str:
    """`text` (a path, or a message that may hold one) as valid UTF-8: each undecodable byte
    that Python's `surrogateescape` turned into U+DC80..U+DCFF becomes `\\xNN`, any other lone
    surrogate `\\uXXXX`; everything else is unchanged. Idempotent; never raises."""
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape, text)


def _finding(finding: Finding) -> Finding:
    path, message = shown(finding.path), shown(finding.message)
    if path == finding.path and message == finding.message:
        return finding
    return replace(finding, path=path, message=message)


def _error(error: FileError) -> FileError:
    path, message = shown(error.path), shown(error.message)
    if path == error.path and message == error.message:
        return error
    return replace(error, path=path, message=message)


def _result(result: FileResult) -> FileResult:
    shows = (result.path, *result.fixed, *result.not_fixed, result.diff)
    shows += tuple(text for h in result.handoffs for text in (h.acquired, h.taken, h.why))
    if not (result.findings or result.errors) and all(text.isascii() for text in shows):
        return result  # most files of a run: nothing found, nothing to escape
    return replace(
        result,
        path=shown(result.path),
        findings=tuple(_finding(f) for f in result.findings),
        errors=tuple(_error(e) for e in result.errors),
        fixed=tuple(shown(line) for line in result.fixed),
        not_fixed=tuple(shown(line) for line in result.not_fixed),
        diff=shown(result.diff),
        handoffs=tuple(
            replace(h, acquired=shown(h.acquired), taken=shown(h.taken), why=shown(h.why))
            for h in result.handoffs
        ),
    )


def printable(report: Report) -> Report:
    """`report` with every path and message it shows passed through `shown`: what every output
    format renders, so that none of them can fail on, or emit, a lone surrogate. The report
    itself is left as it is (its paths still open the files)."""
    return Report([_result(r) for r in report.files], baselined=report.baselined)
