"""Classes of the project that own a resource (analysis/owners.py): which classes are owners,
what their derived kind says, and that constructing one is judged like any acquisition."""

from __future__ import annotations

import json
from pathlib import Path

import libcst as cst
from cli_helpers import invoke

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.config.catalogue import builtin_kinds

HEAD = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 4, "dbname=x")
"""


SESSION_POOL = """\
import psycopg2


class SessionPool:
    def __init__(self, dsn):
        self.dsn = dsn
        self._free = []

    def acquire(self):
        if self._free:
            return self._free.pop()
        return psycopg2.connect(self.dsn)

    def release(self, conn, txn_id=None):
        if txn_id is None:
            self._free.append(conn)


pool = SessionPool("dbname=x")


def run(sql):
    conn = pool.acquire()
    conn.cursor().execute(sql)
    pool.release(conn, "t1")


class Context:
    def __init__(self, txn_id):
        self.txn_id = txn_id
        self._sess = pool.acquire()
        self._sess.cursor().execute("USE x")

    def close(self):
        pool.release(self._sess, self.txn_id)
"""


def facts(body: str) -> ModuleFacts:
    return ModuleFacts(cst.parse_module(HEAD + body), builtin_kinds())


def test_a_class_giving_back_what_init_takes_is_an_owner() -> None:
    found = facts(
        """
class Ledger:
    def __init__(self):
        self.conn = pool.getconn()

    def release(self):
        pool.putconn(self.conn)
"""
    )
    kind, owned = found.owners["Ledger"]
    assert [(o.method, o.attribute, o.releasers) for o in owned] == [
        ("__init__", "self.conn", ("release",))
    ]
    assert kind.self_release_methods == frozenset({"release"})
    assert not kind.with_releases
    assert found.factories["Ledger"] is kind  # constructing it acquires


def test_borrowed_never_released_and_reacquired_are_not_owners() -> None:
    found = facts(
        """
class Borrowing:
    def __init__(self, conn):
        self.conn = conn

    def close(self):
        pool.putconn(self.conn)


class CursorOnly:
    def __init__(self):
        self.conn = pool.getconn()

    def close(self):
        self.conn.cursor().close()


class Reconnecting:
    def __init__(self):
        self.conn = pool.getconn()

    def reconnect(self):
        pool.putconn(self.conn)
        self.conn = pool.getconn()
"""
    )
    assert found.owners == {}


def test_a_context_manager_owner_is_released_by_with_and_fixed_with_with() -> None:
    found = facts(
        """
class Journal:
    def __init__(self):
        self.conn = pool.getconn()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pool.putconn(self.conn)
"""
    )
    kind, _ = found.owners["Journal"]
    assert kind.with_releases and kind.with_only_releases
    assert kind.self_release_methods == frozenset()


def test_enter_returning_something_else_is_not_fixed_with_with() -> None:
    kind, _ = facts(
        """
class Cursorish:
    def __init__(self):
        self.conn = pool.getconn()

    def __enter__(self):
        return self.conn.cursor()

    def __exit__(self, *exc):
        pool.putconn(self.conn)

    def close(self):
        pool.putconn(self.conn)
"""
    ).owners["Cursorish"]
    assert kind.with_releases and not kind.with_only_releases
    assert kind.self_release_methods == frozenset({"close"})


def test_construction_is_judged_and_a_returned_instance_is_handed_off() -> None:
    found = facts(
        """
class Ledger:
    def __init__(self):
        self.conn = pool.getconn()

    def close(self):
        pool.putconn(self.conn)


def leaks():
    ledger = Ledger()
    ledger.conn.cursor()


def hands_off():
    ledger = Ledger()
    return ledger


def closes():
    ledger = Ledger()
    try:
        ledger.conn.cursor()
    finally:
        ledger.close()
