"""An async context manager that resets the session state before releasing."""

import asyncpg


class TenantConnection:
    def __init__(self, pool: asyncpg.Pool, tenant: str) -> None:
        self.pool = pool
        self.tenant = tenant

    async def __aenter__(self):
        self.conn = await self.pool.acquire()  # expect: LC102
        return self.conn

    async def __aexit__(self, exc_type, exc, tb):
        await self.conn.execute("RESET ALL")
        await self.pool.release(self.conn)
