"""Starting a background refresher task that owns its connection; setup may fail first."""

import asyncio

import asyncpg


async def refresher(conn: asyncpg.Connection) -> None:
    try:
        while True:
            await conn.execute("REFRESH MATERIALIZED VIEW leaderboard")
            await asyncio.sleep(60)
    finally:
        await conn.close()


async def start_refresher(dsn: str) -> asyncio.Task:
    conn = await asyncpg.connect(dsn)  # expect: LC202
    await conn.execute("SET application_name = 'refresher'")
    return asyncio.create_task(refresher(conn))