"""
    )
    judged = {
        (v.site.scope.name.value, v.leak.value)
        for v in all_verdicts(found)
        if isinstance(v.site.scope, cst.FunctionDef)
    }
    assert judged == {("leaks", "never")}
    assert "hands_off" in found.factories  # returning a fresh instance makes a factory


def test_setup_after_the_acquisition_in_init_is_reported_in_the_class() -> None:
    found = facts(
        """
class Setup:
    def __init__(self):
        self.conn = pool.getconn()
        self.cur = self.conn.cursor()

    def close(self):
        pool.putconn(self.conn)
"""
    )
    (verdict,) = all_verdicts(found)
    assert verdict.leak.value == "exception"
    assert verdict.site.kind.family == "pool"  # the pool connection, not the `Setup` object
    assert "nothing calls `close()`" in "".join(text for text, _ in verdict.how)


POOL = """
import psycopg2


class Depot:
    def __init__(self, dsn):
        self.dsn = dsn
        self._free = []

    def take(self):
        if self._free:
            return self._free.pop()
        return psycopg2.connect(self.dsn)

    def give(self, conn):
        self._free.append(conn)


depot = Depot("dbname=x")


def leaks():
    conn = depot.take()
    conn.cursor()


def gives_back():
    conn = depot.take()
    try:
        conn.cursor()
    finally:
        depot.give(conn)
"""


def test_a_class_handing_out_fresh_connections_and_taking_them_back_is_a_pool() -> None:
    found = facts(POOL)
    (pool,) = found.pools.values()
    assert (pool.class_name, pool.acquire, pool.release, pool.index) == ("Depot", "take", "give", 0)
    assert pool.kind.family != "pool"  # what it hands out: a driver connection
    judged = {
        (v.site.scope.name.value, v.site.kind.family, v.leak.value)
        for v in all_verdicts(found)
        if isinstance(v.site.scope, cst.FunctionDef)
    }
    assert judged == {("leaks", "pool", "never")}


def test_a_free_list_of_things_never_acquired_is_not_a_pool() -> None:
    found = facts(POOL.replace("return psycopg2.connect(self.dsn)", "return None"))
    assert found.pools == {}
    assert all_verdicts(found) == []


def test_configuring_a_fresh_direct_connection_in_init_cannot_raise() -> None:
    found = ModuleFacts(
        cst.parse_module(
            """
import psycopg2


class Database:
    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.cur = self.conn.cursor()
        self.conn.autocommit = True

    def close(self):
        self.conn.close()


class Loader:
    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.cursor().execute("SET search_path TO app")

    def close(self):
        self.conn.close()
"""
        ),
        builtin_kinds(),
    )
    assert {v.site.class_name for v in all_verdicts(found)} == {"Loader"}


def test_connect_returning_the_connection_leaves_it_to_the_caller() -> None:
    found = facts(
        """
class Handing:
    def connect(self):
        self.conn = pool.getconn()
        return self.conn

    def close(self):
        pool.putconn(self.conn)


class Opening:
    def open(self):
        self.conn = pool.getconn()
        return self

    def close(self):
        pool.putconn(self.conn)
"""
    )
    assert sorted(found.owners) == ["Opening"]


def test_a_fix_writing_a_project_pools_release_that_takes_more_is_unsafe(tmp_path: Path) -> None:
    """buenavista's `SessionPool.release(sess, txn_id)`: a fix that moves the code's own
    `release(conn, "t1")` keeps its arguments and stays safe; one that writes `release(conn)`
    (the `__init__` error path) cannot know `txn_id`, so it is unsafe and says why."""
    target = tmp_path / "sessions.py"
    target.write_text(SESSION_POOL)
    code, out = invoke("check", "--no-cache", "--format", "json", str(target))
    assert code == 1, out
    fixes = {f["line"]: f["fixes"] for f in json.loads(out)["findings"]}
    assert [x["applicability"] for x in fixes[23]] == ["safe"]
    assert [x["applicability"] for x in fixes[31]] == ["unsafe"]
    assert "also takes `txn_id`" in fixes[31][0]["title"]
