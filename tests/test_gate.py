"""The runtime gate (`pytest --leakcheck`, issue 25) on SQLAlchemy over a SQLite file: no server.

Each test writes a small application and its tests into pytester's folder and runs pytest on them
in this process with the gate on; it asserts the outcome and the failure text: the acquisition
line, how the connection escaped, the static finding and its fix, or the bug-report line when the
static analysis is silent.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
from pathlib import Path

import pytest

from leakcheck.project.api import fix_file

pytest_plugins = ["pytester"]

# Imported here, before pytester snapshots `sys.modules`, so that inner runs share one copy of
# each library the gate patches (pytester drops what an inner run imported, and importing them
# again in every run costs seconds).
sqlalchemy = pytest.importorskip("sqlalchemy")
for _library in ("psycopg_pool", "psycopg2.pool", "asyncpg.pool", "django.db.backends.base.base"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_library)
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import QueuePool  # noqa: E402

APP = """\
import os

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite:///" + os.path.join(os.path.dirname(__file__), "app.db"))
SessionLocal = sessionmaker(bind=engine)
KEPT = []


def leaky_total() -> int:
    db = SessionLocal()
    return db.execute(text("SELECT 1")).scalar_one()


def good_total() -> int:
    with SessionLocal() as db:
        return db.execute(text("SELECT 1")).scalar_one()


def stash() -> None:
    conn = engine.connect()
    conn.execute(text("SELECT 1"))
    KEPT.append(conn)
"""
LEAKY_LINE = 12  # `db = SessionLocal()` in leaky_total
LEAKY_USE = 13  # its first query, where the Session takes the connection
STASH_LINE = 22  # `conn = engine.connect()` in stash


# No cache folder, and no Hypothesis plugin: it imports Hypothesis at the end of each run (seconds).
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest on pytester's folder, in this process, with the gate on (and any `args`)."""
    return pytester.runpytest_inprocess("--leakcheck", *QUIET, *args)


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The summary line's counts, only those that are not zero."""
    return {k: v for k, v in result.parseoutcomes().items() if v and k != "seconds"}


@pytest.fixture
def app(pytester: pytest.Pytester) -> Path:
    """The application module, `app.py`, in pytester's folder."""
    return pytester.makepyfile(app=APP)


def test_leaky_session_fails_naming_the_acquisition_the_finding_and_its_fix(
    pytester: pytest.Pytester, app: Path
) -> None:
    pytester.makepyfile(test_app="import app\n\ndef test_total():\n    assert app.leaky_total()\n")
    result = run(pytester)
    assert outcomes(result) == {"failed": 1}
    text = result.stdout.str()
    assert "FAILED test_app.py::test_total - leakcheck: SQLAlchemy pool connection" in text
    headline = (
        f"leakcheck: SQLAlchemy pool connection taken at app.py:{LEAKY_LINE} still checked out"
    )
    assert headline in result.outlines
    assert f"session created at app.py:{LEAKY_LINE} in leaky_total" in text
    assert f"acquired at app.py:{LEAKY_USE} in leaky_total" in text
    assert "test_app.py:4 in test_total" in text  # the short stack into the project's code
    assert "still checked out when the test ended" in text
    assert f"static analysis: app.py:{LEAKY_LINE}:10: LC201 Session from `SessionLocal()`" in text
    # The fix, as the diff `--fix --unsafe-fixes` would apply.
    assert "`leakcheck check --fix --unsafe-fixes` would rewrite it this way:" in text
    assert "-    db = SessionLocal()" in text
    assert "+    with SessionLocal() as db:" in text
    assert "leakcheck-gate-miss" not in text
    assert "site-packages" not in text and "/bin/pytest" not in text

    # The copy `--fix --unsafe-fixes` rewrote passes the same test.
    app.write_bytes(fix_file(app, unsafe=True).source)
    assert "with SessionLocal() as db:" in app.read_text()
    assert outcomes(run(pytester)) == {"passed": 1}


