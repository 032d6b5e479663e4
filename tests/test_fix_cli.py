"""`--fix`, `--unsafe-fixes`, `--diff` as users meet them: exact rewrites, exit codes, and files
that stay byte for byte intact outside the fix (line endings, BOM, permissions), even when
interrupted or edited concurrently."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import leakcheck.fix.fixer
import leakcheck.fix.writer
from leakcheck.cli import main

LEAK = """\
def count(pool, sql):
    conn = pool.getconn()
    conn.cursor().execute(sql)  # the query
    pool.putconn(conn)
"""
FIXED = """\
def count(pool, sql):
    conn = pool.getconn()
    try:
        conn.cursor().execute(sql)  # the query
    finally:
        pool.putconn(conn)
"""
SESSION = """\
from sqlalchemy.orm import sessionmaker
SessionLocal = sessionmaker()

def first_item():
    db = SessionLocal()
    return db.execute("select 1").first()
"""
SESSION_FIXED = """\
from sqlalchemy.orm import sessionmaker
SessionLocal = sessionmaker()

def first_item():
    with SessionLocal() as db:
        return db.execute("select 1").first()
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fix_rewrites_in_place_and_a_second_run_changes_nothing(here: Path) -> None:
    (here / "db.py").write_text(LEAK)
    code, out = invoke("check", "--fix", "db.py")
    assert (code, out.strip()) == (0, "All checks passed! (1 file in all; Fixed 1 leak)")
    assert (here / "db.py").read_text() == FIXED
    assert invoke("check", "--fix", "db.py") == (0, "All checks passed! (1 file in all)\n")
    assert (here / "db.py").read_text() == FIXED


def test_fix_exits_one_while_leaks_remain(here: Path) -> None:
    (here / "db.py").write_text(LEAK + "\ndef lost(pool):\n    pool.getconn()\n")
    code, out = invoke("check", "--fix", "db.py")
    assert code == 1
    assert out.splitlines()[0].startswith("db.py:9:5: LC101")
    assert out.splitlines()[-1] == "Found 1 leak in 1 file remaining, fixed 1 leak (1 file in all)."


def test_diff_prints_the_change_writes_nothing_and_exits_one(here: Path) -> None:
    (here / "db.py").write_text(LEAK)
    result = CliRunner().invoke(main, ["check", "--diff", "db.py"])
    assert result.exit_code == 1
    assert result.stdout == (
        "--- db.py\n+++ db.py\n@@ -1,4 +1,6 @@\n def count(pool, sql):\n"
        "     conn = pool.getconn()\n-    conn.cursor().execute(sql)  # the query\n"
        "-    pool.putconn(conn)\n+    try:\n+        conn.cursor().execute(sql)  # the query\n"
        "+    finally:\n+        pool.putconn(conn)\n"
    )
    assert result.stderr == "Would fix 1 leak.\n"
    assert (here / "db.py").read_text() == LEAK
    (here / "db.py").write_text(FIXED)
    clean = CliRunner().invoke(main, ["check", "--diff", "db.py"])
    assert (clean.exit_code, clean.stdout) == (0, "")


def test_diff_of_a_file_without_a_final_newline_applies_with_patch(here: Path) -> None:
    """The last line without a newline gets GNU diff's marker, as `patch` needs."""
    (here / "db.py").write_text(LEAK.rstrip("\n"))
    result = CliRunner().invoke(main, ["check", "--diff", "db.py"])
    assert result.exit_code == 1
    assert result.stdout.endswith(
        "-    pool.putconn(conn)\n\\ No newline at end of file\n"
        "+    try:\n+        conn.cursor().execute(sql)  # the query\n"
        "+    finally:\n+        pool.putconn(conn)\n\\ No newline at end of file\n"
    )
    patch = shutil.which("patch")
    if patch is None:
        return
    (here / "db.diff").write_text(result.stdout)
    subprocess.run([patch, "-s", "-p0", "-i", "db.diff"], check=True, cwd=here)
    fixed = CliRunner().invoke(main, ["check", "--diff", "db.py"])
    assert (fixed.exit_code, fixed.stdout) == (0, "")
    assert (here / "db.py").read_text() == FIXED.rstrip("\n")


