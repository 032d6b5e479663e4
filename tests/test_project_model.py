"""The project model: summaries, prefilter, workers and cache change how fast, never what.

Each test compares real runs over the same files: with and without the prefilter, the cache and
worker processes, the findings (and their order) must be identical.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import record_libcst_parses, record_parses

from leakcheck.cli import main
from leakcheck.model import Report
from leakcheck.project import api
from leakcheck.project.runner import Options, run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def outcome(report: Report) -> list[tuple[str, int, int, str, str]]:
    """Everything a run reports, in report order (files in discovery order)."""
    rows = [(f.path, f.line, f.column, f.code, f.message) for r in report.files for f in r.findings]
    rows += [(e.path, e.line or 0, 0, "error", e.message) for e in report.errors]
    return rows


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEAKCHECK_CACHE_DIR", raising=False)
    return tmp_path


def variants(paths: list[str], cache_dir: Path) -> dict[str, list[tuple[str, int, int, str, str]]]:
    """The same check, run every way the project model can run it."""
    runs = {
        "plain": Options(jobs=1, prefilter=False),
        "prefilter": Options(jobs=1),
        "jobs2": Options(jobs=2),
        "jobs2-noprefilter": Options(jobs=2, prefilter=False),
        "cache-cold": Options(jobs=2, cache=True, cache_dir=cache_dir),
        "cache-warm": Options(jobs=2, cache=True, cache_dir=cache_dir),
        "cache-warm-jobs1": Options(jobs=1, cache=True, cache_dir=cache_dir),
    }
    return {name: outcome(run(paths, options=options)) for name, options in runs.items()}


def test_fixtures_report_the_same_with_and_without_prefilter_cache_and_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES.parent)
    found = variants(["fixtures"], tmp_path / "cache")
    assert len(found["plain"]) > 50  # the fixtures are full of leaks
    for name, rows in found.items():
        assert rows == found["plain"], name


def test_a_real_tree_reports_the_same_with_and_without_prefilter_cache_and_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    package = Path(sqlalchemy.__file__).parent
    tree = tmp_path / "tree"
    shutil.copytree(package / "pool", tree / "sqlalchemy" / "pool")
    (tree / "sqlalchemy" / "testing").mkdir()
    for module in (package / "testing").glob("*.py"):  # not its suite/: the test stays short
        shutil.copy(module, tree / "sqlalchemy" / "testing" / module.name)
    (tree / "sqlalchemy" / "__init__.py").write_text("")
    monkeypatch.chdir(tree)
    found = variants(["sqlalchemy"], tmp_path / "cache")
    # SQLAlchemy's test helpers hold real findings (a connection closed without `finally`).
    assert any(row[3] == "LC202" for row in found["plain"]), found["plain"]
    for name, rows in found.items():
        assert rows == found["plain"], name


PROJECT = {
    "pyproject.toml": "[project]\nname = 'svc'\n",
    "app/__init__.py": "",
    "app/db.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        pool = ThreadedConnectionPool(1, 5)

        def get_conn():
            return pool.getconn()
        """,
    "app/api/__init__.py": "",
    "app/api/items.py": """\
        from app.db import get_conn as open_conn

        def count():
            conn = open_conn()
            return conn.cursor().execute("select 1")
        """,
    "app/api/plain.py": "def nothing():\n    return 1\n",
}


def test_names_resolve_through_summaries_and_no_module_is_parsed_twice(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, PROJECT)

    parsed = record_parses(monkeypatch)
    report = run(["app"], options=Options(jobs=1))
    # items.py names no pool: only app/db.py's summary makes `open_conn()` an acquisition, and
    # only the exported name `get_conn` (in its import) makes items.py worth parsing.
    assert [(f.path, f.line, f.code) for f in report.findings] == [("app/api/items.py", 4, "LC101")]
    assert sorted(parsed) == sorted(set(parsed))  # each module at most once
    assert "app/api/plain.py" not in parsed  # no token: never parsed


