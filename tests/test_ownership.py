"""Ownership across calls: per-parameter effects, the cross-module seam, external API data."""

from __future__ import annotations

import pickle
import textwrap

import libcst as cst
import pytest
from helpers import verdicts

from leakcheck.analysis.facts import Export, ModuleFacts
from leakcheck.analysis.ownership import BORROW, RELEASE, STREAM, TAKE, UNKNOWN
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.config.ownership import ownership


def facts_of(source: str) -> ModuleFacts:
    return ModuleFacts(cst.parse_module(textwrap.dedent(source)), builtin_kinds())


EFFECTS = """\
import threading

def reads(db):
    return db.query(1).count()

def closes(db):
    db.close()

def keeps(db):
    global CACHE
    CACHE = db

def stores(holder, db):
    holder.db = db

def returns(db):
    return db

def threads(db):
    threading.Thread(target=reads, args=(db,)).start()

def via_reads(db, n):
    if db is not None and n:
        return reads(db)

def plugin(db, sink):
    sink.write(db)

def captured(db):
    return lambda: db.query(1)

def own_lambda(rows):
    return sorted(rows, key=lambda db: db.name)

def rows(db):
    for row in db.execute("q"):
        yield row

async def polls(db):
    while True:
        yield db.execute("q")

def ping(db):
    ping(db)

@retry(times=3)
def retried(db):
    return db.query(1).count()

class Repo:
    def __init__(self, session, *, readonly=False):
        self.session = session

class Plain:
    pass
"""


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("reads", (BORROW,)),
        ("closes", (RELEASE,)),
        ("keeps", (TAKE,)),
        ("stores", (BORROW, TAKE)),
        ("returns", (TAKE,)),
        ("threads", (TAKE,)),
        ("via_reads", (BORROW, BORROW)),
        ("plugin", (UNKNOWN, BORROW)),
        ("captured", (TAKE,)),
        ("own_lambda", (BORROW,)),
        ("rows", (TAKE,)),
        ("polls", (STREAM,)),
        ("ping", (BORROW,)),
        ("Repo", (TAKE, BORROW)),
        ("retried", (UNKNOWN,)),
    ],
)
def test_parameter_effects(function: str, expected: tuple[str, ...]) -> None:
    assert facts_of(EFFECTS).param_effects[function].effects == expected


def test_a_class_without_init_takes_its_arguments() -> None:
    effects = facts_of(EFFECTS).param_effects["Plain"]
    assert effects.names == () and effects.rest == TAKE


def test_exports_carry_parameter_effects_and_survive_pickling() -> None:
    exports = facts_of(EFFECTS).exports()
    assert exports["reads"] == Export("function", params=exports["reads"].params)
    assert exports["closes"].role == "releaser"
    assert exports["closes"].params is not None
    assert exports["closes"].params.effects == (RELEASE,)
    again = pickle.loads(pickle.dumps(exports))
    assert again == exports


def test_nested_closures_are_not_exported() -> None:
    exports = facts_of("""\
def outer():
    def inner(db):
        return db
    return inner
""").exports()
    assert set(exports) == {"outer"}


def test_ownership_data_loads() -> None:
    data = ownership()
    assert "threading.Thread" in data.takes_callables
    assert "add_task" in data.takes_methods
    assert data.borrows_module("pandas.read_sql")
    assert data.borrows_module("json.dumps")  # the standard library
    assert not data.borrows_module("app.services.search.rebuild_index")


SESSION = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
import pandas as pd
from app.plugins import process
engine = create_engine("postgresql://")
SessionLocal = sessionmaker(bind=engine)

def load(db):
    return db.query(1).all()
"""


def leaks(body: str) -> list[str]:
    return [leak for _, leak, _ in verdicts(SESSION + textwrap.dedent(body))]


def test_borrowing_callee_leaves_the_caller_the_owner() -> None:
    assert leaks("def job():\n    db = SessionLocal()\n    load(db)\n") == ["never"]


def test_unresolved_import_keeps_silence() -> None:
    assert leaks("def job():\n    db = SessionLocal()\n    process(db)\n") == []


def test_external_library_function_borrows() -> None:
    body = "def job():\n    conn = engine.connect()\n    pd.read_sql('q', conn)\n"
    assert leaks(body) == ["never"]


def test_coroutine_not_awaited_may_run_later() -> None:
    body = """\
