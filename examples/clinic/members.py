"""Members, through the `get_db_cursor()` helper (incident 4)."""

from __future__ import annotations

from .db import get_db_cursor


def get_member(telegram_id: int) -> dict | None:
    cursor = get_db_cursor()  # expect: LC301
    cursor.execute("SELECT * FROM members WHERE telegram_id = %s", (telegram_id,))
    return cursor.fetchone()


def rename_member(telegram_id: int, name: str) -> None:
    with get_db_cursor(commit=True) as cur:
        cur.execute("UPDATE members SET name = %s WHERE telegram_id = %s", (name, telegram_id))


def members_named(prefix: str) -> list[dict]:
    with get_db_cursor() as cur:
        cur.execute("SELECT * FROM members WHERE name LIKE %s", (prefix + "%",))
        return cur.fetchall()
