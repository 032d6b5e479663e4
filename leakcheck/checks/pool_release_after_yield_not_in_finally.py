"""
## What it does
Finds a generator (a FastAPI dependency, a `@contextmanager` helper) that takes a pooled connection,
yields it, and returns it after the `yield` outside a `finally`. Not pytest fixtures
(`@pytest.fixture`, `@pytest_asyncio.fixture`): pytest resumes them with `next()` whatever the test
did (one that never returns the connection is still LC101).

## Why is this bad?
When the code using the yielded connection raises, the exception is thrown into the generator at the
`yield`; when the caller stops early, `GeneratorExit` is. Either way the statements after the `yield`
never run and the connection never goes back to the pool.

## Example
```python
@contextmanager
def get_db_cursor():
    conn = pool.getconn()
    yield conn.cursor()
    pool.putconn(conn)
```

## Use instead
```python
@contextmanager
def get_db_cursor():
    conn = pool.getconn()
    try:
        yield conn.cursor()
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
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


@contextmanager
def get_db_cursor():
    conn = pool.getconn()
    yield conn.cursor()
    pool.putconn(conn)
"""

VALID = """\
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


@contextmanager
def get_db_cursor():
    conn = pool.getconn()
    try:
        yield conn.cursor()
    finally:
        pool.putconn(conn)
"""

RULE = Rule(
    code="LC107",
    name="pool-release-after-yield-not-in-finally",
    summary=(
        "a generator (dependency, `@contextmanager`) yields the connection and returns it after "
        "the `yield`, outside `finally`"
    ),
    family="pool",
    leak="yield",
    fixes=(Recipe.WRAP, Recipe.PROJECT_HELPER),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC107", 10),), fixed=VALID),),
    valid=(Valid(VALID),),
)