def test_unsafe_fixes_only_when_asked(here: Path) -> None:
    (here / "items.py").write_text(SESSION)
    code, out = invoke("check", "--fix", "items.py")
    assert code == 1
    assert "1 more with `--fix --unsafe-fixes`" in out
    assert (here / "items.py").read_text() == SESSION
    code, out = invoke("check", "--fix", "--unsafe-fixes", "items.py")
    assert code == 0
    assert (here / "items.py").read_text() == SESSION_FIXED


def test_json_reports_each_fix_title_and_applicability(here: Path) -> None:
    (here / "items.py").write_text(SESSION)
    _, out = invoke("check", "--format", "json", "items.py")
    [finding] = json.loads(out)["findings"]
    assert finding["fix"]["title"] == (
        "Use `with` for `db`; unsafe: objects of the session leave the block and are "
        "detached once it closes"
    )
    assert finding["fix"]["applicability"] == "unsafe"


def test_a_suppressed_finding_is_not_fixed(here: Path) -> None:
    source = LEAK.replace("conn = pool.getconn()", "conn = pool.getconn()  # noqa: LC102")
    (here / "db.py").write_text(source)
    assert invoke("check", "--fix", "db.py")[0] == 0
    assert (here / "db.py").read_text() == source


def test_line_endings_bom_and_permissions_are_kept(here: Path) -> None:
    crlf = here / "crlf.py"
    crlf.write_bytes(LEAK.replace("\n", "\r\n").encode())
    bom = here / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + LEAK.encode())
    os.chmod(bom, 0o640)
    assert invoke("check", "--fix", "crlf.py", "bom.py")[0] == 0
    assert crlf.read_bytes() == FIXED.replace("\n", "\r\n").encode()
    assert bom.read_bytes() == b"\xef\xbb\xbf" + FIXED.encode()
    assert stat.S_IMODE(bom.stat().st_mode) == 0o640


def test_a_file_libcst_does_not_reprint_exactly_is_refused(here: Path) -> None:
    source = "try:\n    pass\nexcept ValueError :\n    pass\n" + LEAK
    (here / "db.py").write_text(source)
    code, out = invoke("check", "--fix", "db.py")
    assert code == 1
    assert "db.py: not fixed: libcst does not reprint this file byte for byte" in out
    assert (here / "db.py").read_text() == source


def test_a_file_changed_while_being_fixed_is_not_overwritten(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "db.py").write_text(LEAK)
    real = leakcheck.fix.fixer.fix_source  # imported by the runner when a fix is wanted

    def concurrent_edit(*args: object, **kwargs: object) -> object:
        outcome = real(*args, **kwargs)  # type: ignore[arg-type]
        (here / "db.py").write_text(LEAK + "# edited meanwhile\n")
        return outcome

    monkeypatch.setattr(leakcheck.fix.fixer, "fix_source", concurrent_edit)
    code, out = invoke("check", "--fix", "db.py")
    assert code == 1
    assert "db.py: error: not written: it changed on disk while being fixed" in out
    assert (here / "db.py").read_text() == LEAK + "# edited meanwhile\n"


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "db.py").write_text(LEAK)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(leakcheck.fix.writer.os, "replace", killed)
    result = CliRunner().invoke(main, ["check", "--fix", "db.py"])
    assert result.exit_code == 130  # 128 + SIGINT, not 1 ("found leaks")
    assert result.output == "leakcheck: interrupted\n"
    assert (here / "db.py").read_text() == LEAK
    assert sorted(p.name for p in here.iterdir() if p.name != ".leakcheck_cache") == ["db.py"]


def test_a_later_run_removes_a_stray_temporary_of_a_killed_run(here: Path) -> None:
    (here / "db.py").write_text(LEAK)
    stray = here / ".db.py.leakcheck-tmp-999999999"
    stray.write_text("half written")
    mine = here / ".other.py.leakcheck-tmp-1"  # pid 1 is alive: not a stray of ours
    mine.write_text("in use")
    assert invoke("check", "--fix", "db.py")[0] == 0
    assert not stray.exists()
    assert mine.exists()


