"""
## What it does
Finds a context manager that wraps a connection (a `@contextmanager` helper of the project,
psycopg_pool's `pool.connection()`, `SessionLocal.begin()`, `engine.begin()`) called without
`with` and its result used as if it were the connection or cursor.

## Why is this bad?
Calling a context manager does not enter it: nothing is acquired, the name holds the manager, and
the first attribute use fails, or, for helpers that return something usable, the cleanup never runs.

## Example
```python
cursor = get_db_cursor()
cursor.execute("SELECT 1")
```

## Use instead
```python
with get_db_cursor() as cursor:
    cursor.execute("SELECT 1")
```

## Fix safety
Unsafe fix: `with helper() as name:` (or `async with` for an `@asynccontextmanager`) around
the uses. Behaviour changes on purpose: the manager now runs, acquiring and releasing what the
code used without it. Offered for helpers defined in the same module, whose sync or async
nature is known.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
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


def ping():
    cursor = get_db_cursor()
    cursor.execute("SELECT 1")
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


def ping():
    with get_db_cursor() as cursor:
        cursor.execute("SELECT 1")
"""

RULE = Rule(
    code="LC301",
    name="context-manager-called-without-with",
    summary=(
        "`cursor = get_db_cursor(); cursor.execute(...)`: a manager wrapping a connection, never "
        "entered"
    ),
    family="any",
    leak="unentered",
    fixes=(Recipe.ENTER,),
    message="{what}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC301", 18),), fixed=VALID, unsafe=True),),
    valid=(Valid(VALID),),
)
