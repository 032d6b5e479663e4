"""
## What it does
Finds a database alias in a Django settings module (any module that assigns `DATABASES` at module
level) that connects through a transaction-mode pooler and does not set
`DISABLE_SERVER_SIDE_CURSORS` to `True`. A pooler is recognised by port 6432 (PgBouncer's), by a
host that names one (`pgbouncer`, `pooler`, as in `ep-x-pooler.region.aws.neon.tech`), or by
configuration. Values are read from literals, `os.environ.get(KEY, DEFAULT)` / `os.getenv`
defaults, `env.int(...)`-style defaults and `dj_database_url` URLs; reported at the alias key.

## Why is this bad?
`QuerySet.iterator()` opens a server-side cursor on PostgreSQL. Django's documentation
("Databases", "Transaction pooling and server-side cursors") explains that server-side cursors
are local to a connection and stay open at the end of a transaction in autocommit mode, while a
transaction pooler gives the next transaction any server connection: fetching more rows then fails
because the cursor lives on another connection. Its advice: set `DISABLE_SERVER_SIDE_CURSORS` to
`True` for that connection (the `DISABLE_SERVER_SIDE_CURSORS` setting, PostgreSQL only); the same
section's alternatives are a second alias, direct or through a session-mode pooler, for the queries
that need server-side cursors, or each such `QuerySet` inside `atomic()`.
Sources: https://docs.djangoproject.com/en/stable/ref/databases/#transaction-pooling-server-side-cursors,
https://docs.djangoproject.com/en/stable/ref/settings/#disable-server-side-cursors.

## Example
```python
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "pgbouncer"),
        "PORT": os.environ.get("DB_PORT", "6432"),
    },
}
```

## Use instead
```python
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "pgbouncer"),
        "PORT": os.environ.get("DB_PORT", "6432"),
        "DISABLE_SERVER_SIDE_CURSORS": True,
    },
}
```

## Fix safety
Safe fix: adds `"DISABLE_SERVER_SIDE_CURSORS": True` as the alias's last entry, indented like the
others, comments kept. `iterator()` then fetches rows in chunks through a client-side cursor
(the documented behaviour without server-side cursors); no query changes. Offered when the alias is
a dict literal without the key; an alias from `dj_database_url` gets no fix (add
`DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True`).

## Options
`[tool.leakcheck.django] poolers = ["db-proxy.internal", "*.bouncer.example", "6543"]`: hosts
(shell patterns) or ports of transaction-mode poolers besides the ones recognised by default. A
Supabase pooler host on port 5432 is its session mode and is not a transaction pooler.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "pgbouncer"),
        "PORT": os.environ.get("DB_PORT", "6432"),
    },
}
"""

VALID = """\
import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "pgbouncer"),
        "PORT": os.environ.get("DB_PORT", "6432"),
        "DISABLE_SERVER_SIDE_CURSORS": True,
    },
}
"""

RULE = Rule(
    code="LC501",
    name="server-side-cursors-with-transaction-pooling",
    summary=(
        "a `DATABASES` alias behind a transaction-mode pooler (port 6432, a `pgbouncer`/`pooler` "
        "host, or a configured one) without `DISABLE_SERVER_SIDE_CURSORS: True`"
    ),
    family="django",
    leak="server-side-cursors",
    message=(
        "Database `{alias}` goes through a transaction-mode pooler ({why}) with server-side "
        "cursors enabled: set `DISABLE_SERVER_SIDE_CURSORS: True`"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC501", 4),), fixed=VALID),),
    valid=(Valid(VALID),),
)
