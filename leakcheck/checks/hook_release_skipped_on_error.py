"""
## What it does
Finds a connection or session stored on a request or application context in one framework hook
and released only in a hook that does not run when the request raises: Flask's
`@app.before_request` (or a lazy `get_db()`) storing `g.db = connect()` and `g.db.close()` only in
`@app.after_request`. A release in `teardown_request`, `teardown_app_request` or
`teardown_appcontext` (decorator or `app.teardown_appcontext(close_db)`) is safe. Stored by an
opening hook and closed only by a function that is no hook (a view), it is reported too: that
function runs only for the requests that reach it. The hooks are data, per framework
(`rules/lifecycles.toml`). Reported at the acquisition.

When no code of the module releases what is stored, `never-closed` (or
`pool-connection-never-returned`) reports it instead.

## Why is this bad?
Flask runs `after_request` functions only when the request produced a response without an
unhandled error: "They are however not guaranteed to be executed if an exception is raised, this
is where functions marked with teardown_request() come in" (Flask tutorial, "Request Database
Connections"); the API documentation of `after_request`: "this should not be used for actions that
must execute, such as to close resources. Use teardown_request() for that." Every request whose
view raises (or whose earlier `after_request` function raises) leaves its connection open until
the garbage collector finds it; a pooled one is never given back.
Sources: https://flask.palletsprojects.com/en/stable/api/#flask.Flask.after_request,
https://flask.palletsprojects.com/en/stable/patterns/sqlite3/.

## Example
```python
@app.before_request
def open_db():
    g.db = psycopg2.connect(DSN)

@app.after_request
def close_db(response):
    g.db.close()
    return response
```

## Use instead
```python
@app.before_request
def open_db():
    g.db = psycopg2.connect(DSN)

@app.teardown_request
def close_db(exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()
```

## Fix safety
No fix: a teardown function receives the error, not the response, and may run without the
opening hook having run (when an earlier `before_request` function raised); moving the release
means taking the resource out with `g.pop("db", None)` and checking for `None`, which the fixer
does not write for you.

## Options
None.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
import psycopg2
from flask import Flask, g

app = Flask(__name__)


@app.before_request
def open_db():
    g.db = psycopg2.connect("dbname=shop")


@app.after_request
def close_db(response):
    g.db.close()
    return response
"""

VALID = """\
import psycopg2
from flask import Flask, g

app = Flask(__name__)


@app.before_request
def open_db():
    g.db = psycopg2.connect("dbname=shop")


@app.teardown_request
def close_db(exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()
"""

RULE = Rule(
    code="LC405",
    name="hook-release-skipped-on-error",
    summary=(
        "a connection stored on the request context (`g.db`) by one hook and released only in a "
        "hook that is skipped when the request raises (`after_request`)"
    ),
    family="any",
    leak="hook-skipped",
    message=(
        "{what} stored in `{stored}` by {opener} is {released} only in {closer}: {why}; "
        "release it in `{safe}`"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC405", 9),)),),
    valid=(Valid(VALID),),
)
