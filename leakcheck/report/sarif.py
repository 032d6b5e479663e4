"""SARIF 2.1.0 for code-scanning services: one run, the rule catalogue as the driver's rules (with
`properties.tags` and `properties.precision`, `report.traits`), a result per finding with its
primary location, the lines its message names as related locations linked from the message, the
escaping path as a `codeFlow` (`report.sarifpath`), and a finding's candidate fixes as `fixes[]`,
each with its `artifactChanges`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from leakcheck import __version__
from leakcheck.checks import Rule, rules
from leakcheck.model import Finding, Fix, Report
from leakcheck.project.baseline import (
    fingerprints,  # SARIF's partialFingerprints are the baseline's
)
from leakcheck.report.ruledocs import url
from leakcheck.report.sarifpath import code_flow, linked, steps
from leakcheck.report.traits import judges_a_path, precision, sarif_level, tags
from leakcheck.shown import shown

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
BASE = "%SRCROOT%"
FINGERPRINT = "leakcheck/v1"


def _artifact(path: str) -> dict[str, str]:
    """Relative paths against %SRCROOT% (the working directory), others as file URIs. The URI
    percent-encodes the name's bytes, so a name that is not UTF-8 (`bad\\xff.py` as shown)
    is `bad%FF.py`: the file itself, in valid UTF-8."""
    if Path(path).is_absolute():
        return {"uri": Path(path).as_uri()}  # pathlib quotes os.fsencode(path) too
    return {"uri": quote(os.fsencode(Path(path).as_posix())), "uriBaseId": BASE}


def _rule(rule: Rule) -> dict[str, Any]:
    what = rule.doc.split("## Why is this bad?")[0].replace("## What it does", "").strip()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(what.split())},
        "help": {"text": rule.doc, "markdown": rule.doc},
        "helpUri": url(rule),  # the rule's published page (ruledocs.RULES_URL)
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {"tags": tags(rule), "precision": precision(rule)},
    }


def _fixes(fixes: tuple[Fix, ...], path: str) -> list[dict[str, Any]]:
    """One SARIF `fix` per candidate (SARIF 2.1.0, 3.27.30: "an array of fix objects, each of
    which represents a proposed fix"), the one `--fix` applies first."""
    out = []
    for fix in fixes:
        replacements = [
            {
                "deletedRegion": {
                    "startLine": e.line,
                    "startColumn": e.column,
                    "endLine": e.end_line,
                    "endColumn": e.end_column,
                },
                "insertedContent": {"text": e.content},
            }
            for e in fix.edits
        ]
        out.append(
            {
                "description": {"text": fix.message},
                "artifactChanges": [
                    {"artifactLocation": _artifact(path), "replacements": replacements}
                ],
            }
        )
    return out


def _region(line: int, column: int | None) -> dict[str, int]:
    return {"startLine": line} if column is None else {"startLine": line, "startColumn": column}


def _result(
    finding: Finding, index: dict[str, int], fingerprint: str, flows: bool
) -> dict[str, Any]:
    """One SARIF result. `flows`: whether the rule judges a path (a codeFlow is written)."""
    related = steps(finding)
    artifact = _artifact(finding.path)

    def where(line: int, column: int | None) -> dict[str, Any]:
        return {"artifactLocation": artifact, "region": _region(line, column)}

    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
        "level": sarif_level(finding.severity),
        "message": {"text": linked(shown(finding.message), related)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": {
                        "startLine": finding.line,
                        "startColumn": finding.column,
                        "endLine": finding.end_line,
                        "endColumn": finding.end_column,
                    },
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    if related:
        result["relatedLocations"] = [
            {
                "id": step.id,
                "physicalLocation": where(step.line, step.column),
                **({"message": {"text": step.label}} if step.label else {}),
            }
            for step in related
        ]
    flow = code_flow(finding, related, where) if flows else None
    if flow is not None:
        result["codeFlows"] = [flow]
    if finding.fixes:
        result["fixes"] = _fixes(finding.fixes, finding.path)
    return result


def to_sarif(report: Report) -> str:
    """The report as one SARIF 2.1.0 log. Messages are valid UTF-8 (`leakcheck.shown`); artifact
    URIs percent-encode each path's bytes (never its shown form); fingerprints are the
    baseline's."""
    catalogue = rules()
    index = {rule.code: i for i, rule in enumerate(catalogue)}
    paths = {rule.code for rule in catalogue if judges_a_path(rule)}
    findings = fingerprints(report.findings, Path.cwd())
    notifications = [
        {
            "level": "error",
            "message": {"text": shown(error.message)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(error.path),
                        **({"region": {"startLine": error.line}} if error.line else {}),
                    }
                }
            ],
        }
        for error in report.errors
    ]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "leakcheck",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(rule) for rule in catalogue],
                    }
                },
                "originalUriBaseIds": {BASE: {"uri": Path.cwd().as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        "executionSuccessful": not any(e.internal for e in report.errors),
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": [_result(f, index, fp, f.code in paths) for fp, f in findings],
            }
        ],
    }
    return json.dumps(document, indent=2)
