"""Generated programs never break leakcheck: no exception, every fix parses, fixing twice changes
nothing.

hypothesmith generates programs from CPython's grammar (each one accepted by `compile()`). Each is
checked as it is, and again placed inside functions that leak a pool connection or a session, so
that the fixer rewrites around arbitrary code. The run is derandomized (a fixed seed): 1,000
examples in the normal suite; for the slow run documented in the README, set
`LEAKCHECK_PROPERTY_EXAMPLES=10000`.
"""

from __future__ import annotations

import ast
import os
import textwrap
import warnings

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import check_source
from leakcheck.fix.fixer import fix_source

EXAMPLES = int(os.environ.get("LEAKCHECK_PROPERTY_EXAMPLES", "1000"))
KINDS = builtin_kinds()

# Each wraps the generated code ({body}, indented into place) around an acquisition with a fix.
TEMPLATES = (
    "{body}",
    (
        "from psycopg2.pool import ThreadedConnectionPool\n"
        "pool = ThreadedConnectionPool(1, 5)\n\n"
        "def run(sql):\n"
        "    conn = pool.getconn()\n"
        "{body}"
        "    conn.cursor().execute(sql)\n"
        "    pool.putconn(conn)\n"
    ),
    (
        "from sqlalchemy.orm import sessionmaker\n"
        "SessionLocal = sessionmaker()\n\n"
        "def load(user_id):\n"
        "    db = SessionLocal()\n"
        "    user = db.get(User, user_id)\n"
        "{body}"
        "    db.close()\n"
        "    return user\n"
    ),
    ("def get_db():\n    db = SessionLocal()\n{body}    yield db\n    db.close()\n"),
)


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


# Built once: each from_grammar() call compiles CPython's grammar with lark (about 2 s of CPU);
# built inside the draw, it made 30 examples take 55 s.
GRAMMAR = hypothesmith.from_grammar()


@st.composite
def programs(draw: st.DrawFn) -> str:
    code = draw(GRAMMAR)
    template = draw(st.sampled_from(TEMPLATES))
    if template == "{body}":
        return code
    body = textwrap.indent(code, "    ")
    if body and not body.endswith("\n"):
        body += "\n"
    source = template.format(body=body)
    assume(_compiles(source))  # `from __future__` or `nonlocal` cannot move into a function
    return source


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles what it generates
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@given(programs())
def test_generated_programs_never_break_the_check_or_the_fix(source: str) -> None:
    data = source.encode("utf-8")
    result = check_source(data, "generated.py", KINDS)
    assert not [e for e in result.errors if e.internal], result.errors
    first = fix_source(data, KINDS, unsafe=True)
    event(f"fixes applied: {len(first.applied)}")  # --hypothesis-show-statistics
    if first.source != data:
        assert _compiles(first.source.decode("utf-8")), first.source.decode("utf-8")
        after = check_source(first.source, "generated.py", KINDS)
        assert not [e for e in after.errors if e.internal], after.errors
    second = fix_source(first.source, KINDS, unsafe=True)
    assert second.source == first.source  # fixing twice changes nothing
