"""
## What it does
Finds a PostgreSQL alias that enables Django's connection pool (`OPTIONS["pool"]` true or a
non-empty dict, Django 5.1+) while `CONN_MAX_AGE` is not 0. Reported at `CONN_MAX_AGE`.

## Why is this bad?
The PostgreSQL backend refuses the combination when it first builds the pool:
`ImproperlyConfigured("Pooling doesn't support persistent connections.")`
(django/db/backends/postgresql/base.py, `DatabaseWrapper.pool`; Django's test
`test_pooling_not_support_persistent_connections`). The error appears at the first query, in
production, not at start-up.
Sources: Django's source, django/db/backends/postgresql/base.py (5.1 and later);
https://docs.djangoproject.com/en/stable/ref/databases/#postgresql-pool.

## Example
```python
"default": {
    "ENGINE": "django.db.backends.postgresql",
    "CONN_MAX_AGE": 600,
    "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}},
}
```

## Use instead
```python
"default": {
    "ENGINE": "django.db.backends.postgresql",
    "CONN_MAX_AGE": 0,
    "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}},
}
```

## Fix safety
No fix: whether to keep the pool or the persistent connections is a choice.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "CONN_MAX_AGE": 600,
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}},
    },
}
"""

VALID = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}},
    },
}
"""

RULE = Rule(
    code="LC504",
    name="pool-with-persistent-connections",
    summary=(
        '`OPTIONS["pool"]` (Django 5.1+ connection pool) with `CONN_MAX_AGE` other than 0: '
        "Django raises `ImproperlyConfigured`"
    ),
    family="django",
    leak="pool-with-persistent",
    message=(
        '`CONN_MAX_AGE` is {value} for database `{alias}`, which enables `OPTIONS["pool"]`: '
        'Django raises ImproperlyConfigured("Pooling doesn\'t support persistent connections.")'
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC504", 4),)),),
    valid=(Valid(VALID),),
)
