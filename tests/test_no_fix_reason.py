"""Issue 29: a finding without a fix says why (`Finding.no_fix_reason`, JSON, the code frame)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import invoke, write

from leakcheck.project.api import check_buffer
from leakcheck.report.findings_schema import json_schema

HEAD = (
    "import psycopg2.pool\n\n"
    "pool = psycopg2.pool.ThreadedConnectionPool(1, 5, dsn='dbname=app')\n\n\n"
)
SOURCE = HEAD + (
    "def discarded():\n"  # line 6
    "    pool.getconn()\n"
    "\n\n"
    "def tenant(name):\n"  # line 10
    "    conn = pool.getconn()\n"
    "    if name not in ('a', 'b'):\n"
    "        return None\n"
    "    conn.cursor().execute('SET search_path TO ' + name)\n"
    "    return conn\n"  # line 15
    "\n\n"
    "def fixable(sql):\n"  # line 18
    "    conn = pool.getconn()\n"
    "    conn.cursor().execute(sql)\n"
    "    pool.putconn(conn)\n"
)


def reasons(tmp_path: Path) -> dict[int, tuple[int, str]]:
    path = tmp_path / "jobs.py"
    found = check_buffer(SOURCE.encode(), path).findings
    return {f.line: (len(f.fixes), f.no_fix_reason) for f in found}


def test_each_unfixed_finding_says_what_stops_the_rewrite(tmp_path: Path) -> None:
    found = reasons(tmp_path)
    assert found[7] == (
        0,
        "the result is not bound to a name (discarded, chained or passed straight on): there is "
        "no name a rewrite could release",
    )
    assert found[11][0] == 0
    assert found[11][1].startswith("`conn` is returned on line 15: ")
    assert found[19] == (1, "")  # a fix: no reason
    # A closure over the session, run after the function returns (a streaming generator).
    streams = Path(__file__).resolve().parent.parent / "fixtures" / "streams" / "export_streams.py"
    [lc207] = [f for f in check_buffer(streams.read_bytes(), streams).findings if f.line == 42]
    assert not lc207.fixes
    assert lc207.no_fix_reason.startswith("`db` is used inside the function defined on line 44")


def test_a_dropping_branch_is_the_reason_when_nothing_is_offered(tmp_path: Path) -> None:
    source = HEAD.replace(
        "import psycopg2.pool", "import psycopg2.errors\nimport psycopg2.pool"
    ) + (
        "def load(rows):\n"  # line 7
        "    conn = pool.getconn()\n"
        "    try:\n"
        "        conn.cursor().executemany('INSERT INTO t VALUES (%s)', rows)\n"
        "    except psycopg2.errors.AdminShutdown:\n"  # line 11
        "        pool.putconn(conn, close=True)\n"
        "        raise\n"
        "    conn.commit()\n"
        "    pool.putconn(conn)\n"
    )
    [finding] = check_buffer(source.encode(), tmp_path / "load.py").findings
    assert (finding.line, finding.fixes) == (8, ())
    assert finding.no_fix_reason == (
        "the `except psycopg2.errors.AdminShutdown` branch on line 11 discards `conn` on "
        "purpose: a `finally` would give it back on that path too"
    )


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"jobs.py": SOURCE})
    return tmp_path


def test_json_carries_the_reason_and_the_schema_checks_it(here: Path) -> None:
    document = json.loads(invoke("check", "--output-format", "json", "jobs.py")[1])
    by_line = {f["line"]: f for f in document["findings"]}
    assert by_line[7]["no_fix_reason"].startswith("the result is not bound to a name")
    assert by_line[19]["no_fix_reason"] is None and by_line[19]["fixes"]
    validator = jsonschema.Draft202012Validator(json_schema())
    validator.validate(document)
    for wrong in ("", 3):
        broken = copy.deepcopy(document)
        broken["findings"][0]["no_fix_reason"] = wrong
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


def test_the_code_frame_shows_the_reason_only_without_a_fix(here: Path) -> None:
    out = invoke("check", "--no-cache", "jobs.py")[1]
    assert out.count("= no fix: ") == 2
    assert "= no fix: `conn` is returned on line 15: " in out
    fixable = out.split("jobs.py:19:")[1]
    assert "no fix" not in fixable and "= help: Release `conn` in `finally`" in fixable


def test_a_release_in_a_branch_is_why_try_finally_is_not_offered(tmp_path: Path) -> None:
    source = HEAD + (
        "def branchy(flag):\n"  # line 6
        "    conn = pool.getconn()\n"
        "    conn.cursor().execute('x')\n"
        "    if flag:\n"
        "        conn.cursor().execute('y')\n"
        "        pool.putconn(conn)\n"  # line 11
        "        return 1\n"
        "    pool.putconn(conn)\n"
        "    return 2\n"
    )
    [finding] = check_buffer(source.encode(), tmp_path / "branchy.py").findings
    assert (finding.line, finding.fixes) == (7, ())
    assert finding.no_fix_reason == (
        "`conn` is released on line 11 inside a branch, loop or `try` of its own: a new "
        "`finally` would release it twice on that path"
    )


FRAMEWORK_FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize("folder", ["frameworks", "django"])
def test_framework_and_django_findings_without_a_fix_say_why(folder: str) -> None:
    """Findings of the framework and Django analyses (drafts, not verdicts) name a reason too:
    the rule's documented one ("## Fix safety" opening with "No fix:"), or the store's."""
    paths = sorted((FRAMEWORK_FIXTURES / folder).rglob("*.py"))
    unfixed = [
        f
        for p in paths
        if not p.name.endswith(".fixed.py")
        for f in check_buffer(p.read_bytes(), p).findings
        if not f.fixes
    ]
    assert unfixed, f"fixtures/{folder} has findings without a fix"
    assert all(f.no_fix_reason for f in unfixed), [
        (f.path, f.line, f.code) for f in unfixed if not f.no_fix_reason
    ]


def test_rule_reason_is_its_documented_fix_safety() -> None:
    from leakcheck.checks import rules

    documented = [r for r in rules() if "## Fix safety\nNo fix:" in r.doc]
    assert documented
    for rule in documented:
        assert rule.no_fix and rule.no_fix in " ".join(rule.doc.split()), rule.code
    assert all(not r.no_fix for r in rules() if "## Fix safety\nNo fix:" not in r.doc)


def test_a_returned_call_given_the_resource_is_named_as_such(tmp_path: Path) -> None:
    # `run_query` borrows the session (its module's summary says so), so the session is never
    # closed; what leaves is the call's result, not `db`: the reason says that, not "`db` is
    # returned".
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/db.py": (
                "from sqlalchemy import create_engine\n"
                "from sqlalchemy.orm import sessionmaker\n\n"
                "SessionLocal = sessionmaker(bind=create_engine('postgresql://x'))\n"
            ),
            "app/helpers.py": (
                "from sqlalchemy.orm import Session\n\n\n"
                "def run_query(db: Session, q):\n"
                "    return db.execute(q).fetchall()\n"
            ),
            "app/views.py": (
                "from app.db import SessionLocal\n"
                "from app.helpers import run_query\n\n\n"
                "def listing(q):\n"
                "    db = SessionLocal()\n"
                "    return run_query(db, q)\n"
            ),
        },
    )
    code, out = invoke("check", "--no-cache", "--output-format", "json", str(tmp_path))
    assert code == 1, out
    [finding] = json.loads(out)["findings"]
    assert (finding["line"], finding["fixes"]) == (6, [])
    assert finding["no_fix_reason"].startswith(
        "`run_query(...)` is given `db` and its result is returned on line 7: the result may "
        "hold `db`"
    )
