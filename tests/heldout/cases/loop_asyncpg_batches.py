"""Loading batches; a pool connection per batch, released once at the end."""

import asyncpg


async def load_batches(pool: asyncpg.Pool, batches) -> None:
    for batch in batches:
        conn = await pool.acquire()  # expect: LC106
        await conn.executemany("INSERT INTO metrics (name, value) VALUES ($1, $2)", batch)
    await pool.release(conn)
