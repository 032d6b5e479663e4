"""The language server's incremental checks give what a full check gives, over a sequence of
edits to a fixture; and the server's editor features that need no subprocess: `# noqa` actions,
hover, settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from leakcheck.engine import findings_only
from leakcheck.model import FileResult
from leakcheck.project.buffers import check_buffer
from leakcheck.project.runner import Checker, Options
from leakcheck.server_actions import Settings, noqa_edit, settings
from leakcheck.server_units import Snapshot, check, fixes_in

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "drivers" / "dbapi_scripts.py"


def _shown(result: FileResult) -> list[tuple[object, ...]]:
    return sorted(
        (
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            f.code,
            f.message,
            f.related_line,
            f.function,
            tuple((x.message, x.applicability, x.edits) for x in f.fixes),
        )
        for f in result.findings
    )


def _edits(text: str) -> list[tuple[str, str]]:
    """(what, text) after each edit, each applied to the previous text."""
    out: list[tuple[str, str]] = []

    def edit(what: str, old: str, new: str) -> None:
        current = out[-1][1] if out else text
        assert old in current, what
        out.append((what, current.replace(old, new, 1)))

    edit("a string in cache_purge", "DELETE FROM cache", "DELETE FROM cache /* edited */")
    edit(
        "a line added to export_orders",
        "    rows = cur.fetchall()\n",
        "    rows = cur.fetchall()\n    print(since)\n",
    )
    edit("cache_purge never closes", "    conn.commit()\n    conn.close()\n", "    conn.commit()\n")
    edit("an argument in cache_purge", '(prefix + "%",)', "(prefix,)")
    edit("an import", "import csv\n", "import csv\nimport json\n")
    edit("cache_purge closes again", "    conn.commit()\n", "    conn.commit()\n    conn.close()\n")
    edit(
        "a helper's body",
        'database="legacy",\n        cursorclass',
        'database="legacy2",\n        cursorclass',
    )
    return out


def test_incremental_results_equal_full_checks_over_a_sequence_of_edits() -> None:
    source = FIXTURE.read_text()
    path = str(FIXTURE)
    kinds = Checker(options=Options(force_exclude=True)).context(FIXTURE).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, path)

    first = check(full, source.encode(), kinds, None)
    assert first.mode == "full" and first.snapshot is not None
    previous: Snapshot | None = first.snapshot
    modes = []
    for what, text in _edits(source):
        done = check(full, text.encode(), kinds, previous)
        assert _shown(done.result) == _shown(full(text.encode())), what
        modes.append((what, done.mode.split(" ")[0]))
        previous = done.snapshot
    by_edit = dict(modes)
    assert by_edit["an import"] == "full"  # the summary key changed: nothing reused
    assert by_edit["a helper's body"] == "full"  # `legacy_connection` is called elsewhere
    assert by_edit["a string in cache_purge"] == "incremental"
    assert by_edit["cache_purge never closes"] == "incremental"
    assert by_edit["an argument in cache_purge"] == "incremental"
    assert by_edit["cache_purge closes again"] == "incremental"  # after the full check


def test_noqa_is_added_or_merged() -> None:
    text = "a = 1\nconn = pool.getconn()\nb = pool.getconn()  # noqa: XY1\nc = 2  # noqa\n"
    added = noqa_edit(text, 2, "LC101")
    assert added is not None and (added.start, added.end) == (21, 21)
    assert added.text == "  # noqa: LC101"
    merged = noqa_edit(text, 3, "LC101")
    assert merged is not None
    line = text.splitlines()[2]
    assert line[: merged.start] + merged.text + line[merged.end :] == (
        "b = pool.getconn()  # noqa: XY1, LC101"
    )
    assert noqa_edit(text, 4, "LC101") is None  # a blanket directive silences it already
    assert noqa_edit('s = """\nx\n"""\n', 1, "LC101") is None  # the line ends in a string


def test_settings_from_the_client() -> None:
    got = settings({"leakcheck": {"select": ["lc1"], "run": "onSave", "unsafeFixes": False}})
    assert got == Settings(select=("LC1",), ignore=(), run="onSave", unsafe_fixes=False)
    assert settings({"ignore": "LC102", "run": "sometimes"}, got).ignore == ("LC102",)
    assert settings({"run": "sometimes"}, got).run == "onSave"  # a bad value changes nothing
    assert settings(None, got) == got


def _body_lines(text: str) -> list[int]:
    """Indexes of the lines inside definitions that hold code (not a docstring or comment)."""
    lines = text.split("\n")
    return [
        i
        for i, line in enumerate(lines)
        if line.startswith("    ") and line.strip() and not line.strip().startswith(("#", '"""'))
    ]


