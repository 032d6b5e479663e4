"""
## What it does
Finds `CONN_MAX_AGE` set to a number of seconds other than 0, or to `None` (forever), in a Django
project served over ASGI: the settings set `ASGI_APPLICATION`, `INSTALLED_APPS` holds `daphne` or
`channels`, or an `asgi.py` beside the settings package or at the project root calls
`get_asgi_application()` (an untouched `startproject` template beside a `wsgi.py` does not count).
Reported at the `CONN_MAX_AGE` key, or at `conn_max_age=` of `dj_database_url.config()`.

## Why is this bad?
Django's documentation ("Databases", "Persistent connections") says: "When using ASGI, persistent
connections should be disabled. Instead, use your database backend's built-in connection pooling
if available, or investigate a third-party connection pooling option if required." Persistent
connections are kept per thread; in incident 3 a CRM behind Daphne with `CONN_MAX_AGE = 60` kept
one per request thread and PostgreSQL (`max_connections` 100) answered `FATAL: sorry, too many
clients already` at peak. The same page's caveat: "Since each thread maintains its own connection,
your database must support at least as many simultaneous connections as you have worker threads."
Source: https://docs.djangoproject.com/en/stable/ref/databases/#persistent-connections.

## Example
```python
ASGI_APPLICATION = "crm.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 60}}
```

## Use instead
```python
ASGI_APPLICATION = "crm.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
}
```

## Fix safety
Unsafe fix: the literal becomes `0`. Each request then opens a connection, which costs a
connection setup per request unless a pooler (PgBouncer, or Django 5.1's `OPTIONS["pool"]`) takes
them: the fix trades latency for a bounded connection count. Not offered when the value comes from
the environment (the fix would drop the configuration).

## Options
`[tool.leakcheck.django] asgi = true` or `false` overrides the detection.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
ASGI_APPLICATION = "crm.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 60}}
"""

FIXED = """\
ASGI_APPLICATION = "crm.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 0}}
"""

VALID = """\
ASGI_APPLICATION = "crm.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
}
"""

RULE = Rule(
    code="LC503",
    name="persistent-connections-under-asgi",
    summary=(
        "`CONN_MAX_AGE` non-zero or `None` in an ASGI project (`ASGI_APPLICATION`, "
        "daphne/channels in `INSTALLED_APPS`, or an `asgi.py` serving the project)"
    ),
    family="django",
    leak="persistent-under-asgi",
    message=(
        "`CONN_MAX_AGE` is {value} for database `{alias}` in an ASGI project ({why}): each "
        "request thread keeps its own connection open"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC503", 2),), fixed=FIXED, unsafe=True),),
    valid=(Valid(VALID),),
)