RELATIVE = {
    "pyproject.toml": "[project]\nname = 'svc'\n",
    "app/__init__.py": "from .db import get_conn\n",
    "app/db.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        pool = ThreadedConnectionPool(1, 5)

        def get_conn():
            return pool.getconn()

        def describe(conn):
            return conn.dsn
        """,
    "app/util.py": "def size(items):\n    return len(items)\n",
    "app/api/__init__.py": "",
    "app/api/through_module.py": """\
        from ..db import get_conn

        def count():
            conn = get_conn()
            return conn.cursor().execute("select 1")
        """,
    "app/api/through_package.py": """\
        from .. import (
            get_conn,
        )

        def total():
            conn = get_conn()
            return conn.cursor().execute("select 2")
        """,
    # The word `pool` (an export of app/db.py) as a parameter next to a relative import of
    # something else; a function of app/db.py that only borrows a connection: neither can acquire.
    "app/api/unrelated.py": """\
        from ..util import size

        def pool_size(pool):
            return size(pool)
        """,
    "app/api/borrower.py": """\
        from app.db import describe

        def show(conn):
            return describe(conn)
        """,
}


def test_the_prefilter_follows_relative_imports_of_exported_names_only(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, RELATIVE)

    parsed = record_parses(monkeypatch)
    report = run(["app"], options=Options(jobs=1))
    assert [(f.path, f.line, f.code) for f in report.findings] == [
        ("app/api/through_module.py", 4, "LC101"),
        ("app/api/through_package.py", 6, "LC101"),
    ]
    assert "app/api/unrelated.py" not in parsed
    assert "app/api/borrower.py" not in parsed
    unfiltered = run(["app"], options=Options(jobs=1, prefilter=False))
    assert outcome(unfiltered) == outcome(report)


# Each checked file's first line names it. app/db.py exports `get_conn`; the first three files
# hold that word only in a comment, a docstring or a string: the byte test keeps them, the
# code-only test does not.
WORDS_IN_TEXT = {
    "app/__init__.py": "",
    "app/db.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        pool = ThreadedConnectionPool(1, 5)

        def get_conn(*args):
            return pool.getconn()

        def describe(conn):
            return conn.dsn
        """,
    "comment.py": "# comment.py\nfrom app.db import describe  # not get_conn(): it would leak\n",
    "docstring.py": '# docstring.py\n"""Uses app.db, never get_conn()."""\nfrom app import db\n',
    "string.py": "# string.py\nfrom app.db import describe\nHELP = 'call get_conn()'\n",
    # Traps: the acquisition is code, after a `#` in a string, inside an f-string, or in a file
    # with carriage returns (positions are then not trusted: the bytes are tested whole).
    "hash.py": (
        "# hash.py\nfrom app.db import get_conn\n\ndef f():\n"
        "    conn = get_conn('#'); return conn.cursor().execute('x')\n"
    ),
    "fstring.py": (
        "# fstring.py\nfrom app.db import get_conn\n\ndef f():\n"
        "    print(f\"#{get_conn().cursor().execute('x')}\")\n"
    ),
    "crlf.py": (
        "# crlf.py\r\nfrom app.db import get_conn\r\n\r\ndef f():  # get_conn\r\n"
        "    conn = get_conn()\r\n    return conn.cursor().execute('x')\r\n"
    ),
}


def test_words_only_in_comments_docstrings_and_strings_are_not_parsed_with_libcst(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, WORDS_IN_TEXT)

    parsed = record_libcst_parses(monkeypatch)
    report = run(["."], options=Options(jobs=1))
    checked = sorted(p for p in parsed if p.startswith("# "))
    assert checked == ["# crlf.py", "# fstring.py", "# hash.py"]
    assert outcome(run(["."], options=Options(jobs=1, prefilter=False))) == outcome(report)
    assert {f.path for f in report.findings} == {"crlf.py", "fstring.py", "hash.py"}
    # A file named on the command line is always parsed.
    parsed.clear()
    run(["comment.py"], options=Options(jobs=1))
    assert [p for p in parsed if p.startswith("# ")] == ["# comment.py"]


