"""
## What it does
Finds a name holding a pooled connection that is reassigned or deleted before the connection is
returned to the pool.

## Why is this bad?
Once the last reference is gone nobody can call `putconn()` for it; the pool still counts it as used.

## Example
```python
conn = pool.getconn()
load(conn)
conn = pool.getconn()
pool.putconn(conn)
```

## Use instead
Return the first connection before taking another, or use one connection for both steps.

## Fix safety
Safe fix for a name reused in the same block: the statements from the first `getconn()` to the
reassignment go into `try:` with `pool.putconn(conn)` in `finally`, so the first connection is
returned before the name takes the second. A reassignment in a branch of a later statement (a
retry in `except OperationalError:`, a reconnect under `if`): `old_conn = conn`, the reassignment,
then `pool.putconn(old_conn, close=True)` (`close=True` in a handler of `OperationalError` or
`InterfaceError`: the connection is likely broken, and psycopg2's
`putconn(conn, key=None, close=False)` discards it from the pool when `close` is true), and the
range from the first `getconn()` through the last use in try/finally returning whichever
connection the name then holds (safe). The new connection is taken before the old one goes back,
as in the original: if taking it fails, the name still holds the old one and `finally` returns it
once (a second `putconn()` of the same connection raises `PoolError`). No fix when a cursor of the
first is read after the reassignment, when the new value is made from the old one
(`conn = Wrapper(conn)`), in a loop, or when the first is handed over before.

## Options
None.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def refresh():
    conn = pool.getconn()
    load(conn)
    conn = pool.getconn()
    pool.putconn(conn)
"""

FIXED = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def refresh():
    conn = pool.getconn()
    try:
        load(conn)
    finally:
        pool.putconn(conn)
    conn = pool.getconn()
    pool.putconn(conn)
"""

RULE = Rule(
    code="LC105",
    name="pool-connection-overwritten-before-return",
    summary="the name is reassigned or deleted while the connection is held",
    family="pool",
    leak="overwritten",
    fixes=(Recipe.RELEASE_BEFORE_REUSE,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC105", 7),), fixed=FIXED),),
)
