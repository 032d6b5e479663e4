"""`--write-baseline` records today's findings; `--baseline` fails only on new ones, and the
fingerprints survive edits that move lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import POOL, SESSION, found, invoke, invoke_split, script, write


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"app/pool.py": POOL, "app/session.py": SESSION})
    return tmp_path


TWO_IN_ONE = """\
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

class Repo:
    def load(self, sql):
        conn = pool.getconn()
        conn.cursor().execute(sql)
        other = pool.getconn()
        other.cursor().execute(sql)
        pool.putconn(conn)
        pool.putconn(other)
"""


def test_write_baseline_records_the_findings_and_exits_zero(here: Path) -> None:
    code, out, err = invoke_split("check", "--write-baseline", "baseline.json", "app")
    assert (code, out, err) == (0, "", "Wrote 2 findings to baseline.json\n")
    document = json.loads((here / "baseline.json").read_text())
    assert document["format"] == 1
    assert [
        (e["code"], e["path"], e["function"], e["acquisition"], e["line"])
        for e in document["findings"]
    ] == [
        ("LC102", "app/pool.py", "count", "pool.getconn()", 5),
        ("LC201", "app/session.py", "items", "SessionLocal()", 5),
    ]


def test_baseline_hides_known_findings_and_reports_new_ones(here: Path) -> None:
    invoke("check", "--write-baseline", "baseline.json", "app")
    code, out = invoke("check", "--baseline", "baseline.json", "app")
    assert (code, out) == (0, "All checks passed! (2 files in all; 2 in the baseline not shown)\n")
    write(here, {"app/new.py": SESSION})
    assert found("--baseline", "baseline.json", "app") == [("app/new.py", 5, "LC201")]


def test_fingerprints_survive_edits_that_shift_lines(here: Path) -> None:
    invoke("check", "--write-baseline", "baseline.json", "app")
    shifted = '"""Docs."""\nimport os\n\n\n' + POOL.replace(
        "def count(sql):", "def helper():\n    return os.sep\n\ndef count(sql):"
    )
    write(here, {"app/pool.py": shifted})
    assert found("app/pool.py") == [("app/pool.py", 12, "LC102")]
    assert found("--baseline", "baseline.json", "app") == []


def test_a_finding_moved_to_another_function_is_new(here: Path) -> None:
    invoke("check", "--write-baseline", "baseline.json", "app")
    write(here, {"app/pool.py": POOL.replace("def count(sql):", "def tally(sql):")})
    assert found("--baseline", "baseline.json", "app") == [("app/pool.py", 5, "LC102")]


def test_duplicates_are_counted(here: Path) -> None:
    write(here, {"app/repo.py": TWO_IN_ONE})
    assert found("app/repo.py") == [("app/repo.py", 6, "LC102"), ("app/repo.py", 8, "LC102")]
    invoke("check", "--write-baseline", "baseline.json", "app/repo.py")
    entries = json.loads((here / "baseline.json").read_text())["findings"]
    assert [e["function"] for e in entries] == ["Repo.load", "Repo.load"]
    assert len({e["fingerprint"] for e in entries}) == 2
    # A third identical acquisition in the same function is one new finding.
    third = TWO_IN_ONE.replace(
        "        pool.putconn(conn)\n",
        "        more = pool.getconn()\n        more.cursor().execute(sql)\n"
        "        pool.putconn(more)\n        pool.putconn(conn)\n",
    )
    write(here, {"app/repo.py": third})
    assert len(found("app/repo.py")) == 3
    assert found("--baseline", "baseline.json", "app/repo.py") == [("app/repo.py", 10, "LC102")]


def test_paths_are_relative_to_the_baseline_file(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("check", "--write-baseline", "baseline.json", "app")
    monkeypatch.chdir(here / "app")
    code, out = invoke("check", "--baseline", "../baseline.json", ".")
    assert (code, out) == (0, "All checks passed! (2 files in all; 2 in the baseline not shown)\n")


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "cannot read the baseline"),
        ('{"format": 99, "findings": []}', "not a leakcheck baseline (format 1)"),
        ('{"format": 1, "findings": [{"code": "LC101"}]}', "not a leakcheck baseline"),
    ],
)
def test_a_bad_baseline_is_an_error_naming_the_file(
    here: Path, content: str, complaint: str
) -> None:
    (here / "baseline.json").write_text(content)
    code, out, err = invoke_split("check", "--baseline", "baseline.json", "app")
    assert (code, out) == (2, "")
    assert err.startswith(f"leakcheck: error: baseline.json: {complaint}")


def test_a_missing_baseline_is_a_usage_error(here: Path) -> None:
    code, out = invoke("check", "--baseline", "nope.json", "app")
    assert code == 2
    assert "'nope.json' does not exist" in out


def test_baseline_with_the_console_script(here: Path) -> None:
    wrote = script("check", "--write-baseline", ".leakcheck-baseline.json", ".", cwd=here)
    assert (wrote.returncode, wrote.stderr) == (0, "Wrote 2 findings to .leakcheck-baseline.json\n")
    clean = script("check", "--baseline", ".leakcheck-baseline.json", ".", cwd=here)
    assert clean.returncode == 0
    write(here, {"app/more.py": POOL})
    new = script(
        "check", "--format", "json", "--baseline", ".leakcheck-baseline.json", ".", cwd=here
    )
    assert new.returncode == 1
    assert [f["path"] for f in json.loads(new.stdout)["findings"]] == ["app/more.py"]
