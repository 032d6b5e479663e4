"""
## What it does
Finds a session or connection that is used and then kept, with its transaction and pooled
connection, across an `await` that waits on the outside world: `asyncio.sleep` in a loop,
`websocket.receive_*()`, `queue.get()`, `event.wait()`, `async for` over a websocket, a long poll
with `wait_for`, without `commit()`, `rollback()`, `close()` or leaving its `with` block first.

## Why is this bad?
A session that has run a query holds a connection (and, with the default autobegin, an open
transaction: `idle in transaction`) until its transaction ends. Parked across a wait that lasts as
long as a client wants, each waiting coroutine pins a pool slot. The message says what the resource
holds: a pool connection its pool slot; a direct connection (`asyncpg.connect`) no pool slot but one
of the server's `max_connections`, and no transaction when it is in autocommit mode; a SQLite
connection the database file and any transaction's locks. This also catches the fix of
incident 2, which kept one session open before its polling loop until the stream ended.

## Example
```python
async def event_gen():
    db = SessionLocal()
    try:
        days = _load_days(db, clinic_id)
        while True:
            await asyncio.sleep(5)
            yield days
    finally:
        db.close()
```

## Use instead
```python
async def event_gen():
    while True:
        with SessionLocal() as db:
            days = _load_days(db, clinic_id)
        yield days
        await asyncio.sleep(5)
```

## Fix safety
Two unsafe fixes. Where nothing uses the session after the wait, for a SQLAlchemy session the
function opens itself (`db = SessionLocal()`, `with SessionLocal() as db:`, `async with`):
`db.close()` (`await db.close()` for an `AsyncSession`) is inserted before the wait (before the
outermost statement holding the wait that every use of the session precedes and that no loop
around it repeats). The `finally` or `with` that closed it stays: `Session.close()` may be called
again. Unsafe because objects loaded through the session are detached by the close: attributes
not loaded yet (lazy relationships, expired columns) raise `DetachedInstanceError` when read
after it.

Where the session or pooled connection is used inside the loop that holds the waits: a
short-lived one per iteration, around the smallest run of statements of the loop body that uses
it and what was loaded through it (the run never holds a wait), from the same acquisition
(`async with pool.acquire() as conn:`, `with SessionLocal() as db:`; try/finally with the release
for kinds whose `with` does not release) or, for a `Depends(get_db)` parameter, from the call
`get_db` acquires with (the parameter stays). The old acquisition and its release (`finally:
db.close()`, `await pool.release(conn)`) go. Unsafe because what one resource carried between
iterations no longer does: a transaction, uncommitted changes and the identity map of a session;
prepared statements and session settings of a connection.

No fix when the resource is used outside the loop (a commit after it), when something loaded is
read after a wait of the same iteration, when it is handed on (a task, a stored reference), for a
direct connection (`asyncpg.connect`: a new server connection per iteration), or for a
dependency whose acquisition is not that simple (arguments from its own parameters).

## Options
None.
"""

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


async def event_gen(clinic_id):
    db = SessionLocal()
    try:
        days = _load_days(db, clinic_id)
        while True:
            await asyncio.sleep(5)
            yield days
    finally:
        db.close()
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


async def event_gen(clinic_id):
    db = SessionLocal()
    try:
        days = _load_days(db, clinic_id)
        db.close()
        while True:
            await asyncio.sleep(5)
            yield days
    finally:
        db.close()
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


async def event_gen(clinic_id):
    while True:
        with SessionLocal() as db:
            days = _load_days(db, clinic_id)
        yield days
        await asyncio.sleep(5)
"""

RULE = Rule(
    code="LC402",
    name="session-held-across-await",
    summary=(
        "a used session kept open across an await on the outside world (a sleep in a loop, a "
        "websocket receive)"
    ),
    family="any",
    leak="held-across-await",
    fixes=(Recipe.CLOSE_BEFORE_WAIT, Recipe.PER_ITERATION),
    message="{what}{how}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC402", 23),), fixed=FIXED, unsafe=True),),
    valid=(Valid(VALID),),
)
