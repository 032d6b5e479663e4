"""How much a finding weighs (issue 28, section 3; README, "Severity"): from the resource's kind
(`severity`, `acquire-severity` in rules/kinds.toml or the project's kinds), one step lower in
module-level code, the rule's own for findings of no kind; carried in JSON, SARIF and GitLab;
`--min-severity` / `min-severity` leave lighter findings out of the report and the exit status.
And the one exemption of error paths where an error ends the run (`error_ends_the_run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, invoke_split, write

from leakcheck.analysis.verdicts import is_test_file
from leakcheck.checks import rules
from leakcheck.config.catalogue import CatalogueError, builtin_kinds, parse_kind
from leakcheck.model import Severity

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "fixtures" / "severity" / "weights.py"
HOOK = ROOT / "fixtures" / "severity" / "hook.py"
HIGH, MEDIUM, LOW = Severity.HIGH, Severity.MEDIUM, Severity.LOW

# What each finding of the fixtures weighs, by the text of its acquisition, and why.
EXPECTED = {
    "pool.getconn()": HIGH,  # a pool's connection
    "psycopg2.connect(dsn)": HIGH,  # a server connection
    "sqlite3.connect(path)": MEDIUM,  # a local file (`acquire-severity` of a shared kind)
    "aiosqlite.connect(path)": MEDIUM,  # the same, through another kind
    "duckdb.connect(path)": MEDIUM,  # a kind whose `severity` is medium
    "Reports(path)": MEDIUM,  # a class owning a sqlite3 file weighs what it owns
    'psycopg2.connect("dbname=shop")': MEDIUM,  # a server connection, but at module level
    'sqlite3.connect("scratch.db")': LOW,  # a local file at module level
}


SOURCES = ROOT / "fixtures" / "severity" / "sources.py"
# What each finding of the sources fixture weighs, by its acquisition (`source-severity` and
# `url-severity` in rules/kinds.toml), and why.
EXPECTED_BY_SOURCE = {
    "pooled_db.connect()": HIGH,  # a pooled PostgreSQL database: the kind's weight
    " file_db.connect()": MEDIUM,  # built by `peewee.SqliteDatabase`: a local file
    "url_file_db.connect()": MEDIUM,  # `playhouse.db_url.connect("sqlite:///...")`
    "url_server_db.connect()": HIGH,  # `playhouse.db_url.connect("postgresql://...")`
    "local_db.connect()": MEDIUM,  # a `SqliteDatabase` built in the function itself
    "file_conn = file_engine.connect()": MEDIUM,  # `create_engine("sqlite:///...")`
    "formatted_engine.connect()": MEDIUM,  # an f-string URL whose scheme is written out
    "server_engine.connect()": HIGH,  # `create_engine("postgresql://...")`
    "unknown_engine.connect()": HIGH,  # a URL from the environment: the kind's weight
    "FileSession()": MEDIUM,  # a sessionmaker bound to the SQLite engine
    "ServerSession()": HIGH,  # one bound to the PostgreSQL engine
    'dataset.connect("sqlite:///shop.db")': MEDIUM,  # an acquiring call's own URL
    "script_conn = file_engine.connect()": LOW,  # a local file, at module level
}


def json_findings(*args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out = invoke("check", "--isolated", "--output-format", "json", *args)
    assert code in (0, 1), out
    findings: list[dict[str, Any]] = json.loads(out)["findings"]
    return code, findings


def source_line(path: str, line: int) -> str:
    return Path(path).read_text().splitlines()[line - 1]


def test_each_family_weighs_what_its_kind_and_place_say() -> None:
    _, findings = json_findings(str(WEIGHTS))
    got = {}
    for finding in findings:
        [acquisition] = [a for a in EXPECTED if a in source_line(finding["path"], finding["line"])]
        got[acquisition] = finding["severity"]
    assert got == {acquisition: str(severity) for acquisition, severity in EXPECTED.items()}


def test_a_source_built_in_the_module_weighs_what_it_holds() -> None:
    _, findings = json_findings(str(SOURCES))
    got = {}
    for finding in findings:
        line = source_line(finding["path"], finding["line"])
        [acquisition] = [a for a in EXPECTED_BY_SOURCE if a in line]
        got[acquisition] = finding["severity"]
    assert got == {a: str(severity) for a, severity in EXPECTED_BY_SOURCE.items()}


def test_a_source_kept_on_self_weighs_what_the_class_builds(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "archive.py": """\
from peewee import SqliteDatabase



class Archive:
    def __init__(self, path):
        self.archive_db = SqliteDatabase(path)

    def count(self):
        self.archive_db.connect()
        return self.archive_db.execute_sql("SELECT count(*) FROM archive").fetchone()


class Other:
    def count(self):
        self.archive_db.connect()
        return self.archive_db.execute_sql("SELECT count(*) FROM archive").fetchone()
