"""
## What it does
Finds a session or connection that some paths close and another leaves open: an early `return`,
`break`, `continue` or `raise`, one branch of an `if`, an `except` that swallows the error, or a
`close()` only in `except`.

## Why is this bad?
The path that skips `close()` is usually the rare one, so the leak appears only in production.

## Example
```python
db = SessionLocal()
user = db.get(User, user_id)
if user is None:
    return None
db.close()
return user.name
```

## Use instead
```python
with SessionLocal() as db:
    user = db.get(User, user_id)
    return None if user is None else user.name
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
`try`). The project's own context-manager helper for the kind, when one is found (the README's "fix
helpers"), is offered too: `with get_session() as db:`, first and safe when it takes from the same
source with the same arguments and does nothing else; otherwise after the plain form, unsafe, saying
why.

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


def user_name(user_id):
    db = SessionLocal()
    user = db.get(User, user_id)
    if user is None:
        return None
    db.close()
    return user.name
"""

FIXED = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def user_name(user_id):
    with SessionLocal() as db:
        user = db.get(User, user_id)
        if user is None:
            return None
    return user.name
"""

VALID = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from .models import Item, Order, User

SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def user_name(user_id):
    with SessionLocal() as db:
        user = db.get(User, user_id)
        return None if user is None else user.name
"""

RULE = Rule(
    code="LC203",
    name="not-closed-on-early-exit",
    summary="an early exit, a branch, a swallowed error, or `close()` only in `except`",
    family="session",
    leak="early-exit",
    fixes=(
        Recipe.WRAP,
        Recipe.RELEASE_IN_FINALLY,
        Recipe.RELEASE_INTO_WITH,
        Recipe.SOURCE_CONTEXT,
        Recipe.PROJECT_HELPER,
    ),
    message="{what} is not {released}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC203", 10),), fixed=FIXED),),
    valid=(Valid(VALID),),
)
