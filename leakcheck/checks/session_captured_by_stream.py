"""
## What it does
Finds a session or connection of a request handler (a local one, or a parameter such as
`db: Session = Depends(get_db)`) used inside an inner generator that outlives the call: returned,
or passed to `StreamingResponse`, `EventSourceResponse` (sse-starlette) or another response, and
that loops or awaits.

## Why is this bad?
Every open stream pins a pooled connection for as long as the client stays connected: fifteen
browser tabs on a Server-Sent-Events page exhausted a pool of 5 + 10 (incident 2). On FastAPI
versions that close the dependency before the response streams, the generator uses a closed session
that silently reconnects outside the pool's accounting.

## Example
```python
@router.get("/days/stream")
async def stream_days(clinic_id: int, db: Session = Depends(get_db)):
    async def event_gen():
        while True:
            yield _load_days(db, clinic_id)
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
```

## Use instead
```python
@router.get("/days/stream")
async def stream_days(clinic_id: int):
    async def event_gen():
        while True:
            with SessionLocal() as db:
                days = _load_days(db, clinic_id)
            yield days
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
```

## Fix safety
Unsafe fix, for a parameter session from a yield dependency (`Depends(get_db)`) of the module,
whose acquiring call names only module-level names (`SessionLocal()`), or of another module of
the project, whose acquiring call takes no arguments (imported for the fix if needed): inside
the generator's polling loop, `with SessionLocal() as db:` (`async with` when the dependency's
is) around the smallest run of statements that uses the session and what was loaded through it. A `yield` whose
value reads them ends the run: the value is computed inside the block into `payload` and yielded
after it, so that the session is not held while the consumer sends it. The handler's parameter
stays (FastAPI still runs the dependency; an unused session takes no connection). Unsafe because
each poll gets its own session: uncommitted changes, the identity map and the transaction no
longer carry over between polls. No fix when the handler uses the session too (it stays pinned:
LC403, whose fix is `Depends(get_db, scope="function")`), when something loaded is read after a
`yield` or a wait of the same iteration, when the yielded value is an object of the session
itself, or for a generator function of the module given the session as an argument.

## Options
A generator that only iterates the rows of one query (`for row in db.execute(q).yield_per(500):
yield row`, a server-side cursor) is a deliberate, finite streaming read and is not flagged.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Recipe, Rule, Valid, documentation

INVALID = """\
import asyncio

from fastapi import APIRouter, Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.sse import EventSourceResponse

from .queries import _load_days

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/clinic"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/days/stream")
async def stream_days(clinic_id: int, db: Session = Depends(get_db)):
    async def event_gen():
        while True:
            yield _load_days(db, clinic_id)
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
"""

FIXED = """\
import asyncio

from fastapi import APIRouter, Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.sse import EventSourceResponse

from .queries import _load_days

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/clinic"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/days/stream")
async def stream_days(clinic_id: int, db: Session = Depends(get_db)):
    async def event_gen():
        while True:
            with SessionLocal() as db:
                payload = _load_days(db, clinic_id)
            yield payload
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
"""

VALID = """\
import asyncio

from fastapi import APIRouter, Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.sse import EventSourceResponse

from .queries import _load_days

router = APIRouter()
SessionLocal = sessionmaker(bind=create_engine("postgresql://localhost/clinic"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/days/stream")
async def stream_days(clinic_id: int):
    async def event_gen():
        while True:
            with SessionLocal() as db:
                days = _load_days(db, clinic_id)
            yield days
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
"""

RULE = Rule(
    code="LC401",
    name="session-captured-by-stream",
    summary="a handler's session used inside a streaming generator that outlives the request",
    family="any",
    leak="captured-by-stream",
    fixes=(Recipe.PER_ITERATION,),
    message="{what}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC401", 26),), fixed=FIXED, unsafe=True),),
    valid=(Valid(VALID),),
)
