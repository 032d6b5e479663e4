"""
## What it does
Finds a session from a dependency with `yield` (`db: Session = Depends(get_db)`) passed to
`background_tasks.add_task(...)`, `asyncio.create_task(work(db))`, or a task group's
`create_task` / `start_soon`.

## Why is this bad?
The task runs after the response. Since FastAPI 0.106.0, "using resources from dependencies with
`yield` in background tasks is no longer supported" (release notes): the dependency may close the
session first, and the task's next query opens a connection outside the dependency's control that
nothing closes. A task that outlives the request keeps the session's pooled connection for its
whole life.

## Example
```python
@router.post("/reports")
def create_report(bg: BackgroundTasks, db: Session = Depends(get_db)):
    bg.add_task(build_report, db)
```

## Use instead
```python
def build_report_task():
    with SessionLocal() as db:
        build_report(db)

@router.post("/reports")
def create_report(bg: BackgroundTasks):
    bg.add_task(build_report_task)
```

## Fix safety
No fix: the task needs its own session from the factory behind the dependency.

## Options
A session the handler opens itself and hands to a task is the task's to close (a hand-off); it
is not reported.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

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


@router.post("/reports")
def create_report(bg: BackgroundTasks, db: Session = Depends(get_db)):
    bg.add_task(build_report, db)
"""

VALID = """\
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


def build_report_task():
    with SessionLocal() as db:
        build_report(db)


@router.post("/reports")
def create_report(bg: BackgroundTasks):
    bg.add_task(build_report_task)
"""

RULE = Rule(
    code="LC404",
    name="request-session-handed-to-task",
    summary=(
        "a yield-dependency session handed to a background task or an asyncio task that runs "
        "after the response"
    ),
    family="any",
    leak="handed-to-task",
    message="{what}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC404", 23),)),),
    valid=(Valid(VALID),),
)
