"""
## What it does
Finds a function started on a thread outside the request cycle (`threading.Thread(target=f)`, the
`run` of a `threading.Thread` subclass, `threading.Timer(t, f)`, `executor.submit(f)` /
`executor.map(f, ...)` on a `ThreadPoolExecutor`, `loop.run_in_executor(None, f)`, APScheduler's
`scheduler.add_job(f)` and `@scheduler.scheduled_job(...)`: the entry points of
`rules/lifecycles.toml` that run on another thread) that uses the ORM (`Model.objects...`,
`connection.cursor()`, `transaction.atomic`, a function of the module that does, or a method of an
object handed to it, `p.check()` where `Probe.check` queries) and does not close its connection on
every path: `connection.close()`, `connections.close_all()` or `close_old_connections()` in a
`finally` around the ORM work, or a decorator that does
(`django_db_geventpool.utils.close_connection`, or a decorator of the module whose wrapper closes in
`finally`). Reported at the first ORM use not so covered. Views, management commands and Celery
tasks are not judged.

## Why is this bad?
Django opens a database connection per thread and closes it at the end of a request (the
`request_started`/`request_finished` signals close connections that are too old or unusable). A
thread of the project's own has no request: its connection stays open until the thread ends, and
a pool's worker threads never end. Django's documentation ("Databases", "Caveats"): "If a
connection is created in a long-running process, outside of Django's request-response cycle, the
connection will remain open until explicitly closed, or timeout occurs. You can use
`django.db.close_old_connections()` to close all old or unusable connections." Each such thread
holds one server connection. APScheduler runs jobs on its default executor, a thread pool (its user
guide, "Choosing the right scheduler, job store(s), executor(s) and trigger(s)").
Sources: https://docs.djangoproject.com/en/stable/ref/databases/#caveats,
https://apscheduler.readthedocs.io/en/3.x/userguide.html.

## Example
```python
def sync_orders():
    for order in Order.objects.filter(synced=False):
        push(order)

executor.submit(sync_orders)
```

## Use instead
```python
from django.db import close_old_connections

def sync_orders():
    try:
        for order in Order.objects.filter(synced=False):
            push(order)
    finally:
        close_old_connections()
```

## Fix safety
No fix: whether to close every connection (`connection.close()`) or only old ones depends on how
the thread is reused.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
from concurrent.futures import ThreadPoolExecutor

from .models import Order
from .sync import push

executor = ThreadPoolExecutor(max_workers=4)


def sync_orders():
    for order in Order.objects.filter(synced=False):
        push(order)


executor.submit(sync_orders)
"""

VALID = """\
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from .models import Order
from .sync import push

executor = ThreadPoolExecutor(max_workers=4)


def sync_orders():
    try:
        for order in Order.objects.filter(synced=False):
            push(order)
    finally:
        close_old_connections()


executor.submit(sync_orders)
"""

RULE = Rule(
    code="LC506",
    name="orm-in-thread-without-close",
    summary=(
        "a function run on a thread of its own (`Thread(target=...)`, `executor.submit`, `Timer`, "
        "APScheduler) that uses the ORM and does not close its connection on every path"
    ),
    family="django",
    leak="orm-thread",
    message=(
        "`{function}` uses the ORM (`{use}`) on a thread of its own and does not close its "
        "database connection on every path"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC506", 10),)),),
    valid=(Valid(VALID),),
)
