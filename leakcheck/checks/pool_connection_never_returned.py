"""
## What it does
Finds a connection taken from a pool with `getconn()` that no path gives back with `putconn()`.

## Why is this bad?
The pool counts the connection as used until `putconn()` is called. Every call leaks one slot; once
`maxconn` are gone, each request waits and fails (`couldn't get a connection after 30.00 sec`).

## Example
```python
def count_orders(self):
    conn = self.pool.getconn()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        return cur.fetchone()[0]
```

## Use instead
```python
def count_orders(self):
    conn = self.pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders")
            return cur.fetchone()[0]
    finally:
        self.pool.putconn(conn)
```

## Fix safety
Safe fix: the statements after `getconn()`, through the last one that uses the connection or
anything derived from it (cursors, rows), go into `try:` with `pool.putconn(conn)` in `finally`; a
`putconn()` at the end of that range moves there. `with pool.getconn() as conn:` becomes try/finally
around `with conn:` (the transaction is kept). asyncpg-style pools get `async with pool.acquire() as
conn:`. A helper listed in `fix-helpers` is offered first (`with self.get_connection() as conn:`,
unsafe: such helpers usually commit or roll back too), the plain form after it. No release is added
after a hand-off to a thread, task or callback, when the connection or a cursor of it is used after
the block, when it comes from a function that also keeps it (a cache), or when it is released inside
a branch of the range (the rewrite could return it twice). A returned cursor or unread result makes
the fix unsafe. In a multi-item `with pool.getconn() as conn, conn.cursor() as cur:` the connection
is taken first and returned in `finally` around `with conn, conn.cursor() as cur:` (safe: the
connection is not used after the new release; no fix when it is). In a context-manager class, an
`__exit__` that never returns it gets the release added (unsafe: the object keeps the attribute).
The project's own context-manager helper for the kind, when one is found (the README's "fix
helpers"), is offered too: `with pooled() as conn:`, first and safe when it takes from the same
source with the same arguments and does nothing else; otherwise after the plain form, unsafe, saying
why.

## Options
Custom pools: `[[tool.leakcheck.kinds]]` in `pyproject.toml`.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from psycopg2.pool import ThreadedConnectionPool


class Orders:
    def __init__(self, dsn):
        self.pool = ThreadedConnectionPool(1, 10, dsn=dsn)

    def count_orders(self):
        conn = self.pool.getconn()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders")
            return cur.fetchone()[0]
"""

VALID = """\
from psycopg2.pool import ThreadedConnectionPool


class Orders:
    def __init__(self, dsn):
        self.pool = ThreadedConnectionPool(1, 10, dsn=dsn)

    def count_orders(self):
        conn = self.pool.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM orders")
                return cur.fetchone()[0]
        finally:
            self.pool.putconn(conn)
"""

RULE = Rule(
    code="LC101",
    name="pool-connection-never-returned",
    summary=(
        "no path gives the connection back (also a discarded `pool.getconn()`, and `with "
        "pool.getconn() as conn:`, which only ends the transaction)"
    ),
    family="pool",
    leak="never",
    fixes=(
        Recipe.WRAP,
        Recipe.WITH_THAT_RELEASES,
        Recipe.RELEASE_WITH_ITEMS,
        Recipe.RELEASE_NEVER_IN_EXIT,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is never {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC101", 9),), fixed=VALID),),
    valid=(Valid(VALID),),
)
