"""
## What it does
Finds a function run outside any request (`threading.Thread(target=f)`, `threading.Timer`,
`executor.submit(f)` / `executor.map(f, ...)`, `loop.call_soon(f)` / `call_later` /
`run_in_executor`, Tornado's `IOLoop.add_callback(f)` and `PeriodicCallback(f, ...)`,
APScheduler's `scheduler.add_job(f)` and `@scheduler.scheduled_job(...)`) that uses a module-level
SQLAlchemy `scoped_session` registry and does not call `remove()` (or close its session) in a
`finally`. The entry points are data (`rules/lifecycles.toml`); a registry is any kind the
catalogue marks `registry = true`. Reported at the first use of the registry.

## Why is this bad?
A `scoped_session` registry keeps one session per thread. A web integration ends it at the end
of each request (Flask-SQLAlchemy, or a `teardown_appcontext` calling `Session.remove()`); code run
by a thread, a timer, a scheduler or the event loop has no request, so its session, its
transaction and the pooled connection it holds stay open until the thread ends, and a pool's
worker threads never end. SQLAlchemy's documentation ("Contextual/Thread-local Sessions"): "the
`scoped_session.remove()` method ... must be called ... at the end of each request or thread".
Source: https://docs.sqlalchemy.org/en/20/orm/contextual.html.

## Example
```python
Session = scoped_session(sessionmaker(bind=engine))

def sync_orders():
    for order in Session.query(Order).filter_by(synced=False):
        push(order)

scheduler.add_job(sync_orders, "interval", minutes=5)
```

## Use instead
```python
def sync_orders():
    try:
        for order in Session.query(Order).filter_by(synced=False):
            push(order)
    finally:
        Session.remove()
```

## Fix safety
No fix: where the unit of work ends (one `remove()` per job, or per item of a long loop) is the
job's design, not something the fixer can read from the code.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

from .models import Order
from .sync import push

engine = create_engine("postgresql://shop")
Session = scoped_session(sessionmaker(bind=engine))
scheduler = BackgroundScheduler()


def sync_orders():
    for order in Session.query(Order).filter_by(synced=False):
        push(order)


scheduler.add_job(sync_orders, "interval", minutes=5)
"""

VALID = """\
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

from .models import Order
from .sync import push

engine = create_engine("postgresql://shop")
Session = scoped_session(sessionmaker(bind=engine))
scheduler = BackgroundScheduler()


def sync_orders():
    try:
        for order in Session.query(Order).filter_by(synced=False):
            push(order)
    finally:
        Session.remove()


scheduler.add_job(sync_orders, "interval", minutes=5)
"""

RULE = Rule(
    code="LC407",
    name="scoped-session-outside-request-without-remove",
    summary=(
        "a function run by a thread, timer, scheduler or the event loop uses a module-level "
        "`scoped_session` and does not `remove()` it in `finally`"
    ),
    family="any",
    leak="registry-outside-request",
    message=(
        "`{function}` runs outside any request (`{start}`) and uses the `scoped_session` "
        "`{registry}` (`{use}`) without `{registry}.remove()` in `finally`: no request "
        "teardown ends its session"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC407", 14),)),),
    valid=(Valid(VALID),),
)
