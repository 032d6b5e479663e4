"""
## What it does
Finds a dependency or context-manager generator that opens a session or connection, yields it, and
closes it after the `yield` outside a `finally`, such as FastAPI's
`def get_db(): db = SessionLocal(); yield db; db.close()`. Not pytest fixtures
(`@pytest.fixture`, `@pytest_asyncio.fixture`): pytest resumes them with `next()` whatever the test
did, so a test's error never reaches the `yield` (one that never closes is still LC201).

## Why is this bad?
An exception in the endpoint is thrown into the generator at the `yield` (and an early stop throws
`GeneratorExit`), so `db.close()` never runs and the session keeps its pooled connection.

## Example
```python
def get_db():
    db = SessionLocal()
    yield db
    db.close()
```

## Use instead
```python
def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
```

## Fix safety
SQLAlchemy sessions and connections: `with SessionLocal() as db:` (or `async with`) around the
statements from the acquisition through the last use of the session or of anything derived from it;
it closes without committing, so it is safe, except when objects or results of the session are
returned or stored beyond the block: they would be detached, so that fix is unsafe. Driver
connections: try/finally with `close()` (safe). The project's own context-manager helper for the
kind, when one is found (the README's "fix helpers"), is offered too: `with get_session() as db:`,
first and safe when it takes from the same source with the same arguments and does nothing else;
otherwise after the plain form, unsafe, saying why.

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


def get_db():
    db = SessionLocal()
    yield db
    db.close()
"""

FIXED = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def get_db():
    with SessionLocal() as db:
        yield db
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
"""

RULE = Rule(
    code="LC207",
    name="close-after-yield-not-in-finally",
    summary=(
        "`def get_db(): db = SessionLocal(); yield db; db.close()`: an error in the endpoint "
        "skips the close"
    ),
    family="session",
    leak="yield",
    fixes=(Recipe.WRAP, Recipe.PROJECT_HELPER),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC207", 10),), fixed=FIXED),),
    valid=(Valid(VALID),),
)
