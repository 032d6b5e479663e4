"""psycopg2 and psycopg 3 pools on a real PostgreSQL: the leaky case drains the pool, the copy
`leakcheck check --fix` rewrote runs the same workload and gives every connection back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from proof import Activity, checked_out, copy_case, fix, load

pytestmark = pytest.mark.postgres

psycopg2 = pytest.importorskip("psycopg2")
from psycopg2.pool import PoolError  # noqa: E402


def bot_workload(storage: object) -> int:
    """Incident 1: bookings and orders that fail in the database, then one that succeeds.

    Returns how many calls failed with a database error (never a pool error)."""
    failed = 0
    for _ in range(4):
        for call in (
            lambda: storage.add_booking(42, 2**40, 1),  # type: ignore[attr-defined]
            lambda: storage.add_order(42, "twelve"),  # type: ignore[attr-defined]
        ):
            try:
                call()
            except PoolError:
                raise
            except psycopg2.Error:
                failed += 1
    storage.add_booking(42, 1, 1)  # type: ignore[attr-defined]
    return failed


def test_bot_bookings_pool_exhausted_then_fixed(
    tmp_path: Path, activity: Activity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_MAX", "3")
    leaky = load(copy_case("bot_bookings.py", tmp_path / "leaky"), "bot_bookings_leaky")
    storage = leaky.Storage()
    try:
        with pytest.raises(PoolError, match="connection pool exhausted"):
            bot_workload(storage)
        assert activity.count() == 3  # every connection the pool may open is held
    finally:
        storage.close()
    assert activity.settles_at(0) == 0

    fixed = load(fix(copy_case("bot_bookings.py", tmp_path / "fixed")), "bot_bookings_fixed")
    storage = fixed.Storage()
    try:
        assert bot_workload(storage) == 8
        assert activity.count("idle in transaction") == 0
        assert not storage.pool._used  # the pool's own books: nothing checked out
    finally:
        storage.close()
    assert activity.settles_at(0) == 0


def test_psycopg3_pool_times_out_then_fixed(
    tmp_path: Path, activity: Activity, monkeypatch: pytest.MonkeyPatch
) -> None:
    psycopg = pytest.importorskip("psycopg")
    psycopg_pool = pytest.importorskip("psycopg_pool")
    monkeypatch.setenv("DB_POOL_MAX", "2")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "0.3")

    def workload(module: object) -> int:
        failed = 0
        for _ in range(4):
            try:
                module.take_seats(1, 100)  # type: ignore[attr-defined]
            except psycopg.errors.CheckViolation:  # more seats than the slot has
                failed += 1
        assert module.free_seats(1) > 0  # type: ignore[attr-defined]
        return failed

    leaky = load(copy_case("slots_psycopg3.py", tmp_path / "leaky"), "slots_psycopg3_leaky")
    try:
        with pytest.raises(psycopg_pool.PoolTimeout, match="couldn't get a connection after"):
            workload(leaky)
        # Both connections count as taken, though psycopg closed each one when its last reference
        # went: the pool keeps no reference to what it lends, only the count.
        stats = leaky.pool.get_stats()
        assert stats["pool_size"] - stats.get("pool_available", 0) == 2
    finally:
        leaky.pool.close()
    assert activity.settles_at(0) == 0

    fixed = load(fix(copy_case("slots_psycopg3.py", tmp_path / "fixed")), "slots_psycopg3_fixed")
    try:
        assert workload(fixed) == 4
        assert checked_out(fixed.pool) == 0
        assert activity.count("idle in transaction") == 0
    finally:
        fixed.pool.close()
    assert activity.settles_at(0) == 0


def test_asyncpg_pool_times_out_then_fixed(
    tmp_path: Path, activity: Activity, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    monkeypatch.setenv("DB_POOL_MAX", "2")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "0.3")

    async def workload(module: object, graceful: bool) -> int:
        pool = await module.open_pool()  # type: ignore[attr-defined]
        try:
            failed = 0
            for _ in range(4):
                try:
                    await module.revenue(2**70)  # type: ignore[attr-defined]
                except asyncpg.DataError:  # value out of int64 range
                    failed += 1
            assert await module.revenue(42) >= 0  # type: ignore[attr-defined]
            assert activity.count("idle in transaction") == 0
        finally:
            if not graceful:
                pool.terminate()
        # close() waits until every connection is released: it returns only if none leaked.
        await asyncio.wait_for(pool.close(), 5)
        return failed

    leaky = load(copy_case("reports_asyncpg.py", tmp_path / "leaky"), "reports_asyncpg_leaky")
    with pytest.raises(TimeoutError) as raised:
        asyncio.run(workload(leaky, graceful=False))
    assert "revenue" in [entry.name for entry in raised.traceback]  # its acquire, not close()
    assert activity.settles_at(0) == 0

    fixed = load(fix(copy_case("reports_asyncpg.py", tmp_path / "fixed")), "reports_asyncpg_fixed")
    assert asyncio.run(workload(fixed, graceful=True)) == 4
    assert activity.settles_at(0) == 0


def test_cursor_helper_without_with_then_unsafe_fix(
    tmp_path: Path, activity: Activity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_MAX", "2")

    def workload(module: object) -> dict | None:
        for member in (1001, 1002, 1001):
            module.record_visit(member, 3)  # type: ignore[attr-defined]
        return module.get_member(1002)  # type: ignore[attr-defined]

    leaky = load(copy_case("fitness_cursor.py", tmp_path / "leaky"), "fitness_cursor_leaky")
    try:
        # The manager is never entered, so no connection is even taken: the call fails outright.
        with pytest.raises(AttributeError, match="has no attribute 'execute'"):
            workload(leaky)
    finally:
        leaky.connection_pool.closeall()
    assert activity.settles_at(0) == 0

    fixed_path = fix(copy_case("fitness_cursor.py", tmp_path / "fixed"), unsafe=True)
    fixed = load(fixed_path, "fitness_cursor_fixed")
    try:
        assert workload(fixed) == {"telegram_id": 1002, "name": "Bo"}
        assert not fixed.connection_pool._used
        assert activity.count("idle in transaction") == 0
        with activity.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM visits WHERE club_id = 3")
            assert cur.fetchone()[0] == 3  # committed: the manager was entered with commit=True
    finally:
        fixed.connection_pool.closeall()
    assert activity.settles_at(0) == 0


def test_psycopg2_with_keeps_connections_open_then_fixed(
    tmp_path: Path, activity: Activity
) -> None:
    rows = [{"id": n, "email": f"user{n % 3}@example.org"} for n in range(1, 10)]

    with activity.conn.cursor() as cur:  # whatever an earlier proof left behind
        cur.execute("DELETE FROM accounts")
    leaky = load(copy_case("account_import.py", tmp_path / "leaky"), "account_import_leaky")
    job = leaky.AccountImport()
    job.run(rows)
    assert (job.imported, len(job.failures)) == (3, 6)  # duplicate e-mails
    # Each kept failure's traceback holds a connection `with` did not close.
    assert activity.settles_at(6) == 6
    assert activity.count("idle") == 6
    job.failures.clear()
    assert activity.settles_at(0) == 0

    with activity.conn.cursor() as cur:
        cur.execute("DELETE FROM accounts")
    fixed = load(fix(copy_case("account_import.py", tmp_path / "fixed")), "account_import_fixed")
    job = fixed.AccountImport()
    job.run(rows)
    assert (job.imported, len(job.failures)) == (3, 6)
    assert activity.settles_at(0) == 0  # failures still kept, connections closed
