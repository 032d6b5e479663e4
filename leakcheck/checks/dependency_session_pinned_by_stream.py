"""
## What it does
Finds a FastAPI path operation that uses a session from a dependency with `yield`
(`db: Session = Depends(get_db)`) and returns a `StreamingResponse` or `EventSourceResponse`,
while the session still holds the connection its last query checked out (no `commit()`,
`rollback()` or `close()` after the last use).

## Why is this bad?
The dependency's exit code (`db.close()` after `yield`) runs only after the response has been
sent: that was so before FastAPI 0.106, and is so again since 0.118 ("the exit code after `yield`
is executed after the response is sent", FastAPI 0.118.0 release notes; 0.106 to 0.117 ran it
before the response was sent, which closed the session under the stream). For a stream that lasts
minutes, each open stream pins a pooled connection even when the generator never touches the
session: a handful of clients exhausts a pool of 5 + 10.

## Example
```python
@router.get("/export")
def export(db: Session = Depends(get_db)):
    ids = [r.id for r in db.query(Item.id)]
    return StreamingResponse(render(ids), media_type="text/csv")
```

## Use instead
```python
@router.get("/export")
def export(db: Annotated[Session, Depends(get_db, scope="function")]):
    ids = [r.id for r in db.query(Item.id)]
    return StreamingResponse(render(ids), media_type="text/csv")
```
`scope="function"` (FastAPI 0.121.0 and later) runs the exit code when the path operation
function returns, before the response is sent. On older versions, `db.commit()` (or `close()`)
before returning gives the connection back.

## Fix safety
`Depends(get_db)` becomes `Depends(get_db, scope="function")`, with the FastAPI version in the
fix's title. The version is read from the project's dependency files, from the file's directory
up to the project root (a `uv.lock` or `poetry.lock` pin, else the lower bound in `pyproject.toml`
`[project] dependencies` or `[tool.poetry.dependencies]`, else in `requirements*.txt`); FastAPI is
never imported. Safe from FastAPI 0.121.1 ("Fix `Depends(func, scope='function')` for top level
(parameterless) dependencies", 0.121.1 release notes; `scope` itself came in 0.121.0) when the
stream reads nothing loaded through the session. Unsafe, saying why, when no version is found,
with 0.121.0, or when the stream reads values loaded through the session (attributes not loaded
yet fail once it is closed). Not offered below 0.121.0, nor for `Security(...)`.

## Options
Not reported when the session is used only inside the streaming generator (that is LC401), when
the handler does not use it, or when its last use ends the transaction.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from .models import Item
from .reports import build_report, render

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/export")
def export(db: Session = Depends(get_db)):
    ids = [r.id for r in db.query(Item.id)]
    return StreamingResponse(render(ids), media_type="text/csv")
"""

FIXED = """\
from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from .models import Item
from .reports import build_report, render

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/export")
def export(db: Session = Depends(get_db, scope="function")):
    ids = [r.id for r in db.query(Item.id)]
    return StreamingResponse(render(ids), media_type="text/csv")
"""

VALID = """\
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from .models import Item
from .reports import build_report, render

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/shop"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/export")
def export(db: Annotated[Session, Depends(get_db, scope="function")]):
    ids = [r.id for r in db.query(Item.id)]
    return StreamingResponse(render(ids), media_type="text/csv")
"""

RULE = Rule(
    code="LC403",
    name="dependency-session-pinned-by-stream",
    summary=(
        "a yield-dependency session used by a handler that returns a streaming response stays "
        "checked out until the stream ends"
    ),
    family="any",
    leak="pinned-by-stream",
    fixes=(Recipe.FUNCTION_SCOPE,),
    message="{what}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC403", 22),), fixed=FIXED, unsafe=True),),
    valid=(Valid(VALID),),
)
