"""
## What it does
Finds `# noqa` and `# leakcheck: ignore` comments that suppress nothing: a code that is not reported
on that line, or a blanket `# leakcheck: ignore` on a line without a finding. Reported only with
`--report-unused-noqa`, like ruff's `RUF100`. Codes of other tools (`# noqa: E501`) and a bare
`# noqa` (flake8's or ruff's as much as leakcheck's) are left alone.

## Why is this bad?
A suppression outlives the leak it silenced. Left in place, it hides the next leak on that line,
and readers take the line for a known exception.

## Example
```python
def count(pool):
    conn = pool.getconn()  # noqa: LC101
    try:
        return conn.cursor().execute("SELECT 1")
    finally:
        pool.putconn(conn)
```

## Use instead
```python
def count(pool):
    conn = pool.getconn()
    try:
        return conn.cursor().execute("SELECT 1")
    finally:
        pool.putconn(conn)
```

## Fix safety
No automatic fix yet.

## Options
Enabled by `--report-unused-noqa`.
"""

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Severity, Valid, documentation

INVALID = """\
def count(pool):
    conn = pool.getconn()  # noqa: LC101
    try:
        return conn.cursor().execute("SELECT 1")
    finally:
        pool.putconn(conn)
"""

VALID = """\
def count(pool):
    conn = pool.getconn()
    try:
        return conn.cursor().execute("SELECT 1")
    finally:
        pool.putconn(conn)
"""

RULE = Rule(
    code="LC001",
    name="unused-suppression",
    summary=(
        "a `# noqa` or `# leakcheck: ignore` comment that suppresses nothing (with "
        "`--report-unused-noqa`)"
    ),
    family="suppression",
    leak="unused",
    message="{what}",
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC001", 2),)),),
    valid=(Valid(VALID),),
    severity=Severity.LOW,  # no leak: a comment that says less than it seems to
)
