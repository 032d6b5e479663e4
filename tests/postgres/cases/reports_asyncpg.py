"""Report queries on an asyncpg pool, connection acquired and released by hand.

`await pool.acquire()` ... `await pool.release(conn)`: a query that raises skips the release.
"""

from __future__ import annotations

import os

import asyncpg

pool: asyncpg.Pool | None = None


async def open_pool() -> asyncpg.Pool:
    global pool
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=1, max_size=int(os.environ.get("DB_POOL_MAX", "10"))
    )
    return pool


async def revenue(user_id: int) -> float:
    assert pool is not None
    timeout = float(os.environ.get("DB_POOL_TIMEOUT", "30"))
    conn = await pool.acquire(timeout=timeout)  # expect: LC102
    total = await conn.fetchval(
        "SELECT coalesce(sum(total), 0) FROM orders WHERE user_id = $1", user_id
    )
    await pool.release(conn)
    return float(total)