async def audit(db):
    db.query(1)

async def job():
    db = SessionLocal()
    pending = audit(db)
    await pending
"""
    assert leaks(body) == []


def test_session_passed_straight_to_a_borrower_is_never_closed() -> None:
    assert leaks("def job():\n    load(SessionLocal())\n") == ["never"]


def test_session_passed_straight_to_unknown_code_is_not_tracked() -> None:
    assert leaks("def job():\n    process(SessionLocal())\n") == []


# -- uses that are not hand-offs (issue 27) -------------------------------------------------------

WRAPPED = """\
import functools
from reports.rows import RowCursor

def via_wrapper(db):
    cur = RowCursor(db)
    return cur.rows()

def returns_wrapper(db):
    cur = RowCursor(db)
    return cur

def closes_wrapper(db):
    cur = RowCursor(db)
    cur.close()

def via_closure(db):
    def count():
        return db.query(1).count()
    return count()

def via_partial(db, load):
    run = functools.partial(load, db)
    return run()
"""


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("via_wrapper", BORROW),
        ("returns_wrapper", UNKNOWN),  # the wrapper leaves: whatever RowCursor does, stands
        ("closes_wrapper", UNKNOWN),  # it may close what it wraps (issue 26)
        ("via_closure", BORROW),
        ("via_partial", BORROW),
    ],
)
def test_local_wrappers_and_closures_only_borrow(function: str, expected: str) -> None:
    assert facts_of(WRAPPED).param_effects[function].effects[0] == expected


def test_local_wrapper_keeps_the_session_with_the_caller() -> None:
    body = """\
from reports.rows import RowCursor

def job():
    db = SessionLocal()
    cur = RowCursor(db)
    return cur.rows()

def kept():
    db = SessionLocal()
    cur = RowCursor(db)
    return cur
"""
    assert leaks(body) == ["never"]


def test_closure_called_here_is_no_hand_off_but_one_passed_on_is() -> None:
    job = "def job():\n    db = SessionLocal()\n    count = lambda: load(db)\n"
    assert leaks(job + "    count()\n") == ["never"]
    assert leaks(job + "    process(count)\n") == []


def test_borrowing_library_calls_are_data() -> None:
    data = ownership()
    assert data.borrows_module("sqlite_vec.load")
    assert data.borrows_module("pgvector.psycopg2.register_vector")
    assert not data.borrows_module("pgvector.utils.to_db")
    assert data.borrowing_method("to_sql", "con", -1)
    assert data.borrowing_method("to_sql", None, 1)
    assert not data.borrowing_method("to_sql", "dtype", -1)
    assert not data.borrowing_method("to_csv", "con", -1)


def test_df_to_sql_borrows_the_connection() -> None:
    body = "def job(df):\n    conn = engine.connect()\n    df.to_sql('t', con=conn)\n"
    assert leaks(body) == ["never"]


def test_quiet_methods_are_exported_for_classes_and_instances() -> None:
    exports = facts_of("""\
import logging
log = logging.getLogger(__name__)

class Tracker:
    def __init__(self):
        self._active = set()

    def untrack(self, s):
        self._active.discard(id(s))
        log.debug("untracked")

    def dump(self, path):
        open(path, "w").write(repr(self._active))

tracker = Tracker()
""").exports()
    assert exports["Tracker"].quiet_methods == ("untrack",)
    assert exports["tracker"] == Export("object", quiet_methods=("untrack",))


def test_hand_offs_assumed_are_counted_per_module() -> None:
    from leakcheck.analysis.flow import handoffs_assumed
    from leakcheck.analysis.judge import all_verdicts

    facts = facts_of(
        SESSION
        + """\
from reports.rows import RowCursor

def handed():
    db = SessionLocal()
    process(db)

def wrapped():
    db = SessionLocal()
    cur = RowCursor(db)
    cur.rows()

def owned():
    db = SessionLocal()
    try:
        process(db)
    finally:
        db.close()
"""
    )
    assert handoffs_assumed(facts) == []  # not judged yet
    assert len(all_verdicts(facts)) == 1  # `wrapped` never closes its session
    # `handed`: its owner releases nothing, so it went silent, and the statement that took it kept
    [handoff] = handoffs_assumed(facts)
    assert handoff.taken_by is not None
    assert cst.Module([]).code_for_node(handoff.taken_by).strip() == "process(db)"
