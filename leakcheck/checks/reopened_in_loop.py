"""
## What it does
Finds a session or connection opened in a loop whose next iteration opens another before the
previous one is closed, typically with one `close()` after the loop.

## Why is this bad?
Each iteration leaks one; a long loop exhausts the pool or the server on its own.

## Example
```python
for job in jobs:
    db = SessionLocal()
    run(db, job)
db.close()
```

## Use instead
```python
for job in jobs:
    with SessionLocal() as db:
        run(db, job)
```

## Fix safety
The Use instead form, when the session is closed once after the loop: `with SessionLocal() as
db:` in the body (try/finally with `close()` for driver connections), and the close after the
loop removed. Safe for `while True:`; unsafe for other loops (when no iteration runs, the close
after the loop failed on an unbound name) and when objects of a session are handed to code
outside the iteration. No fix when the session is used after the loop or closed elsewhere.

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


def run_all(jobs):
    for job in jobs:
        db = SessionLocal()
        run(db, job)
    db.close()
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def run_all(jobs):
    for job in jobs:
        with SessionLocal() as db:
            run(db, job)
"""

RULE = Rule(
    code="LC206",
    name="reopened-in-loop",
    summary="the next iteration opens another before the previous one is closed",
    family="session",
    leak="loop",
    fixes=(Recipe.RELEASE_PER_ITERATION,),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC206", 11),), fixed=VALID, unsafe=True),),
    valid=(Valid(VALID),),
)
