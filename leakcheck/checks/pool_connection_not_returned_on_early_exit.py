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
`putconn()` at the end of that range moves there. `with pool.getconn() as conn:` becomes try/finally
around `with conn:` (the transaction is kept). asyncpg-style pools get `async with pool.acquire() as
conn:`. When the connection is handed over (returned, stored, given to a thread, a task or a
callback: `asyncio.create_task(drain(pool, conn))` whose coroutine releases it, `loop.create_task`,
`ensure_future`, `TaskGroup.create_task`), only an error before the hand-off gives it back (`except
BaseException:` with the (awaited) release, then `raise`); the new owner releases it after. No
release is added after a hand-off to a thread, task or callback, when the connection or a cursor of
it is used after the block, when it comes from a function that also keeps it (a cache), or when it
is released inside a branch of the range (the rewrite could return it twice). A returned cursor or
unread result makes the fix unsafe. A release written in `except` (and perhaps after the `try`, or
at the end of its body) moves into a new `finally` of that `try`, once; a `putconn()` right after a
`with` block moves into `finally` around `with conn:`; in a multi-item `with pool.getconn() as conn,
conn.cursor() as cur:` the connection is taken first and returned in `finally` around `with conn,
conn.cursor() as cur:`, also when the `putconn()` follows that block (not when items come before the
connection: a lock let go before the `putconn()`); all safe: the connection is not used after the
new release; no fix when it is, or when the release would run twice. In a context-manager class, the
release in `__exit__` moves into `finally`, and an `__enter__` that may fail after acquiring gives
the connection back in `except BaseException:` before re-raising (safe); an `__exit__` that never
returns it gets the release added (unsafe: the object keeps the attribute).

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
