"""Connections kept in a list and given back by a loop after their use (issue 29,
fix/collection.py): the loop goes into `finally`, only where that loop only gives them back."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.fix.candidates import candidates
from leakcheck.fix.fixer import fix_source

HEADER = """\
from psycopg2.pool import ThreadedConnectionPool

from jobs import run_all

pool = ThreadedConnectionPool(1, 8, "dbname=shop")


"""
TITLE = "Give back the connections of `conns` in `finally`"


def _source(body: str) -> bytes:
    return (HEADER + textwrap.dedent(body)).encode()


def test_the_release_loop_goes_into_finally_and_the_fix_converges() -> None:
    body = """\
    def fan_out(n):
        conns = [pool.getconn() for _ in range(n)]
        run_all(conns)
        for c in conns:
            pool.putconn(c)
    """
    want = """\
    def fan_out(n):
        conns = [pool.getconn() for _ in range(n)]
        try:
            run_all(conns)
        finally:
            for c in conns:
                pool.putconn(c)
    """
    fixed = fix_source(_source(body), builtin_kinds()).source
    assert fixed == _source(want)
    assert fix_source(fixed, builtin_kinds()).source == fixed


@pytest.mark.parametrize(
    "body",
    [
        # The release loop does more than give them back.
        """\
        def fan_out(n):
            conns = [pool.getconn() for _ in range(n)]
            run_all(conns)
            for c in conns:
                c.commit()
                pool.putconn(c)
        """,
        # The list is rebound between: `finally` would give back another list.
        """\
        def fan_out(n):
            conns = [pool.getconn() for _ in range(n)]
            run_all(conns)
            conns = conns[1:]
            for c in conns:
                pool.putconn(c)
        """,
        # The list is used after the release loop.
        """\
        def fan_out(n):
            conns = [pool.getconn() for _ in range(n)]
            run_all(conns)
            for c in conns:
                pool.putconn(c)
            return len(conns)
        """,
    ],
)
def test_no_release_loop_in_finally_where_it_would_not_be_right(body: str) -> None:
    facts = ModuleFacts(cst.parse_module(_source(body)), builtin_kinds())
    verdicts = all_verdicts(facts)
    assert verdicts  # reported, so the missing fix is a decision
    titles = [p.title for v in verdicts for p in candidates(v, facts)]
    assert TITLE not in titles
