"""
## What it does
Finds a connection that is returned to the pool on the normal path, but not when a statement between
`getconn()` and `putconn()` raises. Statements that cannot realistically raise are not counted:
logging calls, pure builtins, operations on local lists/dicts/sets, helpers of the project that do
only such things (see docs/semantics.md, "The raise model"); anything on the pooled connection
itself is counted, since a pool may hand out a connection the server already closed. In an
`async def`, a release that runs only in `except Exception:` or after it is skipped when the task is
cancelled at an `await` (`asyncio.CancelledError` is a `BaseException`): reported with that reason.

## Why is this bad?
Errors are exactly when pools drain: a failing query, a dropped connection or a timeout skips the
`putconn()`, and every such error costs one pool slot for the life of the process.

## Example
```python
conn = pool.getconn()
cur = conn.cursor()
cur.execute(sql)
conn.commit()
pool.putconn(conn)
```

## Use instead
```python
conn = pool.getconn()
try:
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.commit()
finally:
    pool.putconn(conn)
```

## Fix safety
Safe fix: the statements after `getconn()`, through the last one that uses the connection or
anything derived from it (cursors, rows), go into `try:` with `pool.putconn(conn)` in `finally`; a
`putconn()` at the end of that range moves there. asyncpg-style pools get `async with pool.acquire()
as conn:`. A helper listed in `fix-helpers` is offered first (`with self.get_connection() as conn:`,
unsafe: such helpers usually commit or roll back too), the plain form after it. When the connection
is handed over (returned, stored, given to a thread, a task or a callback:
`asyncio.create_task(drain(pool, conn))` whose coroutine releases it, `loop.create_task`,
`ensure_future`, `TaskGroup.create_task`), only an error before the hand-off gives it back (`except
BaseException:` with the (awaited) release, then `raise`); the new owner releases it after. When the
hand-off is a registration on an `ExitStack` entered by `with` (`stack.callback(pool.putconn,
conn)`) later in the same block, moving it up to right after the acquisition is offered first
(safe), when that cannot change what it registers or the order of the stack's callbacks. No release
is added after a hand-off to a thread, task or callback, when the connection or a cursor of it is
used after the block, when it comes from a function that also keeps it (a cache), or when it is
released inside a branch of the range (the rewrite could return it twice). A returned cursor or
unread result makes the fix unsafe. A release written in `except` (and perhaps after the `try`, or
at the end of its body) moves into a new `finally` of that `try`, once; a `putconn()` right after a
`with pool.getconn() as conn:` block moves into `finally` around `with conn:` (around `with conn,
conn.cursor() as cur:` after a multi-item `with`; not when items come before the connection: a lock
let go before the `putconn()`); all safe: the connection is not used after the new release; no fix
when it is, or when the release would run twice. In a context-manager class, the release in
`__exit__` moves into `finally`, and an `__enter__` that may fail after acquiring gives the
connection back in `except BaseException:` before re-raising (safe). The project's own
context-manager helper for the kind, when one is found (the README's "fix helpers"), is offered too:
`with pooled() as conn:`, first and safe when it takes from the same source with the same arguments
and does nothing else; otherwise after the plain form, unsafe, saying why.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run(sql):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    conn.commit()
    pool.putconn(conn)
"""

FIXED = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run(sql):
    conn = pool.getconn()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        conn.commit()
    finally:
        pool.putconn(conn)
"""

VALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run(sql):
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.commit()
    finally:
        pool.putconn(conn)
"""

RULE = Rule(
    code="LC102",
    name="pool-connection-not-returned-on-exception",
    summary=(
        "returned on the normal path, but a statement between `getconn()` and `putconn()` (or "
        "before the connection is handed to the caller) may raise"
    ),
    family="pool",
    leak="exception",
    fixes=(
        Recipe.REGISTER_EARLY,
        Recipe.RELEASE_BEFORE_HANDOFF,
        Recipe.WRAP,
        Recipe.RELEASE_IN_FINALLY,
        Recipe.RELEASE_INTO_WITH,
        Recipe.RELEASE_IN_EXIT,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC102", 7),), fixed=FIXED),),
    valid=(Valid(VALID),),
)
