"""Nightly reports: direct psycopg2 connections and SQLAlchemy sessions opened by hand."""

from __future__ import annotations

import csv
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import psycopg2
from sqlalchemy import text

from .db import DATABASE_URL, SessionLocal


def export_day(day: str, path: Path) -> int:
    with psycopg2.connect(DATABASE_URL) as conn:  # expect: LC201
        with conn.cursor() as cur:
            cur.execute("SELECT id, user_id, seats FROM bookings WHERE created_on = %s", (day,))
            rows = cur.fetchall()
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return len(rows)


def table_sizes() -> list[tuple]:
    with closing(psycopg2.connect(DATABASE_URL)) as conn, conn, conn.cursor() as cur:
        cur.execute("SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY 2 DESC")
        return cur.fetchall()


def revenue(user_id: int) -> Decimal:
    db = SessionLocal()  # expect: LC201
    total = db.execute(
        text("SELECT coalesce(sum(total), 0) FROM orders WHERE user_id = :user"),
        {"user": user_id},
    ).scalar_one()
    return Decimal(total)


def busiest_days(limit: int = 7) -> list[tuple]:
    with SessionLocal() as db:
        return list(
            db.execute(
                text("SELECT day, sum(3 - free) FROM slots GROUP BY day ORDER BY 2 DESC LIMIT :n"),
                {"n": limit},
            )
        )
