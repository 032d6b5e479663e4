"""
## What it does
Finds a `close()` in a `finally` block that comes after another statement that may raise (a logging
call or a quiet helper does not count; `conn.autocommit = True` after the connection has done I/O
does).

## Why is this bad?
If `db.rollback()` raises first (a broken connection does), the rest of the `finally` never runs.

## Example
```python
finally:
    db.rollback()
    db.close()
```

## Use instead
```python
finally:
    try:
        db.rollback()
    finally:
        db.close()
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
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def place(order):
    db = SessionLocal()
    try:
        db.add(order)
        db.commit()
    finally:
        db.rollback()
        db.close()
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def place(order):
    db = SessionLocal()
    try:
        db.add(order)
        db.commit()
    finally:
        try:
            db.rollback()
        finally:
            db.close()
"""

RULE = Rule(
    code="LC204",
    name="close-in-finally-after-raising-statement",
    summary="`close()` in `finally` after a statement that may raise",
    family="session",
    leak="finally-order",
    fixes=(Recipe.NEST_RELEASE,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC204", 10),), fixed=VALID),),
    valid=(Valid(VALID),),
)
