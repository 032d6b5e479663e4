"""The output formats of `leakcheck check --output-format`, in one registry: the command line
reads its choices from here, and a new format is one entry.

`TEXT` formats are for people (rich text with a summary line, a progress display, `--show-fixes`);
`MACHINE` formats are one document each, rendered by a function of the report, imported when
used (a run pays only for the format it writes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from leakcheck.model import Report

__all__ = ["MACHINE", "NAMES", "TEXT", "render"]

TEXT = ("text", "concise")
# name -> (module, function): the function takes the report and returns the document.
MACHINE: dict[str, tuple[str, str]] = {
    "json": ("leakcheck.report.output", "to_json"),
    "sarif": ("leakcheck.report.sarif", "to_sarif"),
    "github": ("leakcheck.report.output", "to_github"),
    "gitlab": ("leakcheck.report.gitlab", "to_gitlab"),
    "junit": ("leakcheck.report.junit", "to_junit"),
}
NAMES = (*TEXT, *MACHINE)


def render(name: str, report: Report) -> str:
    """The document of machine format `name` for `report` ("" when the format prints nothing,
    as `github` on a clean run). Raises KeyError for a name not in `MACHINE`."""
    module, function = MACHINE[name]
    renderer = cast(Callable[[Report], str], getattr(importlib.import_module(module), function))
    return renderer(report)