def test_closing_is_imported_once_after_the_module_imports(here: Path) -> None:
    (here / "export.py").write_text(
        '"""Nightly export."""\nimport sqlite3\n\n\n'
        "def export(path):\n    with sqlite3.connect(path) as conn:  # transactional\n"
        '        conn.execute("select 1")\n\n\n'
        "def purge(path):\n    with sqlite3.connect(path) as conn:\n"
        '        conn.execute("delete from t")\n'
    )
    assert invoke("check", "--fix", "export.py")[0] == 0
    assert (here / "export.py").read_text() == (
        '"""Nightly export."""\nimport sqlite3\nfrom contextlib import closing\n\n\n'
        "def export(path):\n"
        "    with closing(sqlite3.connect(path)) as conn, conn:  # transactional\n"
        '        conn.execute("select 1")\n\n\n'
        "def purge(path):\n    with closing(sqlite3.connect(path)) as conn, conn:\n"
        '        conn.execute("delete from t")\n'
    )


def test_a_configured_helper_replaces_try_finally_as_an_unsafe_fix(here: Path) -> None:
    # Incident 1: the cure was the project's own `with self.get_connection() as conn:`.
    (here / "pyproject.toml").write_text(
        '[tool.leakcheck]\nfix-helpers = ["self.get_connection"]\n'
    )
    source = (
        "class Bookings:\n"
        "    def cancel(self, booking_id):\n"
        "        conn = self.pool.getconn()\n"
        '        conn.cursor().execute("delete from bookings where id = %s", (booking_id,))\n'
        "        conn.commit()\n"
        "        self.pool.putconn(conn)\n"
    )
    (here / "bot.py").write_text(source)
    code, out = invoke("check", "--fix", "bot.py")
    assert code == 1
    assert (
        "help: Use `with self.get_connection() as conn:`; unsafe: the project's helper may also "
        "commit or roll back" in out
    )
    # The plain form is the second candidate: shown, offered to JSON, not applied by --fix
    # (the first, the project's choice, is unsafe).
    assert "= or: Release `conn` in `finally` (safe fix)" in out
    assert (here / "bot.py").read_text() == source
    code, out = invoke("check", "--output-format", "json", "bot.py")
    [finding] = json.loads(out)["findings"]
    assert [(f["title"], f["applicability"]) for f in finding["fixes"]] == [
        (
            "Use `with self.get_connection() as conn:`; unsafe: the project's helper may also "
            "commit or roll back",
            "unsafe",
        ),
        ("Release `conn` in `finally`", "safe"),
    ]
    assert finding["fix"] == finding["fixes"][0]
    assert "finally:\n" in finding["fixes"][1]["edits"][0]["content"]
    assert json.loads(out)["summary"]["fixable"] == 1
    assert invoke("check", "--fix", "--unsafe-fixes", "bot.py")[0] == 0
    assert (here / "bot.py").read_text() == (
        "class Bookings:\n"
        "    def cancel(self, booking_id):\n"
        "        with self.get_connection() as conn:\n"
        '            conn.cursor().execute("delete from bookings where id = %s", (booking_id,))\n'
        "            conn.commit()\n"
    )


# Cases from a review of the fixes: each was wrong once.


def fix(here: Path, name: str, source: str, *flags: str) -> str:
    (here / name).write_text(source)
    invoke("check", "--fix", *flags, name)
    return (here / name).read_text()


def test_a_sync_session_in_an_async_endpoint_gets_a_plain_with(here: Path) -> None:
    source = (
        "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n\n"
        "async def record(event):\n    db = SessionLocal()\n"
        "    db.add(event)\n    db.commit()\n    db.close()\n"
    )
    assert fix(here, "a.py", source) == (
        "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n\n"
        "async def record(event):\n    with SessionLocal() as db:\n"
        "        db.add(event)\n        db.commit()\n"
    )


