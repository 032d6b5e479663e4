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
        # The README's own example: a walked file with no acquiring word was never parsed.
        ({"report.py": VERTICA}, ["report.py:5"]),
        ({"app/report.py": VERTICA, "app/other.py": "x = 1\n"}, ["app/report.py:5"]),
        # The factory's call is counted where it is written, once.
        ({"db.py": FACTORY_HERE}, ["db.py:5"]),
        # A project helper whose summary says nothing: the caller's call, in both.
        ({"db.py": FACTORY, "app.py": CALLER}, ["app.py:5"]),
        # An import that resolves to no file of the project.
        ({"tests/use_a.py": UNRESOLVED}, ["tests/use_a.py:6"]),
        # A project helper of a known kind is judged, counted by neither.
        ({"src/utils/db.py": DUCKDB_HELPER, "tests/use_a.py": RESOLVED}, []),
    ],
)
def test_the_check_counts_what_kinds_unknown_lists(
    here: Path, files: dict[str, str], listed: list[str]
) -> None:
    write(here, files)
    assert counted(here) == (len(listed), listed)


def test_the_prefilter_looks_for_the_counts_database_words() -> None:
    # The walk parses a file with a release and one of these words (`project.pipeline`, bytes,
    # without libcst); the count's test is `analysis.unknown.DATABASE_WORDS`: the same words.
    from leakcheck.analysis.unknown import DATABASE_WORDS
    from leakcheck.project.pipeline import DATABASE_WORD

    assert DATABASE_WORD.pattern.decode() == DATABASE_WORDS.pattern
    assert DATABASE_WORD.flags & re.IGNORECASE and DATABASE_WORDS.flags & re.IGNORECASE
