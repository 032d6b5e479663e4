"""A queue consumer holding one pooled connection while it waits for work."""

import asyncio

import asyncpg


async def writer(pool: asyncpg.Pool, queue: asyncio.Queue) -> None:
    conn = await pool.acquire()  # expect: LC402
    try:
        while True:
            event = await queue.get()
            await conn.execute("INSERT INTO audit (kind, body) VALUES ($1, $2)", *event)
            queue.task_done()
    finally:
        await pool.release(conn)
