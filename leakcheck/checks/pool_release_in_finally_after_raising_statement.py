"""
## What it does
Finds a `putconn()` in a `finally` block that comes after another statement that may raise.

## Why is this bad?
`finally` only guarantees that the block starts. If `conn.autocommit = True` or `conn.rollback()`
raises first (a broken connection does), the rest of the block never runs and the connection never
goes back to the pool.

## Example
```python
finally:
    conn.autocommit = True
    self.pool.putconn(conn)
```

## Use instead
```python
finally:
    try:
        conn.autocommit = True
    finally:
        self.pool.putconn(conn)
```

## Fix safety
Safe fix: the statements before the release in `finally` are nested in `try:`, with the release
in its own `finally`; their order is kept.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool


class Store:
    def __init__(self, dsn):
        self.pool = ThreadedConnectionPool(1, 10, dsn=dsn)

    def save(self, sql):
        conn = self.pool.getconn()
        try:
            conn.autocommit = False
            conn.cursor().execute(sql)
            conn.commit()
        finally:
            conn.autocommit = True
            self.pool.putconn(conn)
"""

VALID = """\
from psycopg2.pool import ThreadedConnectionPool


class Store:
    def __init__(self, dsn):
        self.pool = ThreadedConnectionPool(1, 10, dsn=dsn)

    def save(self, sql):
        conn = self.pool.getconn()
        try:
            conn.autocommit = False
            conn.cursor().execute(sql)
            conn.commit()
        finally:
            try:
                conn.autocommit = True
            finally:
                self.pool.putconn(conn)
"""

RULE = Rule(
    code="LC104",
    name="pool-release-in-finally-after-raising-statement",
    summary=(
        "`putconn()` in `finally` after a statement that may raise (`conn.autocommit = True`, "
        "`conn.rollback()`)"
    ),
    family="pool",
    leak="finally-order",
    fixes=(Recipe.NEST_RELEASE,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC104", 9),), fixed=VALID),),
    valid=(Valid(VALID),),
)