def test_an_async_session_factory_gets_async_with(here: Path) -> None:
    source = (
        "from sqlalchemy.orm import sessionmaker\nfrom sqlalchemy.ext.asyncio import AsyncSession\n"
        "SessionLocal = sessionmaker(class_=AsyncSession)\n\n"
        "async def record(event):\n    db = SessionLocal()\n"
        "    db.add(event)\n    await db.commit()\n    await db.close()\n"
    )
    assert "    async with SessionLocal() as db:\n" in fix(here, "a.py", source)


def test_no_closing_fix_when_the_connection_is_used_after_the_with(here: Path) -> None:
    source = (
        "import sqlite3\n\ndef f(p):\n    with sqlite3.connect(p) as conn:\n"
        '        conn.execute("insert into t values (1)")\n    conn.execute("select 1")\n'
    )
    assert fix(here, "a.py", source) == source


def test_closing_that_means_something_else_is_not_used(here: Path) -> None:
    source = (
        "import sqlite3\n\ndef closing(x):\n    return x\n\n"
        "def f(p):\n    with sqlite3.connect(p) as conn:\n"
        '        conn.execute("select 1")\n'
    )
    assert fix(here, "a.py", source) == source
    qualified = "import contextlib\n" + source
    assert "    with contextlib.closing(sqlite3.connect(p)) as conn, conn:\n" in fix(
        here, "b.py", qualified
    )


def test_comments_on_a_removed_release_are_kept(here: Path) -> None:
    source = (
        "def f(pool):\n    conn = pool.getconn()\n    conn.cursor().execute('x')\n"
        "    # give it back before notifying\n    pool.putconn(conn)  # early\n"
    )
    assert fix(here, "a.py", source) == (
        "def f(pool):\n    conn = pool.getconn()\n    try:\n        conn.cursor().execute('x')\n"
        "    finally:\n        # give it back before notifying\n"
        "        pool.putconn(conn)  # early\n"
    )


def test_a_double_release_in_the_original_is_not_rewritten(here: Path) -> None:
    source = (
        "def f(pool):\n    conn = pool.getconn()\n    conn.cursor().execute('x')\n"
        "    pool.putconn(conn)\n    x = 1\n    pool.putconn(conn)\n"
    )
    assert fix(here, "a.py", source) == source


def test_returning_orm_objects_through_list_is_unsafe(here: Path) -> None:
    source = (
        "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n\n"
        "def due():\n    db = SessionLocal()\n    return list(db.scalars('q'))\n"
    )
    assert fix(here, "a.py", source) == source
    assert "with SessionLocal() as db:" in fix(here, "a.py", source, "--unsafe-fixes")


def test_fix_does_not_write_through_a_symlink(here: Path) -> None:
    # A repository's link could point anywhere: reported, not fixed (tests/test_hostile_writes.py).
    (here / "real.py").write_text(LEAK)
    (here / "link.py").symlink_to(here / "real.py")
    code, out = invoke("check", "--fix", "link.py")
    assert code == 1
    assert "not fixed: a symbolic link (link.py); leakcheck does not write through links" in out
    assert (here / "link.py").is_symlink()
    assert (here / "real.py").read_text() == LEAK


def test_diff_reports_files_it_cannot_analyse(here: Path) -> None:
    (here / "broken.py").write_text("def f(:\n")
    result = CliRunner().invoke(main, ["check", "--diff", "broken.py"])
    assert result.exit_code == 1
    assert result.stderr == "broken.py:1: error: syntax error: invalid syntax\nWould fix 0 leaks.\n"


# Shapes from real packages where a rewrite once broke the code (a review on PyPI projects).


def test_no_fix_when_a_live_result_is_handed_to_a_wrapper(here: Path) -> None:
    # dataset's streamed find(): the result is read after the function returns.
    source = (
        "def find(self, query):\n    stream_conn = self.engine.connect()\n"
        "    conn = stream_conn.execution_options(stream_results=True)\n"
        "    return ResultIter(conn.execute(query))\n"
    )
    assert fix(here, "a.py", source, "--unsafe-fixes") == source


