"""The raise model, correlated guards, cancellation and rule scope, judged on small snippets
(the fixtures in fixtures/precision/ check the same classes on realistic code)."""

from __future__ import annotations

from helpers import messages, verdicts


def test_configuring_a_fresh_sqlite_connection_cannot_raise() -> None:
    assert (
        verdicts("""\
import sqlite3
def load(path):
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    cur = db.cursor()
    try:
        return cur.execute("SELECT 1").fetchall()
    finally:
        db.close()
""")
        == []
    )


def test_configuring_after_io_may_raise() -> None:
    body = """\
import sqlite3
def load(path):
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA optimize")
    except Exception:
        pass
    db.row_factory = sqlite3.Row
    db.close()
"""
    assert verdicts(body) == [(3, "exception", 8)]


def test_pool_connection_is_never_fresh() -> None:
    assert verdicts("""\
def load():
    conn = pool.getconn()
    conn.autocommit = True
    try:
        return 1
    finally:
        pool.putconn(conn)
""") == [(2, "exception", 3)]


def test_logging_and_local_containers_cannot_raise() -> None:
    assert (
        verdicts("""\
import logging
log = logging.getLogger(__name__)
def load(keys):
    conn = pool.getconn()
    seen = set()
    out = {}
    log.info("loading %d keys", len(keys))
    seen.add(1)
    out["n"] = 1
    try:
        return out
    finally:
        pool.putconn(conn)
""")
        == []
    )


def test_reading_a_key_may_raise() -> None:
    assert verdicts("""\
def load(cfg):
    conn = pool.getconn()
    timeout = cfg["timeout"]
    try:
        return timeout
    finally:
        pool.putconn(conn)
""") == [(2, "exception", 3)]


def test_quiet_helper_of_the_module_cannot_raise_and_a_raising_one_can() -> None:
    body = """\
def label(name):
    return "job " + name
def check(name):
    if not name:
        raise ValueError(name)
def load(name):
    conn = pool.getconn()
    text = label(name)
    check(name)
    try:
        return text
    finally:
        pool.putconn(conn)
"""
    assert verdicts(body) == [(7, "exception", 9)]


def test_flag_set_with_the_acquisition_guards_the_release() -> None:
    assert (
        verdicts("""\
def purge(conn=None):
    owned = conn is None
    if owned:
        conn = pool.getconn()
    try:
        conn.cursor().execute("DELETE FROM events")
    finally:
        if owned:
            pool.putconn(conn)
""")
        == []
    )


def test_flag_rebound_after_the_acquisition_no_longer_guards() -> None:
    found = verdicts("""\
def purge(conn=None, keep=False):
    owned = conn is None
    if owned:
        conn = pool.getconn()
    owned = not keep
    try:
        conn.cursor().execute("DELETE FROM events")
    finally:
        if owned:
            pool.putconn(conn)
""")
    assert found == [(4, "early-exit", 10)]


def test_cancellation_passes_except_exception_in_async_code() -> None:
    body = """\
async def charge():
    conn = await pool.getconn()
    try:
        await conn.execute("UPDATE orders SET paid = true")
    except Exception:
        pool.putconn(conn)
        raise
    pool.putconn(conn)
"""
    assert verdicts(body) == [(2, "exception", 4)]
    assert messages(body) == [
        "if the task is cancelled at `conn.execute(...)` on line 4 (`asyncio.CancelledError` is "
        "a `BaseException`: `except Exception` does not catch it)"
    ]


def test_sync_code_is_not_cancelled() -> None:
    assert (
        verdicts("""\
def charge():
    conn = pool.getconn()
    try:
        conn.cursor().execute("UPDATE orders SET paid = true")
    except Exception:
        pool.putconn(conn)
        raise
    pool.putconn(conn)
""")
        == []
    )


def test_except_base_exception_catches_cancellation() -> None:
    assert (
        verdicts("""\
import asyncio
async def charge():
    conn = await pool.getconn()
    try:
        await conn.execute("UPDATE orders SET paid = true")
    except (ValueError, asyncio.CancelledError, Exception):
        pool.putconn(conn)
        raise
    pool.putconn(conn)
""")
        == []
    )


def test_pytest_fixture_release_after_yield_is_fine() -> None:
    assert (
        verdicts("""\
import pytest
@pytest.fixture
def conn():
    c = pool.getconn()
    yield c
    pool.putconn(c)
""")
        == []
    )


def test_generator_that_is_not_a_fixture_still_is_reported() -> None:
    assert verdicts("""\
def conn():
    c = pool.getconn()
    yield c
    pool.putconn(c)
""") == [(2, "yield", 3)]


def test_global_assignment_gives_the_connection_to_the_module() -> None:
    assert (
        verdicts("""\
import sqlite3
DB = None
def init(path):
    global DB
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    DB = conn
""")
        == []
    )


def test_held_across_await_says_what_a_direct_autocommit_connection_holds() -> None:
    body = """\
import asyncpg
async def live(ws, dsn):
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            await conn.fetch("SELECT 1")
            await ws.receive_text()
    finally:
        await conn.close()
"""
    assert messages(body) == [
        "is kept open across `await ws.receive_text()` on line 7 after being used: it holds no "
        "transaction and no pool slot (autocommit, not pooled), but keeps one of the server's "
        "connections (`max_connections`) open while it waits"
    ]


def test_held_across_await_for_a_direct_psycopg_connection_in_a_transaction() -> None:
    body = """\
import psycopg
async def live(ws, dsn):
    conn = await psycopg.AsyncConnection.connect(dsn)
    try:
        while True:
            await conn.execute("SELECT 1")
            await ws.receive_text()
    finally:
        await conn.close()
"""
    assert messages(body) == [
        "is kept open across `await ws.receive_text()` on line 7 after being used: its open "
        "transaction and its own server connection (not pooled: one of the server's "
        "`max_connections`) stay held while it waits"
    ]