# app/__init__.py names `contextmanager` and `psycopg2.connect` only in its docstring: it can
# define nothing, so it is never parsed with libcst, yet what it re-exports still resolves.
MARKER_IN_DOCSTRING = {
    "app/__init__.py": (
        '"""Helpers: psycopg2.connect() wrapped in a contextmanager live in app.db."""\n'
        "import psycopg2\n"
        "from .db import get_conn\n"
    ),
    "app/db.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        pool = ThreadedConnectionPool(1, 5)

        def get_conn():
            return pool.getconn()
        """,
    "app/api.py": """\
        from app import get_conn

        def count():
            conn = get_conn()
            return conn.cursor().execute("select 1")
        """,
}


def test_a_module_with_markers_only_in_its_docstring_is_not_parsed_and_still_reexports(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, MARKER_IN_DOCSTRING)

    parsed = record_libcst_parses(monkeypatch)
    options = Options(jobs=1, cache=True, cache_dir=here / "cache")
    report = run(["app/api.py"], options=options)  # as pre-commit runs it
    assert [(f.path, f.line, f.code) for f in report.findings] == [("app/api.py", 4, "LC101")]
    assert parsed == [
        "from psycopg2.pool import ThreadedConnectionPool",  # app/db.py
        "from app import get_conn",  # app/api.py
    ]
    assert outcome(run(["app/api.py"], options=Options(jobs=2))) == outcome(report)
    parsed.clear()
    assert outcome(run(["app/api.py"], options=options)) == outcome(report)  # warm: the cache
    assert parsed == []
    # Checked as a whole, the package's `__init__.py` is judged (it imports `get_conn`).
    assert outcome(run(["app"], options=Options(jobs=1))) == outcome(report)


def test_a_warm_run_reuses_results_that_depend_on_a_package_reexport(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # reports.py can define things (it builds a pool), so it is summarised in import order; its
    # answer for `get_conn` comes from app/db.py through app/__init__.py, which defines nothing:
    # the run must still order app/db.py first, or the stored answer cannot be checked.
    reports = """\
        from psycopg2.pool import SimpleConnectionPool
        from app import get_conn

        archive = SimpleConnectionPool(1, 2)

        def last():
            conn = get_conn()
            return conn.cursor().execute("select 3")
        """
    write(here, {**RELATIVE, "app/api/reports.py": reports})
    options = Options(jobs=1, cache=True, cache_dir=here / "cache")
    cold = outcome(run(["app"], options=options))

    parsed = record_parses(monkeypatch)
    assert ("app/api/reports.py", 7, 12, "LC101") in [row[:4] for row in cold]
    assert outcome(run(["app"], options=options)) == cold
    assert parsed == []


# app/reporting.py names no pool, driver or acquisition method: only `get_conn` and `put_conn`,
# which app/db.py exports. It wraps them; app/dashboards.py wraps that wrapper; app/__init__.py
# only re-exports. Nothing but their summaries says that `dashboard_conn()` acquires.
WRAPPERS = {
    "pyproject.toml": "[project]\nname = 'svc'\n",
    "app/__init__.py": "from .db import get_conn, put_conn\n",
    "app/db.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        pool = ThreadedConnectionPool(1, 5)

        def get_conn():
            return pool.getconn()

        def put_conn(conn):
            pool.putconn(conn)
        """,
    "app/reporting.py": """\
        from app import get_conn, put_conn

        def reporting_conn():
            return get_conn()

        def done_with(conn):
            put_conn(conn)
        """,
    "app/dashboards.py": """\
        from app.reporting import reporting_conn

        def dashboard_conn():
            return reporting_conn()
        """,
    "app/api.py": """\
        from app.dashboards import dashboard_conn
        from app.reporting import done_with

        def count():
            conn = dashboard_conn()
            conn.cursor().execute("select 1")
            done_with(conn)

        def total():
            conn = dashboard_conn()
            return conn.cursor().execute("select 2")
        """,
}


def test_wrappers_of_exported_starters_are_summarised_round_by_round(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, WRAPPERS)
    found = variants(["app"], here / "cache")
    expected = [("app/api.py", 5, "LC102"), ("app/api.py", 10, "LC101")]
    for name, rows in found.items():
        assert [(path, line, code) for path, line, _, code, _ in rows] == expected, name

    # As pre-commit runs it: the wrappers are summarised (each parsed once), the package's
    # `__init__.py`, which only re-exports, is not parsed.
    options = Options(jobs=1, cache=True, cache_dir=here / "one")
    parsed = record_parses(monkeypatch)
    assert outcome(run(["app/api.py"], options=options)) == found["plain"]
    shown = sorted(Path(p).resolve().relative_to(here.resolve()).as_posix() for p in parsed)
    assert shown == ["app/api.py", "app/dashboards.py", "app/db.py", "app/reporting.py"]
    parsed.clear()
    (here / "app" / "api.py").write_text(textwrap.dedent(WRAPPERS["app/api.py"]) + "# edited\n")
    assert outcome(run(["app/api.py"], options=options)) == found["plain"]
    assert parsed == ["app/api.py"]  # the wrappers' summaries come from the cache

    # get_conn no longer acquires: reporting.py is no longer summarised, and a warm run agrees
    # with a cold one (the cached summaries made when it was are not reused).
    (here / "app" / "db.py").write_text(
        textwrap.dedent(WRAPPERS["app/db.py"]).replace("return pool.getconn()", "return None")
    )
    cold = outcome(run(["app/api.py"], options=Options(jobs=1)))
    assert [row[3] for row in cold] == []
    assert outcome(run(["app/api.py"], options=options)) == cold


