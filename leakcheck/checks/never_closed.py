"""
## What it does
Finds a SQLAlchemy session or connection, or a driver connection (`psycopg2.connect`,
`sqlite3.connect`, `asyncpg.connect`, ...), that no path closes, hands off or manages with `with`.
Also flags `with psycopg2.connect(...) as conn:` and `with sqlite3.connect(...) as conn:`, whose
`with` only ends the transaction.

## Why is this bad?
A session holds a pooled connection from its first query until `close()`; a driver connection is a
server process. Unclosed, they pile up until `QueuePool limit of size 5 overflow 10 reached` or
`FATAL: sorry, too many clients already`.

## Example
```python
def list_items():
    db = SessionLocal()
    return db.query(Item).all()
```

## Use instead
```python
def list_items():
    with SessionLocal() as db:
        return db.query(Item).all()
```

## Fix safety
SQLAlchemy sessions and connections: `with SessionLocal() as db:` (or `async with`) around the
statements from the acquisition through the last use of the session or of anything derived from it;
it closes without committing, so it is safe, except when objects or results of the session are
returned or stored beyond the block: they would be detached, so that fix is unsafe. Driver
connections: try/finally with `close()` (safe). `with psycopg2.connect() as conn:` and `with
sqlite3.connect() as conn:` become `with closing(...) as conn, conn:`, which keeps the transaction
and adds the close (safe; `from contextlib import closing` is added once), also as one item of a
multi-item `with`. In a context-manager class, an `__exit__` that never closes it gets the `close()`
added (unsafe: the object keeps the attribute). The project's own context-manager helper for the
kind, when one is found (the README's "fix helpers"), is offered too: `with get_session() as db:`,
first and safe when it takes from the same source with the same arguments and does nothing else;
otherwise after the plain form, unsafe, saying why.

## Options
`session-factories`, `conventional-factory-names` in `[tool.leakcheck]`.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def list_items():
    db = SessionLocal()
    return db.query(Item).all()
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def list_items():
    with SessionLocal() as db:
        return db.query(Item).all()
"""

RULE = Rule(
    code="LC201",
    name="never-closed",
    summary=(
        "a session or connection no path closes (also `with psycopg2.connect() as c:` / `with "
        "sqlite3.connect() as c:`, whose `with` does not close)"
    ),
    family="session",
    leak="never",
    fixes=(
        Recipe.WRAP,
        Recipe.WITH_THAT_RELEASES,
        Recipe.RELEASE_WITH_ITEMS,
        Recipe.RELEASE_NEVER_IN_EXIT,
        Recipe.SOURCE_CONTEXT,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is never {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC201", 10),), fixed=VALID, unsafe=True),),
    valid=(Valid(VALID),),
)
