"""
## What it does
Finds a name holding an open session or connection that is reassigned or deleted before it is closed.

## Why is this bad?
Nothing can close the first one any more; it waits for the garbage collector, holding its
connection and transaction.

## Example
```python
db = SessionLocal()
db = SessionLocal()
db.close()
```

## Use instead
Close the first session before opening another, or use one.

## Fix safety
Safe fix for a name reused in the same block: `with SessionLocal() as db:` around the
statements from the first acquisition to the reassignment (try/finally with `close()` for driver
connections), so the first is closed before the name takes the second; unsafe when objects of the
first session are used after it. A reassignment in a branch of a later statement (a reconnect
under `if needs_upgrade(conn):`, a retry in `except`): `conn.close()` right before it, and the range
from the first acquisition through the last use in try/finally closing whichever the name then
holds (try/finally, not `with`, since the name changes object). If the new acquisition fails,
`finally` closes the old one a second time, which does nothing for sqlite3, psycopg2 and
SQLAlchemy (safe; unsafe when objects of the first session are used after the reassignment). No
fix when a cursor or result of the first is read after the reassignment, or in a loop.

## Options
None.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, documentation

INVALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def reset():
    db = SessionLocal()
    db = SessionLocal()
    db.close()
"""

RULE = Rule(
    code="LC205",
    name="overwritten-before-close",
    summary="the name is reassigned or deleted while the session is open",
    family="session",
    leak="overwritten",
    fixes=(Recipe.RELEASE_BEFORE_REUSE,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC205", 10),)),),
)
