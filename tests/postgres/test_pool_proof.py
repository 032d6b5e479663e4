"""psycopg2 and psycopg 3 pools on a real PostgreSQL: the leaky case drains the pool, the copy
`leakcheck check --fix` rewrote runs the same workload and gives every connection back."""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import Activity, copy_case, fix, load

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
