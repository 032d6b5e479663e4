"""Booking storage on the psycopg2 pool, as incident 1's bot wrote it, and as its fix did."""

from __future__ import annotations

import logging
from datetime import date

import psycopg2

from .db import get_connection, pool

log = logging.getLogger(__name__)


class SlotFull(Exception):
    pass


def create_booking(user_id: int, slot_id: int, seats: int) -> int:
    conn = pool.getconn()  # expect: LC104
    try:
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SELECT free FROM slots WHERE id = %s FOR UPDATE", (slot_id,))
            (free,) = cur.fetchone()
            if free < seats:
                raise SlotFull(slot_id)
            cur.execute("UPDATE slots SET free = free - %s WHERE id = %s", (seats, slot_id))
            cur.execute(
                "INSERT INTO bookings (user_id, slot_id, seats) VALUES (%s, %s, %s) RETURNING id",
                (user_id, slot_id, seats),
            )
            (booking_id,) = cur.fetchone()
        conn.commit()
        return booking_id
    except psycopg2.IntegrityError:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True
        pool.putconn(conn)


def bookings_for(user_id: int, day: date) -> list[tuple]:
    conn = pool.getconn()  # expect: LC103
    cur = conn.cursor()
    cur.execute(
        "SELECT b.id, s.day, b.seats FROM bookings b JOIN slots s ON s.id = b.slot_id"
        " WHERE b.user_id = %s AND s.day >= %s ORDER BY s.day",
        (user_id, day),
    )
    rows = cur.fetchall()
    if not rows:
        log.info("no bookings for %s", user_id)
        return []
    pool.putconn(conn)
    return rows


def cancel_booking(booking_id: int) -> bool:
    with get_connection() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM bookings WHERE id = %s RETURNING slot_id, seats", (booking_id,))
        row = cur.fetchone()
        if row is None:
            return False
        cur.execute("UPDATE slots SET free = free + %s WHERE id = %s", (row[1], row[0]))
        return True


def count_bookings(slot_id: int) -> int:
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM bookings WHERE slot_id = %s", (slot_id,))
            return cur.fetchone()[0]
    finally:
        pool.putconn(conn)