def test_a_test_that_returns_its_connections_passes(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(
        test_app="""
        import app
        from sqlalchemy import text

        def test_session():
            assert app.good_total() == 1

        def test_connection_and_commit():
            with app.engine.connect() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS t (x int)"))
                conn.execute(text("INSERT INTO t VALUES (1)"))
                conn.commit()
            with app.engine.begin() as conn:
                conn.execute(text("DELETE FROM t"))
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"passed": 2}
    assert "leakcheck gate: on, watching sqlalchemy" in result.stdout.str()
    # Three checkouts: the session's, then the two connections'.
    result.stdout.fnmatch_lines(["leakcheck gate: 3 checkouts recorded in 2 tests; 0 tests leaked"])


def test_static_silence_prints_the_line_to_paste(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(test_app="import app\n\ndef test_stash():\n    app.stash()\n")
    result = run(pytester)
    assert outcomes(result) == {"failed": 1}
    text = result.stdout.str()
    assert f"acquired at app.py:{STASH_LINE} in stash" in text
    assert "static analysis: leakcheck check reports nothing at this acquisition" in text
    miss = re.search(r"leakcheck-gate-miss .*", text)
    assert miss is not None
    assert f"escape=STILL_OUT site=app.py:{STASH_LINE} in stash: `conn = engine.connect()`" in (
        miss.group(0)
    )


def test_function_fixture_that_returns_in_teardown_passes_and_one_that_does_not_fails(
    pytester: pytest.Pytester, app: Path
) -> None:
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        @pytest.fixture
        def conn():
            c = app.engine.connect()
            yield c
            c.close()

        @pytest.fixture
        def forgotten():
            c = app.engine.connect()
            yield c

        def test_returned_in_teardown(conn):
            conn.exec_driver_sql("SELECT 1")

        def test_forgotten(forgotten):
            forgotten.exec_driver_sql("SELECT 1")
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"passed": 1, "failed": 1}
    assert "acquired at test_app.py:12 in forgotten" in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_forgotten - leakcheck: *"])
    assert "test_returned_in_teardown" not in "".join(
        line for line in result.outlines if line.startswith("FAILED")
    )


def test_checkouts_of_wider_scoped_fixtures_are_not_the_tests(
    pytester: pytest.Pytester, app: Path
) -> None:
    pytester.makepyfile(
        test_app="""
        import pytest
        import app
        from sqlalchemy.orm import Session

        @pytest.fixture(scope="session")
        def shared_conn():
            c = app.engine.connect()
            yield c
            c.close()

        @pytest.fixture(scope="module")
        def shared_session():
            s = Session(app.engine)  # takes its connection lazily, in the first test using it
            yield s
            s.close()

        def test_one(shared_conn, shared_session):
            shared_conn.exec_driver_sql("SELECT 1")
            shared_session.connection().exec_driver_sql("SELECT 1")

        def test_two(shared_conn, shared_session):
            shared_session.connection().exec_driver_sql("SELECT 2")

        def test_own_leak(shared_conn):
            app.engine.connect().exec_driver_sql("SELECT 3")
            app.KEPT.append(app.engine.connect())
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"passed": 2, "failed": 1}
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_own_leak - leakcheck: *"])


def test_the_marker_exempts_a_hand_off(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(
        test_app="""
        import pytest
        import app

        @pytest.mark.leakcheck_handoff
        def test_hands_on():
            app.stash()

        def test_not_exempt():
            app.stash()
        """
    )
    result = run(pytester, "--strict-markers")
    assert outcomes(result) == {"passed": 1, "failed": 1}
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_not_exempt - *"])


def test_returned_mid_transaction_fails(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(
        test_app="""
        import app

        def test_raw_insert_not_committed():
            raw = app.engine.raw_connection()
            cur = raw.cursor()
            cur.execute("CREATE TABLE IF NOT EXISTS t (x int)")
            raw.commit()
            cur.execute("INSERT INTO t VALUES (1)")
            cur.close()
            raw.close()

        def test_raw_insert_committed():
            raw = app.engine.raw_connection()
            cur = raw.cursor()
            cur.execute("INSERT INTO t VALUES (2)")
            raw.commit()
            cur.close()
            raw.close()
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"passed": 1, "failed": 1}
    text = result.stdout.str()
    assert "FAILED test_app.py::test_raw_insert_not_committed - leakcheck: " in text
    assert (
        "leakcheck: SQLAlchemy pool connection taken at test_app.py:4 returned mid-transaction"
        in result.outlines
    )
    assert "returned to its pool with a transaction still open" in text


def test_garbage_collected_connection_fails(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(
        test_app="""
        import gc
        import app

        def test_dropped():
            conn = app.engine.connect()
            conn.exec_driver_sql("SELECT 1")
            del conn
            gc.collect()
            assert app.engine.pool.checkedout() == 0  # the pool got it back, from the collector
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"failed": 1}
    text = result.stdout.str()
    assert "taken at test_app.py:5 collected, never returned" in text
    assert "reclaimed by the garbage collector instead of being returned" in text
    assert (
        "static analysis: test_app.py:5:12: LC205 Connection from `app.engine.connect()` is "
        "not closed before `del conn` on line 7 drops it" in text
    )
    assert "no automatic fix: see `leakcheck rule LC205`" in text


def test_a_test_failing_on_its_own_keeps_its_failure_and_shows_the_leak(
    pytester: pytest.Pytester, app: Path
) -> None:
    pytester.makepyfile(
        test_app="import app\n\ndef test_x():\n    app.stash()\n    assert False, 'own'\n"
    )
    result = run(pytester)
    assert outcomes(result) == {"failed": 1}
    result.stdout.fnmatch_lines(
        ["*AssertionError: own*", "*leakcheck: SQLAlchemy pool connection*"]
    )


def test_ini_setting_turns_it_on(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makeini("[pytest]\nleakcheck = true\n")
    pytester.makepyfile(test_app="import app\n\ndef test_stash():\n    app.stash()\n")
    result = pytester.runpytest_inprocess(*QUIET)
    assert outcomes(result) == {"failed": 1}


def test_off_without_the_flag_patches_nothing(pytester: pytest.Pytester, app: Path) -> None:
    pytester.makepyfile(
        test_app="""
        import sys
        import app
        from sqlalchemy.orm import Session

        def test_leaks_unnoticed():
            app.stash()
            assert app.engine.pool.dispatch.checkout.__len__() == 0  # no pool listener
            assert getattr(Session.__init__, "__wrapped__", None) is None
            assert "leakcheck.gate.session" not in sys.modules
            assert "psycopg2" not in sys.modules and "asyncpg" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess(*QUIET)
    assert outcomes(result) == {"passed": 1}
    assert "leakcheck gate" not in result.stdout.str()


def test_patches_are_undone_when_the_session_ends(pytester: pytest.Pytester, app: Path) -> None:
    init = Session.__init__
    pytester.makepyfile(test_app="import app\n\ndef test_total():\n    assert app.good_total()\n")
    assert outcomes(run(pytester)) == {"passed": 1}
    assert Session.__init__ is init
    pool = QueuePool(lambda: None)
    assert not pool.dispatch.checkout and not pool.dispatch.checkin and not pool.dispatch.reset
    if "psycopg2.pool" in sys.modules:
        module = sys.modules["psycopg2.pool"]
        assert module.AbstractConnectionPool._getconn.__module__ == "psycopg2.pool"
        assert module.SimpleConnectionPool.getconn.__module__ == "psycopg2.pool"
        assert sys.modules["psycopg2"].connect.__module__ == "psycopg2"


DJANGO_WORKERS = """
import os
from concurrent.futures import ThreadPoolExecutor

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": os.path.join(os.path.dirname(__file__), "dj.sqlite3")}},
)
django.setup()

from django.db import close_old_connections, connection

executor = ThreadPoolExecutor(max_workers=2)


def count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def count_cured() -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]
    finally:
        close_old_connections()


def schedule_count():
    return executor.submit(count)


def schedule_cured():
    return executor.submit(count_cured)
"""


def test_django_connection_left_open_in_a_worker_thread_fails(pytester: pytest.Pytester) -> None:
    pytest.importorskip("django")
    pytester.makepyfile(
        workers=DJANGO_WORKERS,
        test_workers="""
        import workers

        def test_cured():
            assert workers.schedule_cured().result() == 1

        def test_leaky():
            assert workers.schedule_count().result() == 1

        def test_main_thread_is_djangos_own():
            assert workers.count() == 1
        """,
    )
    # A subprocess: Django's settings are configured once per process.
    result = pytester.runpytest_subprocess("--leakcheck", *QUIET)
    assert outcomes(result) == {"passed": 2, "failed": 1}
    text = result.stdout.str()
    assert "FAILED test_workers.py::test_leaky - leakcheck: " in text
    assert (
        "leakcheck: Django connection opened in a thread of its own taken at workers.py:19"
        " still checked out" in result.outlines
    )
    assert "is still running and holds it open, idle" in text
    assert "LC506" in text
