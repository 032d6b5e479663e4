"""
## What it does
Finds `CONN_MAX_AGE` above 0, or `None`, on an alias that connects through a transaction-mode
pooler (recognised as for LC501). Opt-in: not in the default selection; enable it with
`extend-select = ["LC505"]` (a prefix such as `LC5` does not enable it).

## Why is this bad?
In transaction pooling, PgBouncer assigns a server connection to a client only for the length of a
transaction (PgBouncer documentation, "Features"); a persistent client connection keeps nothing on
the server that a new one would not get, and it holds one of the pooler's client slots per worker
thread for as long as it lives. Incident 3's fix set `CONN_MAX_AGE = 0` with transaction pooling,
and `CONN_HEALTH_CHECKS = False`: Django's health check runs on a reused persistent connection, once
per request ("Databases", "Connection management"), so without persistence it has nothing to check.
Practice differs (keeping client connections to a local PgBouncer saves a connection setup per
request), which is why this rule is opt-in.
Source: https://www.pgbouncer.org/features.html.

## Example
```python
"default": {"HOST": "pgbouncer", "PORT": 6432, "CONN_MAX_AGE": 300}
```

## Use instead
```python
"default": {"HOST": "pgbouncer", "PORT": 6432, "CONN_MAX_AGE": 0}
```

## Fix safety
No fix: keeping client connections to a local pooler saves a connection setup per request,
so whether to give that up is the deployment's choice.

## Options
Enabled only by its full code: `extend-select = ["LC505"]` or `--extend-select LC505`.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "CONN_MAX_AGE": 300,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    },
}
"""

VALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    },
}
"""

RULE = Rule(
    code="LC505",
    name="persistent-connections-through-transaction-pooler",
    summary=(
        "`CONN_MAX_AGE` above 0 (or `None`) on an alias behind a transaction-mode pooler (opt-in)"
    ),
    family="django",
    leak="persistent-through-pooler",
    message=(
        "`CONN_MAX_AGE` is {value} for database `{alias}` behind a transaction-mode pooler "
        "({why}): the pooler already keeps the server connections"
    ),
    doc=documentation(__doc__),
    opt_in=True,
    invalid=(Invalid(INVALID, findings=(("LC505", 6),)),),
    valid=(Valid(VALID),),
)
