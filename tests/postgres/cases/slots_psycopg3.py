"""Slot availability on psycopg 3 with a `psycopg_pool.ConnectionPool`, connection taken by hand.

`pool.getconn()` ... `pool.putconn(conn)` with nothing in between guarded: a bad slot id makes
`execute` raise and the connection never goes back.
"""

from __future__ import annotations

import os

from psycopg_pool import ConnectionPool

pool = ConnectionPool(
    os.environ["DATABASE_URL"],
    min_size=1,
    max_size=int(os.environ.get("DB_POOL_MAX", "10")),
    timeout=float(os.environ.get("DB_POOL_TIMEOUT", "30")),
    open=True,
)


def take_seats(slot_id: int, seats: int) -> int:
    conn = pool.getconn()  # expect: LC102
    cur = conn.execute(
        "UPDATE slots SET free = free - %s WHERE id = %s RETURNING free", (seats, slot_id)
    )
    (left,) = cur.fetchone()
    conn.commit()
    pool.putconn(conn)
    return left


def free_seats(clinic_id: int) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT coalesce(sum(free), 0) FROM slots WHERE clinic_id = %s", (clinic_id,)
        ).fetchone()
        return int(row[0])
