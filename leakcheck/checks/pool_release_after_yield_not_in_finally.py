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
`putconn()` at the end of that range moves there. asyncpg-style pools get `async with pool.acquire()
as conn:`. A helper listed in `fix-helpers` is offered first (`with self.get_connection() as conn:`,
unsafe: such helpers usually commit or roll back too), the plain form after it. No release is added
after a hand-off to a thread, task or callback, when the connection or a cursor of it is used after
the block, when it comes from a function that also keeps it (a cache), or when it is released inside
a branch of the range (the rewrite could return it twice). A returned cursor or unread result makes
the fix unsafe. The project's own context-manager helper for the kind, when one is found (the
README's "fix helpers"), is offered too: `with pooled() as conn:`, first and safe when it takes from
the same source with the same arguments and does nothing else; otherwise after the plain form,
unsafe, saying why.

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
