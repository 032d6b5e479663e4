"""Output formats: SARIF 2.1.0 (validated against the OASIS schema), GitHub annotations,
--statistics, --quiet, --exit-zero, --output-file, and the progress display."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_helpers import POOL, SESSION, invoke, invoke_split, script, write

from leakcheck import __version__
from leakcheck.checks import rules
from leakcheck.cli import PROGRESS_MIN_FILES, progress_display, progress_wanted
from leakcheck.model import Edit, FileResult, Finding, Fix, Report
from leakcheck.report.output import to_json
from leakcheck.report.ruledocs import RULES_URL
from leakcheck.report.sarif import to_sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def validate(document: Any) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(document)


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"app/pool.py": POOL, "app/session.py": SESSION, "app/clean.py": "x = 1\n"})
    return tmp_path


def test_the_schema_rejects_what_it_should() -> None:
    # Guards the validation below against a schema that accepts anything.
    with pytest.raises(jsonschema.ValidationError):
        validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]})
    with pytest.raises(jsonschema.ValidationError):
        validate({"version": "2.0.0", "runs": []})


def test_sarif_is_valid_and_carries_rules_locations_and_related_locations(here: Path) -> None:
    code, out = invoke("check", "--format", "sarif", "app")
    assert code == 1
    document = json.loads(out)
    validate(document)
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("leakcheck", __version__)
    assert [r["id"] for r in driver["rules"]] == [r.code for r in rules()]
    lc102 = next(r for r in driver["rules"] if r["id"] == "LC102")
    assert lc102["helpUri"] == f"{RULES_URL}LC102.md"
    assert lc102["name"] == "pool-connection-not-returned-on-exception"
    assert lc102["help"]["markdown"].startswith("## What it does\n")
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": here.resolve().as_uri() + "/"}}
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
    first, second = run["results"]
    assert first["ruleId"] == "LC102"
    assert first["ruleIndex"] == [r.code for r in rules()].index("LC102")
    assert first["message"]["text"] == (  # the line linked to its related location
        "Connection from `pool.getconn()` is not returned to the pool if `conn.cursor()` "
        "on [line 6](1) raises"
    )
    assert first["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "app/pool.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 5, "startColumn": 12, "endLine": 5, "endColumn": 26},
            }
        }
    ]
    assert first["relatedLocations"] == [
        {
            "id": 1,
            "physicalLocation": {
                "artifactLocation": {"uri": "app/pool.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 6, "startColumn": 5},
            },
            "message": {"text": "if this raises"},
        }
    ]
    # The finding's fix, as whole lines replaced (validated with the rest above).
    [fix] = first["fixes"]
    assert fix["description"] == {"text": "Release `conn` in `finally`"}
    [change] = fix["artifactChanges"]
    [replacement] = change["replacements"]
    assert replacement["deletedRegion"]["startColumn"] == 1
    assert replacement["deletedRegion"]["endColumn"] == 1
    assert "finally:" in replacement["insertedContent"]["text"]
    assert sorted(first["partialFingerprints"]) == ["leakcheck/v1"]
    assert second["ruleId"] == "LC201"
    assert second["relatedLocations"][0]["physicalLocation"]["region"] == {
        "startLine": 6,
        "startColumn": 5,
    }
    assert second["relatedLocations"][0]["message"] == {"text": "still held here"}


def test_sarif_maps_each_candidate_fix_to_artifact_changes() -> None:
    fix = Fix("Return the connection in `finally`", (Edit(6, 5, 8, 23, "try:\n..."),))
    other = Fix("Use `with pooled() as conn:`", (Edit(5, 1, 9, 1, "with x:\n"),), "unsafe")
    finding = Finding("app/pool.py", 5, 12, 5, 26, "LC102", "x", "message", fixes=(fix, other))
    document = json.loads(to_sarif(Report([FileResult("app/pool.py", (finding,))])))
    validate(document)  # several fixes per result: SARIF's `fixes` is an array of proposals
    where = {"uri": "app/pool.py", "uriBaseId": "%SRCROOT%"}
    assert document["runs"][0]["results"][0]["fixes"] == [
        {
            "description": {"text": "Return the connection in `finally`"},
            "artifactChanges": [
                {
                    "artifactLocation": where,
                    "replacements": [
                        {
                            "deletedRegion": {
                                "startLine": 6,
                                "startColumn": 5,
                                "endLine": 8,
                                "endColumn": 23,
                            },
                            "insertedContent": {"text": "try:\n..."},
                        }
                    ],
                }
            ],
        },
        {
            "description": {"text": "Use `with pooled() as conn:`"},
            "artifactChanges": [
                {
                    "artifactLocation": where,
                    "replacements": [
                        {
                            "deletedRegion": {
                                "startLine": 5,
                                "startColumn": 1,
                                "endLine": 9,
                                "endColumn": 1,
                            },
                            "insertedContent": {"text": "with x:\n"},
                        }
                    ],
                }
            ],
        },
    ]


def test_json_carries_every_candidate_and_the_first_as_fix() -> None:
    fix = Fix("Return the connection in `finally`", (Edit(6, 1, 8, 1, "try:\n"),))
    other = Fix("Use `with pooled() as conn:`", (Edit(5, 1, 9, 1, "with x:\n"),), "unsafe")
    finding = Finding("app/pool.py", 5, 12, 5, 26, "LC102", "x", "message", fixes=(fix, other))
    [found] = json.loads(to_json(Report([FileResult("app/pool.py", (finding,))])))["findings"]
    assert [f["title"] for f in found["fixes"]] == [fix.message, other.message]
    assert [f["applicability"] for f in found["fixes"]] == ["safe", "unsafe"]
    assert found["fix"] == found["fixes"][0]


def test_sarif_reports_files_that_could_not_be_analysed(here: Path) -> None:
    write(here, {"app/broken.py": "def f(:\n"})
    done = script("check", "--format", "sarif", "app/broken.py", cwd=here)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    validate(document)
    (run,) = document["runs"]
    assert run["results"] == []
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"].startswith("syntax error")
    assert note["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}


def test_github_annotations(here: Path) -> None:
    write(here, {"app/broken.py": "x = (pool.getconn()\n"})  # a token in code: it is parsed
    code, out = invoke("check", "--format", "github", "app")
    assert code == 1
    assert out.splitlines() == [
        "::error title=leakcheck (LC102),file=app/pool.py,line=5,col=12,endLine=5,endColumn=26"
        "::app/pool.py:5:12: LC102 Connection from `pool.getconn()` is not returned to the pool "
        "if `conn.cursor()` on line 6 raises",
        "::error title=leakcheck (LC201),file=app/session.py,line=5,col=10,endLine=5,endColumn=24"
        "::app/session.py:5:10: LC201 Session from `SessionLocal()` is never closed"
        " (still held at the `return` on line 6)",
        f"::error title=leakcheck,file=app/broken.py,line=1::app/broken.py: {_error(out)}",
    ]


def _error(out: str) -> str:
    return out.splitlines()[-1].split("app/broken.py: ", 1)[1]


def test_github_escapes_property_and_message_values(here: Path) -> None:
    write(here, {"odd,name:1.py": POOL})
    _, out = invoke("check", "--format", "github", "odd,name:1.py")
    assert out.startswith("::error title=leakcheck (LC102),file=odd%2Cname%3A1.py,line=5,")
    assert "::odd,name:1.py:5:12: LC102" in out


def test_clean_tree_prints_nothing_in_github_format(here: Path) -> None:
    assert invoke("check", "--format", "github", "app/clean.py") == (0, "")


def test_statistics_text_and_json(here: Path) -> None:
    write(here, {"app/pool2.py": POOL})
    code, out = invoke("check", "--statistics", "app")
    assert code == 1
    assert out == ("2\tLC102\tpool-connection-not-returned-on-exception\n1\tLC201\tnever-closed\n")
    code, out = invoke("check", "--statistics", "--format", "json", "app")
    assert code == 1
    assert json.loads(out) == [
        {"code": "LC102", "name": "pool-connection-not-returned-on-exception", "count": 2},
        {"code": "LC201", "name": "never-closed", "count": 1},
    ]
    assert invoke("check", "--statistics", "--format", "sarif", "app")[0] == 2


def test_quiet_prints_findings_without_the_summary(here: Path) -> None:
    code, out = invoke("check", "--quiet", "app/session.py")
    assert code == 1
    assert out == (
        "app/session.py:5:10: LC201 Session from `SessionLocal()` is never closed"
        " (still held at the `return` on line 6)\n"
        "5 |     db = SessionLocal()\n"
        "  |          ^^^^^^^^^^^^^^ acquired here\n"
        '6 |     return db.execute("select 1").all()\n'
        "  |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ still held here\n"
        "  = help: Use `with` for `db`; unsafe: objects of the session leave the"
        " block and are detached once it closes\n"
        "\n"
    )
    assert invoke("check", "-q", "app/clean.py") == (0, "")


def test_exit_zero_keeps_the_output_and_changes_only_the_status(here: Path) -> None:
    code, out = invoke("check", "--exit-zero", "--format", "json", "app")
    assert code == 0
    assert json.loads(out)["summary"] == {
        "files": 3,
        "findings": 2,
        "errors": 0,
        "fixable": 2,
        "fixed": 0,
        "handoffs_assumed": 0,
        "unknown_resources": 0,
    }
    (here / "pyproject.toml").write_text("[tool.leakcheck]\nbad = 1\n")
    assert invoke("check", "--exit-zero", "app")[0] == 2  # configuration errors still fail


def test_output_file_takes_the_report_and_stdout_stays_empty(here: Path) -> None:
    done = script("check", "--format", "sarif", "--output-file", "out.sarif", "app", cwd=here)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
    validate(json.loads((here / "out.sarif").read_text()))
    code, out = invoke("check", "-o", "out.txt", "app/session.py")
    assert (code, out) == (1, "")
    assert (here / "out.txt").read_text().splitlines()[0] == (
        "app/session.py:5:10: LC201 Session from `SessionLocal()` is never closed"
        " (still held at the `return` on line 6)"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("output_format", "quiet", "stream", "files", "wanted"),
    [
        ("text", False, Terminal(), PROGRESS_MIN_FILES, True),
        ("text", False, Terminal(), PROGRESS_MIN_FILES - 1, False),
        ("text", False, io.StringIO(), 500, False),
        ("text", True, Terminal(), 500, False),
        ("json", False, Terminal(), 500, False),
        ("sarif", False, Terminal(), 500, False),
        ("github", False, Terminal(), 500, False),
    ],
)
def test_progress_only_for_text_on_a_terminal_with_many_files(
    monkeypatch: pytest.MonkeyPatch,
    output_format: str,
    quiet: bool,
    stream: io.StringIO,
    files: int,
    wanted: bool,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert progress_wanted(output_format, quiet, stream, files) is wanted


def test_progress_is_drawn_on_a_terminal_and_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    terminal = Terminal()
    monkeypatch.setattr("leakcheck.cli.sys.stderr", terminal)
    files = [f"m{i}.py" for i in range(PROGRESS_MIN_FILES)]
    with progress_display("text", False) as advance:
        advance(files)
        for _ in files:
            advance([])
    drawn = terminal.getvalue()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert f"Checking {'━' * 40} {PROGRESS_MIN_FILES}/{PROGRESS_MIN_FILES} files" in plain
    assert drawn.endswith("\x1b[1A\x1b[2K")  # transient: the line is erased at the end


def test_no_progress_when_stderr_is_not_a_terminal(here: Path) -> None:
    for i in range(PROGRESS_MIN_FILES):
        write(here, {f"many/m{i:02}.py": "x = 1\n"})
    code, out, err = invoke_split("check", "many")
    assert (code, out, err) == (0, f"All checks passed! ({PROGRESS_MIN_FILES} files in all)\n", "")


def test_concise_is_one_line_per_finding_marking_what_fix_fixes(here: Path) -> None:
    code, out = invoke("check", "--output-format", "concise", "app")
    assert code == 1
    assert out.splitlines() == [
        "app/pool.py:5:12: LC102 [*] Connection from `pool.getconn()` is not returned to the pool"
        " if `conn.cursor()` on line 6 raises",
        "app/session.py:5:10: LC201 Session from `SessionLocal()` is never closed"
        " (still held at the `return` on line 6)",  # its fix is unsafe: no [*]
        "Found 2 leaks in 2 files; 1 fixable with `--fix`; 1 more with `--fix --unsafe-fixes`"
        " (3 files in all).",
    ]
    assert invoke("check", "--format", "concise", "-q", "app/session.py")[1].count("\n") == 1
    assert invoke("check", "--format", "concise", "app/clean.py") == (
        0,
        "All checks passed! (1 file in all)\n",
    )


def test_the_underline_counts_wide_characters_as_two_cells(here: Path) -> None:
    # Wide characters before the acquisition and inside its span: the `^` start and end under it.
    source = SESSION.replace(
        "    db = SessionLocal()", '    名前 = "数据库"; db = SessionLocal(info={"键": "数据"})'
    )
    write(here, {"app/wide.py": source})
    code, out = invoke("check", "--quiet", "app/wide.py")
    assert code == 1
    assert out.splitlines()[1:3] == [
        '5 |     名前 = "数据库"; db = SessionLocal(info={"键": "数据"})',
        "  |                           " + "^" * 33 + " acquired here",
    ]


def test_json_summary_counts_the_hand_offs_it_assumed(tmp_path: Path) -> None:
    """A connection passed to code leakcheck cannot see is taken as handed over (the function goes
    silent); the JSON summary counts each such acquisition, and a released one is not counted."""
    source = (
        "from psycopg2.pool import SimpleConnectionPool\n"
        "from plugins import process\n"
        "\n"
        "pool = SimpleConnectionPool(1, 5)\n"
        "\n"
        "\n"
        "def handed():\n"
        "    conn = pool.getconn()\n"
        "    process(conn)\n"
        "\n"
        "\n"
        "def returned():\n"
        "    conn = pool.getconn()\n"
        "    try:\n"
        "        conn.cursor().execute('select 1')\n"
        "    finally:\n"
        "        pool.putconn(conn)\n"
    )
    target = tmp_path / "jobs.py"
    target.write_text(source)
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert code == 0, out
    document = json.loads(out)
    assert document["summary"]["handoffs_assumed"] == 1
    # Where: the acquisition, and the statement that took it.
    assert document["handoffs"] == [
        {
            "path": str(target),
            "line": 8,
            "column": 12,
            "acquired": "pool.getconn()",
            "taken_line": 9,
            "taken": "process(conn)",
            "why": "passed to code leakcheck does not see, which may keep or release it",
        }
    ]
    # The text summary says so, and --show-handoffs lists it as `path:line:column:`.
    code, out = invoke("check", "--no-cache", "--show-handoffs", str(target))
    assert code == 0, out
    assert "1 acquisition taken as handed over to code leakcheck does not see" in out
    assert f"{target}:8:12: `pool.getconn()` taken by `process(conn)` on line 9: passed" in out
    target.write_text(source.replace("    process(conn)\n", "    pool.putconn(conn)\n"))
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert json.loads(out)["summary"]["handoffs_assumed"] == 0
    assert json.loads(out)["handoffs"] == []
    code, out = invoke("check", "--no-cache", "--show-handoffs", str(target))
    assert out == "All checks passed! (1 file in all)\nNo hand-offs assumed.\n"
    # Returning what unknown code makes of the connection is an assumption too: it may be `conn`.
    target.write_text(source.replace("    process(conn)\n", "    return process(conn)\n"))
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    [handoff] = json.loads(out)["handoffs"]
    assert (handoff["taken"], handoff["why"]) == (
        "return process(conn)",
        "passed to code leakcheck does not see, and its result is returned, which may be the "
        "resource itself",
    )
    # ... but not where the function gives it back itself, in `finally`: nothing was assumed.
    target.write_text(
        source.replace(
            "    process(conn)\n",
            "    try:\n        return process(conn)\n    finally:\n        pool.putconn(conn)\n",
        )
    )
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert json.loads(out)["handoffs"] == []


def test_summary_counts_resource_like_calls_of_no_kind(tmp_path: Path) -> None:
    """A client the catalogue does not know, closed by the code, is counted, not hidden: the
    JSON summary and the text summary line say how many, and where to look."""
    target = tmp_path / "warehouse.py"
    target.write_text(
        "import vertica_python\n"
        "\n"
        "\n"
        "def nightly(dsn):\n"
        "    conn = vertica_python.connect(dsn)\n"
        "    conn.cursor().execute('select 1')\n"
        "    conn.close()\n"
    )
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert code == 0, out
    assert json.loads(out)["summary"]["unknown_resources"] == 1
    code, out = invoke("check", "--no-cache", str(target))
    assert "1 call of resource-like types leakcheck does not know" in out
    assert "leakcheck kinds --unknown" in out
    target.write_text(target.read_text().replace("    conn.close()\n", ""))
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert json.loads(out)["summary"]["unknown_resources"] == 0  # nothing closes it: no sign
