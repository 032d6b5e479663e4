"""The release added to the `try` the code already has (issue 29, fix/existing_try.py): a lone
`finally: pass` replaced, a `finally:` added, a release on the normal path moved into it; never
when the `try` does not cover every use, or the rewrite could skip or repeat the release."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.fix.candidates import candidates
from leakcheck.fix.fixer import fix_source
from leakcheck.model import Applicability

HEADER = """\
import logging

import psycopg2
from psycopg2.pool import ThreadedConnectionPool

log = logging.getLogger(__name__)
pool = ThreadedConnectionPool(1, 4, "dbname=shop")


"""
EXISTING = "in the `finally` of its `try`"
ADDED = "in a `finally` added to its `try`"


def _source(body: str) -> bytes:
    return (HEADER + textwrap.dedent(body)).encode()


def _fixed(body: str) -> str:
    """The function after `--fix` (safe fixes only), without the header."""
    outcome = fix_source(_source(body), builtin_kinds())
    return outcome.source.decode().removeprefix(HEADER)


def _titles(body: str) -> list[str]:
    """The titles of every candidate of every finding of the function (at least one)."""
    facts = ModuleFacts(cst.parse_module(_source(body)), builtin_kinds())
    verdicts = all_verdicts(facts)
    assert verdicts
    return [p.title for verdict in verdicts for p in candidates(verdict, facts)]


def test_a_lone_pass_in_finally_becomes_the_release() -> None:
    body = """\
    def count(customer):
        conn = pool.getconn()
        try:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM orders WHERE customer = %s", (customer,))
            return cur.fetchone()[0]
        except psycopg2.Error:
            log.exception("count failed")
            return 0
        finally:
            pass
    """
    assert _fixed(body) == textwrap.dedent(body).replace("pass", "pool.putconn(conn)")
    # The general try/finally around the whole `try` stays the next candidate.
    first, second = _titles(body)
    assert EXISTING in first and second == "Release `conn` in `finally`"


def test_a_release_on_the_normal_path_moves_into_a_finally_added_to_the_try() -> None:
    body = """\
    def add(customer, total):
        conn = pool.getconn()
        try:
            conn.cursor().execute("INSERT INTO orders VALUES (%s, %s)", (customer, total))
            conn.commit()
            pool.putconn(conn)
        except psycopg2.Error:
            log.exception("insert failed")
            conn.rollback()
    """
    want = """\
    def add(customer, total):
        conn = pool.getconn()
        try:
            conn.cursor().execute("INSERT INTO orders VALUES (%s, %s)", (customer, total))
            conn.commit()
        except psycopg2.Error:
            log.exception("insert failed")
            conn.rollback()
        finally:
            pool.putconn(conn)
    """
    assert _fixed(body) == textwrap.dedent(want)
    assert _fixed(want) == textwrap.dedent(want)  # nothing left to fix: the fix converges


def test_a_release_right_after_the_try_moves_in_and_a_literal_before_it_stays() -> None:
    body = """\
    def archive(order_id):
        conn = pool.getconn()
        done = False
        try:
            conn.cursor().execute("UPDATE orders SET archived = true WHERE id = %s", (order_id,))
            conn.commit()
            done = True
        except psycopg2.IntegrityError:
            return False
        pool.putconn(conn)
        return done
    """
    want = """\
    def archive(order_id):
        conn = pool.getconn()
        done = False
        try:
            conn.cursor().execute("UPDATE orders SET archived = true WHERE id = %s", (order_id,))
            conn.commit()
            done = True
        except psycopg2.IntegrityError:
            return False
        finally:
            pool.putconn(conn)
        return done
    """
    assert _fixed(body) == textwrap.dedent(want)


def test_the_release_goes_before_a_return_ending_the_finally_and_after_what_uses_it() -> None:
    body = """\
    def ping(label):
        conn = pool.getconn()
        try:
            conn.cursor().execute("SELECT 1")
        except psycopg2.Error:
            log.warning("unreachable")
        finally:
            log.info("%s pinged over %s", label, conn)
            return label
    """
    fixed = _fixed(body)
    assert fixed == textwrap.dedent(body).replace(
        "            return label", "            pool.putconn(conn)\n            return label"
    )


@pytest.mark.parametrize(
    "body",
    [
        # Used after the `try`: the `try` does not cover the range.
        """\
        def report(customer):
            conn = pool.getconn()
            try:
                cur = conn.cursor()
            except psycopg2.Error:
                raise
            return cur.fetchall()
        """,
        # Something that may raise runs between the acquisition and the `try`.
        """\
        def report(customer):
            conn = pool.getconn()
            log.info("reporting %s", customer.name)
            try:
                conn.cursor().execute("SELECT 1")
            finally:
                pass
        """,
        # A release nested in the `try` body: the `finally` would release twice there.
        """\
        def report(customer):
            conn = pool.getconn()
            try:
                if customer:
                    conn.cursor().execute("SELECT 1")
                    pool.putconn(conn)
            except psycopg2.Error:
                log.exception("failed")
        """,
        # The name rebound in a handler: the `finally` would release what it then holds.
        """\
        def report(customer):
            conn = pool.getconn()
            try:
                conn.cursor().execute("SELECT 1")
            except psycopg2.OperationalError:
                conn = pool.getconn()
                conn.cursor().execute("SELECT 1")
            finally:
                pass
        """,
        # A `finally` that leaves in a branch: a release after it could be skipped.
        """\
        def report(customer):
            conn = pool.getconn()
            try:
                conn.cursor().execute("SELECT 1")
            except psycopg2.Error:
                log.exception("failed")
            finally:
                log.info("done")
                if customer:
                    return None
            return customer
        """,
        # `pass  # nothing to clean up` would be left with a comment saying so.
        """\
        def report(customer):
            conn = pool.getconn()
            try:
                conn.cursor().execute("SELECT 1")
            finally:
                pass  # nothing to clean up
        """,
    ],
)
def test_not_offered_where_it_would_not_be_right(body: str) -> None:
    assert not any(EXISTING in t or ADDED in t for t in _titles(body))


def test_a_connection_a_handler_returns_gets_no_release() -> None:
    body = """\
    def borrow():
        conn = pool.getconn()
        try:
            conn.cursor().execute("SELECT 1")
        except psycopg2.Error:
            return conn
        pool.putconn(conn)
        return None
    """
    facts = ModuleFacts(cst.parse_module(_source(body)), builtin_kinds())
    [verdict] = all_verdicts(facts)
    plans = candidates(verdict, facts)
    assert all(EXISTING not in p.title and ADDED not in p.title for p in plans)
    assert all(p.applicability != Applicability.SAFE for p in plans)