CYCLE = {
    "pyproject.toml": "[project]\nname = 'svc'\n",
    "pkg/__init__.py": "",
    "pkg/a.py": """\
        from psycopg2.pool import ThreadedConnectionPool
        from pkg import b

        pool = ThreadedConnectionPool(1, 5)

        def get_conn():
            return pool.getconn()

        def report():
            return b.summary()
        """,
    "pkg/b.py": """\
        from psycopg2.pool import SimpleConnectionPool
        from pkg.a import get_conn

        archive = SimpleConnectionPool(1, 2)

        def summary():
            conn = get_conn()
            return conn.cursor().execute("select 1")
        """,
    # c.py acquires and releases (so it must be parsed: a named file with no acquisition word is
    # only read by CPython's parser), and imports b.py before a.py.
    "pkg/c.py": """\
        from pkg.b import summary
        from pkg.a import pool

        def main():
            conn = pool.getconn()
            try:
                return summary()
            finally:
                pool.putconn(conn)
        """,
}


def test_one_file_after_a_tree_run_parses_only_that_file(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pre-commit's call after a run over the tree: c.py imports b.py before a.py, the reverse of
    # discovery order, so the cycle a <-> b must be ordered the same way in both runs.
    write(here, CYCLE)
    options = Options(jobs=1, cache=True, cache_dir=here / "cache")
    tree = run(["pkg"], options=options)
    assert [(f.path, f.line, f.code) for f in tree.findings] == [("pkg/b.py", 7, "LC101")]
    (here / "pkg" / "c.py").write_text(textwrap.dedent(CYCLE["pkg/c.py"]) + "# edited\n")

    parsed = record_parses(monkeypatch)
    assert run(["pkg/c.py"], options=options).findings == []
    assert parsed == ["pkg/c.py"]


def test_a_warm_run_does_not_import_libcst(here: Path) -> None:
    write(here, PROJECT)
    script = textwrap.dedent(
        """
        import json, sys
        from leakcheck.cli import main
        try:
            main(["check", "--format", "json", "--jobs", "1", "app"])
        except SystemExit:
            pass
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in PACKAGES)))
        """
    ).replace("PACKAGES", repr(("libcst", "pathspec")))

    def imported() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=here
        )
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    cold = imported()
    assert cold != []  # cold: it parses, in this process (--jobs 1)
    assert not any(m.startswith("pathspec") for m in cold)  # no ignore file, no ignore patterns
    assert (here / ".leakcheck_cache" / "CACHEDIR.TAG").is_file()
    assert (here / ".leakcheck_cache" / ".gitignore").read_text().strip().endswith("*")
    assert imported() == []  # warm: nothing changed, nothing parsed
    (here / ".gitignore").write_text("build/\n")
    assert "pathspec" in imported()  # an ignore file: its patterns are read


def test_a_cold_run_with_workers_leaves_the_analysis_to_them(here: Path) -> None:
    # Cold (no cache, or an empty one), the workers start before the files are read and import
    # libcst themselves while this process reads the tree; with entries cached, they start only
    # if something is to be parsed, forked after this process imported the analysis once.
    write(here, PROJECT)
    script = textwrap.dedent(
        """
        import json, sys
        from leakcheck.project import pipeline
        from leakcheck.project.runner import run, Options
        early = []
        start = pipeline.Project.start_early
        def spy(self, files):
            start(self, files)
            early.append(self.schedule.pool is not None)
        pipeline.Project.start_early = spy
        report = run(["app"], options=Options(jobs=2, cache=CACHE, cache_dir=None))
        print(json.dumps([early, "libcst" in sys.modules, len(report.findings)]))
        """
    )

    def observed(cache: bool) -> list[object]:
        done = subprocess.run(
            [sys.executable, "-c", script.replace("CACHE", repr(cache))],
            capture_output=True,
            text=True,
            check=True,
            cwd=here,
            env={k: v for k, v in os.environ.items() if k != "LEAKCHECK_CACHE_DIR"},
        )
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    findings = len(run(["app"], options=Options(jobs=1, cache=False)).findings)
    assert findings > 0
    assert observed(cache=False) == [[True], False, findings]
    assert observed(cache=True) == [[True], False, findings]  # the first run: an empty cache
    (here / "app" / "api" / "items.py").write_text(
        (here / "app" / "api" / "items.py").read_text() + "# edited\n"
    )
    assert observed(cache=True) == [[False], True, findings]  # cached: started when needed


