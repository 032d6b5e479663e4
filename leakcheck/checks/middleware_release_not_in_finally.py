"""
## What it does
Finds a middleware that stores a session or connection on the request
(`request.state.db = SessionLocal()`), hands the request on (`response = await call_next(request)`)
and releases the resource after that call but not in the `finally` of a `try` around it. The
middleware shapes are data (`rules/lifecycles.toml`): Starlette's and FastAPI's
`@app.middleware("http")` functions and `BaseHTTPMiddleware.dispatch` methods, aiohttp's
`@web.middleware` functions storing in `request["db"]` and calling `await handler(request)`.
Reported at the acquisition.

When nothing in the module releases what is stored, `never-closed` reports it instead (a leak on
every request).

## Why is this bad?
`call_next` raises when the application raises (an error no exception handler turned into a
response): the statements after it do not run, so every failing request leaves its session open
and its connection checked out of the pool. A pool of five connections is gone after five errors.
FastAPI's own middleware example for database sessions (its SQL tutorial before 0.100) wraps
`call_next` in `try`/`finally` for this reason.
Source: https://www.starlette.io/middleware/#basehttpmiddleware.

## Example
```python
@app.middleware("http")
async def db_session(request, call_next):
    request.state.db = SessionLocal()
    response = await call_next(request)
    request.state.db.close()
    return response
```

## Use instead
```python
@app.middleware("http")
async def db_session(request, call_next):
    request.state.db = SessionLocal()
    try:
        return await call_next(request)
    finally:
        request.state.db.close()
```

## Fix safety
No fix: the statements between the hand-off and the release (a commit, headers set on the
response) decide what belongs in the `try`, and a commit must not run when the request failed.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from .database import engine

SessionLocal = sessionmaker(bind=engine)
app = FastAPI()


@app.middleware("http")
async def db_session(request, call_next):
    request.state.db = SessionLocal()
    response = await call_next(request)
    request.state.db.close()
    return response
"""

VALID = """\
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from .database import engine

SessionLocal = sessionmaker(bind=engine)
app = FastAPI()


@app.middleware("http")
async def db_session(request, call_next):
    request.state.db = SessionLocal()
    try:
        return await call_next(request)
    finally:
        request.state.db.close()
"""

RULE = Rule(
    code="LC406",
    name="middleware-release-not-in-finally",
    summary=(
        "a middleware stores a session on the request, calls `call_next` and releases it after "
        "the call but not in `finally`: every failing request leaks it"
    ),
    family="any",
    leak="middleware-not-in-finally",
    message=(
        "{what} stored in `{stored}` is {released} after `{next}` but not in `finally`: "
        "when the request raises, the release is skipped"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC406", 12),)),),
    valid=(Valid(VALID),),
)