def test_a_connection_stored_for_later_is_closed_only_before_the_hand_off(here: Path) -> None:
    # huey's LISTEN connection: configured, cached on a thread-local, returned. Closing it in a
    # `finally` would close it under its holders; only an error before the store may close it.
    # (Configuring the fresh connection alone cannot raise: the LISTEN is what may.)
    source = (
        "import psycopg\n\nclass Storage:\n    def listen_conn(self):\n"
        "        conn = psycopg.connect(self.dsn)\n        conn.autocommit = True\n"
        "        conn.execute('LISTEN jobs')\n"
        "        self._local.conn = conn\n        return conn\n"
    )
    assert fix(here, "a.py", source) == source.replace(
        "        conn.autocommit = True\n        conn.execute('LISTEN jobs')\n",
        "        try:\n            conn.autocommit = True\n"
        "            conn.execute('LISTEN jobs')\n"
        "        except BaseException:\n            conn.close()\n            raise\n",
    )


def test_no_fix_around_a_hand_off_to_a_thread(here: Path) -> None:
    # The incident: a fix that closed the connection in `finally` while the thread still used it.
    source = (
        "import threading\nimport psycopg2\n\ndef run(dsn):\n    conn = psycopg2.connect(dsn)\n"
        "    cur = conn.cursor()\n    cur.execute('SET search_path TO jobs')\n"
        "    threading.Thread(target=consume, args=(conn,)).start()\n"
        "    cur.execute('SELECT 1')\n    conn.close()\n"
    )
    assert fix(here, "a.py", source, "--unsafe-fixes") == source
    assert "LC202" in invoke("check", "a.py")[1]  # the leak is reported, with no fix


def test_a_getter_that_caches_its_connection_is_not_a_factory(here: Path) -> None:
    (here / "a.py").write_text(
        "import psycopg\n\nclass Storage:\n    def _listen_conn(self):\n"
        '        conn = getattr(self._local, "conn", None)\n        if conn is None:\n'
        "            conn = psycopg.connect(self.dsn)\n            self._local.conn = conn\n"
        "        return conn\n\n    def wait(self):\n        conn = self._listen_conn()\n"
        "        return list(conn.notifies(timeout=1))\n"
    )
    assert invoke("check", "a.py") == (0, "All checks passed! (1 file in all)\n")


CONNECT = (
    '\n\ndef f():\n    with psycopg2.connect("") as conn:\n        conn.cursor().execute("x")\n'
)
CLOSING = CONNECT.replace(
    'psycopg2.connect("") as conn', 'closing(psycopg2.connect("")) as conn, conn'
)


@pytest.mark.parametrize(
    ("header", "fixed_header"),
    [
        (  # in the standard-library section, in isort's order (`from` lines after `import` ones)
            '"""Doc."""\nimport os\nfrom typing import Any\n\nimport psycopg2\n',
            '"""Doc."""\nimport os\nfrom contextlib import closing\nfrom typing import Any\n\n'
            "import psycopg2\n",
        ),
        (  # merged into the existing `from contextlib import ...`, names sorted
            "from contextlib import contextmanager\n\nimport psycopg2\n",
            "from contextlib import closing, contextmanager\n\nimport psycopg2\n",
        ),
        (  # a new standard-library section above the third-party one, after `__future__`
            "from __future__ import annotations\n\nimport psycopg2\n",
            "from __future__ import annotations\n\nfrom contextlib import closing\n\n"
            "import psycopg2\n",
        ),
    ],
    ids=["stdlib-section", "merged", "new-section"],
)
def test_the_import_goes_where_isort_would_put_it(
    here: Path, header: str, fixed_header: str
) -> None:
    assert fix(here, "a.py", header + CONNECT) == fixed_header + CLOSING


def test_show_fixes_lists_what_was_fixed_and_exit_non_zero_on_fix(here: Path) -> None:
    (here / "db.py").write_text(LEAK)
    code, output = invoke("check", "--fix", "--show-fixes", "db.py")
    assert code == 0  # everything was fixed: nothing remains
    assert output.endswith(
        "Fixed 1 leak:\n- db.py:\n    LC102 at line 2: Release `conn` in `finally`\n"
    )
    (here / "db.py").write_text(LEAK)
    assert invoke("check", "--fix", "--exit-non-zero-on-fix", "db.py")[0] == 1
    assert invoke("check", "--fix", "--exit-non-zero-on-fix", "db.py")[0] == 0  # nothing to fix


