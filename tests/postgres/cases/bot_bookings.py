"""Telegram bot storage on a psycopg2 ThreadedConnectionPool (incident 1), as it was before the fix.

`finally: conn.autocommit = True; self.pool.putconn(conn)`: when the `except` does not end the
transaction (an error it does not catch), psycopg2 refuses `autocommit = True` inside a transaction
("set_session cannot be used inside a transaction") and `putconn` is skipped. `add_order` returns
the connection only when nothing raises.
"""

from __future__ import annotations

import os

import psycopg2
from psycopg2.pool import ThreadedConnectionPool


class BookingsMixin:
    pool: ThreadedConnectionPool

    def add_booking(self, user_id: int, slot_id: int, seats: int) -> int:
        conn = self.pool.getconn()  # expect: LC104
        try:
            conn.autocommit = False
            with conn.cursor() as cur:
                cur.execute("UPDATE slots SET free = free - %s WHERE id = %s", (seats, slot_id))
                cur.execute(
                    "INSERT INTO bookings (user_id, slot_id, seats) VALUES (%s, %s, %s)"
                    " RETURNING id",
                    (user_id, slot_id, seats),
                )
                booking_id = cur.fetchone()[0]
            conn.commit()
            return booking_id
        except psycopg2.IntegrityError:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True
            self.pool.putconn(conn)


class OrdersMixin:
    pool: ThreadedConnectionPool

    def add_order(self, user_id: int, total: str) -> None:
        conn = self.pool.getconn()  # expect: LC102
        cur = conn.cursor()
        cur.execute("INSERT INTO orders (user_id, total) VALUES (%s, %s)", (user_id, total))
        conn.commit()
        cur.close()
        self.pool.putconn(conn)


class Storage(BookingsMixin, OrdersMixin):
    def __init__(self) -> None:
        self.pool = ThreadedConnectionPool(
            1, int(os.environ.get("DB_POOL_MAX", "5")), dsn=os.environ["DATABASE_URL"]
        )

    def close(self) -> None:
        self.pool.closeall()
