"""GitLab Code Quality: the report `artifacts:reports:codequality` reads, a JSON array of issues.

Each issue has the fields GitLab reads (GitLab docs, "Code Quality", "Implement a custom tool"; a
subset of the Code Climate spec, other fields are ignored): `description`, `check_name` (the
rule code), `fingerprint`, `severity` (`info`, `minor`, `major`, `critical` or `blocker`: the
finding's `Severity`, see `report/traits.py`),
`location.path` (relative to the repository root: the working directory, as the project's
paths are) and `location.lines.begin`. A file that could not be analysed is an issue too
(`check_name` "leakcheck-error"): the merge request shows it instead of silently losing the file.

The fingerprint is the baseline's (`project.baseline.fingerprints`): code, path, enclosing
function, the acquisition's text and its occurrence among the same four earlier in the file, and
never a line number, so lines added above a finding keep its fingerprint and GitLab's merge
request widget keeps it as the same issue.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from leakcheck.model import Report
from leakcheck.project.baseline import fingerprints
from leakcheck.report.traits import GITLAB_ERROR, gitlab_severity
from leakcheck.shown import printable

__all__ = ["ERROR_CHECK", "to_gitlab"]

ERROR_CHECK = "leakcheck-error"


def _path(path: str) -> str:
    """`path` relative to the working directory, `/`-separated (absolute when outside it)."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return Path(absolute).as_posix()
    return Path(relative).as_posix()


def to_gitlab(report: Report) -> str:
    """The report as a GitLab Code Quality JSON array: one issue per finding, then one per file
    that could not be analysed. Paths and messages are valid UTF-8 (`leakcheck.shown`)."""
    shown_report = printable(report)
    issues: list[dict[str, Any]] = [
        {
            "description": f"{finding.code} {finding.message}",
            "check_name": finding.code,
            "fingerprint": fingerprint,
            "severity": gitlab_severity(finding.severity),
            "location": {"path": _path(finding.path), "lines": {"begin": finding.line}},
        }
        for fingerprint, finding in fingerprints(shown_report.findings, Path.cwd())
    ]
    for error in shown_report.errors:
        path = _path(error.path)
        text = "\0".join((ERROR_CHECK, path, error.message))
        issues.append(
            {
                "description": f"could not be analysed: {error.message}",
                "check_name": ERROR_CHECK,
                "fingerprint": hashlib.sha256(text.encode()).hexdigest()[:32],
                "severity": GITLAB_ERROR,
                "location": {"path": path, "lines": {"begin": error.line or 1}},
            }
        )
    return json.dumps(issues, indent=2)