EXIT_STACK = """\
from contextlib import ExitStack

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 5)


def copy(n):
    with ExitStack() as stack:
        src = pool.getconn()
        dst = pool.getconn()
        src.cursor().execute("SELECT 1")
        stack.callback(pool.putconn, src)
        stack.callback(pool.putconn, dst)
        dst.cursor().execute("SELECT 2")
"""


def test_connections_registered_late_on_an_exit_stack(here: Path) -> None:
    # Issue 14: the release the stack will make is never added again (no double putconn); only
    # an error before the registration gives the connection back; a second --fix changes nothing.
    once = fix(here, "a.py", EXIT_STACK, "--unsafe-fixes")
    assert once == EXIT_STACK.replace(
        '        src.cursor().execute("SELECT 1")\n        stack.callback(pool.putconn, src)\n',
        "        try:\n"
        '            src.cursor().execute("SELECT 1")\n'
        "            stack.callback(pool.putconn, src)\n"
        "        except BaseException:\n"
        "            pool.putconn(dst)\n"
        "            raise\n",
    )
    assert fix(here, "a.py", once, "--unsafe-fixes") == once


def test_a_cached_connection_is_closed_only_on_an_error_before_it_is_cached(here: Path) -> None:
    # huey's `_listen_conn`: opened in an `if`, cached in a tuple assignment, returned after the
    # `if`; a `finally` there would close the cached connection. `dequeue` gets the cached one:
    # not its to close.
    source = (
        "import psycopg\n\nclass Storage:\n    def _listen_conn(self):\n"
        "        conn = getattr(self.local, 'conn', None)\n        if conn is None:\n"
        "            conn = psycopg.connect(self.dsn)\n            conn.execute('listen x')\n"
        "            self.local.conn, self.local.pid = conn, 1\n        return conn\n"
        "\n    def dequeue(self):\n        conn = self._listen_conn()\n"
        "        return list(conn.notifies(timeout=1))\n"
    )
    assert fix(here, "a.py", source, "--unsafe-fixes") == source.replace(
        "            conn.execute('listen x')\n",
        "            try:\n                conn.execute('listen x')\n"
        "            except BaseException:\n                conn.close()\n                raise\n",
    )


def test_no_fix_when_a_cursor_of_the_connection_is_returned(here: Path) -> None:
    # patroni's `get_cursor`: the caller reads through the returned cursor, which holds the
    # connection; closing it in `finally` would hand the caller a dead cursor.
    source = (
        "import psycopg\n\ndef get_cursor(params, role):\n    conn = psycopg.connect(**params)\n"
        "    cursor = conn.cursor()\n    if role == 'any':\n        return cursor\n"
        "    cursor.execute('SELECT 1')\n    conn.close()\n    return None\n"
    )
    assert fix(here, "a.py", source, "--unsafe-fixes") == source


REUSED_NAME = """\
import psycopg
import regression_utils


def drop_all(server, names):
    connection = psycopg.connect(server)
    connection.execute("DROP DATABASE IF EXISTS scratch")
    connection.close()
    for name in names:
        connection = psycopg.connect(server)
        regression_utils.delete_tablespace(connection, name)


def reset(server):
    for attempt in range(3):
        connection = psycopg.connect(server)
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity")
        connection.close()
"""


def test_a_fix_not_applied_because_it_adds_a_finding_names_that_finding(here: Path) -> None:
    # "Release in finally" would take the try to the end of the function, over the loop that
    # acquires into the same name: the safety check refuses it and says what it would add.
    (here / "jobs.py").write_text(REUSED_NAME)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--diff", "jobs.py"])
    assert (
        "LC202 at line 6: Release `connection` in `finally`: not applied (the rewrite would add "
        "a finding: LC205 for `psycopg.connect(...)` in `drop_all()`)"
    ) in result.stderr
    assert "Would fix 1 leak (1 more without a safe fix: `leakcheck check` lists them)." in (
        result.stderr
    )  # reset is fixed, drop_all not
    assert (here / "jobs.py").read_text() == REUSED_NAME