def _typed(text: str, index: int, step: int) -> str:
    """`text` after one of four edits at line `index`: the line typed twice, a `pass` or a
    `conn.close()` typed before or after it, a character typed into its first string."""
    lines = text.split("\n")
    line = lines[index]
    indent = line[: len(line) - len(line.lstrip())]
    match step % 4:
        case 0:
            lines.insert(index, line)
        case 1:
            lines.insert(index, f"{indent}pass")
        case 2:
            lines.insert(index + 1, f"{indent}conn.close()")
        case _:
            lines[index] = line.replace('"', '"x', 1) if line.count('"') >= 2 else line + "  # x"
    return "\n".join(lines)


EDITED = [
    "pool/job_worker.py",
    "sessions/fastapi_sync_sessions.py",
    "ownership/nightly_jobs.py",
    "kinds/dbapi_drivers.py",
]


@pytest.mark.parametrize("fixture", [*EDITED, "frameworks/flask_after_request.py"])
def test_the_fixes_of_one_finding_are_the_full_checks(fixture: str) -> None:
    """For each finding (found without fixes), the fixes worked out for its unit alone in a
    reduced text are the full check's, for every finding of that unit."""
    path = ROOT / "fixtures" / fixture
    kinds = Checker(options=Options(force_exclude=True)).context(path).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, str(path))

    source = path.read_bytes()
    with findings_only():
        first = check(full, source, kinds, None)
    assert first.snapshot is not None and first.result.findings
    whole = full(source)
    reduced = 0
    for finding in first.result.findings:
        alone = fixes_in(full, source, kinds, first.snapshot, [finding.line])
        if alone is None:  # a module-level finding: left to a full check
            continue
        (start, end), *_ = alone.spans
        assert start <= finding.line <= end
        wanted = FileResult(str(path), tuple(f for f in whole.findings if start <= f.line <= end))
        assert _shown(FileResult(str(path), alone.findings)) == _shown(wanted), finding.line
        reduced += 1
    assert reduced
    assert fixture not in EDITED or any(f.fixes for f in whole.findings)  # fixes compared


@pytest.mark.parametrize(
    "fixture",
    EDITED,
)
def test_edits_through_each_fixture_give_the_full_checks_findings(fixture: str) -> None:
    """Edits spread over a fixture's functions (each after the last): the findings, their
    messages and their fixes' edits are the full check's, whether reused or judged again."""
    path = ROOT / "fixtures" / fixture
    kinds = Checker(options=Options(force_exclude=True)).context(path).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, str(path))

    text = path.read_text()
    previous = check(full, text.encode(), kinds, None).snapshot
    modes = []
    for step in range(8):
        body = _body_lines(text)
        typed = _typed(text, body[(step * 7919) % len(body)], step)
        try:
            ast.parse(typed)
        except SyntaxError:  # a line typed twice that opens a block: not this test's case
            typed = _typed(text, body[(step * 7919) % len(body)], 3)
        text = typed
        done = check(full, text.encode(), kinds, previous)
        assert _shown(done.result) == _shown(full(text.encode())), (step, done.mode)
        modes.append(done.mode.split(" ")[0])
        previous = done.snapshot or check(full, text.encode(), kinds, None).snapshot
    assert "incremental" in modes


