"""
## What it does
Finds a session or connection closed on the normal path, but not when a statement between opening
and `close()` raises. Configuring a connection just opened directly (`conn.row_factory = ...`,
`conn.cursor()`, `conn.autocommit = True` right after `sqlite3.connect()`), logging calls and
other statements that cannot realistically raise are not counted (docs/semantics.md, "The raise
model"). In an `async def`, a `close()` that runs only in `except Exception:` or after it is skipped
when the task is cancelled at an `await`: reported with that reason.

## Why is this bad?
Failed queries and timeouts are exactly when connections pile up: every error leaks one.

## Example
```python
db = SessionLocal()
db.add(order)
db.commit()
db.close()
```

## Use instead
```python
with SessionLocal() as db:
    db.add(order)
    db.commit()
```

## Fix safety
SQLAlchemy sessions and connections: `with SessionLocal() as db:` (or `async with`) around the
statements from the acquisition through the last use of the session or of anything derived from it;
it closes without committing, so it is safe, except when objects or results of the session are
returned or stored beyond the block: they would be detached, so that fix is unsafe. When the
original closes the session right before its last statements (`db.close()` then `return user`), the
block ends at that `close()` and those statements stay after it: what they read is read after the
close in both versions (safe); on an error path nothing leaves. Driver connections: try/finally with
`close()` (safe). A `close()` right after a `with psycopg2.connect() as conn:` or `with
sqlite3.connect() as conn:` block moves into it, as `with closing(...) as conn, conn:` (safe; `from
contextlib import closing` is added once). A `close()` written in `except` (and perhaps after the
`try`) moves into a new `finally` of that `try`, once (safe when nothing uses the connection after
it; unsafe when objects of a session that was never closed on the normal path are used after the
`try`). In a context-manager class, the `close()` in `__exit__` moves into `finally`, and an
`__enter__` that may fail after opening closes in `except BaseException:` before re-raising (safe).
A connection handed to a thread, task or executor job that closes it (`return
asyncio.create_task(refresher(conn))`, `loop.create_task`, `asyncio.ensure_future`,
`TaskGroup.create_task`, `executor.submit`) is closed only if an error comes before the hand-off:
`except BaseException:` with the (awaited) `close()`, then `raise` (safe). When the hand-off is a
registration on an `ExitStack` entered by `with` (`stack.callback(conn.close)`) later in the same
block, moving it up to right after the acquisition is offered first (safe), when that cannot change
what it registers or the order of the stack's callbacks. The project's own context-manager helper
for the kind, when one is found (the README's "fix helpers"), is offered too: `with get_session() as
db:`, first and safe when it takes from the same source with the same arguments and does nothing
else; otherwise after the plain form, unsafe, saying why.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def place(order):
    db = SessionLocal()
    db.add(order)
    db.commit()
    db.close()
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def place(order):
    with SessionLocal() as db:
        db.add(order)
        db.commit()
"""

RULE = Rule(
    code="LC202",
    name="not-closed-on-exception",
    summary="closed on the normal path, but a statement before `close()` may raise",
    family="session",
    leak="exception",
    fixes=(
        Recipe.REGISTER_EARLY,
        Recipe.RELEASE_BEFORE_HANDOFF,
        Recipe.WRAP,
        Recipe.RELEASE_IN_FINALLY,
        Recipe.RELEASE_INTO_WITH,
        Recipe.RELEASE_IN_EXIT,
        Recipe.SOURCE_CONTEXT,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC202", 10),), fixed=VALID),),
    valid=(Valid(VALID),),
)
