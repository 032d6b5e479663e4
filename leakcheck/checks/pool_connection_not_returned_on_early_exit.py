"""
## What it does
Finds a connection that some paths return to the pool and another path does not: an early `return`,
`break`, `continue` or `raise`, a branch of an `if`, an `except` that handles the error and goes on,
or a release that sits only in `except`.

## Why is this bad?
The path that skips the release is usually the rare one (an empty result, a validation error), so the
leak shows up only under production traffic.

## Example
```python
conn = pool.getconn()
row = fetch_user(conn, user_id)
if row is None:
    return None
pool.putconn(conn)
return row
```

## Use instead
```python
conn = pool.getconn()
try:
    return fetch_user(conn, user_id)
finally:
    pool.putconn(conn)
```

## Fix safety
Safe fix: the statements after `getconn()`, through the last one that uses the connection or
anything derived from it (cursors, rows), go into `try:` with `pool.putconn(conn)` in `finally`; a
`putconn()` at the end of that range moves there. asyncpg-style pools get `async with pool.acquire()
as conn:`. A helper listed in `fix-helpers` is offered first (`with self.get_connection() as conn:`,
unsafe: such helpers usually commit or roll back too), the plain form after it. No release is added
after a hand-off to a thread, task or callback, when the connection or a cursor of it is used after
the block, when it comes from a function that also keeps it (a cache), or when it is released inside
a branch of the range (the rewrite could return it twice). A returned cursor or unread result makes
the fix unsafe. A release written in `except` (and perhaps after the `try`, or at the end of its
body) moves into a new `finally` of that `try`, once; a `putconn()` right after a `with
pool.getconn() as conn:` block moves into `finally` around `with conn:` (around `with conn,
conn.cursor() as cur:` after a multi-item `with`; not when items come before the connection: a lock
let go before the `putconn()`); all safe: the connection is not used after the new release; no fix
when it is, or when the release would run twice. The project's own context-manager helper for the
kind, when one is found (the README's "fix helpers"), is offered too: `with pooled() as conn:`,
first and safe when it takes from the same source with the same arguments and does nothing else;
otherwise after the plain form, unsafe, saying why.

## Options
None.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def user_row(user_id):
    conn = pool.getconn()
    row = fetch_user(conn, user_id)
    if row is None:
        return None
    pool.putconn(conn)
    return row
"""

FIXED = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def user_row(user_id):
    conn = pool.getconn()
    try:
        row = fetch_user(conn, user_id)
        if row is None:
            return None
    finally:
        pool.putconn(conn)
    return row
"""

VALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def user_row(user_id):
    conn = pool.getconn()
    try:
        return fetch_user(conn, user_id)
    finally:
        pool.putconn(conn)
"""

RULE = Rule(
    code="LC103",
    name="pool-connection-not-returned-on-early-exit",
    summary=(
        "an early `return`/`break`/`continue`/`raise`, one branch of an `if`, an `except` that "
        "swallows the error, or a release only in `except`"
    ),
    family="pool",
    leak="early-exit",
    fixes=(
        Recipe.WRAP,
        Recipe.RELEASE_IN_FINALLY,
        Recipe.RELEASE_INTO_WITH,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC103", 7),), fixed=FIXED),),
    valid=(Valid(VALID),),
)
