"""Fitness-club bot data layer (incident 4): a pool, a `get_db_cursor()` context manager, and two
functions that call it without `with`, as the bot's own docs warned against."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool

connection_pool = ThreadedConnectionPool(
    minconn=1,
    maxconn=int(os.environ.get("DB_POOL_MAX", "50")),
    dsn=os.environ["DATABASE_URL"],
)


@contextmanager
def get_db_cursor(commit: bool = False) -> Iterator[PgCursor]:
    """Always use as ``with get_db_cursor() as cur:``."""
    conn = connection_pool.getconn()
    try:
        with conn.cursor(cursor_factory=RealDictCursor) as cursor:
            yield cursor
            if commit:
                conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        connection_pool.putconn(conn)


def get_member(telegram_id: int) -> dict | None:
    cursor = get_db_cursor()  # expect: LC301
    cursor.execute("SELECT * FROM members WHERE telegram_id = %s", (telegram_id,))
    return cursor.fetchone()


def record_visit(member_id: int, club_id: int) -> None:
    cursor = get_db_cursor(commit=True)  # expect: LC301
    cursor.execute(
        "INSERT INTO visits (member_id, club_id, visited_at) VALUES (%s, %s, now())",
        (member_id, club_id),
    )
