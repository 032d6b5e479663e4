"""Fixes for shapes the plain `with` / try/finally form declines (issue 29): a resource taken
again inside a branch and released after it (fix/branches.py), and an acquisition awaited through
`asyncio.wait_for` / `asyncio.shield` (recipes.py keeps the wrapper and writes try/finally)."""

from __future__ import annotations

from pathlib import Path

from leakcheck.project.api import check_buffer, fix_file

HEAD = "import sqlite3\n\n\n"


def _fixed(tmp_path: Path, source: str, name: str = "store.py") -> tuple[str, list[str]]:
    path = tmp_path / name
    path.write_text(source)
    outcome = fix_file(path)
    return outcome.source.decode(), outcome.applied


def _line_fixes(source: str, tmp_path: Path) -> dict[int, tuple[int, str | None]]:
    found = check_buffer(source.encode(), tmp_path / "store.py").findings
    return {f.line: (len(f.fixes), f.no_fix_reason) for f in found}


RECONNECT = HEAD + (
    "def read(path, fresh):\n"  # line 4
    "    conn = sqlite3.connect(path)\n"
    "    cur = conn.execute('SELECT 1')\n"
    "    if fresh():\n"
    "        conn = sqlite3.connect(path)\n"  # line 8: taken again in the branch
    "    rows = cur.fetchall()\n"
    "    conn.close()\n"
    "    return rows\n"
)


def test_a_reconnect_in_a_branch_is_guarded_from_the_branch_through_the_release(
    tmp_path: Path,
) -> None:
    fixes = _line_fixes(RECONNECT, tmp_path)
    assert fixes[8] == (1, "")
    fixed, applied = _fixed(tmp_path, RECONNECT)
    assert any(a.startswith("LC202 at line 8: ") for a in applied)
    assert fixed == HEAD + (
        "def read(path, fresh):\n"
        "    conn = sqlite3.connect(path)\n"
        "    cur = conn.execute('SELECT 1')\n"
        "    try:\n"
        "        if fresh():\n"
        "            conn = sqlite3.connect(path)\n"
        "        rows = cur.fetchall()\n"
        "    finally:\n"
        "        conn.close()\n"
        "    return rows\n"
    )
    again = tmp_path / "store.py"
    assert fix_file(again).source.decode() == fixed  # idempotent
    assert 8 not in {f.line for f in check_buffer(fixed.encode(), again).findings}


def test_no_branch_fix_when_the_name_may_be_unbound_before_the_branch(tmp_path: Path) -> None:
    # `finally` would meet an unbound `conn` when `fresh()` raises: not offered.
    source = HEAD + (
        "def read(path, fresh):\n"
        "    if fresh():\n"
        "        conn = sqlite3.connect(path)\n"  # line 6
        "    else:\n"
        "        conn = sqlite3.connect(path + '.bak')\n"
        "    rows = conn.execute('SELECT 1').fetchall()\n"
        "    conn.close()\n"
        "    return rows\n"
    )
    assert _line_fixes(source, tmp_path)[6][0] == 0


def test_no_branch_fix_across_a_loop(tmp_path: Path) -> None:
    source = HEAD + (
        "def read(path, tries):\n"
        "    conn = sqlite3.connect(path)\n"
        "    for _ in range(tries):\n"
        "        if conn.total_changes < 0:\n"
        "            conn = sqlite3.connect(path)\n"  # line 8
        "    rows = conn.execute('SELECT 1').fetchall()\n"
        "    conn.close()\n"
        "    return rows\n"
    )
    found = {f.line: f for f in check_buffer(source.encode(), tmp_path / "s.py").findings}
    assert 8 not in found or not any("branch" in fix.title for fix in found[8].fixes)


def test_an_acquisition_awaited_through_wait_for_keeps_it_and_gets_try_finally(
    tmp_path: Path,
) -> None:
    source = (
        "import asyncio\n\n\n"
        "async def fetch(apool, uid):\n"
        "    conn = await asyncio.wait_for(apool.acquire(), 5)\n"  # line 5
        "    row = await conn.fetchrow('SELECT $1', uid)\n"
        "    await apool.release(conn)\n"
        "    return row\n"
    )
    fixed, applied = _fixed(tmp_path, source, "users.py")
    assert applied and applied[0].startswith("LC102 at line 5: Release `conn` in `finally`")
    assert fixed.endswith(
        "    conn = await asyncio.wait_for(apool.acquire(), 5)\n"
        "    try:\n"
        "        row = await conn.fetchrow('SELECT $1', uid)\n"
        "    finally:\n"
        "        await apool.release(conn)\n"
        "    return row\n"
    )


