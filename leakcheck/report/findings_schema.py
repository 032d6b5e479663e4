"""The JSON Schema (draft 2020-12) of the document `leakcheck check --output-format json` prints
(`report.output.to_json`), shipped in the package beside this module:
`leakcheck/report/schema/findings.schema.json` (the wheel holds the `leakcheck` folder whole).

A script that consumes the output can validate it with the schema of the version that wrote it:

    from leakcheck.report.findings_schema import json_schema
    jsonschema.Draft202012Validator(json_schema()).validate(document)
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["SCHEMA_FILE", "json_schema"]

SCHEMA_FILE = "schema/findings.schema.json"  # relative to the `leakcheck.report` package


def json_schema() -> dict[str, Any]:
    """The schema, read from the installed package. Raises OSError if the file is missing."""
    text = files("leakcheck.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document
