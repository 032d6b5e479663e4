"""asyncpg: the pool's own context manager."""

import asyncpg


async def top_products(pool: asyncpg.Pool, limit: int = 10):
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT name FROM products ORDER BY sold DESC LIMIT $1", limit)
    return [r["name"] for r in rows]