def test_an_acquisition_under_typing_cast_keeps_it_and_gets_try_finally(tmp_path: Path) -> None:
    source = (
        "from typing import Any, cast\n\n"
        "from psycopg2.pool import ThreadedConnectionPool\n\n"
        "pool = ThreadedConnectionPool(1, 5, dsn='dbname=app')\n\n\n"
        "def count(sql):\n"
        "    conn = cast(Any, pool.getconn())\n"  # line 9
        "    total = conn.cursor().execute(sql).fetchone()\n"
        "    pool.putconn(conn)\n"
        "    return total\n"
    )
    fixed, applied = _fixed(tmp_path, source, "counts.py")
    assert applied and applied[0].startswith("LC102 at line 9: Release `conn` in `finally`")
    assert fixed.endswith(
        "    conn = cast(Any, pool.getconn())\n"
        "    try:\n"
        "        total = conn.cursor().execute(sql).fetchone()\n"
        "    finally:\n"
        "        pool.putconn(conn)\n"
        "    return total\n"
    )


def test_a_returned_cursor_and_a_use_after_the_with_are_the_reasons(tmp_path: Path) -> None:
    source = HEAD + (
        "def rows(path, peek):\n"
        "    conn = sqlite3.connect(path)\n"  # line 5
        "    cur = conn.cursor()\n"
        "    if peek:\n"
        "        return cur.execute('SELECT 1').fetchone()\n"
        "    return cur\n"  # line 9
        "\n\n"
        "def tune(path):\n"
        "    with sqlite3.connect(path) as conn:\n"  # line 13
        "        conn.execute('VACUUM')\n"
        "    conn.execute('PRAGMA optimize')\n"
        "    conn.close()\n"
        "\n\n"
        "async def ping(apool):\n"
        "    conn = await apool.acquire()\n"  # line 20
        "    ready()\n"
        "    return await conn.fetchval('SELECT 1')\n"
    )
    found = _line_fixes(source, tmp_path)
    assert found[5] == (
        0,
        "`cur` reads from `conn` and is returned on line 9: the caller reads through it, so "
        "`conn` must stay open for the caller",
    )
    assert found[13][0] == 0
    assert found[13][1].startswith("`conn` is used after the `with` on line 13 ends: ")
    # A value read from the connection is not the connection handed to the caller: a fix.
    assert found[20] == (1, "")


LATE = HEAD + (
    "def read(path, check):\n"
    "    db = sqlite3.connect(path)\n"  # line 5
    "    check(path)\n"
    "    try:\n"
    "        return db.execute('SELECT 1').fetchone()\n"
    "    {clause}\n"
    "        db.close()\n"
)


def test_a_late_try_starts_right_after_the_acquisition(tmp_path: Path) -> None:
    source = LATE.replace("{clause}", "finally:")
    fixed, applied = _fixed(tmp_path, source)
    assert applied == [
        "LC202 at line 5: Start the `try` that releases `db` right after it is acquired"
    ]
    assert fixed == HEAD + (
        "def read(path, check):\n"
        "    db = sqlite3.connect(path)\n"
        "    try:\n"
        "        check(path)\n"
        "        return db.execute('SELECT 1').fetchone()\n"
        "    finally:\n"
        "        db.close()\n"
    )


def test_a_late_try_with_a_handler_is_not_widened(tmp_path: Path) -> None:
    # `except Exception:` would start catching what `check()` raises: not offered.
    source = LATE.replace("{clause}", "except Exception:\n        return None\n    finally:")
    found = check_buffer(source.encode(), tmp_path / "store.py").findings
    [finding] = [f for f in found if f.line == 5]
    assert not any("Start the `try`" in fix.message for fix in finding.fixes)


def test_an_item_let_go_before_the_release_is_the_reason(tmp_path: Path) -> None:
    # fixtures/pool/multi_item_with.py: `with refresh_lock, pool.getconn() as conn, ...:` then
    # `pool.putconn(conn)` after it: the lock is let go first, which a fix inside would reorder.
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "pool" / "multi_item_with.py"
    found = check_buffer(fixture.read_bytes(), fixture).findings
    [locked] = [f for f in found if f.line == 106]
    assert not locked.fixes
    assert locked.no_fix_reason == (
        "`refresh_lock` is let go when the `with` on line 106 ends, before `conn` is given back "
        "after it: a release inside the `with` would change that order"
    )


def test_a_reconnect_before_a_guarding_try_releases_the_first_inside_it(tmp_path: Path) -> None:
    # The `try` after the `if` already releases whatever `conn` holds: the branch moves into it,
    # with the first released before the reassignment.
    source = HEAD + (
        "def read(path, stale):\n"
        "    conn = sqlite3.connect(path)\n"  # line 5
        "    if stale(conn):\n"
        "        conn = sqlite3.connect(path)\n"
        "    try:\n"
        "        rows = conn.execute('SELECT 1').fetchall()\n"
        "    finally:\n"
        "        conn.close()\n"
        "    return rows\n"
    )
    fixed, applied = _fixed(tmp_path, source)
    assert applied == [
        "LC205 at line 5: Release the first `conn` before it is reassigned, inside the `try` "
        "after it"
    ]
    assert fixed == HEAD + (
        "def read(path, stale):\n"
        "    conn = sqlite3.connect(path)\n"
        "    try:\n"
        "        if stale(conn):\n"
        "            conn.close()\n"
        "            conn = sqlite3.connect(path)\n"
        "        rows = conn.execute('SELECT 1').fetchall()\n"
        "    finally:\n"
        "        conn.close()\n"
        "    return rows\n"
    )