def test_a_corrupt_cache_entry_is_ignored(here: Path) -> None:
    write(here, PROJECT)
    options = Options(jobs=1, cache=True)
    first = outcome(run(["app"], options=options))
    entries = [p for p in (here / ".leakcheck_cache").rglob("*") if p.is_file()]
    entries = [p for p in entries if p.name not in (".gitignore", "CACHEDIR.TAG")]
    assert entries
    for number, entry in enumerate(entries):
        data = entry.read_bytes()
        if number % 3 == 0:
            entry.write_bytes(data[: len(data) // 2])  # truncated
        elif number % 3 == 1:
            entry.write_bytes(b"\x00garbage")
        else:  # a valid pickle of something that must never be built from a cache file
            entry.write_bytes(pickle.dumps(os.system))
    assert outcome(run(["app"], options=options)) == first


def test_a_cached_result_is_judged_again_when_an_imported_summary_changes(here: Path) -> None:
    write(here, PROJECT)
    options = Options(jobs=1, cache=True)
    assert [f.code for f in run(["app"], options=options).findings] == ["LC101"]
    # items.py does not change; what its import means does: get_conn no longer hands out a
    # connection, so the cached finding must go.
    db = here / "app" / "db.py"
    db.write_text(db.read_text().replace("return pool.getconn()", "return None  # pool.getconn()"))
    assert run(["app"], options=options).findings == []
    db.write_text(db.read_text().replace("return None  # pool.getconn()", "return pool.getconn()"))
    assert [f.code for f in run(["app"], options=options).findings] == ["LC101"]


def test_concurrent_runs_share_the_cache_without_corrupting_it(here: Path) -> None:
    files = dict(PROJECT)
    for number in range(30):
        files[f"app/m{number}.py"] = PROJECT["app/api/items.py"]
    write(here, files)
    command = [sys.executable, "-m", "leakcheck", "check", "--format", "json", "app"]
    runs = [
        subprocess.Popen(command, cwd=here, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    outputs = [json.loads(p.communicate()[0])["findings"] for p in runs]
    assert all(out == outputs[0] for out in outputs)
    assert len(outputs[0]) == 31
    again = subprocess.run(command, cwd=here, capture_output=True, text=True, check=False)
    assert json.loads(again.stdout)["findings"] == outputs[0]
    assert not list((here / ".leakcheck_cache").rglob("*.tmp"))


def test_cache_options_and_environment(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(here, PROJECT)
    runner = CliRunner()
    runner.invoke(main, ["check", "--no-cache", "app"])
    assert not (here / ".leakcheck_cache").exists()
    runner.invoke(main, ["check", "--cache-dir", "elsewhere", "app"])
    assert (here / "elsewhere" / "CACHEDIR.TAG").is_file()
    assert not (here / ".leakcheck_cache").exists()
    monkeypatch.setenv("LEAKCHECK_CACHE_DIR", str(here / "from-env"))
    runner.invoke(main, ["check", "app"])
    assert (here / "from-env" / "CACHEDIR.TAG").is_file()


def test_check_buffer_judges_unsaved_text_with_the_projects_names(here: Path) -> None:
    write(here, PROJECT)
    path = here / "app" / "api" / "items.py"
    saved = api.check_buffer(path.read_bytes(), path)
    assert [(f.line, f.code) for f in saved.findings] == [(4, "LC101")]
    fixed = (
        "from app.db import get_conn as open_conn, pool\n\n"
        "def count():\n    conn = open_conn()\n    try:\n        return conn.cursor()\n"
        "    finally:\n        pool.putconn(conn)\n"
    )
    assert api.check_buffer(fixed.encode(), path).findings == ()
    assert path.read_text() == textwrap.dedent(PROJECT["app/api/items.py"])  # never written


# -- isolation: one file's crash, hang or hunger costs that file only ------------------------------

LEAKY = "import psycopg2\n\ndef f():\n    conn = psycopg2.connect()\n    conn.cursor()\n"


def isolated_run(here: Path, bad: str, **environment: str) -> dict[str, object]:
    write(here, {"a_bad.py": bad, "b_leaky.py": LEAKY})
    env = {**os.environ, **environment}
    env.pop("LEAKCHECK_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--no-cache", "-j", "2", "--format", "json"],
        cwd=here,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    findings = document["findings"]
    assert [(f["path"], f["code"]) for f in findings] == [("b_leaky.py", "LC201")]  # type: ignore[index, union-attr]
    return document


def test_a_real_parser_crash_costs_only_its_file(here: Path) -> None:
    # libcst's native parser overflows its stack on this (a segfault, exit code -11), unless a
    # syntax gate turns it away first: either way, one error entry and the run goes on.
    nested = "conn = pool.getconn()\nx = " + "(" * 2000 + "1" + ")" * 2000 + "\n"
    document = isolated_run(here, nested)
    assert [e["path"] for e in document["errors"]] == ["a_bad.py"]  # type: ignore[index, union-attr]


@pytest.mark.parametrize(
    ("marker", "environment", "message"),
    [
        ("crash", {}, "crashed"),
        ("hang", {"LEAKCHECK_FILE_TIMEOUT": "3"}, "time limit (3 s)"),
        ("oom", {"LEAKCHECK_WORKER_MEMORY": "600"}, "memory limit (600 MB)"),
    ],
)
def test_a_worker_that_crashes_hangs_or_runs_out_of_memory_costs_only_its_file(
    here: Path, marker: str, environment: dict[str, str], message: str
) -> None:
    bad = f"# leakcheck-test: {marker}\nimport psycopg2\nconn = psycopg2.connect()\n"
    document = isolated_run(here, bad, LEAKCHECK_TEST_FAULTS="1", **environment)
    errors = document["errors"]
    assert [e["path"] for e in errors] == ["a_bad.py"]  # type: ignore[index, union-attr]
    assert message in errors[0]["message"]  # type: ignore[index]


def test_a_file_its_worker_failed_on_is_analysed_again_next_run(here: Path) -> None:
    # The time or memory limit may have been the machine's load: the failure is not cached,
    # neither in the file's entry nor in the run's manifest.
    bad = "# leakcheck-test: crash\nimport psycopg2\nconn = psycopg2.connect()\n"
    write(here, {"a_bad.py": bad, "b_leaky.py": LEAKY})
    env = {k: v for k, v in os.environ.items() if k != "LEAKCHECK_CACHE_DIR"}

    def errors(**environment: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "leakcheck", "check", "-j", "2", "--format", "json"],
            cwd=here,
            capture_output=True,
            text=True,
            env={**env, **environment},
            check=False,
            timeout=120,
        )
        return [e["path"] for e in json.loads(done.stdout)["errors"]]

    assert errors(LEAKCHECK_TEST_FAULTS="1") == ["a_bad.py"]
    assert errors() == []


def test_module_finder_finds_modules_and_packages_as_imports_do(tmp_path: Path) -> None:
    """The finder reads directory listings instead of probing each candidate; its answers are
    those of probing: `a/b.py` before `a/b/__init__.py`, a directory without `__init__.py` is no
    module, a directory named `x.py` is not a file, and names match case-sensitively."""
    from leakcheck.project.names import ModuleFinder, real_path

    write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/db.py": "",
            "app/db/__init__.py": "",
            "app/models/__init__.py": "",
            "app/plain/readme.txt": "",
            "app/odd.py/__init__.py": "",
        },
    )
    roots = (tmp_path / "missing", tmp_path)
    finder = ModuleFinder()
    assert finder.find(roots, "app.db") == real_path(tmp_path / "app" / "db.py")
    assert finder.find(roots, "app.models") == real_path(tmp_path / "app/models/__init__.py")
    assert finder.find(roots, "app") == real_path(tmp_path / "app" / "__init__.py")
    assert finder.find(roots, "app.plain") is None
    assert finder.find(roots, "app.odd") is None  # `odd.py` is a directory
    assert finder.find(roots, "app.DB") is None
    assert finder.find(roots, "os") is None
    assert finder.find(roots, "app.db.engine") is None
    # Asked again through another tuple with the same roots: the same answers.
    assert finder.find(tuple(roots), "app.models") == finder.find(roots, "app.models")


def test_workers_that_grew_are_replaced_and_findings_stay_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose memory grew past `RECYCLE_GROWTH_MB` is replaced between tasks; with any
    growth counting (the threshold below zero), each worker's second task replaces it, and the
    findings are those of one process."""
    from leakcheck.project import workers

    if workers.resident_mb(os.getpid()) is None:
        pytest.skip("no /proc: resident memory is not measured here")
    monkeypatch.chdir(FIXTURES.parent)
    started = 0
    original_start = workers.WorkerPool._start

    def counting_start(self: workers.WorkerPool) -> object:
        nonlocal started
        started += 1
        return original_start(self)

    alone = outcome(run(["fixtures/pool"], options=Options(jobs=1, cache=False)))
    monkeypatch.setattr(workers.WorkerPool, "_start", counting_start)
    monkeypatch.setattr(workers, "RECYCLE_GROWTH_MB", -1.0)
    recycled = outcome(run(["fixtures/pool"], options=Options(jobs=2, cache=False)))
    assert recycled == alone
    assert started > 2  # replaced after tasks, not only the two started at first


# -- the manifest: the last run again ------------------------------------------------------------


def entry_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, every cache entry a run loads (a replayed run loads none)."""
    from leakcheck.project.cache import Cache

    loaded: list[str] = []
    original = Cache.load

    def counting(self: Cache, key: str) -> object:
        loaded.append(key)
        return original(self, key)

    monkeypatch.setattr(Cache, "load", counting)
    return loaded


def test_the_same_run_with_nothing_changed_is_replayed_from_the_manifest(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, PROJECT)
    options = Options(jobs=1, cache=True)
    cold = outcome(run(["app"], options=options))
    loaded = entry_loads(monkeypatch)
    parsed = record_parses(monkeypatch)
    assert outcome(run(["app"], options=options)) == cold
    assert loaded == [] and parsed == []  # one manifest, no entry, no parse
    # Another working directory: the same files, shown by other paths.
    monkeypatch.chdir(here / "app")
    moved = outcome(
        run(["."], options=Options(jobs=1, cache=True, cache_dir=here / ".leakcheck_cache"))
    )
    monkeypatch.chdir(here)
    assert [(p, line) for p, line, *_ in moved] == [("api/items.py", 4)]
    # Other options are another run: it does not replay this one.
    assert outcome(run(["app"], options=replace_options(options, select=("LC2",)))) == []
    assert loaded != []


def replace_options(options: Options, select: tuple[str, ...]) -> Options:
    from dataclasses import replace

    from leakcheck.config.selection import Overrides

    return replace(options, overrides=Overrides(select=select))


def test_a_changed_imported_module_outside_the_checked_files_is_not_replayed(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(here, PROJECT)
    options = Options(jobs=1, cache=True)
    # As pre-commit runs it: only items.py is checked; app/db.py is read for its summary.
    assert [r[:2] for r in outcome(run(["app/api/items.py"], options=options))] == [
        ("app/api/items.py", 4)
    ]
    db = here / "app" / "db.py"
    db.write_text("def get_conn():\n    return object()\n")
    os.utime(db, ns=(db.stat().st_mtime_ns + 10**9,) * 2)
    assert outcome(run(["app/api/items.py"], options=options)) == []


def test_a_module_that_appears_where_an_import_found_none_is_not_replayed(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = dict(PROJECT)
    files["app/api/items.py"] = files["app/api/items.py"].replace("app.db", "app.pools")
    write(here, files)
    options = Options(jobs=1, cache=True)
    assert outcome(run(["app/api/items.py"], options=options)) == []  # no app/pools.py yet
    assert outcome(run(["app/api/items.py"], options=Options(jobs=1))) == []
    (here / "app" / "pools.py").write_text((here / "app" / "db.py").read_text())
    # In this same process (as a language server is), with and without the cache.
    for each in (options, Options(jobs=1)):
        assert [r[:2] for r in outcome(run(["app/api/items.py"], options=each))] == [
            ("app/api/items.py", 4)
        ]


def test_runs_over_other_files_keep_their_own_manifests_up_to_a_bound(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck.project.cache import MANIFESTS_KEPT

    write(here, PROJECT)
    options = Options(jobs=1, cache=True)
    full = outcome(run(["app"], options=options))
    run(["app/api/items.py"], options=options)  # pre-commit, between two full runs
    loaded = entry_loads(monkeypatch)
    assert outcome(run(["app"], options=options)) == full
    assert loaded == []  # the full run's manifest is still there
    for number in range(MANIFESTS_KEPT + 3):
        (here / "app" / f"extra{number}.py").write_text("x = 1\n")
        run([f"app/extra{number}.py"], options=options)
    assert len(list((here / ".leakcheck_cache").rglob("manifest-*"))) == MANIFESTS_KEPT


SIBLING = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    # The package's own directory is put on sys.path at run time (boomee_comet's views.py:
    # `sys.path.append(os.path.dirname(__file__))`), so its modules import each other by bare name.
    "shop/connexion_pool.py": """\
        from psycopg2 import pool

        db_pool = pool.ThreadedConnectionPool(1, 10, dsn="dbname=shop")

        def get_connection():
            return db_pool.getconn()

        def release_connection(conn):
            db_pool.putconn(conn)
        """,
    "shop/dao.py": """\
        from connexion_pool import get_connection, release_connection

        def count_orders():
            conn = get_connection()
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM orders")
            (n,) = cur.fetchone()
            release_connection(conn)
            return n

        def count_safely():
            conn = get_connection()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM orders")
                    return cur.fetchone()[0]
            finally:
                release_connection(conn)
        """,
}


def test_a_sibling_imported_by_bare_name_is_found_last(here: Path) -> None:
    # Inside a package, `from connexion_pool import ...` names the module next to the file only
    # when the project put that directory on sys.path; the file's own directory is the last place
    # looked, so the helpers are known and the leak on the error path is reported.
    write(here, SIBLING)
    report = run(["shop"], options=Options(jobs=1, cache=False))
    assert [(f.path, f.line, f.code) for f in report.findings] == [("shop/dao.py", 4, "LC102")]


def test_a_root_before_the_own_directory_wins(here: Path) -> None:
    # The same bare name at the project root (where Python 3 itself would find it) is the one used:
    # there get_connection opens a plain connection the function closes itself, so nothing leaks
    # through the pool.
    files = dict(SIBLING)
    files["connexion_pool.py"] = """\
        def get_connection():
            return object()

        def release_connection(conn):
            pass
        """
    write(here, files)
    report = run(["shop"], options=Options(jobs=1, cache=False))
    assert list(report.findings) == []


NAMESPACE = {
    "pyproject.toml": "[project]\nname = 'intro'\n",
    # No __init__.py anywhere: postgres_proj and services are namespace packages (PEP 420), and
    # the project runs from its root (`python -m postgres_proj.app`).
    "postgres_proj/db.py": """\
        from psycopg2 import pool

        db_pool = pool.SimpleConnectionPool(1, 5, dsn="dbname=intro")

        def get_db_connection():
            return db_pool.getconn()

        def release_db_connection(conn):
            db_pool.putconn(conn)
        """,
    "postgres_proj/services/admin.py": """\
        from ..db import get_db_connection, release_db_connection

        def list_users():
            conn = get_db_connection()
            try:
                cur = conn.cursor()
                cur.execute("SELECT name FROM users")
                return cur.fetchall()
            finally:
                cur.close()
                release_db_connection(conn)
        """,
}


def test_a_relative_import_between_namespace_packages_is_resolved(here: Path) -> None:
    # `from ..db import ...` in folders without __init__.py names postgres_proj.db from the project
    # root: the pool helper is known, and the finally that closes a cursor that may be unbound
    # (conn.cursor() raised) before giving the connection back is reported.
    write(here, NAMESPACE)
    report = run(["postgres_proj"], options=Options(jobs=1, cache=False))
    found = [(f.path, f.line, f.code) for f in report.findings]
    assert found == [("postgres_proj/services/admin.py", 4, "LC104")]


PLAIN_HELPER = {
    "pyproject.toml": "",
    "app/__init__.py": "",
    "app/db.py": """\
        from psycopg2.pool import SimpleConnectionPool

        pool = SimpleConnectionPool(1, 5)
        """,
    "app/helpers.py": """\
        def rows(conn, sql):
            cur = conn.cursor()
            cur.execute(sql)
            return cur.fetchall()
        """,
    "app/text.py": """\
        def title(s):
            return s.title()
        """,
    "app/report.py": """\
        from app.db import pool
        from app.helpers import rows
        from app.text import title

        def report(sql):
            conn = pool.getconn()
            found = rows(conn, sql)
            return title(str(found))
        """,
}


def test_a_helper_without_a_database_word_is_summarised_when_given_a_connection(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # helpers.py names no pool or driver, so the word test never summarises it; report.py passes
    # it a connection, so it is summarised on demand: `rows` only borrows, and the connection is
    # reported as never returned (it was taken as handed over to unknown code).
    write(here, PLAIN_HELPER)
    found = variants(["app"], here / "cache")
    for name, rows in found.items():
        assert [(path, line, code) for path, line, _, code, _ in rows] == [
            ("app/report.py", 6, "LC101")
        ], name
    # Only on demand: text.py, which is given no connection, is never parsed.
    parsed = record_parses(monkeypatch)
    assert outcome(run(["app"], options=Options(jobs=1))) == found["plain"]
    shown = sorted(Path(p).resolve().relative_to(here.resolve()).as_posix() for p in parsed)
    assert shown == ["app/db.py", "app/helpers.py", "app/report.py"]
    # The helper now keeps the connection: a warm run agrees with a cold one (report.py's cached
    # result depended on what helpers.py said).
    options = Options(jobs=2, cache=True, cache_dir=here / "cache")
    (here / "app" / "helpers.py").write_text(
        "KEPT = []\n\n\ndef rows(conn, sql):\n    KEPT.append(conn)\n    return []\n"
    )
    cold = outcome(run(["app"], options=Options(jobs=1)))
    assert cold == []
    assert outcome(run(["app"], options=options)) == cold
