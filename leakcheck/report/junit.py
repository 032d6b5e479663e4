"""JUnit XML, for CI services that show test reports (GitLab's `artifacts:reports:junit`, Jenkins,
Azure Pipelines), in the shape of ruff's JUnit output (ruff `crates/ruff_db/src/diagnostic/render/
junit.rs`, which writes it with the `quick_junit` crate):

- `<testsuites name="leakcheck" tests= failures= errors=>`, one `<testsuite>` per file with a
  finding or an error (`name` the path, `package="leakcheck"`), one `<testcase>` per finding:
  `name="leakcheck.CODE"`, `classname` the path without its suffix, `line` and `column`, and a
  `<failure message="MESSAGE">line L, col C, MESSAGE</failure>`;
- a file that could not be analysed is a testcase with an `<error>` (ruff reports a syntax error
  as a failing diagnostic; here it is the run that could not judge the file, JUnit's "error");
- a clean run is one testsuite `leakcheck` with one passing testcase, "No errors found".

`xml.etree.ElementTree` escapes `<`, `&`, `"` in attributes and text. Characters XML 1.0 cannot
hold at all (control characters other than tab, newline and carriage return; a file name may have
them) are written `\\xNN` / `\\uXXXX`, as `leakcheck.shown` writes undecodable bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import PurePath

from leakcheck.model import FileError, Finding, Report
from leakcheck.shown import printable

__all__ = ["to_junit"]

# Not allowed anywhere in an XML 1.0 document (XML 1.0, §2.2 "Characters").
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        point = ord(match.group())
        return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"

    return _NOT_XML.sub(escape, text)


def _classname(path: str) -> str:
    """The path without its suffix, as ruff's `classname` (`app/db.py` -> `app/db`)."""
    pure = PurePath(path)
    return pure.with_suffix("").as_posix() if pure.suffix else pure.as_posix()


def _case(suite: ElementTree.Element, path: str, item: Finding | FileError) -> None:
    if isinstance(item, Finding):
        case = ElementTree.SubElement(
            suite,
            "testcase",
            name=f"leakcheck.{item.code}",
            classname=_xml(_classname(path)),
            line=str(item.line),
            column=str(item.column),
        )
        failure = ElementTree.SubElement(case, "failure", message=_xml(item.message))
        failure.text = _xml(f"line {item.line}, col {item.column}, {item.message}")
        return
    case = ElementTree.SubElement(
        suite, "testcase", name="leakcheck.error", classname=_xml(_classname(path))
    )
    if item.line is not None:
        case.set("line", str(item.line))
    error = ElementTree.SubElement(case, "error", message=_xml(item.message))
    where = f"line {item.line}, " if item.line is not None else ""
    error.text = _xml(f"{where}{item.message}")


def to_junit(report: Report) -> str:
    """The report as one JUnit XML document (UTF-8, with its declaration): a testsuite per file
    with findings or errors, a failing testcase per finding, an erroring one per error."""
    report = printable(report)
    by_file: dict[str, list[Finding | FileError]] = defaultdict(list)
    for finding in report.findings:
        by_file[finding.path].append(finding)
    for error in report.errors:
        by_file[error.path].append(error)
    failures = len(report.findings)
    errors = len(report.errors)
    root = ElementTree.Element(
        "testsuites",
        name="leakcheck",
        tests=str(max(1, failures + errors)),
        failures=str(failures),
        errors=str(errors),
    )
    if not by_file:
        suite = ElementTree.SubElement(
            root, "testsuite", name="leakcheck", tests="1", disabled="0", errors="0",
            failures="0", package="leakcheck",
        )  # fmt: skip
        ElementTree.SubElement(suite, "testcase", name="No errors found", classname="leakcheck")
    for path, items in by_file.items():
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=_xml(path),
            tests=str(len(items)),
            disabled="0",
            errors=str(sum(1 for item in items if isinstance(item, FileError))),
            failures=str(sum(1 for item in items if isinstance(item, Finding))),
            package="leakcheck",
        )
        for item in items:
            _case(suite, path, item)
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body
