"""
## What it does
Finds a connection taken from the pool inside a loop whose next iteration takes another before the
previous one is returned, typically with a single `putconn()` after the loop.

## Why is this bad?
Each iteration leaks one connection; a loop longer than `maxconn` exhausts the pool on its own.

## Example
```python
for job in jobs:
    conn = pool.getconn()
    run(conn, job)
pool.putconn(conn)
```

## Use instead
```python
for job in jobs:
    conn = pool.getconn()
    try:
        run(conn, job)
    finally:
        pool.putconn(conn)
```

## Fix safety
The Use instead form, when the connection is released once after the loop: the statements of
the iteration after `getconn()` go into `try:` with `pool.putconn(conn)` in `finally`, and the
release after the loop is removed. Safe for `while True:`; unsafe for other loops, because when
the loop runs no iteration the release after it failed on an unbound name and no longer runs. No
fix when the connection is used before its `getconn()` in the body or after the loop, released
anywhere else, or handed over.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run_all(jobs):
    for job in jobs:
        conn = pool.getconn()
        run(conn, job)
    pool.putconn(conn)
"""

VALID = """\
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, dsn="dbname=shop")


def run_all(jobs):
    for job in jobs:
        conn = pool.getconn()
        try:
            run(conn, job)
        finally:
            pool.putconn(conn)
"""

RULE = Rule(
    code="LC106",
    name="pool-connection-reacquired-in-loop",
    summary=(
        "the next loop iteration takes another connection before the previous one is returned"
    ),
    family="pool",
    leak="loop",
    fixes=(Recipe.RELEASE_PER_ITERATION,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC106", 8),), fixed=VALID, unsafe=True),),
    valid=(Valid(VALID),),
)
