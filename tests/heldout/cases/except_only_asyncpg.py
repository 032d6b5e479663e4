"""Reserving a seat; the pooled connection is released only on error."""

import asyncpg


async def reserve_seat(pool: asyncpg.Pool, show_id: int, seat: str) -> None:
    conn = await pool.acquire()  # expect: LC103
    try:
        await conn.execute(
            "UPDATE seats SET taken = true WHERE show_id = $1 AND seat = $2", show_id, seat
        )
    except BaseException:
        await pool.release(conn)
        raise