LATE_EXIT_STACK = (
    Path(__file__).resolve().parent.parent / "fixtures" / "pool" / "late_exit_stack.py"
)


def test_a_late_stack_registration_moves_up_and_clears_both_findings(here: Path) -> None:
    # Registering the first connection right after taking it leaves the second one's
    # registration right after its own acquisition: one rewrite fixes both.
    shutil.copy(LATE_EXIT_STACK, here / "jobs.py")
    code, out = invoke("check", "--fix", "--no-cache", "jobs.py")
    assert code == 0
    assert out.strip() == "All checks passed! (1 file in all; Fixed 2 leaks)"
    assert (here / "jobs.py").read_bytes() == LATE_EXIT_STACK.with_suffix(".fixed.py").read_bytes()
    assert invoke("check", "--fix", "--no-cache", "jobs.py") == (
        0,
        "All checks passed! (1 file in all)\n",
    )


def test_fixes_that_only_show_after_a_fix_are_applied_in_the_same_run(here: Path) -> None:
    # An argument that is an expression keeps the first registration where it is (moved, it
    # would be evaluated earlier): its guard is found only on the text the second one's wrote.
    text = LATE_EXIT_STACK.read_text().replace(
        "stack.callback(pool.putconn, source)\n        stack.callback(pool.putconn, target)",
        "stack.callback(pool.putconn, source, close=not day)\n"
        "        stack.callback(pool.putconn, target)",
    )
    assert "close=not day" in text
    (here / "jobs.py").write_text(text)
    code, out = invoke("check", "--fix", "--no-cache", "jobs.py")
    assert code == 0
    assert out.strip() == "All checks passed! (1 file in all; Fixed 2 leaks)"
    assert (here / "jobs.py").read_text().count("except BaseException:") == 2
    assert invoke("check", "--fix", "--no-cache", "jobs.py") == (
        0,
        "All checks passed! (1 file in all)\n",
    )


@pytest.mark.parametrize(
    ("rewrite", "why"),
    [
        (lambda text: text + b"# again\n", "the fixes still change the file after 100 passes"),
        (
            lambda text: (
                text.removesuffix(b"# a\n") if text.endswith(b"# a\n") else text + b"# a\n"
            ),
            "the fixes undo each other (the text came back to an earlier one)",
        ),
    ],
    ids=["endless", "cycle"],
)
def test_fixes_that_never_settle_stop_and_say_so(
    here: Path, monkeypatch: pytest.MonkeyPatch, rewrite: Any, why: str
) -> None:
    def fix_source(source: bytes, *args: Any, **kwargs: Any) -> leakcheck.fix.fixer.Outcome:
        return leakcheck.fix.fixer.Outcome(rewrite(source), applied=["LC102 at line 2: fix"])

    monkeypatch.setattr(leakcheck.fix.fixer, "fix_source", fix_source)
    (here / "db.py").write_text(LEAK)
    code, out = invoke("check", "--fix", "--no-cache", "db.py")
    assert f"db.py: not fixed: {why}" in out.splitlines()
    assert code == 1


def test_blank_lines_of_a_module_level_script_stay_blank_inside_the_new_block(here: Path) -> None:
    """A script's top-level statements moved into `try:` keep their blank lines empty: libcst
    marks a module-level blank line as indented, which would render as four spaces (W293)."""
    script = (
        "import pyodbc\n"
        "\n"
        'conn = pyodbc.connect("DSN=x")\n'
        "cur = conn.cursor()\n"
        "\n"
        'cur.execute("select 1")\n'
        "\n"
        "\n"
        "def show(row):\n"
        "    print(row)\n"
        "\n"
        "for row in cur:\n"
        "    show(row)\n"
    )
    (here / "report.py").write_text(script)
    code, out = invoke("check", "--no-cache", "--fix", "--unsafe-fixes", "report.py")
    assert code == 0, out
    fixed = (here / "report.py").read_text()
    assert fixed != script, out
    assert "finally:\n    conn.close()\n" in fixed
    assert [n for n, line in enumerate(fixed.splitlines(), 1) if line and not line.strip()] == []
    assert "\n\n    def show(row):\n" in fixed
