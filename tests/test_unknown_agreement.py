"""`summary.unknown_resources` of `leakcheck check` and the calls `leakcheck kinds --unknown`
lists are one count (`analysis.unknown.unknown_calls`): the same files, the same calls, with the
same resolver of project names. Each tree below is a repro where they disagreed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import invoke, write

VERTICA = """\
import vertica_python


def f():
    con = vertica_python.connect("x")
    con.cursor().execute("select 1")
    con.close()
"""
# A factory of no kind whose caller, in the same module, closes the result.
FACTORY_HERE = """\
import vertica_python


def getConnection():
    return vertica_python.connect("x")


def use():
    conn = getConnection()
    conn.close()
"""
FACTORY = """\
import vertica_python


def getConnection():
    return vertica_python.connect("x")
"""
CALLER = """\
from db import getConnection


def use():
    conn = getConnection()
    conn.close()
"""
# A helper imported from a module that is not on disk (an installed package): no kind either.
UNRESOLVED = """\
from company_lib.db import get_connection


def use_x():
    try:
        con = get_connection()
        con.execute("select 1")
        con.close()
    except Exception:
        return False
"""
DUCKDB_HELPER = """\
import duckdb


def get_connection():
    return duckdb.connect("app.duckdb")
"""
RESOLVED = UNRESOLVED.replace("company_lib.db", "src.utils.db")


def counted(root: Path) -> tuple[int, list[str]]:
    """The check's `unknown_resources`, and the `path:line` of each call `kinds --unknown`
    lists, both run on `root` from inside it."""
    code, out = invoke("check", "--no-cache", "--exit-zero", "--format", "json", ".")
    assert code == 0, out
    summary = json.loads(out)["summary"]["unknown_resources"]
    code, out = invoke("kinds", "--unknown", ".")
    assert code == 0, out
    listed = re.findall(r"^(\S+:\d+): `", out, re.MULTILINE)
    total = re.search(r"^(\d+) calls? of resource-like types", out, re.MULTILINE)
    assert total is not None and int(total[1]) == len(listed), out
    return summary, sorted(listed)


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "listed"),
    [
        # A walked file with no acquiring word is not parsed (the prefilter): counted by
        # neither (named on the command line, it is: `test_a_named_file_is_counted_by_both`).
        ({"report.py": VERTICA}, []),
        # Walked, these name no acquisition either: counted by neither.
        ({"db.py": FACTORY_HERE}, []),
        # A project helper whose summary says nothing: the caller names no acquisition, so it
        # is not parsed when walked, and neither counts it.
        ({"db.py": FACTORY, "app.py": CALLER}, []),
        # An import that resolves to no file of the project.
        ({"tests/use_a.py": UNRESOLVED}, []),
        # A project helper of a known kind is judged, counted by neither.
        ({"src/utils/db.py": DUCKDB_HELPER, "tests/use_a.py": RESOLVED}, []),
    ],
)
def test_the_check_counts_what_kinds_unknown_lists(
    here: Path, files: dict[str, str], listed: list[str]
) -> None:
    write(here, files)
    assert counted(here) == (len(listed), listed)


@pytest.mark.parametrize(
    ("source", "line"),
    [(VERTICA, 5), (FACTORY_HERE, 5), (UNRESOLVED, 6)],  # the factory's call: where written
)
def test_a_named_file_is_counted_by_both(here: Path, source: str, line: int) -> None:
    write(here, {"report.py": source})
    _, out = invoke("check", "--no-cache", "--exit-zero", "--format", "json", "report.py")
    assert json.loads(out)["summary"]["unknown_resources"] == 1, out
    _, out = invoke("kinds", "--unknown", "report.py")
    assert re.findall(r"^(\S+:\d+): `", out, re.MULTILINE) == [f"report.py:{line}"], out