"""
        },
    )
    _, findings = json_findings(str(tmp_path / "archive.py"))
    # Archive builds a SQLite file; Other's `self.archive_db` is no source this module builds.
    assert [(f["line"], f["severity"]) for f in findings] == [(10, "medium"), (16, "high")]


def test_source_and_url_weights_are_checked_when_the_kinds_load() -> None:
    base = {"name": "k", "acquire": ["<source>.connect"], "release": ["<resource>.close()"]}
    with pytest.raises(CatalogueError, match="source-constructors"):
        parse_kind({**base, "source-severity": {"x.Y": "medium"}}, "test")
    with pytest.raises(CatalogueError, match="URL scheme"):
        parse_kind({**base, "url-severity": {"sqlite+pysqlite": "medium"}}, "test")
    with pytest.raises(CatalogueError, match="must be one of"):
        parse_kind({**base, "url-severity": {"sqlite": "tiny"}}, "test")
    kind = parse_kind(
        {
            **base,
            "source-constructors": ["x.Y", "x.Z"],
            "source-severity": {"x.Y": "low"},
            "url-severity": {"sqlite": "medium"},
        },
        "test",
    )
    assert kind.severity_of_source("x.Y", None) == LOW
    assert kind.severity_of_source("x.Y", "SQLite+aiosqlite:///f.db") == MEDIUM  # URL first
    assert kind.severity_of_source("x.Z", "postgresql://h/db") is None
    assert kind.severity_of_source("x.Z", "sqlite.db") is None  # a path, no scheme


def test_a_framework_hook_finding_weighs_what_its_rule_says() -> None:
    _, findings = json_findings(str(HOOK))
    [finding] = findings
    rule = next(r for r in rules() if r.code == finding["code"])
    assert rule.family == "any" and rule.severity == HIGH
    # A SQLite file, but the hook rule knows no kind: its rule's weight, not the file's.
    assert "sqlite3.connect" in source_line(finding["path"], finding["line"])
    assert finding["severity"] == "high"


def test_sarif_github_and_gitlab_levels_follow_the_finding() -> None:
    levels = {"high": "error", "medium": "warning", "low": "note"}
    gitlab_names = {"high": "critical", "medium": "major", "low": "minor"}
    _, findings = json_findings(str(WEIGHTS), str(HOOK))
    weights = [f["severity"] for f in findings]
    assert set(weights) == {"high", "medium", "low"}  # every level is exercised
    code, out = invoke("check", "--isolated", "--output-format", "sarif", str(WEIGHTS), str(HOOK))
    assert code == 1
    run = json.loads(out)["runs"][0]
    assert [r["level"] for r in run["results"]] == [levels[w] for w in weights]
    defaults = {r["id"]: r["defaultConfiguration"]["level"] for r in run["tool"]["driver"]["rules"]}
    assert defaults == {r.code: levels[str(r.severity)] for r in rules()}
    assert "note" in defaults.values()  # the unused suppression's rule weighs low
    code, out = invoke("check", "--isolated", "--output-format", "gitlab", str(WEIGHTS), str(HOOK))
    assert [i["severity"] for i in json.loads(out)] == [gitlab_names[w] for w in weights]
    commands = {"high": "error", "medium": "warning", "low": "notice"}
    code, out = invoke("check", "--isolated", "--output-format", "github", str(WEIGHTS), str(HOOK))
    assert [line.split(" ", 1)[0] for line in out.splitlines()] == [
        f"::{commands[w]}" for w in weights
    ]


def test_min_severity_leaves_lighter_findings_out_and_does_not_fail_on_them(
    tmp_path: Path,
) -> None:
    _, every = json_findings(str(WEIGHTS))
    _, default = json_findings("--min-severity", "low", str(WEIGHTS))
    assert default == every  # low, the default, leaves nothing out
    for floor, kept in (("medium", {"high", "medium"}), ("high", {"high"})):
        _, findings = json_findings("--min-severity", floor, str(WEIGHTS))
        assert findings == [f for f in every if f["severity"] in kept]
        assert 0 < len(findings) < len(every)
    write(tmp_path, {"script.py": "import sqlite3\nc = sqlite3.connect('a.db')\nc.execute('x')\n"})
    script = str(tmp_path / "script.py")
    code, findings = json_findings(script)
    assert code == 1 and [f["severity"] for f in findings] == ["low"]
    code, findings = json_findings("--min-severity", "medium", script)
    assert code == 0 and findings == []
    code, out = invoke("check", "--isolated", "--min-severity", "severe", script)
    assert code == 2 and "severe" in out


def test_min_severity_in_the_configuration(tmp_path: Path) -> None:
    script = "import sqlite3\nc = sqlite3.connect('a.db')\nc.execute('x')\n"
    write(tmp_path, {"pyproject.toml": '[tool.leakcheck]\nmin-severity = "medium"\n'})
    write(tmp_path, {"app/script.py": script})
    path = str(tmp_path / "app" / "script.py")
    code, out = invoke("check", path)
    assert code == 0, out
    code, out = invoke("check", "--min-severity", "low", path)  # the command line replaces it
    assert code == 1 and "LC201" in out
    code, out = invoke("check", "--show-settings", path)
    assert code == 0 and 'min-severity = "medium"' in out.splitlines()
    write(tmp_path, {"pyproject.toml": '[tool.leakcheck]\nmin-severity = "urgent"\n'})
    code, _, err = invoke_split("check", path)
    assert code == 2 and "`min-severity` must be one of" in err and "'urgent'" in err
    write(tmp_path, {"pyproject.toml": '[tool.leakcheck]\nmin-severty = "high"\n'})
    code, _, err = invoke_split("check", path)
    assert code == 2 and "(did you mean `min-severity`?)" in err


def test_findings_left_out_are_not_written_to_a_baseline(tmp_path: Path) -> None:
    _, every = json_findings(str(WEIGHTS))
    baseline = tmp_path / "baseline.json"
    code, out = invoke(
        "check",
        "--isolated",
        "--min-severity",
        "high",
        "--write-baseline",
        str(baseline),
        str(WEIGHTS),
    )
    assert code == 0, out
    written = json.loads(baseline.read_text())["findings"]
    assert sorted(e["line"] for e in written) == [
        f["line"] for f in every if f["severity"] == "high"
    ]
    assert 0 < len(written) < len(every)


def test_a_suppression_of_a_finding_left_out_still_counts_as_used(tmp_path: Path) -> None:
    source = "import sqlite3\nc = sqlite3.connect('a.db')  # noqa: LC201\nc.execute('x')\n"
    write(tmp_path, {"script.py": source})
    path = str(tmp_path / "script.py")
    for floor in ("low", "high"):
        code, findings = json_findings("--report-unused-noqa", "--min-severity", floor, path)
        assert (code, findings) == (0, [])


def test_project_kinds_carry_a_severity(tmp_path: Path) -> None:
    kind = (
        '[[tool.leakcheck.kinds]]\nname = "warehouse"\nfamily = "pool"\n'
        'acquire = ["<pool>.borrow"]\nrelease = ["<pool>.give_back(<resource>)"]\n'
        'source-names = ["*warehouse*"]\n'
    )
    source = "def f(warehouse):\n    h = warehouse.borrow()\n    h.run()\n"
    write(tmp_path, {"app/use.py": source})
    path = str(tmp_path / "app" / "use.py")
    for written, expected in (("", "high"), ('severity = "low"\n', "low")):
        write(tmp_path, {"pyproject.toml": "[tool.leakcheck]\n" + kind + written})
        code, out = invoke("check", "--output-format", "json", path)
        assert code == 1
        assert [f["severity"] for f in json.loads(out)["findings"]] == [expected], out


def test_the_kind_loader_validates_severities() -> None:
    base = {"name": "k", "acquire": ["lib.connect"], "release": ["<resource>.close()"]}
    assert parse_kind(base, "t").severity == HIGH  # the default
    weighed = parse_kind({**base, "acquire-severity": {"lib.connect": "low"}}, "t")
    assert weighed.severity_of("lib.connect") == LOW and weighed.severity_of("x.y") == HIGH
    for bad in (
        {"severity": "urgent"},
        {"severity": 3},
        {"acquire-severity": {"other.connect": "low"}},  # not one of the kind's callables
        {"acquire-severity": {"lib.connect": "severe"}},
        {"acquire-severity": ["lib.connect"]},
    ):
        with pytest.raises(CatalogueError):
            parse_kind({**base, **bad}, "t")
    # The built-in data: server connections and pools high, local files lower.
    assert {k.severity for k in builtin_kinds()} == {HIGH, MEDIUM}


def test_severity_order() -> None:
    assert [s.rank for s in (LOW, MEDIUM, HIGH)] == [0, 1, 2]
    assert (HIGH.lower(), MEDIUM.lower(), LOW.lower()) == (MEDIUM, LOW, LOW)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_db.py", True),
        ("test_db.py", True),
        ("pkg/db_test.py", True),
        ("tests/conftest.py", True),
        ("C:\\src\\tests\\test_db.py", True),
        ("tests/helpers.py", False),  # a folder of tests is not a test file by name
        ("testing.py", False),
        ("contest.py", False),
        ("test_db.pyi", False),
        ("", False),
    ],
)
def test_test_files_are_known_by_name(path: str, expected: bool) -> None:
    assert is_test_file(path) is expected


def test_the_editor_shows_lighter_findings_less_loudly() -> None:
    from lsprotocol import types
    from pygls.workspace import TextDocument

    from leakcheck.model import Finding
    from leakcheck.server import diagnostic

    document = TextDocument("file:///tmp/x.py", "import sqlite3\nc = sqlite3.connect('a.db')\n")
    shown = {
        severity: diagnostic(
            document, Finding("x.py", 2, 5, 2, 27, "LC201", "never-closed", "m", severity=severity)
        ).severity
        for severity in Severity
    }
    assert shown == {
        HIGH: types.DiagnosticSeverity.Warning,  # as every finding was before weights
        MEDIUM: types.DiagnosticSeverity.Information,
        LOW: types.DiagnosticSeverity.Hint,
    }
