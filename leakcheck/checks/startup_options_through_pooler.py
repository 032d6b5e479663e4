"""
## What it does
Finds `OPTIONS["options"]` holding server switches (`-c statement_timeout=5000`) on a database alias
that connects through PgBouncer or another pooler (recognised as for LC501). Reported at the
`options` key. Switches for the parameters PgBouncer tracks per client by default
(`client_encoding`, `datestyle`, `timezone`, `standard_conforming_strings`, `application_name`,
per its `track_extra_parameters` documentation) are not findings.

## Why is this bad?
libpq sends `options` as a startup parameter. PgBouncer refuses a startup parameter it does not
track with `FATAL: unsupported startup parameter` and the connection fails, unless the parameter is
listed in its `ignore_startup_parameters`, in which case it is dropped and the timeout is never set
(PgBouncer issue #1074 and pull requests #878, #908: since 1.20 PgBouncer parses `-c` switches in
`options` and accepts only the parameters it tracks or ignores). Incident 3 moved `statement_timeout`, `idle_in_transaction_session_timeout`
and `lock_timeout` out of `OPTIONS` into `postgresql.conf` for this reason.
Sources: https://github.com/pgbouncer/pgbouncer/issues/1074,
https://github.com/pgbouncer/pgbouncer/pull/908,
https://www.pgbouncer.org/config.html#track_extra_parameters.

## Example
```python
"default": {
    "HOST": "pgbouncer",
    "PORT": 6432,
    "OPTIONS": {"options": "-c statement_timeout=30000"},
}
```

## Use instead
```sql
ALTER ROLE crm SET statement_timeout = '30s';  -- or postgresql.conf
```

## Fix safety
No fix: where the setting belongs (the role, the database, postgresql.conf) is the operator's call.

## Options
Poolers as for LC501.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"options": "-c statement_timeout=30000"},
    },
}
"""

VALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    },
}
"""

RULE = Rule(
    code="LC502",
    name="startup-options-through-pooler",
    summary=(
        '`OPTIONS["options"]` with `-c name=value` switches on an alias behind a pooler, which '
        "refuses startup parameters it does not know"
    ),
    family="django",
    leak="startup-options",
    message=(
        "Database `{alias}` sets `{names}` in the `options` startup parameter through a pooler "
        "({why}), which refuses or drops it"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC502", 7),)),),
    valid=(Valid(VALID),),
)
