"""Several candidate fixes per finding, in order: the project's own helpers (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakcheck.project.api import check_buffer

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "fixtures" / "helpers"


def offered(path: Path) -> dict[int, list[tuple[str, str]]]:
    result = check_buffer(path.read_bytes(), path)
    return {f.line: [(x.message, x.applicability) for x in f.fixes] for f in result.findings}


def test_a_helper_of_the_module_on_the_same_pool_comes_first() -> None:
    fixes = offered(HELPERS / "inventory_pool.py")
    assert fixes[62] == [
        ("Use `with pooled() as conn:`", "safe"),
        ("Release `conn` in `finally`", "safe"),
        ("Use `with transaction() as conn:`; unsafe: `transaction()` also commits", "unsafe"),
    ]
    # Another pool: the plain form first; the helpers only as unsafe alternatives.
    assert fixes[70] == [
        ("Release `conn` in `finally`", "safe"),
        (
            "Use `with pooled() as conn:`; unsafe: `pooled()` takes its connection from `pool`, "
            "not `reports_pool`",
            "unsafe",
        ),
        ("Use `with transaction() as conn:`; unsafe: `transaction()` also commits", "unsafe"),
    ]
    # `pooled_for(tenant)` needs an argument; `get_connection` is a dependency, not a helper.
    assert not any("pooled_for" in t or "get_connection" in t for f in fixes.values() for t, _ in f)


def test_a_helper_beside_the_imported_factory_is_imported_for_the_fix() -> None:
    fixes = offered(HELPERS / "shop" / "orders.py")
    assert fixes[19] == [
        ("Use `with session_scope() as db:`", "safe"),
        ("Use `with` for `db`", "safe"),
    ]
    # `session_scope` is imported only inside another function, and not beside this factory.
    assert fixes[34] == [("Use `with` for `db`", "safe")]
    [edit, _] = (
        check_buffer((HELPERS / "shop" / "orders.py").read_bytes(), HELPERS / "shop" / "orders.py")
        .findings[0]
        .fixes[0]
        .edits
    )
    assert edit.content == "from shop.db import SessionLocal, engine, session_scope\n"


def test_a_helper_that_drops_the_acquisitions_arguments_is_unsafe(tmp_path: Path) -> None:
    source = (
        "from contextlib import contextmanager\n"
        "from psycopg2.pool import ThreadedConnectionPool\n\n"
        "pool = ThreadedConnectionPool(1, 5)\n\n\n"
        "@contextmanager\ndef pooled():\n    conn = pool.getconn()\n    try:\n"
        "        yield conn\n    finally:\n        pool.putconn(conn)\n\n\n"
        "def tagged(sql):\n    conn = pool.getconn(key='reports')\n"
        "    conn.cursor().execute(sql)\n    pool.putconn(conn)\n"
    )
    path = tmp_path / "reports.py"
    path.write_text(source)
    [finding] = check_buffer(source.encode(), path).findings
    assert [(f.message, f.applicability) for f in finding.fixes] == [
        ("Release `conn` in `finally`", "safe"),
        (
            "Use `with pooled() as conn:`; unsafe: `pooled()` does not acquire with the same "
            "arguments",
            "unsafe",
        ),
    ]


HANDLER = (
    "from fastapi import Depends\nfrom fastapi.responses import StreamingResponse\n"
    "from sqlalchemy.orm import Session, sessionmaker\n\nSessionLocal = sessionmaker()\n\n\n"
    "def get_db():\n    db = SessionLocal()\n    try:\n        yield db\n    finally:\n"
    "        db.close()\n\n\n"
    "def export(db: Session = Depends(get_db)):\n    db.get(object, 1)\n"
    "    return StreamingResponse(iter(['a']))\n"
)


def scope_fix(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    project = tmp_path / "svc"
    project.mkdir(parents=True)
    (project / ".git").mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    (project / "api.py").write_text(HANDLER)
    [finding] = check_buffer(HANDLER.encode(), project / "api.py").findings
    assert finding.code == "LC403"
    return [(f.message, f.applicability) for f in finding.fixes]


def test_the_fastapi_version_comes_from_the_projects_dependency_files(tmp_path: Path) -> None:
    title = 'Close `db` when `export()` returns: `Depends(get_db, scope="function")`'
    pinned = {"uv.lock": '[[package]]\nname = "fastapi"\nversion = "0.122.0"\n'}
    pinned["requirements.txt"] = "fastapi>=0.100\n"  # the lock's pin comes first
    assert scope_fix(tmp_path / "a", pinned) == [(f"{title} (FastAPI 0.122.0 in uv.lock)", "safe")]
    poetry = {"pyproject.toml": '[tool.poetry.dependencies]\nfastapi = "^0.121.1"\n'}
    assert scope_fix(tmp_path / "b", poetry) == [
        (f"{title} (FastAPI ^0.121.1 in pyproject.toml)", "safe")
    ]
    # 0.121.0 has `scope`, but broken for parameterless dependencies such as `get_db()`.
    old = {"pyproject.toml": '[project]\ndependencies = ["fastapi[standard]==0.121.0"]\n'}
    assert scope_fix(tmp_path / "c", old) == [
        (
            f"{title} (FastAPI ==0.121.0 in pyproject.toml); unsafe: FastAPI ==0.121.0: 0.121.1 "
            "fixed `scope` for parameterless dependencies",
            "unsafe",
        )
    ]
    assert scope_fix(tmp_path / "d", {"requirements-prod.txt": "fastapi==0.115.6\n"}) == []
    assert scope_fix(tmp_path / "e", {"requirements.txt": "fastapi<1\n"}) == [
        (
            f"{title} (FastAPI version unknown); unsafe: `scope` needs FastAPI 0.121.1 or later; "
            "no dependency file of the project names FastAPI",
            "unsafe",
        )
    ]


def test_lc402_closes_before_the_wait_only_where_nothing_uses_the_session_after_it() -> None:
    path = ROOT / "fixtures" / "streams" / "event_workers.py"
    fixes = {
        f.line: [(x.message, x.applicability) for x in f.fixes]
        for f in check_buffer(path.read_bytes(), path).findings
        if f.code == "LC402"
    }
    unsafe = (
        "Close `session` before it waits, after its last use; unsafe: objects loaded through "
        "`session` are detached once it is closed: attributes not loaded yet (lazy "
        "relationships, expired columns) fail when read after the close"
    )
    # `webhook_dispatcher` reads its hooks once, then only waits on the queue: closed before.
    assert fixes[99] == [(unsafe, "unsafe")]
    # The others use the session again in the loop, after the wait: not closed before it. The
    # status listener gets a session per message instead (per_iteration.py); the batcher, whose
    # batch spans several messages, nothing.
    assert fixes[67] == []
    assert [(m.split(";")[0], a) for m, a in fixes[85]] == [
        (
            "`async with AsyncSessionLocal() as session:` in each iteration of the loop, around "
            "its uses",
            "unsafe",
        )
    ]


def test_lc401_lc402_take_a_short_lived_resource_per_iteration_only_where_it_is_right() -> None:
    workers = ROOT / "fixtures" / "streams" / "iteration_workers.py"
    fixes = {
        f.line: [(x.message, x.applicability) for x in f.fixes]
        for f in check_buffer(workers.read_bytes(), workers).findings
    }
    pooled = (
        "`async with pool.acquire() as conn:` in each iteration of the loop, around its uses; "
        "unsafe: each iteration takes its own connection (`pool.acquire()`): a transaction, "
        "prepared statements and session settings no longer carry over between iterations"
    )
    assert fixes[47] == [(pooled, "unsafe")]
    carried = (
        "uncommitted changes, the identity map and the transaction no longer carry over between "
        "iterations"
    )
    assert fixes[60] == [
        (
            "`with SessionLocal() as db:` in each iteration of the loop, around its uses; unsafe: "
            f"each iteration gets its own session (`SessionLocal()`): {carried}",
            "unsafe",
        )
    ]
    assert fixes[72][0][0].startswith("`async with SessionFactory() as session:` in each")
    # The request's session: the block opens what `get_db` opens; the parameter stays.
    assert fixes[81][0][0].endswith(
        "`db` stays a parameter: FastAPI still runs `get_db()` for the request"
    )
    # A loaded object read after the wait, a commit after the loop, a direct connection, a
    # close inside the loop: no fix.
    assert fixes[92] == fixes[103] == fixes[117] == fixes[127] == []
    # A psycopg2 pool connection: `with` does not give it back, so try/finally per iteration.
    assert fixes[138][0][0].startswith(
        "`conn = stats_pool.getconn()` in each iteration of the loop, released in `finally`"
    )
    # The wait is the loop itself: `async for text in websocket.iter_text()`.
    assert fixes[153][0][0].startswith("`with SessionLocal() as db:` in each iteration")

    streams = ROOT / "fixtures" / "streams" / "polling_streams.py"
    fixes = {
        f.line: [(x.message, x.applicability) for x in f.fixes]
        for f in check_buffer(streams.read_bytes(), streams).findings
    }
    assert [a for _, a in fixes[40]] == ["unsafe"]
    assert fixes[40][0][0].startswith("`with SessionLocal() as db:` in each iteration")
    # Read again after the `yield`; the handler uses the session too; an ORM object yielded.
    assert fixes[51] == fixes[68] == fixes[79] == []


LATE_STACK = (
    "import contextlib\n\nfrom psycopg2.pool import ThreadedConnectionPool\n\n"
    "pool = ThreadedConnectionPool(1, 4)\n\n\n"
    "def copy_day(day, make_key):\n    with contextlib.ExitStack() as stack:\n"
    "        source = pool.getconn()\n        {between}\n"
    "        stack.callback(pool.putconn, source, {key})\n"
    "        source.cursor().execute('SELECT 1')\n"
)


def test_a_stack_registration_moves_up_to_the_acquisition(tmp_path: Path) -> None:
    source = LATE_STACK.format(between="label = make_key(day)", key="None")
    path = tmp_path / "copy.py"
    path.write_text(source)
    [finding] = check_buffer(source.encode(), path).findings
    assert [(f.message, f.applicability) for f in finding.fixes] == [
        ("Register `source` on `stack` right after taking it", "safe"),
        ("Return `source` to the pool if an error comes before it is handed over", "safe"),
    ]


@pytest.mark.parametrize(
    ("between", "key"),
    [
        # `key` is bound after the acquisition: registered earlier, the callback would not have it.
        ("key = make_key(day)", "key"),
        # Another registration in between: moved above it, the callbacks would run in another order.
        ("stack.callback(make_key, day)", "None"),
    ],
    ids=["argument-assigned-between", "another-registration-between"],
)
def test_a_registration_that_cannot_move_keeps_the_guard(
    tmp_path: Path, between: str, key: str
) -> None:
    source = LATE_STACK.format(between=between, key=key)
    path = tmp_path / "copy.py"
    path.write_text(source)
    [finding] = check_buffer(source.encode(), path).findings
    assert [(f.message, f.applicability) for f in finding.fixes] == [
        ("Return `source` to the pool if an error comes before it is handed over", "safe"),
    ]
