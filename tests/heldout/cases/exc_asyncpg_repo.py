"""A repository over an asyncpg pool created at start-up."""

import asyncpg


class InvoiceRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def unpaid(self, customer_id: int):
        conn = await self.pool.acquire()  # expect: LC102
        rows = await conn.fetch(
            "SELECT id, total FROM invoices WHERE customer_id = $1 AND paid_at IS NULL",
            customer_id,
        )
        await self.pool.release(conn)
        return [dict(r) for r in rows]
