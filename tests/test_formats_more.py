"""The formats CI services read besides SARIF's basics (issue 32): GitLab Code Quality with
stable fingerprints, JUnit XML, SARIF's code flows, linked related locations, rule tags and
precision, and the JSON Schema of `--output-format json`, shipped in the package."""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_helpers import POOL, SESSION, invoke, script, write

import leakcheck.report
from leakcheck.checks import rules
from leakcheck.model import FileError, FileResult, Finding, Report, Severity
from leakcheck.report import formats
from leakcheck.report.findings_schema import json_schema
from leakcheck.report.gitlab import to_gitlab
from leakcheck.report.junit import to_junit
from leakcheck.report.sarif import to_sarif

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
# GitLab publishes no JSON Schema for Code Quality reports: this one is the table of GitLab's
# docs ("Code Quality", "Implement a custom tool"), the fields GitLab reads, all required.
GITLAB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "not": {"pattern": "^/"}},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}
LINKED = re.compile(r"\[line (\d+)\]\((\d+)\)")


def sarif_valid(document: Any) -> None:
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"app/pool.py": POOL, "app/session.py": SESSION, "app/clean.py": "x = 1\n"})
    return tmp_path


@pytest.fixture(scope="module")
def fixture_runs() -> dict[str, str]:
    """`leakcheck check --output-format json|sarif fixtures`, run from the repository root."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        out = {}
        for name in ("json", "sarif"):
            code, text = invoke(
                "check", "--output-format", name, "--no-cache", "-j", "1", "fixtures"
            )
            assert code == 1, text[-2000:]
            out[name] = text
    return out


# --- the registry --------------------------------------------------------------------------


def test_every_registered_format_is_a_choice_and_renders(here: Path) -> None:
    assert set(formats.NAMES) >= {"text", "concise", "json", "sarif", "github", "gitlab", "junit"}
    for name in formats.MACHINE:
        code, out = invoke("check", "--output-format", name, "app")
        assert code == 1, name
        assert out.strip(), name
        assert formats.render(name, Report([])) is not None
    code, out = invoke("check", "--output-format", "xml", "app")
    assert code == 2 and "'junit'" in out and "'gitlab'" in out


# --- GitLab Code Quality ---------------------------------------------------------------------


def gitlab(*paths: str) -> list[dict[str, Any]]:
    code, out = invoke("check", "--output-format", "gitlab", *paths)
    assert code in (0, 1), out
    issues: list[dict[str, Any]] = json.loads(out)
    jsonschema.Draft202012Validator(GITLAB_SCHEMA).validate(issues)
    return issues


def test_the_gitlab_schema_rejects_what_gitlab_would() -> None:
    # Guards the validation in these tests against a schema that accepts anything.
    validator = jsonschema.Draft202012Validator(GITLAB_SCHEMA)
    issue = {
        "description": "d",
        "check_name": "c",
        "fingerprint": "f",
        "severity": "major",
        "location": {"path": "a.py", "lines": {"begin": 1}},
    }
    validator.validate([issue])
    for broken in (
        {k: v for k, v in issue.items() if k != "fingerprint"},
        {**issue, "severity": "error"},
        {**issue, "location": {"path": "a.py", "lines": {}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate([broken])


def test_gitlab_issues_carry_what_gitlab_reads(here: Path) -> None:
    issues = gitlab("app")
    assert [
        (i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues
    ] == [
        ("LC102", "app/pool.py", 5),
        ("LC201", "app/session.py", 5),
    ]
    assert issues[0]["description"] == (
        "LC102 Connection from `pool.getconn()` is not returned to the pool if `conn.cursor()` "
        "on line 6 raises"
    )
    # A pooled connection and a SQLAlchemy session weigh high: GitLab's `critical`.
    assert {i["severity"] for i in issues} == {"critical"}
    assert len({i["fingerprint"] for i in issues}) == 2
    # The same identity as SARIF's partial fingerprints (and the baseline's).
    sarif = json.loads(invoke("check", "--output-format", "sarif", "app")[1])
    assert [i["fingerprint"] for i in issues] == [
        r["partialFingerprints"]["leakcheck/v1"] for r in sarif["runs"][0]["results"]
    ]
    assert gitlab("app/clean.py") == []


def test_gitlab_fingerprint_survives_lines_added_above(here: Path) -> None:
    [before] = gitlab("app/pool.py")
    above = "import os\nimport sys\n\nLIMIT = 3  # unrelated\n\n"
    write(here, {"app/pool.py": above + POOL.replace("    conn =", "    os.getcwd()\n    conn =")})
    [after] = gitlab("app/pool.py")
    assert after["location"]["lines"]["begin"] == before["location"]["lines"]["begin"] + 6
    assert after["fingerprint"] == before["fingerprint"]
    # Another function, or the same acquisition a second time, is another issue.
    write(here, {"app/pool.py": POOL + POOL.split("\n\n", 1)[1].replace("count", "total")})
    first, second = gitlab("app/pool.py")
    assert first["fingerprint"] == before["fingerprint"]
    assert second["fingerprint"] != first["fingerprint"]


def test_gitlab_lists_files_that_could_not_be_analysed(here: Path) -> None:
    write(here, {"app/broken.py": "def f(:\n"})
    [issue] = gitlab("app/broken.py")
    assert issue["check_name"] == "leakcheck-error"
    assert issue["severity"] == "major"
    assert issue["location"] == {"path": "app/broken.py", "lines": {"begin": 1}}
    assert issue["description"].startswith("could not be analysed: syntax error")
    assert gitlab("app/broken.py") == [issue]  # stable across runs


def test_gitlab_severity_follows_the_finding() -> None:
    unused = next(r for r in rules() if r.name == "unused-suppression")
    weights = {Severity.HIGH: "critical", Severity.MEDIUM: "major", Severity.LOW: "minor"}
    for severity, expected in weights.items():
        finding = Finding(
            "a.py", 3, 1, 3, 9, unused.code, unused.name, "Unused suppression", severity=severity
        )
        [issue] = json.loads(to_gitlab(Report([FileResult("a.py", (finding,))])))
        assert issue["severity"] == expected


# --- JUnit XML ---------------------------------------------------------------------------------


def test_junit_has_a_suite_per_file_and_a_failing_case_per_finding(here: Path) -> None:
    write(here, {"app/broken.py": "x = (pool.getconn()\n"})  # a token in code: it is parsed
    code, out = invoke("check", "--output-format", "junit", "app")
    assert code == 1
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ElementTree.fromstring(out.split("\n", 1)[1])
    assert (root.tag, root.get("name")) == ("testsuites", "leakcheck")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "2", "1")
    suites = {suite.get("name"): suite for suite in root}
    assert sorted(suites) == ["app/broken.py", "app/pool.py", "app/session.py"]
    [case] = suites["app/pool.py"]
    assert case.attrib == {
        "name": "leakcheck.LC102",
        "classname": "app/pool",
        "line": "5",
        "column": "12",
    }
    [failure] = case
    message = (
        "Connection from `pool.getconn()` is not returned to the pool if `conn.cursor()` "
        "on line 6 raises"
    )
    assert (failure.tag, failure.get("message")) == ("failure", message)
    assert failure.text == f"line 5, col 12, {message}"
    assert suites["app/pool.py"].get("failures") == "1"
    [broken] = suites["app/broken.py"]
    [error] = broken
    assert (broken.get("name"), error.tag, suites["app/broken.py"].get("errors")) == (
        "leakcheck.error",
        "error",
        "1",
    )
    assert error.get("message", "").startswith("syntax error")


def test_junit_clean_run_is_one_passing_case(here: Path) -> None:
    code, out = invoke("check", "--output-format", "junit", "app/clean.py")
    assert code == 0
    root = ElementTree.fromstring(out.split("\n", 1)[1])
    [suite] = root
    [case] = suite
    assert (root.get("failures"), root.get("errors"), suite.get("name")) == ("0", "0", "leakcheck")
    assert (case.get("name"), list(case)) == ("No errors found", [])


def test_junit_escapes_markup_and_characters_xml_cannot_hold() -> None:
    path = 'odd <&">\x01.py'
    message = 'Connection from `f("<&\\">")` is never closed\x1b'
    finding = Finding(path, 2, 3, 2, 9, "LC201", "never-closed", message)
    error = FileError('b<&">.py', None, 'cannot read: <&">')
    out = to_junit(Report([FileResult(path, (finding,)), FileResult('b<&">.py', errors=(error,))]))
    body = out.split("\n", 1)[1]
    assert "&lt;&amp;&quot;" in body and '<&">' not in body.replace("&lt;&amp;&quot;&gt;", "")
    root = ElementTree.fromstring(body)  # well-formed: it parses
    first, second = root
    assert first.get("name") == 'odd <&">\\x01.py'
    [case] = first
    assert case.get("classname") == 'odd <&">\\x01'
    assert case[0].get("message") == 'Connection from `f("<&\\">")` is never closed\\x1b'
    assert case[0].text == 'line 2, col 3, Connection from `f("<&\\">")` is never closed\\x1b'
    assert second[0][0].get("message") == 'cannot read: <&">'
    assert "line" not in second[0].attrib  # no line for an error not tied to one


# --- SARIF: rules, related locations, code flows ------------------------------------------------


def test_sarif_rules_carry_tags_and_precision(here: Path) -> None:
    document = json.loads(invoke("check", "--output-format", "sarif", "app")[1])
    sarif_valid(document)
    by_name = {r["name"]: r["properties"] for r in document["runs"][0]["tool"]["driver"]["rules"]}
    for properties in by_name.values():
        assert properties["precision"] in ("very-high", "high", "medium", "low")
        assert properties["tags"] and len(set(properties["tags"])) == len(properties["tags"])
    leak = by_name["pool-connection-not-returned-on-exception"]
    assert leak["precision"] == "high"
    assert {"correctness", "resources", "external/cwe/cwe-772"} <= set(leak["tags"])
    assert by_name["unused-suppression"] == {"tags": ["maintainability"], "precision": "very-high"}
    assert by_name["persistent-connections-through-transaction-pooler"]["precision"] == "medium"


def test_sarif_links_the_escape_from_the_message_and_walks_the_path(here: Path) -> None:
    document = json.loads(invoke("check", "--output-format", "sarif", "app/pool.py")[1])
    sarif_valid(document)
    [result] = document["runs"][0]["results"]
    assert result["message"]["text"] == (
        "Connection from `pool.getconn()` is not returned to the pool if `conn.cursor()` "
        "on [line 6](1) raises"
    )
    [related] = result["relatedLocations"]
    assert related["id"] == 1
    assert related["physicalLocation"]["region"] == {"startLine": 6, "startColumn": 5}
    [flow] = result["codeFlows"]
    [thread] = flow["threadFlows"]
    steps = [
        (s["location"]["physicalLocation"]["region"], s["location"]["message"]["text"])
        for s in thread["locations"]
    ]
    assert steps == [
        ({"startLine": 5, "startColumn": 12}, "acquired here"),
        ({"startLine": 6, "startColumn": 5}, "if this raises"),
    ]
    assert thread["locations"][0]["kinds"] == ["acquire", "resource"]


def _finding(message: str, related: int | None = 9, code: str = "LC102") -> Finding:
    return Finding(
        "app/pool.py",
        5,
        12,
        5,
        26,
        code,
        "x",
        message,
        related,
        "leaves here",
        5 if related else None,
    )


def _result(finding: Finding) -> dict[str, Any]:
    document = json.loads(to_sarif(Report([FileResult(finding.path, (finding,))])))
    sarif_valid(document)
    result: dict[str, Any] = document["runs"][0]["results"][0]
    return result


def _flow_lines(result: dict[str, Any]) -> list[int]:
    [flow] = result["codeFlows"]
    return [
        s["location"]["physicalLocation"]["region"]["startLine"]
        for s in flow["threadFlows"][0]["locations"]
    ]


def test_the_code_flow_runs_as_the_message_tells_it() -> None:
    # The branch and the handled error named after the escape ran before it; a hand-off the
    # error pre-empts is linked but is not on the path.
    branch = _result(
        _finding(
            "Connection is not returned at the `return` on line 9, when `ok` on line 7 is false"
        )
    )
    assert branch["message"]["text"] == (
        "Connection is not returned at the `return` on [line 9](1), when `ok` on [line 7](2) "
        "is false"
    )
    assert _flow_lines(branch) == [5, 7, 9]
    middle = branch["codeFlows"][0]["threadFlows"][0]["locations"][1]
    assert middle["kinds"] == ["branch", "false"]
    assert middle["location"]["message"] == {"text": "`ok` is false"}
    handled = _result(
        _finding(
            "Connection is not returned at the `return` on line 9, after an error from `c()` on "
            "line 6 is handled, when `a` on line 7 is true"
        )
    )
    assert _flow_lines(handled) == [5, 6, 7, 9]
    handoff = _result(
        _finding("Connection is not closed if `x()` on line 9 raises, before line 11 hands it over")
    )
    assert _flow_lines(handoff) == [5, 9]
    assert [r["physicalLocation"]["region"]["startLine"] for r in handoff["relatedLocations"]] == [
        9,
        11,
    ]
    assert handoff["message"]["text"].endswith("before [line 11](2) hands it over")


def test_no_code_flow_without_an_escape_or_for_a_settings_rule() -> None:
    never = _result(_finding("Connection is never returned to the pool", related=None))
    assert "codeFlows" not in never and "relatedLocations" not in never
    settings = next(r for r in rules() if r.family == "django" and r.leak.startswith("persistent"))
    result = _result(_finding("`CONN_MAX_AGE` is 60 for database `default`", code=settings.code))
    assert "codeFlows" not in result
    assert [r["id"] for r in result["relatedLocations"]] == [1]


def test_brackets_in_quoted_code_are_not_read_as_links() -> None:
    plain = _result(_finding("Connection from `rows[0]` is not closed at the `return` on line 9"))
    assert plain["message"]["text"] == (
        "Connection from `rows[0]` is not closed at the `return` on [line 9](1)"
    )
    linklike = _result(_finding("`handlers[kind](conn)` on line 9 raises"))
    assert linklike["message"]["text"] == "`handlers\\[kind\\](conn)` on [line 9](1) raises"


def test_every_line_a_fixture_message_names_is_linked_and_flows_in_order(
    fixture_runs: dict[str, str],
) -> None:
    document = json.loads(fixture_runs["sarif"])
    sarif_valid(document)
    results = document["runs"][0]["results"]
    flows = 0
    for result in results:
        text = result["message"]["text"]
        where = f"{result['ruleId']} {result['locations'][0]['physicalLocation']}: {text}"
        related = {r["id"]: r for r in result.get("relatedLocations", [])}
        # Each named line is a link to the one related location on that line; none left bare.
        assert not re.search(r"(?<!\[)\bline \d+\b(?!\]\()", text), where
        for line, target in LINKED.findall(text):
            assert related[int(target)]["physicalLocation"]["region"]["startLine"] == int(line), (
                where
            )
        if "codeFlows" not in result:
            continue
        flows += 1
        steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
        regions = [s["location"]["physicalLocation"]["region"] for s in steps]
        primary = result["locations"][0]["physicalLocation"]["region"]
        assert regions[0]["startLine"] == primary["startLine"], where
        assert regions[-1] == related[1]["physicalLocation"]["region"], where
        # The steps between are linked lines of the message, in the message's order.
        order = [int(line) for line, _ in LINKED.findall(text)]
        middle = [r["startLine"] for r in regions[1:-1]]
        assert middle == [line for line in order if line in middle], where
    assert flows >= 200  # most findings have an escaping path


# --- the JSON Schema of --output-format json ------------------------------------------------------


def test_the_schema_is_shipped_in_the_package_and_valid() -> None:
    shipped = Path(leakcheck.report.__file__).parent / "schema" / "findings.schema.json"
    assert json.loads(shipped.read_text()) == json_schema()
    jsonschema.Draft202012Validator.check_schema(json_schema())
    # The wheel is the `leakcheck` package folder, data files included (hatchling).
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["leakcheck"]' in pyproject


def test_real_json_output_of_the_fixtures_validates(fixture_runs: dict[str, str]) -> None:
    document = json.loads(fixture_runs["json"])
    assert len(document["findings"]) >= 300
    assert any(f["fixes"] for f in document["findings"])
    assert any(f["fix"] is None for f in document["findings"])
    jsonschema.Draft202012Validator(json_schema()).validate(document)


def test_json_with_errors_and_the_readme_example_validate(here: Path) -> None:
    write(here, {"app/broken.py": "x = (pool.getconn()\n"})
    code, out = invoke("check", "--output-format", "json", "app", "missing.py")
    document = json.loads(out)
    assert code == 1 and len(document["errors"]) == 2
    assert None in [e["line"] for e in document["errors"]]
    validator = jsonschema.Draft202012Validator(json_schema())
    validator.validate(document)
    readme = (ROOT / "README.md").read_text().split("`--output-format json` prints", 1)[1]
    validator.validate(json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0]))


def test_the_schema_rejects_a_document_missing_a_required_key(here: Path) -> None:
    document = json.loads(invoke("check", "--output-format", "json", "app")[1])
    validator = jsonschema.Draft202012Validator(json_schema())
    validator.validate(document)
    for key in ("version", "findings", "errors", "summary"):
        broken = {k: v for k, v in document.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
    for path in (
        ("findings", 0, "code"),
        ("summary", "fixed"),
        ("findings", 0, "fixes", 0, "edits"),
    ):
        broken = copy.deepcopy(document)
        *parents, last = path
        target: Any = broken
        for step in parents:
            target = target[step]
        del target[last]
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
    broken = copy.deepcopy(document)
    broken["findings"][0]["fixes"][0]["applicability"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_gitlab_and_junit_show_a_name_that_is_not_utf8_as_the_other_formats_do(
    here: Path,
) -> None:
    name = os.fsdecode(b"bad\xff.py")  # Python holds byte 0xff as the lone surrogate U+DCFF
    (here / name).write_text(POOL)
    done = script("check", "--output-format", "gitlab", ".", cwd=here)
    assert done.returncode == 1
    issues = json.loads(done.stdout)
    assert [i["location"]["path"] for i in issues if i["check_name"] == "LC102"] == [
        "app/pool.py",
        "bad\\xff.py",
    ]
    done = script("check", "--output-format", "junit", name, cwd=here)
    root = ElementTree.fromstring(done.stdout.split("\n", 1)[1])
    assert [suite.get("name") for suite in root] == ["bad\\xff.py"]
    assert root[0][0].get("classname") == "bad\\xff"