FLASK = """\
from flask import Flask, g
import psycopg2

app = Flask(__name__)


def get_db():
    g.db = psycopg2.connect("dbname=app")
    return g.db


@app.teardown_appcontext
def close_db(error):
    db = g.pop("db", None)
    if db is not None:
        db.close()


@app.route("/")
def index():
    return "home"
"""


def test_a_teardown_that_no_longer_closes_what_a_request_stored_is_seen(tmp_path: Path) -> None:
    """`close_db` is called by name nowhere, but what `get_db` stores on `g` is judged by
    searching the whole module for its release: editing it re-judges `get_db`."""
    path = tmp_path / "app.py"
    kinds = Checker(options=Options(force_exclude=True)).context(path).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, str(path))

    first = check(full, FLASK.encode(), kinds, None)
    assert first.result.findings == ()
    forgetting = FLASK.replace('g.pop("db", None)', 'g.pop("conn", None)')
    done = check(full, forgetting.encode(), kinds, first.snapshot)
    assert _shown(done.result) == _shown(full(forgetting.encode()))
    assert [f.line for f in done.result.findings] == [8]
    elsewhere = check(full, forgetting.replace('"home"', '"start"').encode(), kinds, done.snapshot)
    assert elsewhere.mode.startswith("incremental")
    assert _shown(elsewhere.result) == _shown(done.result)


HELPER = """\
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 5)


@contextmanager
def pooled():
    conn = pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)


def count(sql):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    pool.putconn(conn)
"""


def test_a_context_manager_helper_no_one_calls_still_shapes_the_fixes(tmp_path: Path) -> None:
    """`pooled` is named by no other function, but a leak's fix may offer it: once it commits,
    the fix through it is unsafe, also for the findings of functions that did not change."""
    path = tmp_path / "app.py"
    kinds = Checker(options=Options(force_exclude=True)).context(path).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, str(path))

    previous = check(full, HELPER.encode(), kinds, None).snapshot
    committing = HELPER.replace(
        "        yield conn\n", "        yield conn\n        conn.commit()\n"
    )
    for text in (committing, committing.replace("execute(sql)", "execute(sql, ())")):
        done = check(full, text.encode(), kinds, previous)
        assert _shown(done.result) == _shown(full(text.encode()))
        previous = done.snapshot
    (finding,) = done.result.findings
    assert [fix.applicability for fix in finding.fixes] == ["safe", "unsafe"]


def test_a_connection_stored_through_a_name_keeps_its_release_hook_in_view() -> None:
    """`rv = sqlite3.connect(...); g.sessions = rv` stores on `g` as a call's result does: an
    edit of the function that stores it is judged with the `after_request` hook that closes
    `g.sessions` in view, and the finding stays LC405 (released only when the request does not
    raise), not LC201 (never closed), as a reduced text without the hook made it."""
    path = ROOT / "fixtures" / "frameworks" / "flask_after_request.py"
    kinds = Checker(options=Options(force_exclude=True)).context(path).kinds

    def full(text: bytes) -> FileResult:
        return check_buffer(Checker(options=Options(force_exclude=True)), text, str(path))

    text = path.read_text()
    first = check(full, text.encode(), kinds, None)
    edited = text.replace('"session.sqlite"', '"sessions.sqlite"')
    assert edited != text
    done = check(full, edited.encode(), kinds, first.snapshot)
    assert _shown(done.result) == _shown(full(edited.encode()))
    line = 1 + edited.splitlines().index(
        '        rv = sqlite3.connect("sessions.sqlite")  # expect: LC405'
    )
    assert [f.code for f in done.result.findings if f.line == line] == ["LC405"]
    assert done.snapshot is not None
    alone = fixes_in(full, edited.encode(), kinds, done.snapshot, [line])
    assert alone is not None
    assert [f.code for f in alone.findings if f.line == line] == ["LC405"]
